"""``open_vdi``: the header, the block map, and a differencing image's parent.

A VDI records its parent only by UUID (``uuid_link``): VirtualBox finds it through its media
registry (the VM's .vbox file), which is not beside the disk. Here the parent is given by
putting it where VirtualBox itself keeps it: in the child's directory or the one above (a
snapshot's differencing image lives in ``Snapshots/``, the base disk in the VM's directory).
The ``.vdi`` files there are looked at (their headers only, :data:`MAX_CANDIDATES` at most) and
the one whose own UUID is the child's ``uuid_link`` is the parent; none found is an error
that says so. Loops and chains deeper than :data:`MAX_CHAIN_DEPTH` are refused.
"""

from __future__ import annotations

import os
import pathlib
from array import array
from collections.abc import Callable

from ..errors import CorruptVhdError, FormatError, OtherFormatError, ParentChainError
from ..virtual_disk import VirtualDisk, pread_exact
from .disk import VdiDisk
from .header import HEADER_END, UNALLOCATED, ZERO, Header, is_vdi, parse_header

MAX_CHAIN_DEPTH = 64
MAX_CANDIDATES = 1000

OpenParent = Callable[[pathlib.Path, tuple[pathlib.Path, ...]], VirtualDisk]


def open_vdi(*, fd: int, path: pathlib.Path, file_size: int, chain_paths: tuple[pathlib.Path, ...],
             open_parent: OpenParent) -> VdiDisk:
    """The VDI at ``path`` (already open as ``fd``, which the returned disk then owns)."""
    try:
        header = parse_header(pread_exact(fd, 0, min(file_size, HEADER_END), path=path), file_size=file_size)
        block_map = array("I", pread_exact(fd, header.offset_bmap, 4 * header.blocks_in_image, path=path))
        if array("I", b"\x01\x00\x00\x00")[0] != 1:
            block_map.byteswap()
        _check_map(block_map, header)
    except CorruptVhdError as exc:
        raise CorruptVhdError(f"{path}: {exc}") from None
    except OtherFormatError as exc:
        raise OtherFormatError(f"{path}: {exc}", format_name="VDI") from None
    parent = None
    notes: list[str] = []
    if header.has_parent:
        real = pathlib.Path(os.path.realpath(path))
        chain_paths = chain_paths if real in chain_paths else chain_paths + (real,)
        parent = _open_parent(path, header, chain_paths, open_parent)
        if parent.header.uuid_last_snap != header.uuid_parent and any(header.uuid_parent):
            notes.append(
                f"the parent {parent.path} was modified after this differencing image was made (its modification "
                "UUID differs from the one recorded): the disk reads as the chain is now")
    return VdiDisk(path=path, fd=fd, file_size=file_size, header=header, block_map=block_map, parent=parent,
                   notes=notes)


def _check_map(block_map: array[int], header: Header) -> None:
    """Every allocated entry names a data block inside the image, and no two the same one (a file
    that did would claim more data than it holds: one block read for the whole disk)."""
    blocks = header.blocks_in_image
    used = bytearray(blocks)
    for index, entry in enumerate(block_map):
        if entry == UNALLOCATED or entry == ZERO:
            continue
        if entry >= blocks:
            raise CorruptVhdError(
                f"VDI block map entry {index} points at data block {entry}, beyond the image's {blocks} blocks")
        if used[entry]:
            raise CorruptVhdError(f"VDI block map entry {index} points at data block {entry}, which another entry uses")
        used[entry] = 1


def _candidates(child: pathlib.Path) -> list[pathlib.Path]:
    found: list[pathlib.Path] = []
    for directory in (child.parent, child.parent.parent):
        try:
            names = sorted(os.listdir(directory or "."))
        except OSError:
            continue
        found += [directory / n for n in names if n.lower().endswith(".vdi")]
    unique: list[pathlib.Path] = []
    seen: set[str] = set()
    for c in found:
        key = os.path.realpath(c)
        if key not in seen and key != os.path.realpath(child):
            seen.add(key)
            unique.append(c)
    return unique[:MAX_CANDIDATES]


def _uuid_of(candidate: pathlib.Path) -> bytes | None:
    try:
        with open(candidate, "rb") as f:
            head = f.read(HEADER_END)
    except OSError:
        return None
    return head[392:408] if len(head) == HEADER_END and is_vdi(head) else None


def _open_parent(child: pathlib.Path, header: Header, chain: tuple[pathlib.Path, ...],
                 open_parent: OpenParent) -> VdiDisk:
    if len(chain) > MAX_CHAIN_DEPTH:
        raise ParentChainError(f"{child}: differencing chain deeper than {MAX_CHAIN_DEPTH} disks")
    wanted = header.uuid_link
    for candidate in _candidates(child):
        if _uuid_of(candidate) != wanted or not candidate.is_file():
            continue
        real = pathlib.Path(os.path.realpath(candidate))
        if real in chain:
            raise ParentChainError(f"{child}: its parent {candidate} is already in the chain (a loop)")
        try:
            parent = open_parent(candidate, chain + (real,))
        except ParentChainError:
            raise
        except FormatError as exc:
            raise ParentChainError(f"{child}: its parent {candidate} is not a readable VDI: {exc}") from exc
        if not isinstance(parent, VdiDisk):  # the header said VDI; a file replaced meanwhile
            parent.close()
            raise ParentChainError(f"{child}: its parent {candidate} is not a VDI")
        return parent
    raise ParentChainError(
        f"{child}: differencing VDI whose parent (UUID {header.parent_uuid}) is not here: put the parent .vdi in "
        f"{child.parent} or the directory above it, or merge the chain with `VBoxManage clonemedium {child} "
        "FLAT.vdi` and upload that")
