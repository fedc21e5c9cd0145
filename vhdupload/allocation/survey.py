"""Where a disk's free space lies: partitions, then each volume's own allocation map.

The partition table comes from the guest layer (:mod:`vhdupload.guest.partitions`), the kind of
each volume from its signature (:mod:`vhdupload.guest.probe`); the allocation maps are read
here, natively, through the disk's ``read``: only the bitmaps and tables, never the data.

What counts as free:

- inside a volume, what its file system (ext2/3/4, XFS, FAT, NTFS) marks free, or a swap area past
  its header page;
- outside the partitions, the gaps between and after them -- except the start of the disk up
  to the first partition (the MBR or protective MBR, the GPT and its entries, and the gap a
  BIOS boot loader such as GRUB's core image may live in), the GPT's backup at the end, the
  extended boot records of an MBR's logical partitions, and all of a disk with a Windows
  dynamic-disk (LDM) partition, whose database lives outside its partitions.

Everything else is kept as it is, and each volume kept says why (no file system recognised,
encrypted, damaged or not cleanly unmounted, a kind not read here).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import cast
from dataclasses import dataclass, field, replace

from ..guest.partitions import SECTOR, Partition, read_partitions
from ..guest.probe import KINDS, probe
from ..guest.source import Budget, CachedDisk, Window
from .bitmap import Range, ReadAt, Unreadable, bounded_reader, coalesce, scale, subtract
from .ext import ext_free
from .fat import fat_free
from .lvm import lv_reader, read_physical_volume
from .ntfs import ntfs_free
from .swap import swap_free
from .xfs import xfs_free

#: probe kind -> (reader of the free ranges, a human name)
_READERS: dict[str, tuple[Callable[[ReadAt, int], list[Range]], str]] = {
    "ext": (ext_free, "ext4"),
    "fat": (fat_free, "FAT"),
    "ntfs": (ntfs_free, "NTFS"),
    "swap": (swap_free, "swap"),
    "xfs": (xfs_free, "XFS"),
}
_NOT_READ = {
    "btrfs": "Btrfs free space is not read",
    "luks": "it is encrypted",
    "bitlocker": "it is encrypted",
    "empty": "no file system was recognised",
    "unknown": "no file system was recognised",
}
_EXTENDED = (0x05, 0x0F, 0x85)
_LDM = 0x42
_RAID_TYPES = ("a19d880f-05fc-4d3b-a006-743f0f84911e", "0xfd")
_MD_MAGIC = (b"\xfc\x4e\x2b\xa9",)  # 0xa92b4efc, little-endian
#: The signature probe reads a few sectors per volume; nothing near this budget.
_PROBE_BUDGET = 64 * 1024 * 1024


@dataclass(frozen=True)
class VolumeSpace:
    """One partition (or the unpartitioned gaps): where it is, what it holds, what of it is free.

    ``free`` are absolute byte ranges of the disk; ``kept`` says why nothing of a volume was
    found free (None when its map was read)."""

    where: str  # "partition 2", "whole disk", "unpartitioned space"
    start: int
    size: int
    content: str  # a probe kind ("ext", "ntfs", ...), or "gaps"
    free: tuple[Range, ...] = ()
    kept: str | None = None

    @property
    def free_bytes(self) -> int:
        return sum(stop - start for start, stop in self.free)

    @property
    def name(self) -> str:
        return _READERS[self.content][1] if self.content in _READERS else KINDS.get(self.content, self.content)


@dataclass(frozen=True)
class FreeSpace:
    """What :func:`find_free_space` found: per volume, and all free ranges together (sorted,
    disjoint, half-open byte ranges of the disk)."""

    size: int
    volumes: tuple[VolumeSpace, ...]
    ranges: tuple[Range, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def free_bytes(self) -> int:
        return sum(stop - start for start, stop in self.ranges)

    def kept(self) -> list[str]:
        """One line per volume kept as it is, saying why."""
        return [f"{v.where} ({v.name}) is sent as it is: {v.kept}" for v in self.volumes if v.kept]


def find_free_space(read: ReadAt, size: int) -> FreeSpace:
    """The free space of the disk of ``size`` bytes that ``read(offset, n)`` reads."""
    read = bounded_reader(read, size)
    cached = CachedDisk(read, size, budget=Budget(max_bytes=_PROBE_BUDGET, seconds=600.0))
    try:
        table = read_partitions(cached.read, size)
    except Exception as exc:  # a damaged table: nothing is known to be free
        kept = VolumeSpace("whole disk", 0, size, "unknown", kept=f"its partition table cannot be read ({_text(exc)})")
        return FreeSpace(size=size, volumes=(kept,), ranges=())
    warnings = list(table.warnings)
    volumes: list[VolumeSpace] = []
    for part in table.partitions:
        where = "whole disk" if table.scheme == "none" else f"partition {part.number}"
        # Partitions that overlap (a damaged or hostile table): what one file system calls free
        # may be another's data, so nothing another partition covers is free here.
        others = [(p.start, p.start + p.size) for p in table.partitions if p is not part]
        for volume in _volume(read, cached, part, where):
            if volume.free and others:
                volume = replace(volume, free=tuple(subtract(list(volume.free), others)))
            volumes.append(volume)
    if table.scheme != "none" and warnings:
        # a partition the reader dropped (past the disk's end, beyond the entries read) would
        # look like a gap: with a table in doubt, nothing outside the partitions is free
        volumes.append(VolumeSpace("unpartitioned space", 0, size, "gaps",
                                   kept=f"the partition table has problems ({warnings[0]})"))
    elif table.scheme != "none":
        volumes.append(_gaps(cached.read, size, table.scheme, table.partitions))
    ranges = coalesce(r for v in volumes for r in v.free)
    return FreeSpace(size=size, volumes=tuple(volumes), ranges=tuple(ranges), warnings=tuple(warnings))


def _volume(read: ReadAt, cached: CachedDisk, part: Partition, where: str) -> list[VolumeSpace]:
    """The partition's volume (and, for an LVM2 physical volume, each logical volume)."""
    if part.type in _RAID_TYPES or _md_superblock(cached, part):
        # a RAID member: a striped array's file system is not this partition's to read
        return [VolumeSpace(where, part.start, part.size, "raid", kept="it is a Linux RAID (md) member")]
    base = part.start

    def volume_read(offset: int, length: int) -> bytes:
        return read(base + offset, length)

    reads = bounded_reader(volume_read, part.size)
    if _probe(reads) == "lvm2":
        return _physical_volume(reads, part, where)
    volume, found = _file_system(reads, part.size, where, part.start)
    free = tuple((base + lo, base + hi) for lo, hi in found)
    return [replace(volume, free=free)]


