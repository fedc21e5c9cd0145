"""The sparse extent header (``KDMV``), and the stream-optimized footer that may replace it.

Every field is bounded before it is used: the grain directory must fit in the file, a grain is
at most :data:`MAX_GRAIN_SECTORS`, a grain table at most 512 entries (VMware and qemu), so a
hostile header costs at most the file's own size to check.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import CorruptVhdError, OtherFormatError

MAGIC = b"KDMV"
COWD_MAGIC = b"COWD"
SECTOR = 512
HEADER_SIZE = 512
_FORMAT = "<4sIIQQQQIQQQB4sH"
GD_AT_END = 0xFFFFFFFFFFFFFFFF

FLAG_ZERO_GRAIN = 1 << 2
FLAG_COMPRESSED = 1 << 16
FLAG_MARKERS = 1 << 17
COMPRESSION_DEFLATE = 1

#: 64 KiB is what VMware and qemu write; 2 MiB bounds what a hostile header makes each worker
#: thread inflate per grain.
MAX_GRAIN_SECTORS = 4096
MAX_GTES_PER_GT = 512
#: A grain directory entry covers grain × GTEs sectors; qemu refuses more than 32 Mi entries.
MAX_GD_ENTRIES = 32 * 1024 * 1024
#: An embedded descriptor larger than this is damage (a real one is under 2 KiB).
MAX_DESCRIPTOR_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SparseHeader:
    version: int
    flags: int
    capacity: int  # sectors
    grain_sectors: int
    descriptor_offset: int  # sectors
    descriptor_size: int  # sectors
    gtes_per_gt: int
    gd_offset: int  # sectors; GD_AT_END in a stream-optimized header whose footer says it
    compress_algorithm: int

    @property
    def grain_bytes(self) -> int:
        return self.grain_sectors * SECTOR

    @property
    def compressed(self) -> bool:
        return bool(self.flags & FLAG_COMPRESSED)

    @property
    def markers(self) -> bool:
        return bool(self.flags & FLAG_MARKERS)

    @property
    def zero_grains(self) -> bool:
        return bool(self.flags & FLAG_ZERO_GRAIN)

    @property
    def gd_entries(self) -> int:
        per = self.grain_sectors * self.gtes_per_gt
        return (self.capacity + per - 1) // per


def parse_header(raw: bytes, *, what: str = "header") -> SparseHeader:
    """The header in ``raw`` (at least 512 bytes), checked; CorruptVhdError on damage."""
    if len(raw) < HEADER_SIZE:
        raise CorruptVhdError(f"VMDK sparse {what} is {len(raw)} bytes, shorter than 512: the file is truncated")
    magic, version, flags, capacity, grain, desc_off, desc_size, gtes, _rgd, gd, _overhead, _unclean, _nl, \
        compress = struct.unpack_from(_FORMAT, raw)
    if magic == COWD_MAGIC:
        raise OtherFormatError(
            "a VMDK of the old COWD kind (ESX vmfsSparse / VMware 3 snapshot delta), which is not read here: "
            "consolidate it on ESXi (`vmkfstools -i DISK.vmdk OUT.vmdk`) or `qemu-img convert -O vmdk` it",
            format_name="VMDK",
        )
    if magic != MAGIC:
        raise CorruptVhdError(f"VMDK sparse {what} has no KDMV signature")
    if version not in (1, 2, 3):
        raise CorruptVhdError(f"VMDK sparse {what} has version {version}; versions 1 to 3 exist")
    header = SparseHeader(version=version, flags=flags, capacity=capacity, grain_sectors=grain,
                          descriptor_offset=desc_off, descriptor_size=desc_size, gtes_per_gt=gtes, gd_offset=gd,
                          compress_algorithm=compress)
    if gd != GD_AT_END:
        check_header(header, what=what)
    return header


def check_header(header: SparseHeader, *, what: str = "header") -> None:
    grain = header.grain_sectors
    if grain < 1 or grain > MAX_GRAIN_SECTORS or grain & (grain - 1):
        raise CorruptVhdError(
            f"VMDK sparse {what} has a grain of {grain} sectors; a grain is a power of two up to {MAX_GRAIN_SECTORS}"
        )
    if not 1 <= header.gtes_per_gt <= MAX_GTES_PER_GT:
        raise CorruptVhdError(
            f"VMDK sparse {what} has {header.gtes_per_gt} entries per grain table; 1 to {MAX_GTES_PER_GT} exist"
        )
    if header.capacity <= 0 or header.capacity > (1 << 63) // SECTOR:
        raise CorruptVhdError(f"VMDK sparse {what} has a capacity of {header.capacity} sectors")
    if header.gd_entries > MAX_GD_ENTRIES:
        raise CorruptVhdError(
            f"VMDK sparse {what}: its grain directory would have {header.gd_entries} entries (over {MAX_GD_ENTRIES})"
        )
    if header.compressed and header.compress_algorithm != COMPRESSION_DEFLATE:
        raise CorruptVhdError(
            f"VMDK sparse {what} names compression algorithm {header.compress_algorithm}; only deflate (1) exists"
        )
    if header.descriptor_size * SECTOR > MAX_DESCRIPTOR_BYTES:
        raise CorruptVhdError(
            f"VMDK sparse {what} says its descriptor is {header.descriptor_size} sectors (over 1 MiB): damage"
        )


def is_sparse_vmdk(head: bytes) -> bool:
    return head.startswith(MAGIC)
