"""``open_disk``: look at a file and return the right VirtualDisk for it.

This is the one factory: it chains footer -> dynamic header -> BAT -> parent, and the
structure modules (``dynamic``, ``chain``, ``layout``) never import it.
"""

from __future__ import annotations

import os
import pathlib
import stat

from ..errors import REPAIR_HINT, CorruptVhdError, InputError, NotAVhdError, VhdUploadError, with_repair_hint
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

__all__ = ["REPAIR_HINT", "open_disk", "with_repair_hint"]


def open_disk(path: str | os.PathLike[str], *, raw: bool = False) -> VirtualDisk:
    """Open ``path`` as a VHD (fixed, dynamic or differencing) or, with ``raw=True``, a raw image.

    ``raw=True`` takes the whole file as the disk, whatever its bytes are: a raw image whose
    last sector happens to start with ``conectix`` is still raw.

    Raises InputError for a path that cannot be a disk (missing, directory, empty, unreadable,
    not a path at all) and the FormatError tree for a file that is not a readable VHD.
    """
    path = as_path(path)
    try:
        return _open(path, raw=bool(raw), chain=())
    except CorruptVhdError as exc:
        raise CorruptVhdError(with_repair_hint(str(exc))) from None
    except OSError as exc:  # reading the file itself failed (an I/O error, a file that went away)
        raise InputError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from exc


def as_path(path: object, *, what: str = "path") -> pathlib.Path:
    """``path`` as a pathlib.Path, or InputError for what no file system can open."""
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"the {what} must be a file path (str or os.PathLike), got {type(path).__name__}")
    try:
        text = os.fspath(path)
    except TypeError as exc:
        raise InputError(f"the {what} is not a usable file path ({exc})") from None
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if "\0" in text:
        raise InputError(f"the {what} {text[:80]!r} contains a NUL character, which no file name can hold")
    if not text:
        raise InputError(f"the {what} is empty: give the path of a disk image")
    return pathlib.Path(text)


def _open(path: pathlib.Path, *, raw: bool, chain: tuple[pathlib.Path, ...]) -> VirtualDisk:
    fd = _open_fd(path)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise InputError(f"{path} is empty (0 bytes): not a disk image")
        if raw:  # the caller says raw: the bytes are the disk, no sniffing, no footer
            return RawDisk(path=path, fd=fd, file_size=size, virtual_size=size, footer=None, footer_bytes=None)
        head = pread_exact(fd, 0, min(size, SNIFF_SIZE), path=path)
        # Format dispatch: other formats are recognised from their first bytes here.
        from ..vhdx import is_vhd_set, is_vhdx, open_vhdx  # noqa: PLC0415 (vhdx imports vhd.disk)

        if is_vhdx(head) or is_vhd_set(path):
            return open_vhdx(fd=fd, path=path, file_size=size, chain_paths=chain, open_parent=_open_parent)
        other = other_format_error(path, head)
        if other is not None:
            raise other
        footer, footer_bytes = _read_footer(fd, path, size, head)
        if footer is None or footer_bytes is None:  # both or neither: the second for the type checker
            raise NotAVhdError(
                f"{path} has no VHD footer (no 'conectix' cookie at its end): if it is a raw disk "
                f"image, make a VHD with `vhdupload convert {path} OUT.vhd`"
            )
        if footer.disk_type == DISK_TYPE_FIXED:
            return _fixed(fd, path, size, footer, footer_bytes)
        return _sparse(fd, path, size, footer, footer_bytes, chain=chain)
    except BaseException:
        os.close(fd)
        raise


def _sparse(fd: int, path: pathlib.Path, size: int, footer: Footer, footer_bytes: bytes, *,
            chain: tuple[pathlib.Path, ...]) -> VirtualDisk:
    """A dynamic or differencing VHD: header and BAT checked, then (differencing) its parent."""
    from . import chain as parents  # noqa: PLC0415 (keeps the fixed-disk path light)
    from .dynamic import DifferencingDisk, DynamicDisk, read_sparse_layout  # noqa: PLC0415

    layout = read_sparse_layout(fd=fd, path=path, file_size=size, footer=footer, footer_bytes=footer_bytes)
    if footer.disk_type != DISK_TYPE_DIFFERENCING:
        return DynamicDisk(path=path, fd=fd, file_size=size, virtual_size=footer.current_size, footer=footer,
                           footer_bytes=footer_bytes, header=layout.header, bat=layout.bat)
    parent = parents.open_parent(
        child=path, fd=fd, header=layout.header, data_end=layout.data_end,
        chain=chain or (pathlib.Path(os.path.realpath(path)),), open_fn=_open_parent,
    )
    return DifferencingDisk(parent=parent, path=path, fd=fd, file_size=size, virtual_size=footer.current_size,
                            footer=footer, footer_bytes=footer_bytes, header=layout.header, bat=layout.bat)


def _open_parent(path: pathlib.Path, chain: tuple[pathlib.Path, ...]) -> VirtualDisk:
    return _open(path, raw=False, chain=chain)


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
