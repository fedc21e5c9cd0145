"""The 512-byte VHD footer: every field, parsing, building and the checksum.

Layout (big-endian), as in the VHD specification:

====== ==== ==================================================================
offset size field
====== ==== ==================================================================
0      8    cookie ``conectix``
8      4    features (bit 1 "reserved" is always set: 0x00000002)
12     4    file format version, 0x00010000
16     8    data offset: the dynamic header's offset; all-F for fixed disks
24     4    timestamp, seconds since 2000-01-01 00:00:00 UTC
28     4    creator application (``vhdu`` for us, ``qemu``, ``win ``, ...)
32     4    creator version
36     4    creator host OS (``Wi2k``, ``Mac ``)
40     8    original size in bytes
48     8    current size in bytes: the size Azure (and vhdupload) trust
56     2    cylinders
58     1    heads
59     1    sectors per track
60     4    disk type: 2 fixed, 3 dynamic, 4 differencing
64     4    checksum: one's complement of the byte sum, this field as zero
68     16   unique id (UUID, bytes in the order written)
84     1    saved state
85     427  reserved, zero
====== ==== ==================================================================

Very old Virtual PC versions wrote the footer one byte short (511 bytes, without the last
reserved byte); :meth:`Footer.parse` accepts that length too.
"""

from __future__ import annotations

import dataclasses
import struct
import time
import uuid as uuid_module
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import CorruptVhdError, InputError, NotAVhdError
from .checksum import vhd_checksum
from .fields import check_fields
from .geometry import MAXIMUM_GEOMETRY, Geometry, chs_for_size

FOOTER_SIZE = 512
OLD_FOOTER_SIZE = 511
COOKIE = b"conectix"
CHECKSUM_OFFSET = 64

DISK_TYPE_FIXED = 2
DISK_TYPE_DYNAMIC = 3
DISK_TYPE_DIFFERENCING = 4
DISK_TYPE_NAMES = {DISK_TYPE_FIXED: "fixed", DISK_TYPE_DYNAMIC: "dynamic", DISK_TYPE_DIFFERENCING: "differencing"}

FEATURES_RESERVED = 0x00000002
FORMAT_VERSION = 0x00010000
NO_DATA_OFFSET = 0xFFFFFFFFFFFFFFFF

#: Our own creator application: honest about who wrote the footer (see make_fixed_footer).
CREATOR_APPLICATION = b"vhdu"
CREATOR_VERSION = 0x00010000
CREATOR_HOST_OS = b"Wi2k"

VHD_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_VHD_EPOCH_UNIX = int(VHD_EPOCH.timestamp())

_STRUCT = struct.Struct(">8sIIQI4sI4sQQHBBII16sB427s")
assert _STRUCT.size == FOOTER_SIZE
#: What each field may hold, checked before packing (the struct above, field by field).
_FIELDS: dict[str, str | int] = {
    "cookie": 8, "features": "u32", "format_version": "u32", "data_offset": "u64", "timestamp": "u32",
    "creator_application": 4, "creator_version": "u32", "creator_host_os": 4, "original_size": "u64",
    "current_size": "u64", "cylinders": "u16", "heads": "u8", "sectors_per_track": "u8",
    "disk_type": "u32", "uuid": "uuid", "saved_state": "u8", "reserved": 427,
}