def _probe(read: ReadAt) -> str:
    try:
        return probe(cast(Window, _Reads(read)))
    except Exception:  # a damaged volume must end as "kept", whatever it triggers
        return "unknown"


class _Reads:
    """What the signature probe calls: ``read_at``."""

    def __init__(self, read: ReadAt) -> None:
        self.read_at = read


def _file_system(read: ReadAt, size: int, where: str, start: int) -> tuple[VolumeSpace, list[Range]]:
    """The volume of ``size`` bytes ``read`` reads, and its free ranges (relative to it)."""
    kind = _probe(read)
    if kind not in _READERS:
        return VolumeSpace(where, start, size, kind, kept=_NOT_READ.get(kind, "it is not read here")), []
    try:
        found = _READERS[kind][0](read, size)
    except Unreadable as exc:
        return VolumeSpace(where, start, size, kind, kept=str(exc)), []
    except Exception as exc:  # hostile input: whatever a damaged map triggers, the volume is kept
        return VolumeSpace(where, start, size, kind, kept=f"its allocation map cannot be read ({_text(exc)})"), []
    return VolumeSpace(where, start, size, kind), [(lo, hi) for lo, hi in coalesce(found) if 0 <= lo < hi <= size]


def _physical_volume(read: ReadAt, part: Partition, where: str) -> list[VolumeSpace]:
    """An LVM2 PV: its extents no LV uses, then the file system of each LV read here."""
    try:
        pv = read_physical_volume(read, part.size)
    except Unreadable as exc:
        return [VolumeSpace(where, part.start, part.size, "lvm2", kept=str(exc))]
    except Exception as exc:
        return [VolumeSpace(where, part.start, part.size, "lvm2", kept=f"its metadata cannot be read ({_text(exc)})")]
    base = part.start
    free = scale(pv.free, unit=pv.extent, base=base + pv.pe_start)
    out = [VolumeSpace(where, part.start, part.size, "lvm2", free=tuple(free))]
    for lv in pv.volumes:
        lv_where = f"LVM {pv.group}/{lv.name}"
        if lv.readable is not None or not lv.extents:
            out.append(VolumeSpace(lv_where, part.start, 0, "lvm", kept=lv.readable or "it has no extents here"))
            continue
        try:
            lv_read, size, to_pv = lv_reader(read, pv, lv)
        except Unreadable as exc:
            out.append(VolumeSpace(lv_where, part.start, 0, "lvm", kept=str(exc)))
            continue
        volume, found = _file_system(bounded_reader(lv_read, size), size, lv_where, part.start)
        mapped = [(base + lo, base + hi) for span in found for lo, hi in to_pv(span)]
        out.append(replace(volume, free=tuple(coalesce(mapped))))
    return out


