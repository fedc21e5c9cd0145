"""The two VHDX headers at 64 KiB and 128 KiB (2.2.2) and which one is current.

A header is valid when its signature is ``head`` and its CRC-32C matches; the current one is
the valid header with the higher sequence number. Only the current header is used.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from ..errors import CorruptVhdError, OtherFormatError
from . import guids
from .crc import checksum_ok

HEADER_OFFSETS = (64 * 1024, 128 * 1024)
HEADER_SIZE = 4096
MIB = 1024 * 1024

# offset: signature 0 (4), checksum 4 (4), sequence 8 (8), file write GUID 16, data write
# GUID 32, log GUID 48 (16 each), log version 64 (2), version 66 (2), log length 68 (4),
# log offset 72 (8); reserved to 4096.
_LAYOUT = struct.Struct("<4sIQ16s16s16sHHIQ")
assert _LAYOUT.size == 80


@dataclass(frozen=True)
class Header:
    offset: int  # where in the file this header is
    sequence: int
    file_write_guid: uuid.UUID
    data_write_guid: uuid.UUID
    log_guid: uuid.UUID
    log_version: int
    version: int
    log_length: int
    log_offset: int

    @property
    def has_log(self) -> bool:
        return self.log_guid != guids.ZERO


def parse_header(data: bytes, *, offset: int) -> Header:
    """One header, or CorruptVhdError saying why it is not valid."""
    where = f"VHDX header at {offset // 1024} KiB"
    if len(data) < HEADER_SIZE:
        raise CorruptVhdError(f"{where} is cut short (the file ends inside it)")
    sig, _crc, seq, fwg, dwg, lg, log_version, version, log_length, log_offset = _LAYOUT.unpack_from(data)
    if sig != b"head":
        raise CorruptVhdError(f"{where} has no 'head' signature")
    if not checksum_ok(data[:HEADER_SIZE], at=4):
        raise CorruptVhdError(f"{where} has a bad CRC-32C")
    return Header(
        offset=offset, sequence=seq, file_write_guid=guids.from_le(fwg), data_write_guid=guids.from_le(dwg),
        log_guid=guids.from_le(lg), log_version=log_version, version=version, log_length=log_length,
        log_offset=log_offset,
    )


def current_header(first: bytes, second: bytes) -> Header:
    """The current header of the two (raw 4 KiB each), checked for what this reader supports."""
    found: list[Header] = []
    damage: list[str] = []
    for data, offset in ((first, HEADER_OFFSETS[0]), (second, HEADER_OFFSETS[1])):
        try:
            found.append(parse_header(data, offset=offset))
        except CorruptVhdError as exc:
            damage.append(str(exc))
    if not found:
        raise CorruptVhdError(f"neither VHDX header is valid ({'; '.join(damage)})")
    if len(found) == 2 and found[0].sequence == found[1].sequence and first[:HEADER_SIZE] != second[:HEADER_SIZE]:
        raise CorruptVhdError(
            f"both VHDX headers are valid but differ and carry the same sequence number {found[0].sequence}, "
            "so neither is current"
        )
    header = max(found, key=lambda h: h.sequence)
    _check(header)
    return header


def _check(h: Header) -> None:
    where = f"VHDX header at {h.offset // 1024} KiB"
    if h.version != 1:
        raise OtherFormatError(
            f"{where} says format version {h.version}; this reader knows version 1 ([MS-VHDX]): "
            "convert the disk with the tool that made it",
            format_name="VHDX",
        )
    if not h.has_log:
        return
    if h.log_version != 0:
        raise OtherFormatError(
            f"{where} has a log of version {h.log_version} to replay; this reader knows version 0: "
            "open the disk once in Hyper-V (which replays the log), then try again",
            format_name="VHDX",
        )
    if h.log_length == 0 or h.log_length % MIB or h.log_offset < MIB or h.log_offset % MIB:
        raise CorruptVhdError(
            f"{where} places the log at offset {h.log_offset} with length {h.log_length}; both must be "
            "whole MiB, the offset at least 1 MiB"
        )
