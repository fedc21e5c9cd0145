"""The region table (2.2.3): where the BAT and the metadata region are.

Two copies, at 192 KiB and 256 KiB; the first valid one is used (both are written through the
log, so after log replay they agree). Regions must be whole MiB, inside the file, past the
header section, and overlap neither each other nor the log.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from ..errors import CorruptVhdError, OtherFormatError
from . import guids
from .crc import checksum_ok
from .identifier import HEADER_SECTION_SIZE

TABLE_OFFSETS = (192 * 1024, 256 * 1024)
TABLE_SIZE = 64 * 1024
MAX_ENTRIES = 2047
MIB = 1024 * 1024

# header: signature 0 (4), checksum 4 (4), entry count 8 (4), reserved 12 (4)
_HEADER = struct.Struct("<4sII4x")
# entry: GUID 0 (16), file offset 16 (8), length 24 (4), required 28 (4, bit 0)
_ENTRY = struct.Struct("<16sQII")
assert _HEADER.size == 16 and _ENTRY.size == 32

KNOWN = {guids.BAT_REGION: "BAT", guids.METADATA_REGION: "metadata region"}


@dataclass(frozen=True)
class Region:
    guid: uuid.UUID
    offset: int
    length: int
    required: bool

    @property
    def end(self) -> int:
        return self.offset + self.length

    @property
    def name(self) -> str:
        return KNOWN.get(self.guid, f"region {self.guid}")


def parse_region_table(data: bytes, *, offset: int) -> dict[uuid.UUID, Region]:
    where = f"VHDX region table at {offset // 1024} KiB"
    if len(data) < TABLE_SIZE:
        raise CorruptVhdError(f"{where} is cut short")
    sig, _crc, count = _HEADER.unpack_from(data)
    if sig != b"regi":
        raise CorruptVhdError(f"{where} has no 'regi' signature")
    if not checksum_ok(data[:TABLE_SIZE], at=4):
        raise CorruptVhdError(f"{where} has a bad CRC-32C")
    if count > MAX_ENTRIES:
        raise CorruptVhdError(f"{where} claims {count} entries; at most {MAX_ENTRIES} fit")
    regions: dict[uuid.UUID, Region] = {}
    for i in range(count):
        raw_guid, file_offset, length, flags = _ENTRY.unpack_from(data, _HEADER.size + i * _ENTRY.size)
        region = Region(guids.from_le(raw_guid), file_offset, length, bool(flags & 1))
        if region.guid in regions:
            raise CorruptVhdError(f"{where} lists {region.name} twice")
        regions[region.guid] = region
    return regions


def first_valid_table(tables: list[bytes]) -> dict[uuid.UUID, Region]:
    damage = []
    for data, offset in zip(tables, TABLE_OFFSETS):
        try:
            return parse_region_table(data, offset=offset)
        except CorruptVhdError as exc:
            damage.append(str(exc))
    raise CorruptVhdError(f"neither VHDX region table is valid ({'; '.join(damage)})")


def check_regions(regions: dict[uuid.UUID, Region], *, file_size: int, log: tuple[int, int] | None) -> tuple[Region, Region]:
    """The BAT and metadata regions, after checking every region's placement.

    ``log`` is ``(offset, length)`` of the log when the header has one.
    """
    for region in regions.values():
        if region.required and region.guid not in KNOWN:
            raise OtherFormatError(
                f"the VHDX needs a region this reader does not know ({region.guid}): it was made by a "
                "newer tool; convert it to a fixed VHD with that tool",
                format_name="VHDX",
            )
        if region.offset % MIB or region.length % MIB or region.offset < HEADER_SECTION_SIZE or region.length == 0:
            raise CorruptVhdError(
                f"VHDX {region.name} at offset {region.offset}, {region.length} bytes, is not placed on whole "
                "MiB past the header section"
            )
        if region.end > file_size:
            raise CorruptVhdError(
                f"VHDX {region.name} ends at {region.end}, past the end of the file ({file_size} bytes): "
                "the file is truncated"
            )
    placed = sorted(regions.values(), key=lambda r: r.offset)
    spans = [(r.offset, r.end, r.name) for r in placed]
    if log is not None:
        spans.append((log[0], log[0] + log[1], "log"))
    spans.sort()
    for (a0, a1, an), (b0, _b1, bn) in zip(spans, spans[1:]):
        if b0 < a1:
            raise CorruptVhdError(f"VHDX {an} (offset {a0}) and {bn} (offset {b0}) overlap")
    for guid in (guids.BAT_REGION, guids.METADATA_REGION):
        if guid not in regions:
            raise CorruptVhdError(f"the VHDX region table has no {KNOWN[guid]}")
    return regions[guids.BAT_REGION], regions[guids.METADATA_REGION]
