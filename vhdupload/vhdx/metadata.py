"""The metadata region (2.6): a 64 KiB table, then items. The known items give the block
size, whether the disk has a parent, the virtual size, the sector sizes and the disk's ID.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import CorruptVhdError, OtherFormatError
from . import guids
from .parent_locator import ParentLocator, parse_parent_locator

TABLE_SIZE = 64 * 1024
MAX_ENTRIES = 2047
MAX_USER_ENTRIES = 1024
MAX_ITEM_SIZE = 1024 * 1024
MIB = 1024 * 1024
MIN_BLOCK_SIZE = MIB
MAX_BLOCK_SIZE = 256 * MIB
MAX_VIRTUAL_SIZE = 64 * 1024**4  # 64 TiB
SECTOR_SIZES = (512, 4096)

# table header: signature 0 (8), reserved 8 (2), entry count 10 (2), reserved 12 (20)
_HEADER = struct.Struct("<8s2xH20x")
# entry: item ID 0 (16), offset 16 (4), length 20 (4), flags 24 (4: IsUser, IsVirtualDisk,
# IsRequired in bits 0-2), reserved 28 (4)
_ENTRY = struct.Struct("<16sIII4x")
assert _HEADER.size == 32 and _ENTRY.size == 32

_NAMES = {
    guids.FILE_PARAMETERS: "file parameters",
    guids.VIRTUAL_DISK_SIZE: "virtual disk size",
    guids.VIRTUAL_DISK_ID: "virtual disk ID",
    guids.LOGICAL_SECTOR_SIZE: "logical sector size",
    guids.PHYSICAL_SECTOR_SIZE: "physical sector size",
    guids.PARENT_LOCATOR: "parent locator",
}

#: Reads ``length`` bytes at ``offset`` of the metadata region (already bounds-checked).
ReadItem = Callable[[int, int], bytes]


@dataclass(frozen=True)
class Metadata:
    block_size: int
    leave_block_allocated: bool
    has_parent: bool
    virtual_size: int
    disk_id: uuid.UUID  # the "page 83" identifier the guest sees
    logical_sector_size: int
    physical_sector_size: int
    parent_locator: ParentLocator | None


@dataclass(frozen=True)
class _Entry:
    item: uuid.UUID
    offset: int
    length: int
    is_user: bool
    required: bool


def parse_table(data: bytes, *, region_length: int) -> dict[uuid.UUID, _Entry]:
    """The system items of the metadata table, placement-checked (user items are only counted)."""
    if len(data) < TABLE_SIZE:
        raise CorruptVhdError("VHDX metadata table is cut short")
    sig, count = _HEADER.unpack_from(data)
    if sig != b"metadata":
        raise CorruptVhdError("VHDX metadata table has no 'metadata' signature")
    if count > MAX_ENTRIES:
        raise CorruptVhdError(f"VHDX metadata table claims {count} entries; at most {MAX_ENTRIES} fit")
    entries: list[_Entry] = []
    seen: set[tuple[uuid.UUID, bool]] = set()
    for i in range(count):
        raw, offset, length, flags = _ENTRY.unpack_from(data, _HEADER.size + i * _ENTRY.size)
        entry = _Entry(guids.from_le(raw), offset, length, bool(flags & 1), bool(flags & 4))
        name = _NAMES.get(entry.item, f"item {entry.item}")
        if (entry.item, entry.is_user) in seen:
            raise CorruptVhdError(f"VHDX metadata table lists {name} twice")
        seen.add((entry.item, entry.is_user))
        if length == 0:
            if offset != 0:
                raise CorruptVhdError(f"VHDX metadata {name} is empty but has offset {offset}")
        elif length > MAX_ITEM_SIZE or offset < TABLE_SIZE or offset + length > region_length:
            raise CorruptVhdError(
                f"VHDX metadata {name} ({length} bytes at {offset}) is not inside the metadata region "
                f"of {region_length} bytes past its table"
            )
        entries.append(entry)
    if sum(e.is_user for e in entries) > MAX_USER_ENTRIES:
        raise CorruptVhdError(f"VHDX metadata table has more than {MAX_USER_ENTRIES} user items")
    spans = sorted((e.offset, e.offset + e.length) for e in entries if e.length)
    for (_a0, a1), (b0, _b1) in zip(spans, spans[1:]):
        if b0 < a1:
            raise CorruptVhdError(f"VHDX metadata items overlap at offset {b0} of the metadata region")
    system: dict[uuid.UUID, _Entry] = {}
    for e in entries:
        if e.is_user:
            continue
        if e.item not in _NAMES and e.required:
            raise OtherFormatError(
                f"the VHDX needs a metadata item this reader does not know ({e.item}): it was made by a "
                "newer tool (or it is a VHD Set); convert it to a fixed VHD or VHDX with that tool",
                format_name="VHDX",
            )
        system[e.item] = e
    return system


def read_metadata(table: bytes, *, region_length: int, read_item: ReadItem) -> Metadata:
    entries = parse_table(table, region_length=region_length)

    def item(guid: uuid.UUID, size: int | None) -> bytes:
        name = _NAMES[guid]
        entry = entries.get(guid)
        if entry is None:
            raise CorruptVhdError(f"the VHDX metadata has no {name} item")
        if size is not None and entry.length < size:
            raise CorruptVhdError(f"VHDX metadata {name} is {entry.length} bytes; it needs {size}")
        return read_item(entry.offset, entry.length if size is None else size)

    block_size, flags = struct.unpack("<II", item(guids.FILE_PARAMETERS, 8))
    has_parent = bool(flags & 2)
    if not MIN_BLOCK_SIZE <= block_size <= MAX_BLOCK_SIZE or block_size & (block_size - 1):
        raise CorruptVhdError(
            f"VHDX metadata file parameters give a block size of {block_size} bytes; it must be a power of "
            "two from 1 MiB to 256 MiB"
        )
    (logical,) = struct.unpack("<I", item(guids.LOGICAL_SECTOR_SIZE, 4))
    (physical,) = struct.unpack("<I", item(guids.PHYSICAL_SECTOR_SIZE, 4))
    for name, value in (("logical", logical), ("physical", physical)):
        if value not in SECTOR_SIZES:
            raise CorruptVhdError(f"VHDX metadata {name} sector size is {value}; it must be 512 or 4096")
    (size,) = struct.unpack("<Q", item(guids.VIRTUAL_DISK_SIZE, 8))
    if size > MAX_VIRTUAL_SIZE or size % logical:
        raise CorruptVhdError(
            f"VHDX metadata virtual disk size is {size} bytes; it must be a multiple of the {logical}-byte "
            "sector and at most 64 TiB"
        )
    disk_id = guids.from_le(item(guids.VIRTUAL_DISK_ID, 16))
    locator = None
    if has_parent:
        locator = parse_parent_locator(item(guids.PARENT_LOCATOR, None))
    return Metadata(
        block_size=block_size, leave_block_allocated=bool(flags & 1) and not has_parent, has_parent=has_parent,
        virtual_size=size, disk_id=disk_id, logical_sector_size=logical, physical_sector_size=physical,
        parent_locator=locator,
    )
