"""The partitions of a disk: GPT, MBR (with logical partitions), or none (a file system on the
whole disk). Bounded: at most 256 GPT entries' worth of table and 64 logical partitions.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from .source import ReadAt

SECTOR = 512
_MAX_GPT_TABLE = 256 * 128
_MAX_LOGICAL = 64
_EXTENDED = {0x05, 0x0F, 0x85}

GPT_TYPES = {
    "c12a7328-f81f-11d2-ba4b-00a0c93ec93b": "EFI System",
    "21686148-6449-6e6f-744e-656564454649": "BIOS boot",
    "e3c9e316-0b5c-4db8-817d-f92df00215ae": "Microsoft reserved",
    "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7": "Microsoft basic data",
    "de94bba4-06d1-4d40-a16a-bfd50179d6ac": "Windows recovery",
    "0fc63daf-8483-4772-8e79-3d69d8477de4": "Linux filesystem",
    "e6d6d379-f507-44c2-a23c-238f2a3df928": "Linux LVM",
    "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f": "Linux swap",
    "4f68bce3-e8cd-4db1-96e7-fbcaf984b709": "Linux root (x86-64)",
    "b921b045-1df0-41c3-af44-4c6f280d3fae": "Linux root (ARM64)",
    "bc13c2ff-59e6-4262-a352-b275fd6f7172": "Linux extended boot",
    "a19d880f-05fc-4d3b-a006-743f0f84911e": "Linux RAID",
    "ca7d7ccb-63ed-4c53-861c-1742536059cc": "Linux LUKS",
}
SWAP_GPT = "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"
MBR_TYPES = {
    0x07: "NTFS/exFAT", 0x0B: "FAT32", 0x0C: "FAT32 (LBA)", 0x0E: "FAT16 (LBA)", 0x27: "Windows recovery",
    0x82: "Linux swap", 0x83: "Linux", 0x8E: "Linux LVM", 0xEF: "EFI System", 0xFD: "Linux RAID",
}
SWAP_MBR = 0x82


@dataclass(frozen=True)
class Partition:
    """One partition: ``start`` and ``size`` in bytes; ``type`` a GPT type GUID or ``0xNN``."""

    number: int
    start: int
    size: int
    type: str
    type_name: str | None
    name: str | None = None

    @property
    def is_swap_type(self) -> bool:
        return self.type in (SWAP_GPT, f"0x{SWAP_MBR:02x}")


@dataclass
class PartitionTable:
    scheme: str  # "gpt" | "mbr" | "none"
    partitions: list[Partition]
    warnings: list[str]


def read_partitions(read_at: ReadAt, disk_size: int) -> PartitionTable:
    """The disk's partitions; a disk without a table is one "partition" covering all of it."""
    mbr = read_at(0, SECTOR)
    has_mbr = len(mbr) == SECTOR and mbr[510:512] == b"\x55\xaa"
    entries = [struct.unpack_from("<B3xBxxxII", mbr, 446 + 16 * i) for i in range(4)] if has_mbr else []
    types = [e[1] for e in entries]
    if 0xEE in types or not has_mbr:
        gpt = _gpt(read_at, disk_size)
        if gpt is not None:
            return gpt
    if has_mbr and any(types):
        return _mbr(read_at, disk_size, entries)
    return PartitionTable("none", [Partition(0, 0, disk_size, "none", None)], [])


def _gpt(read_at: ReadAt, disk_size: int) -> PartitionTable | None:
    header = read_at(SECTOR, SECTOR)
    if len(header) < 92 or header[:8] != b"EFI PART":
        return None
    entries_lba, count, entry_size = struct.unpack_from("<QII", header, 72)
    warnings: list[str] = []
    if entry_size < 128 or entry_size > 4096 or count == 0:
        return PartitionTable("gpt", [], [f"the GPT header's entry size {entry_size} or count {count} is invalid"])
    length = count * entry_size
    if length > _MAX_GPT_TABLE:
        warnings.append(f"the GPT lists {count} entries; only the first {_MAX_GPT_TABLE // entry_size} were read")
        length = _MAX_GPT_TABLE - _MAX_GPT_TABLE % entry_size
    if entries_lba < 2 or (entries_lba + (count * entry_size + SECTOR - 1) // SECTOR) * SECTOR > disk_size:
        # as sgdisk and fdisk do, a header whose entry array is not on the disk is not believed
        return PartitionTable("gpt", [], [
            f"the GPT header puts its {count} partition entries at LBA {entries_lba}, outside the disk: "
            "the table is damaged and no partition was read (repair it, e.g. with `sgdisk --verify`/`gdisk`)"
        ])
    table = read_at(entries_lba * SECTOR, length)
    partitions = []
    for index in range(len(table) // entry_size):
        raw = table[index * entry_size : index * entry_size + 128]
        if raw[:16] == bytes(16):
            continue
        type_guid = str(uuid.UUID(bytes_le=raw[:16]))
        first, last = struct.unpack_from("<QQ", raw, 32)
        name = raw[56:128].decode("utf-16-le", "replace").split("\0", 1)[0] or None
        start, stop = first * SECTOR, (last + 1) * SECTOR
        if last < first or stop > disk_size:
            warnings.append(f"GPT partition {index + 1} ({first}..{last}) lies outside the disk; it was not read")
            continue
        partitions.append(Partition(index + 1, start, stop - start, type_guid, GPT_TYPES.get(type_guid), name))
    return PartitionTable("gpt", partitions, warnings)


def _mbr(read_at: ReadAt, disk_size: int, entries: list[tuple[int, int, int, int]]) -> PartitionTable:
    partitions: list[Partition] = []
    warnings: list[str] = []
    for number, (_, ptype, first, count) in enumerate(entries, start=1):
        if ptype == 0 or count == 0:
            continue
        if ptype in _EXTENDED:
            partitions += _logical(read_at, disk_size, first, warnings)
            continue
        _add(partitions, warnings, number, first, count, ptype, disk_size)
    return PartitionTable("mbr", partitions, warnings)


def _add(partitions: list[Partition], warnings: list[str], number: int, first: int, count: int, ptype: int,
         disk_size: int) -> None:
    start, size = first * SECTOR, count * SECTOR
    if start + size > disk_size:
        warnings.append(f"MBR partition {number} (type 0x{ptype:02X}) lies outside the disk; it was not read")
        return
    partitions.append(Partition(number, start, size, f"0x{ptype:02x}", MBR_TYPES.get(ptype)))


def _logical(read_at: ReadAt, disk_size: int, extended_first: int, warnings: list[str]) -> list[Partition]:
    """Walk the chain of extended boot records (each points at the next), bounded and cycle-safe."""
    found: list[Partition] = []
    seen: set[int] = set()
    ebr_lba = extended_first
    for number in range(5, 5 + _MAX_LOGICAL):
        if ebr_lba in seen or ebr_lba * SECTOR >= disk_size:
            break
        seen.add(ebr_lba)
        ebr = read_at(ebr_lba * SECTOR, SECTOR)
        if len(ebr) < SECTOR or ebr[510:512] != b"\x55\xaa":
            break
        _, ptype, first, count = struct.unpack_from("<B3xBxxxII", ebr, 446)
        _, next_type, next_first, _ = struct.unpack_from("<B3xBxxxII", ebr, 462)
        if ptype and count:
            _add(found, warnings, number, ebr_lba + first, count, ptype, disk_size)
        if next_type not in _EXTENDED or next_first == 0:
            break
        ebr_lba = extended_first + next_first
    return found
