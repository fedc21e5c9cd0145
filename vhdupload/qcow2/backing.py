"""A qcow2 image's backing file: found, opened in the format the header names, checked for loops.

The name is the one qemu stored: a relative name is resolved against the image's directory (as
qemu does), an absolute one taken as is; protocol names (``nbd:``, ``json:{...}``) are refused.
The backing format extension is honoured: ``raw`` is read here as a flat file; the others are
opened through the factory (``open_parent``) and must be of that format. With no format
recorded the factory recognises the file, and a file it does not recognise is raw (qemu's probe
does the same). Chains deeper than :data:`MAX_CHAIN_DEPTH` and loops are refused.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Callable

from ..errors import FormatError, InputError, NotAVhdError, ParentChainError
from ..virtual_disk import FlatDisk, VirtualDisk

MAX_CHAIN_DEPTH = 64

OpenParent = Callable[[pathlib.Path, tuple[pathlib.Path, ...]], VirtualDisk]

#: qemu's format names and the ``format`` each reader gives its disks (a VHD's is "vhd").
_FORMATS = {"qcow2": "qcow2", "vpc": "vhd", "vhdx": "vhdx", "vdi": "vdi", "vmdk": "vmdk", "raw": "raw"}
_PROTOCOL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


class BackingFile(FlatDisk):
    """A raw backing file: its bytes are the disk."""

    disk_type = "raw"
    format = "raw"


def format_of(disk: VirtualDisk) -> str:
    return str(getattr(disk, "format", "vhd" if disk.footer is not None else "raw"))


def backing_path(child: pathlib.Path, name: str) -> pathlib.Path:
    if _PROTOCOL.match(name) and not re.match(r"^[A-Za-z]:[\\/]", name):
        raise ParentChainError(
            f"{child}: its backing file {name!r} is a protocol name, not a file: rebase it onto a local file with "
            "`qemu-img rebase -b FILE -F FORMAT` or flatten it with `qemu-img convert -O qcow2`")
    candidate = pathlib.Path(name)
    return candidate if candidate.is_absolute() else child.parent / candidate


def open_backing(*, child: pathlib.Path, name: str, fmt: str | None, chain: tuple[pathlib.Path, ...],
                 open_parent: OpenParent) -> tuple[VirtualDisk, list[str]]:
    """The backing disk and the notes about how it was read; ``chain`` holds the real paths so far."""
    if len(chain) > MAX_CHAIN_DEPTH:
        raise ParentChainError(f"{child}: backing chain deeper than {MAX_CHAIN_DEPTH} images")
    path = backing_path(child, name)
    fix = "put it there, or point the image at it with `qemu-img rebase -u -b FILE -F FORMAT`"
    if not path.is_file():
        raise ParentChainError(f"{child}: its backing file {path} is missing: {fix}")
    real = pathlib.Path(os.path.realpath(path))
    if real in chain:
        raise ParentChainError(f"{child}: its backing file {path} is already in the chain (a loop): {fix}")
    if fmt is not None and fmt not in _FORMATS:
        raise ParentChainError(
            f"{child}: its backing file {path} is in format {fmt!r}, which is not read here: flatten the image with "
            "`qemu-img convert -O qcow2`")
    if fmt == "raw":
        return _open_raw(path), []
    try:
        disk = open_parent(path, chain + (real,))
    except NotAVhdError:
        if fmt is None:  # unrecognised and no format recorded: raw, as qemu's probe concludes
            return _open_raw(path), [f"the backing file {path} has no recorded format and is read as raw, as qemu does"]
        raise ParentChainError(f"{child}: its backing file {path} is not a readable {fmt} image") from None
    except ParentChainError:
        raise
    except FormatError as exc:
        raise ParentChainError(f"{child}: its backing file {path} is not readable: {exc}") from None
    found = format_of(disk)
    if fmt is not None and found != _FORMATS[fmt]:
        disk.close()
        raise ParentChainError(
            f"{child}: its backing file {path} is a {found} image, not the {fmt} the image records: {fix}")
    return disk, []


def _open_raw(path: pathlib.Path) -> VirtualDisk:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"{path}: cannot open it ({exc.strerror or exc})") from exc
    size = os.fstat(fd).st_size
    return BackingFile(path=path, fd=fd, file_size=size, virtual_size=size, footer=None, footer_bytes=None)
