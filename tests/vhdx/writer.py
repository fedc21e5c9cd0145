"""A small VHDX writer for tests, written from [MS-VHDX] (not part of the package).

qemu-img writes fixed and dynamic VHDX but no differencing ones, no 4096-byte sectors and no
pending log, so those (and damaged files) are built here. Layout: header section, log at
1 MiB, metadata region at 2 MiB, BAT at 3 MiB, then blocks in the order they are given.
"""

from __future__ import annotations

import os
import struct
import uuid
from array import array
from dataclasses import dataclass, field

from vhdupload.vhdx import guids
from vhdupload.vhdx.bat import Geometry
from vhdupload.vhdx.crc import with_checksum

KIB, MIB = 1024, 1024 * 1024
LOG_OFFSET, META_OFFSET, BAT_OFFSET = 1 * MIB, 2 * MIB, 3 * MIB


@dataclass
class Spec:
    virtual_size: int
    block_size: int = MIB
    logical_sector_size: int = 512
    physical_sector_size: int = 4096
    leave_block_allocated: bool = False
    # block -> (state, content or None); content is the whole block (shorter is zero-padded)
    blocks: dict[int, tuple[int, bytes | None]] = field(default_factory=dict)
    # block -> bitmap bytes for that block's sectors (partially present blocks)
    bitmaps: dict[int, bytes] = field(default_factory=dict)
    parent_linkage: uuid.UUID | None = None
    parent_paths: dict[str, str] = field(default_factory=dict)
    data_write_guid: uuid.UUID = field(default_factory=uuid.uuid4)
    log_guid: uuid.UUID = guids.ZERO
    log_length: int = MIB
    log_offset: int = LOG_OFFSET  # a log longer than 1 MiB goes past the BAT (e.g. at 4 MiB, before any block)
    header_sequences: tuple[int, int] = (1, 2)
    block_size_field: int | None = None  # write this instead of block_size (damage tests)


def _guid(g: uuid.UUID) -> bytes:
    return g.bytes_le


def header(*, sequence: int, data_write_guid: uuid.UUID, log_guid: uuid.UUID = guids.ZERO,
           log_offset: int = LOG_OFFSET, log_length: int = MIB) -> bytes:
    raw = struct.pack("<4sIQ16s16s16sHHIQ", b"head", 0, sequence, uuid.uuid4().bytes_le, _guid(data_write_guid),
                      _guid(log_guid), 0, 1, log_length, log_offset)
    return with_checksum(raw.ljust(4096, b"\0"), at=4)


def region_table(regions: list[tuple[uuid.UUID, int, int, int]]) -> bytes:
    raw = struct.pack("<4sII4x", b"regi", 0, len(regions))
    for g, off, length, required in regions:
        raw += struct.pack("<16sQII", _guid(g), off, length, required)
    return with_checksum(raw.ljust(64 * KIB, b"\0"), at=4)


def parent_locator(linkage: uuid.UUID, paths: dict[str, str]) -> bytes:
    pairs = [("parent_linkage", "{" + str(linkage) + "}"), *paths.items()]
    head = struct.pack("<16s2xH", _guid(guids.VHDX_PARENT_LOCATOR), len(pairs))
    table_end = len(head) + 12 * len(pairs)
    strings = b""
    entries = b""
    for key, value in pairs:
        k, v = key.encode("utf-16-le"), value.encode("utf-16-le")
        ko = table_end + len(strings)
        strings += k
        vo = table_end + len(strings)
        strings += v
        entries += struct.pack("<IIHH", ko, vo, len(k), len(v))
    return head + entries + strings


def metadata_region(spec: Spec) -> bytes:
    has_parent = spec.parent_linkage is not None
    flags = (1 if spec.leave_block_allocated else 0) | (2 if has_parent else 0)
    items = [
        (guids.FILE_PARAMETERS, struct.pack("<II", spec.block_size_field or spec.block_size, flags), 4),
        (guids.VIRTUAL_DISK_SIZE, struct.pack("<Q", spec.virtual_size), 6),
        (guids.VIRTUAL_DISK_ID, uuid.uuid4().bytes_le, 6),
        (guids.LOGICAL_SECTOR_SIZE, struct.pack("<I", spec.logical_sector_size), 6),
        (guids.PHYSICAL_SECTOR_SIZE, struct.pack("<I", spec.physical_sector_size), 6),
    ]
    if has_parent:
        items.append((guids.PARENT_LOCATOR, parent_locator(spec.parent_linkage, spec.parent_paths), 4))
    table = struct.pack("<8s2xH20x", b"metadata", len(items))
    body = b""
    for g, data, flag in items:
        table += struct.pack("<16sIII4x", _guid(g), 64 * KIB + len(body), len(data), flag)
        body += data
    return table.ljust(64 * KIB, b"\0") + body