@dataclass(frozen=True)
class Footer:
    """Every field of a VHD footer; :meth:`to_bytes` recomputes the checksum."""

    cookie: bytes = COOKIE
    features: int = FEATURES_RESERVED
    format_version: int = FORMAT_VERSION
    data_offset: int = NO_DATA_OFFSET
    timestamp: int = 0
    creator_application: bytes = CREATOR_APPLICATION
    creator_version: int = CREATOR_VERSION
    creator_host_os: bytes = CREATOR_HOST_OS
    original_size: int = 0
    current_size: int = 0
    cylinders: int = 0
    heads: int = 0
    sectors_per_track: int = 0
    disk_type: int = DISK_TYPE_FIXED
    checksum: int = 0
    uuid: uuid_module.UUID = uuid_module.UUID(int=0)
    saved_state: int = 0
    reserved: bytes = dataclasses.field(default=bytes(427), repr=False)

    # -- parsing ------------------------------------------------------------------------
    @classmethod
    def parse(cls, data: bytes) -> "Footer":
        """Parse a 512-byte (or old 511-byte) footer, checking cookie, checksum and disk type.

        Raises :class:`NotAVhdError` when the cookie is absent and :class:`CorruptVhdError`
        when it is present but the rest does not hold up.
        """
        data = bytes(data)
        if len(data) == OLD_FOOTER_SIZE:
            data += b"\0"  # the missing byte is reserved, zero, and adds nothing to the sum
        if len(data) != FOOTER_SIZE:
            raise NotAVhdError(f"a VHD footer is 512 bytes, got {len(data)}")
        if data[:8] != COOKIE:
            raise NotAVhdError("no VHD footer: the cookie 'conectix' is missing")
        fields = _STRUCT.unpack(data)
        values: list[Any] = [*fields[:15], uuid_module.UUID(bytes=fields[15]), *fields[16:]]
        footer = cls(*values)
        expected = vhd_checksum(data, field_offset=CHECKSUM_OFFSET)
        if footer.checksum != expected:
            raise CorruptVhdError(
                f"VHD footer checksum mismatch (stored 0x{footer.checksum:08x}, computed "
                f"0x{expected:08x}): the footer is damaged"
            )
        if footer.disk_type not in DISK_TYPE_NAMES:
            raise CorruptVhdError(
                f"VHD footer has disk type {footer.disk_type}; only 2 (fixed), 3 (dynamic) and "
                "4 (differencing) exist"
            )
        return footer

    # -- building -----------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The 512 bytes of this footer, with a freshly computed checksum."""
        body = self._pack(checksum=0)
        return self._pack(checksum=vhd_checksum(body, field_offset=CHECKSUM_OFFSET))

    def _pack(self, *, checksum: int) -> bytes:
        check_fields(self, _FIELDS, what="VHD footer")
        return _STRUCT.pack(
            self.cookie, self.features, self.format_version, self.data_offset, self.timestamp,
            self.creator_application, self.creator_version, self.creator_host_os,
            self.original_size, self.current_size, self.cylinders, self.heads,
            self.sectors_per_track, self.disk_type, checksum, self.uuid.bytes,
            self.saved_state, self.reserved,
        )

    def replace(self, **changes: Any) -> "Footer":
        return dataclasses.replace(self, **changes)

    # -- derived views ------------------------------------------------------------------
    @property
    def disk_type_name(self) -> str:
        return DISK_TYPE_NAMES.get(self.disk_type, f"unknown ({self.disk_type})")

    @property
    def geometry(self) -> Geometry:
        return Geometry(self.cylinders, self.heads, self.sectors_per_track)

    @property
    def created(self) -> datetime:
        return datetime.fromtimestamp(_VHD_EPOCH_UNIX + self.timestamp, tz=timezone.utc)


def vhd_timestamp(when: datetime | int | float | None = None) -> int:
    """Seconds since 2000-01-01 UTC (the footer's clock) for ``when`` (default now).

    An ``int`` is taken as already on the VHD clock; a ``float`` as Unix time.
    """
    if when is None:
        when = time.time()
    if isinstance(when, bool):
        raise TypeError("timestamp must be a datetime or a number")
    if isinstance(when, int):
        seconds = when
    elif isinstance(when, datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = int(when.timestamp()) - _VHD_EPOCH_UNIX
    else:
        seconds = int(when) - _VHD_EPOCH_UNIX
    return seconds & 0xFFFFFFFF


def footer_geometry(virtual_size: int) -> Geometry:
    """The geometry we write for a fixed footer of ``virtual_size`` bytes.

    qemu-img 7.2 (Debian 12, installed here) computes the disk size from CHS unless the
    creator is one of a few it knows or the geometry is the maximum 65535/16/255. We write
    the spec's CHS when it describes the size exactly, and the maximum geometry otherwise, so
    that every reader sees exactly the current size, without pretending to be another creator.
    """
    chs = chs_for_size(virtual_size)
    return chs if chs.size == virtual_size else MAXIMUM_GEOMETRY


def make_fixed_footer(
    *,
    virtual_size: int,
    uuid: uuid_module.UUID | None = None,
    timestamp: datetime | int | float | None = None,
    template: Footer | None = None,
) -> Footer:
    """A fixed-disk footer for ``virtual_size`` bytes.

    With ``template`` (the source VHD's footer) its UUID and timestamp are kept unless
    ``uuid``/``timestamp`` are given, so the disk keeps its identity. Otherwise a new UUID and
    the current time are used. ``timestamp`` is a datetime, Unix time (float) or VHD seconds (int).
    """
    if not isinstance(virtual_size, int) or virtual_size <= 0 or virtual_size % 512:
        raise InputError(f"a fixed VHD's size must be a positive multiple of 512 bytes, got {virtual_size!r}")
    if uuid is None:
        uuid = template.uuid if template is not None else uuid_module.uuid4()
    if timestamp is None and template is not None:
        stamp = template.timestamp
    else:
        stamp = vhd_timestamp(timestamp)
    geometry = footer_geometry(virtual_size)
    return Footer(
        timestamp=stamp,
        original_size=virtual_size,
        current_size=virtual_size,
        cylinders=geometry.cylinders,
        heads=geometry.heads,
        sectors_per_track=geometry.sectors_per_track,
        disk_type=DISK_TYPE_FIXED,
        uuid=uuid,
    )
