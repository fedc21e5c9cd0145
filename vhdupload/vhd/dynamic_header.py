"""The 1024-byte dynamic-disk header (cookie ``cxsparse``) and its parent locators.

It sits at the footer's *data offset* in dynamic and differencing VHDs. Layout (big-endian):

====== ==== ==================================================================
offset size field
====== ==== ==================================================================
0      8    cookie ``cxsparse``
8      8    data offset: unused, all-F
16     8    table offset: where the block allocation table (BAT) starts
24     4    header version, 0x00010000
28     4    max table entries: how many BAT entries there are
32     4    block size in bytes (2 MiB usually; any power of two)
36     4    checksum: one's complement of the byte sum, this field as zero
40     16   parent UUID (differencing disks)
56     4    parent timestamp, seconds since 2000-01-01 UTC
60     4    reserved
64     512  parent unicode name, UTF-16 big-endian, NUL-padded
576    192  8 parent locator entries of 24 bytes (below)
768    256  reserved
====== ==== ==================================================================

Parent locator entry: platform code (4, e.g. ``W2ru`` relative / ``W2ku`` absolute Windows
path, both UTF-16LE), platform data space (4, in sectors or bytes depending on the writer),
platform data length (4, bytes), reserved (4), platform data offset (8, absolute file offset).
"""

from __future__ import annotations

import dataclasses
import struct
import uuid as uuid_module
from dataclasses import dataclass
from typing import Any

from ..errors import CorruptVhdError, InputError
from .checksum import vhd_checksum
from .fields import check_fields

HEADER_SIZE = 1024
HEADER_COOKIE = b"cxsparse"
HEADER_VERSION = 0x00010000
HEADER_CHECKSUM_OFFSET = 36
LOCATOR_COUNT = 8
NO_OFFSET = 0xFFFFFFFFFFFFFFFF

_HEADER = struct.Struct(">8sQQIIII16sII512s")
_LOCATOR = struct.Struct(">4sIIIQ")
assert _HEADER.size == 576 and _LOCATOR.size == 24
_RESERVED_SIZE = HEADER_SIZE - _HEADER.size - LOCATOR_COUNT * _LOCATOR.size
assert _RESERVED_SIZE == 256
_HEADER_FIELDS: dict[str, str | int] = {
    "cookie": 8, "data_offset": "u64", "table_offset": "u64", "header_version": "u32",
    "max_table_entries": "u32", "block_size": "u32", "parent_uuid": "uuid", "parent_timestamp": "u32",
    "reserved1": "u32", "parent_name_raw": 512, "reserved2": _RESERVED_SIZE,
}
_LOCATOR_FIELDS: dict[str, str | int] = {
    "platform_code": 4, "data_space": "u32", "data_length": "u32", "reserved": "u32", "data_offset": "u64",
}


@dataclass(frozen=True)
class ParentLocator:
    platform_code: bytes = b"\0\0\0\0"
    data_space: int = 0
    data_length: int = 0
    reserved: int = 0
    data_offset: int = 0


@dataclass(frozen=True)
class DynamicHeader:
    """Every field of a dynamic-disk header; :meth:`to_bytes` recomputes the checksum."""

    cookie: bytes = HEADER_COOKIE
    data_offset: int = NO_OFFSET
    table_offset: int = 0
    header_version: int = HEADER_VERSION
    max_table_entries: int = 0
    block_size: int = 2 * 1024 * 1024
    checksum: int = 0
    parent_uuid: uuid_module.UUID = uuid_module.UUID(int=0)
    parent_timestamp: int = 0
    reserved1: int = 0
    parent_name_raw: bytes = dataclasses.field(default=bytes(512), repr=False)
    locators: tuple[ParentLocator, ...] = tuple(ParentLocator() for _ in range(LOCATOR_COUNT))
    reserved2: bytes = dataclasses.field(default=bytes(_RESERVED_SIZE), repr=False)

    @classmethod
    def parse(cls, data: bytes) -> "DynamicHeader":
        """Parse and check cookie and checksum (values are checked against the file elsewhere)."""
        data = bytes(data)
        if len(data) != HEADER_SIZE:
            raise CorruptVhdError(f"dynamic header is {HEADER_SIZE} bytes, got {len(data)}")
        if data[:8] != HEADER_COOKIE:
            raise CorruptVhdError(
                f"dynamic header lacks its 'cxsparse' cookie (found {data[:8]!r}): the header is damaged"
            )
        fields = _HEADER.unpack_from(data)
        locators = tuple(
            ParentLocator(*_LOCATOR.unpack_from(data, _HEADER.size + i * _LOCATOR.size))
            for i in range(LOCATOR_COUNT)
        )
        values: list[Any] = [
            *fields[:7], uuid_module.UUID(bytes=fields[7]), *fields[8:], locators,
            data[HEADER_SIZE - _RESERVED_SIZE:],
        ]
        header = cls(*values)
        expected = vhd_checksum(data, field_offset=HEADER_CHECKSUM_OFFSET)
        if header.checksum != expected:
            raise CorruptVhdError(
                f"dynamic header checksum mismatch (stored 0x{header.checksum:08x}, computed "
                f"0x{expected:08x}): the header is damaged"
            )
        return header

    def to_bytes(self) -> bytes:
        body = self._pack(checksum=0)
        return self._pack(checksum=vhd_checksum(body, field_offset=HEADER_CHECKSUM_OFFSET))

    def _pack(self, *, checksum: int) -> bytes:
        check_fields(self, _HEADER_FIELDS, what="dynamic header")
        if not isinstance(self.locators, (tuple, list)) or len(self.locators) != LOCATOR_COUNT:
            raise InputError(f"a dynamic header has {LOCATOR_COUNT} parent locators")
        for index, loc in enumerate(self.locators):
            check_fields(loc, _LOCATOR_FIELDS, what=f"parent locator {index}")
        head = _HEADER.pack(
            self.cookie, self.data_offset, self.table_offset, self.header_version,
            self.max_table_entries, self.block_size, checksum, self.parent_uuid.bytes,
            self.parent_timestamp, self.reserved1, self.parent_name_raw,
        )
        locs = b"".join(_LOCATOR.pack(*dataclasses.astuple(loc)) for loc in self.locators)
        return head + locs + self.reserved2

    def replace(self, **changes: Any) -> "DynamicHeader":
        return dataclasses.replace(self, **changes)

    @property
    def parent_name(self) -> str:
        """The parent's file name (UTF-16BE up to the first NUL); '' when there is none."""
        raw = self.parent_name_raw
        for i in range(0, len(raw) - 1, 2):
            if raw[i:i + 2] == b"\0\0":
                raw = raw[:i]
                break
        return raw.decode("utf-16-be", errors="replace")


def encode_parent_name(name: str) -> bytes:
    """``name`` as the header's 512-byte UTF-16BE field."""
    raw = name.encode("utf-16-be")
    if len(raw) > 512:
        raise InputError("parent name longer than 256 UTF-16 code units")
    return raw.ljust(512, b"\0")