def log_entry(*, sequence: int, tail: int, log_guid: uuid.UUID, writes: list, flushed: int = 0,
              last: int = 0) -> bytes:
    """One log entry: ``writes`` are ``("data", file offset, 4096 bytes)`` or ``("zero", offset, length)``."""
    data_writes = [w for w in writes if w[0] == "data"]
    count = len(writes)
    desc_sectors = 1 if count <= 126 else 1 + -(-(count - 126) // 128)
    length = (desc_sectors + len(data_writes)) * 4096
    descs = b""
    sectors = b""
    for w in writes:
        if w[0] == "zero":
            descs += struct.pack("<4s4xQQQ", b"zero", w[2], w[1], sequence)
        else:
            sector = w[2]
            assert len(sector) == 4096
            descs += struct.pack("<4s4s8sQQ", b"desc", sector[4092:], sector[:8], w[1], sequence)
            sectors += b"data" + struct.pack("<I", sequence >> 32) + sector[8:4092] + struct.pack("<I", sequence & 0xFFFFFFFF)
    hdr = struct.pack("<4sIIIQI4x16sQQ", b"loge", 0, length, tail, sequence, count, _guid(log_guid), flushed, last)
    first = hdr + descs[: 126 * 32]
    rest = descs[126 * 32:]
    desc_area = first.ljust(4096, b"\0")
    while rest:
        desc_area += rest[: 128 * 32].ljust(4096, b"\0")
        rest = rest[128 * 32:]
    return with_checksum(desc_area + sectors, at=4)


@dataclass
class Layout:
    bat_offset: int
    bat_entries: int
    block_offsets: dict[int, int]
    bitmap_offsets: dict[int, int]
    file_size: int


def bat_entry(state: int, offset: int) -> bytes:
    return struct.pack("<Q", state | (offset // MIB) << 20)


def uniform_bat(spec: Spec, state: int) -> bytes:
    """Every payload entry in ``state`` (not present in the file), sector bitmap entries not present."""
    g = _geometry(spec)
    group = struct.pack("<Q", state) * g.chunk_ratio + bytes(8)
    whole, rest = divmod(g.entries, g.chunk_ratio + 1)
    return group * whole + group[: rest * 8]


def contiguous_bat(spec: Spec, *, first_offset: int) -> bytes:
    """Every payload block fully present, one after another from ``first_offset`` (a fixed VHDX)."""
    g = _geometry(spec)
    out = bytearray()
    for block in range(0, g.payload_blocks, g.chunk_ratio):
        n = min(g.chunk_ratio, g.payload_blocks - block)
        start = (first_offset + block * spec.block_size) | 6
        out += array("Q", range(start, start + n * spec.block_size, spec.block_size)).tobytes()
        if block + n < g.payload_blocks or spec.parent_linkage is not None:
            out += bytes(8)
    return bytes(out[: g.entries * 8])


def _geometry(spec: Spec) -> Geometry:
    return Geometry(virtual_size=spec.virtual_size, block_size=spec.block_size,
                    logical_sector_size=spec.logical_sector_size, has_parent=spec.parent_linkage is not None)


def write_vhdx(path, spec: Spec, *, log: bytes = b"", bat_override: dict[int, bytes] | None = None,
               bat_raw: bytes | None = None, file_size: int = 0) -> Layout:
    """Write ``spec`` at ``path``. ``bat_raw`` replaces the whole BAT (see :func:`uniform_bat`,
    :func:`contiguous_bat`); ``file_size`` makes the file at least that long (sparse)."""
    g = _geometry(spec)
    entries = g.entries
    bat_len = max(MIB, -(-entries * 8 // MIB) * MIB)
    next_free = BAT_OFFSET + bat_len
    bat = bytearray(bat_len)
    block_offsets: dict[int, int] = {}
    bitmap_offsets: dict[int, int] = {}
    ratio = g.chunk_ratio
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for block, (state, content) in sorted(spec.blocks.items()):
            offset = 0
            if state in (6, 7):
                offset = next_free
                next_free += spec.block_size
                block_offsets[block] = offset
                if content:
                    os.pwrite(fd, content, offset)
            bat[(block + block // ratio) * 8:(block + block // ratio) * 8 + 8] = bat_entry(state, offset)
        sectors = spec.block_size // spec.logical_sector_size
        for block, bits in sorted(spec.bitmaps.items()):
            chunk = block // ratio
            if chunk not in bitmap_offsets:
                bitmap_offsets[chunk] = next_free
                next_free += MIB
                i = (chunk + 1) * ratio + chunk
                bat[i * 8:i * 8 + 8] = bat_entry(6, bitmap_offsets[chunk])
            os.pwrite(fd, bits, bitmap_offsets[chunk] + (block % ratio) * sectors // 8)
        for i, raw in (bat_override or {}).items():
            bat[i * 8:i * 8 + 8] = raw
        if bat_raw is not None:
            bat[: len(bat_raw)] = bat_raw
        os.pwrite(fd, b"vhdxfile" + "vhdupload tests".encode("utf-16-le"), 0)
        for i, offset in enumerate((64 * KIB, 128 * KIB)):
            os.pwrite(fd, header(sequence=spec.header_sequences[i], data_write_guid=spec.data_write_guid,
                                 log_guid=spec.log_guid, log_length=spec.log_length, log_offset=spec.log_offset),
                   offset)
        table = region_table([(guids.BAT_REGION, BAT_OFFSET, bat_len, 1), (guids.METADATA_REGION, META_OFFSET, MIB, 1)])
        os.pwrite(fd, table, 192 * KIB)
        os.pwrite(fd, table, 256 * KIB)
        os.pwrite(fd, metadata_region(spec), META_OFFSET)
        os.pwrite(fd, bytes(bat), BAT_OFFSET)
        if log:
            os.pwrite(fd, log, spec.log_offset)
        size = max(next_free, BAT_OFFSET + bat_len, spec.log_offset + spec.log_length, file_size)
        os.ftruncate(fd, size)
    finally:
        os.close(fd)
    return Layout(BAT_OFFSET, entries, block_offsets, bitmap_offsets, size)
