"""``open_disk``: look at a file and return the right VirtualDisk for it."""

from __future__ import annotations

import os
import pathlib
import stat

from ..errors import CorruptVhdError, InputError, NotAVhdError, VhdUploadError
from .disk import VirtualDisk, pread_exact
from .flat import FixedDisk, RawDisk
from .footer import (
    COOKIE,
    DISK_TYPE_DIFFERENCING,
    DISK_TYPE_DYNAMIC,
    DISK_TYPE_FIXED,
    FOOTER_SIZE,
    OLD_FOOTER_SIZE,
    Footer,
)
from .sniff import SNIFF_SIZE, other_format_error

#: What to do about a damaged file, added to every CorruptVhdError that reaches the caller.
REPAIR_HINT = "get an intact copy (copy or export the disk again from where it was made)"


def open_disk(path: str | os.PathLike, *, raw: bool = False) -> VirtualDisk:
    """Open ``path`` as a VHD (fixed, dynamic or differencing) or, with ``raw=True``, a raw image.

    Raises InputError for a path that cannot be a disk (missing, directory, empty) and the
    FormatError tree for a file that is not a readable VHD.
    """
    try:
        return _open(pathlib.Path(path), raw=raw, chain=())
    except CorruptVhdError as exc:
        raise CorruptVhdError(with_repair_hint(str(exc))) from None


def with_repair_hint(message: str) -> str:
    """``message`` ending with what to do about a damaged file (once)."""
    return message if message.endswith(REPAIR_HINT) else f"{message}; {REPAIR_HINT}"


def _open(path: pathlib.Path, *, raw: bool, chain: tuple[pathlib.Path, ...]) -> VirtualDisk:
    fd = _open_fd(path)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise InputError(f"{path} is empty (0 bytes): not a disk image")
        head = pread_exact(fd, 0, min(size, SNIFF_SIZE), path=path)
        other = other_format_error(path, head)
        if other is not None:
            raise other
        footer, footer_bytes = _read_footer(fd, path, size, head)
        if raw:
            if footer is not None:
                raise InputError(
                    f"{path} is a {footer.disk_type_name} VHD, not a raw image: open it without --raw"
                )
            return RawDisk(path=path, fd=fd, file_size=size, virtual_size=size, footer=None, footer_bytes=None)
        if footer is None:
            raise NotAVhdError(
                f"{path} has no VHD footer (no 'conectix' cookie at its end): if it is a raw disk "
                f"image, make a VHD with `vhdupload convert {path} OUT.vhd`"
            )
        if footer.disk_type == DISK_TYPE_FIXED:
            return _fixed(fd, path, size, footer, footer_bytes)
        from .dynamic import open_sparse  # noqa: PLC0415 (keeps the flat path light)

        return open_sparse(fd=fd, path=path, file_size=size, footer=footer, footer_bytes=footer_bytes,
                           chain=chain, open_parent_fn=lambda p, c: _open(p, raw=False, chain=c))
    except BaseException:
        os.close(fd)
        raise


def _open_fd(path: pathlib.Path) -> int:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path} is a directory, not a disk image")
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISBLK(st.st_mode):
        raise InputError(f"{path} is not a regular file")
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"{path}: cannot open it ({exc.strerror or exc})") from exc


def _read_footer(fd: int, path: pathlib.Path, size: int, head: bytes) -> tuple[Footer | None, bytes | None]:
    """The file's footer and its exact bytes, or (None, None) when it has none at all.

    A cookie with a bad checksum is a damaged footer, never "no footer".
    """
    for length in (FOOTER_SIZE, OLD_FOOTER_SIZE):
        if size < length:
            continue
        tail = pread_exact(fd, size - length, length, path=path)
        if tail[:8] == COOKIE:
            try:
                return Footer.parse(tail), tail
            except VhdUploadError as exc:
                raise CorruptVhdError(f"{path}: {exc}") from None
    # No footer at the end. Dynamic and differencing disks keep a copy at offset 0: if that
    # is there, the end of the file is missing (truncated), which must not pass as "raw".
    if head[:8] == COOKIE and len(head) >= FOOTER_SIZE:
        try:
            copy = Footer.parse(head[:FOOTER_SIZE])
        except VhdUploadError:
            copy = None
        if copy is not None and copy.disk_type in (DISK_TYPE_DYNAMIC, DISK_TYPE_DIFFERENCING):
            raise CorruptVhdError(
                f"{path}: the {copy.disk_type_name} VHD's footer copy at offset 0 is intact but "
                "the footer at the end of the file is missing: the file is truncated"
            )
    return None, None


def _fixed(fd: int, path: pathlib.Path, size: int, footer: Footer, footer_bytes: bytes) -> FixedDisk:
    virtual_size = footer.current_size
    data_end = size - len(footer_bytes)
    if data_end < virtual_size:
        raise CorruptVhdError(
            f"{path}: fixed VHD is truncated: its footer says {virtual_size} bytes of data but "
            f"the file holds only {data_end} before the footer"
        )
    return FixedDisk(path=path, fd=fd, file_size=size, virtual_size=virtual_size, footer=footer,
                     footer_bytes=footer_bytes)
