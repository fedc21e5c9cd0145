"""``open_disk``: the one factory above the format packages.

It opens the file, recognises the format from the file's first bytes (or takes the caller's word
that it is raw) and hands the open file to that format's reader, one line per format. The
readers (:mod:`vhdupload.vhd`, :mod:`vhdupload.vhdx`, :mod:`vhdupload.raw`) know nothing of
each other: a differencing disk's parent is opened through this factory, passed in as
``open_parent``. A disk inside an OVA (``app.ova/disk1.vmdk``) is opened in place by
:mod:`vhdupload.ova`. Images of formats not read here are refused with a message saying how to
convert them (:mod:`vhdupload.sniff`).
"""

from __future__ import annotations

import os
import pathlib
import stat

from .errors import CorruptVhdError, InputError, NotAVhdError, with_repair_hint
from .ova import is_ova_path, open_member, open_ova, split_member_path
from .raw import open_raw
from .sniff import SNIFF_SIZE, other_format_error
from .vhd.open import open_vhd
from .vhdx import is_vhd_set, is_vhdx, open_vhdx
from .vmdk import is_vmdk, open_vmdk
from .virtual_disk import VirtualDisk, pread_exact

__all__ = ["as_path", "open_disk"]


def open_disk(path: str | os.PathLike[str], *, raw: bool = False, format: str | None = None) -> VirtualDisk:
    """Open ``path`` as a VHD (fixed, dynamic or differencing), a VHDX, a VMDK, an OVA's disk
    (``app.ova/disk1.vmdk``, or ``app.ova`` when it holds one disk) or, with ``raw=True``, a raw image.

    ``raw=True`` takes the whole file as the disk, whatever its bytes are: a raw image whose
    last sector happens to start with ``conectix`` is still raw.

    ``format`` says how to tell: None (the formats recognised by their bytes, raw never
    guessed), ``"raw"`` (the same as ``raw=True``) or ``"detect"`` (as None, then a file no
    format recognises, with no VHD footer at all, is a raw image: what inspect and convert do).

    Raises InputError for a path that cannot be a disk (missing, directory, empty, unreadable,
    not a path at all) and the FormatError tree for a file that is not a readable VHD.
    """
    path = as_path(path)
    if format not in (None, "raw", "detect"):
        raise InputError(f"format must be None, 'raw' or 'detect', got {format!r}")
    if format == "detect":
        try:
            return open_disk(path, raw=raw)
        except NotAVhdError:  # no signature, no footer: the one thing left is a raw image
            return open_disk(path, raw=True)
    try:
        return _open(path, raw=bool(raw) or format == "raw", chain=())
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
    # An OVA is an archive, not a disk: its member (app.ova/disk1.vmdk), or its only disk.
    member = split_member_path(path)
    if member is not None:
        return open_member(*member)
    if is_ova_path(path) and not raw and not chain:
        return open_ova(path)
    fd = _open_fd(path)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise InputError(f"{path} is empty (0 bytes): not a disk image")
        if raw:  # the caller says raw: the bytes are the disk, no sniffing, no footer
            return open_raw(fd=fd, path=path, file_size=size)
        head = pread_exact(fd, 0, min(size, SNIFF_SIZE), path=path)
        # One line per format recognised from its first bytes (a new format: one more line here).
        if is_vhdx(head) or is_vhd_set(path):
            return open_vhdx(fd=fd, path=path, file_size=size, chain_paths=chain, open_parent=_open_parent)
        if is_vmdk(head):
            return open_vmdk(fd=fd, path=path, file_size=size, chain_paths=chain, open_parent=_open_parent)
        other = other_format_error(path, head)
        if other is not None:
            raise other
        # Last, the VHD: its mark is the footer at the end of the file, not its first bytes.
        return open_vhd(fd=fd, path=path, file_size=size, head=head, chain_paths=chain, open_parent=_open_parent)
    except BaseException:
        os.close(fd)
        raise


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
