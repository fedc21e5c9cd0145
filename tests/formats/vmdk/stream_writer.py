"""Writes stream-optimized VMDKs the way VMware (ovftool, ESXi export) lays them out: the
header says the grain directory is at the end (GD_AT_END), grains carry markers, and the real
header is the footer before the end-of-stream marker. qemu-img puts its directory up front, so
this layout is built here, from the VMDK spec (VMware "Virtual Disk Format 5.0", stream-optimized)."""

from __future__ import annotations

import struct
import zlib

SECTOR = 512
GRAIN_SECTORS = 128
GTES = 512
GD_AT_END = 0xFFFFFFFFFFFFFFFF
FLAGS = 1 | (1 << 16) | (1 << 17)  # valid newline test, compressed grains, markers
MARKER_EOS, MARKER_GT, MARKER_GD, MARKER_FOOTER = 0, 1, 2, 3

DESCRIPTOR = """# Disk DescriptorFile
version=1
CID=12345678
parentCID=ffffffff
createType="streamOptimized"

# Extent description
RDONLY {sectors} SPARSE "disk.vmdk"

# The Disk Data Base
#DDB
ddb.adapterType = "lsilogic"
ddb.virtualHWVersion = "4"
"""


def header(*, capacity: int, gd_offset: int, descriptor_sectors: int, grain: int = GRAIN_SECTORS,
           gtes: int = GTES, version: int = 3, flags: int = FLAGS, overhead: int = 128) -> bytes:
    raw = struct.pack("<4sIIQQQQIQQQB4sH", b"KDMV", version, flags, capacity, grain, 1, descriptor_sectors, gtes,
                      0, gd_offset, overhead, 0, b"\n \r\n", 1)
    return raw.ljust(SECTOR, b"\0")


def marker(value: int, size: int, kind: int) -> bytes:
    return struct.pack("<QII", value, size, kind).ljust(SECTOR, b"\0")


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % SECTOR)


def stream_vmdk(disk: bytes, *, capacity_bytes: int | None = None, grain: int = GRAIN_SECTORS) -> bytes:
    """A VMware-layout stream-optimized VMDK of ``disk`` (all-zero grains are left out)."""
    size = capacity_bytes if capacity_bytes is not None else len(disk)
    capacity = -(-size // SECTOR)
    grain_bytes = grain * SECTOR
    descriptor = _pad(DESCRIPTOR.format(sectors=capacity).encode())
    out = bytearray(header(capacity=capacity, gd_offset=GD_AT_END, descriptor_sectors=len(descriptor) // SECTOR,
                           grain=grain))
    out += descriptor
    out += bytes(128 * SECTOR - len(out))
    grains = -(-capacity // grain)
    table = [0] * (-(-grains // GTES) * GTES)
    for g in range(grains):
        chunk = disk[g * grain_bytes:(g + 1) * grain_bytes]
        if not chunk.strip(b"\0"):
            continue
        chunk = chunk.ljust(grain_bytes, b"\0")
        table[g] = len(out) // SECTOR
        body = zlib.compress(chunk)
        out += _pad(struct.pack("<QI", g * grain, len(body)) + body)
    directory = []
    for t in range(len(table) // GTES):
        entries = table[t * GTES:(t + 1) * GTES]
        out += marker(GTES * 4 // SECTOR, 0, MARKER_GT)
        directory.append(len(out) // SECTOR)
        out += struct.pack(f"<{GTES}I", *entries)
    gd = _pad(struct.pack(f"<{len(directory)}I", *directory))
    out += marker(len(gd) // SECTOR, 0, MARKER_GD)
    gd_offset = len(out) // SECTOR
    out += gd
    out += marker(1, 0, MARKER_FOOTER)
    out += header(capacity=capacity, gd_offset=gd_offset, descriptor_sectors=len(descriptor) // SECTOR, grain=grain)
    out += marker(0, 0, MARKER_EOS)
    return bytes(out)