def _md_superblock(cached: CachedDisk, part: Partition) -> bool:
    """An md superblock where versions 0.90 (64 KiB-aligned, 64 KiB before the end) or 1.0 (8 KiB
    before the end, 4 KiB-aligned) keep it, whose data starts at the partition's start."""
    end = part.start + part.size
    places = (end - (part.size % 65536) - 65536, part.start + ((part.size - 8192) & ~4095))
    return any(at >= part.start and cached.read(at, 4) in _MD_MAGIC for at in places)


def _gaps(read: ReadAt, size: int, scheme: str, partitions: list[Partition]) -> VolumeSpace:
    """The space no partition covers, less what a table or boot loader keeps there."""
    name = "unpartitioned space"
    mbr = read(0, SECTOR)
    entries = [struct.unpack_from("<B3xBxxxII", mbr, 446 + 16 * i) for i in range(4)] if len(mbr) == SECTOR else []
    if any(ptype == _LDM for _, ptype, _, _ in entries):
        return VolumeSpace(name, 0, size, "gaps", kept="a Windows dynamic disk (LDM) keeps its database outside its partitions")
    if not partitions:
        return VolumeSpace(name, 0, size, "gaps", kept="the partition table lists no partition")
    used = [(p.start, p.start + p.size) for p in partitions]
    first = min(start for start, _ in used)
    keep: list[Range] = [(0, first)]  # the tables, and a BIOS boot loader's gap
    if scheme == "gpt":
        header = read(SECTOR, SECTOR)
        last_usable = struct.unpack_from("<Q", header, 48)[0] if len(header) == SECTOR else 0
        end_of_usable = (last_usable + 1) * SECTOR
        keep.append((min(end_of_usable, size) if last_usable else 0, size))  # the backup entries and header
    else:
        for _, ptype, lba, count in entries:
            if ptype in _EXTENDED:  # its extended boot records sit between the logical partitions
                keep.append((lba * SECTOR, (lba + count) * SECTOR))
    free = subtract(subtract([(first, size)], used), keep)
    return VolumeSpace(name, 0, size, "gaps", free=tuple(r for r in free if r[1] > r[0]))


def _text(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
