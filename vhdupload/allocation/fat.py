"""FAT12/16/32: the clusters whose entry is zero in every copy of the table.

Layout (Microsoft's FAT specification, "FAT: General Overview of On-Disk Format"): the boot
sector's BPB gives the bytes per sector, sectors per cluster, the reserved sectors, the number
and size of the FATs and the root directory's entries; the data region follows them, and
cluster ``n`` (from 2) is its ``n - 2``-th cluster. The type follows from the cluster count
alone (< 4085 FAT12, < 65525 FAT16, else FAT32). A cluster counts as free only where every FAT
copy says so (the active one alone when FAT32 mirroring is off), so a table damaged in one copy
keeps what the other one uses. Entries with reserved high bits set count as used.
"""

from __future__ import annotations

import struct

from .bitmap import Range, ReadAt, Unreadable, read_exact, scale, zero_entry_runs


def fat_free(read: ReadAt, size: int) -> list[Range]:
    """Free byte ranges of the FAT file system at the start of the volume ``read`` reads."""
    boot = read_exact(read, 0, 512, what="boot sector")
    sector, per_cluster, reserved, fats, root_entries, total16, _media, fat16_size = struct.unpack_from(
        "<HBHBHHBH", boot, 11)
    total = total16 or struct.unpack_from("<I", boot, 32)[0]
    fat_size = fat16_size or struct.unpack_from("<I", boot, 36)[0]
    if sector not in (512, 1024, 2048, 4096) or per_cluster == 0 or per_cluster & (per_cluster - 1):
        raise Unreadable("its boot sector gives an invalid sector or cluster size")
    if not reserved or not fats or not fat_size or not total:
        raise Unreadable("its boot sector gives impossible sizes")
    if total * sector > size:
        raise Unreadable(f"it claims {total * sector} bytes, more than its volume's {size}")
    root_sectors = -(-root_entries * 32 // sector)
    data_start = reserved + fats * fat_size + root_sectors
    if data_start >= total:
        raise Unreadable("its data region starts past its end")
    clusters = (total - data_start) // per_cluster
    kind = 12 if clusters < 4085 else 16 if clusters < 65525 else 32
    entries = clusters + 2
    table_bytes = -(-entries * kind // 8)
    if table_bytes > fat_size * sector:
        raise Unreadable(f"its FAT ({fat_size} sectors) is too small for {clusters} clusters")
    copies = range(fats)
    if kind == 32:
        flags = struct.unpack_from("<H", boot, 40)[0]
        if flags & 0x80:  # mirroring off: only the active FAT is used
            copies = range(flags & 0x0F, (flags & 0x0F) + 1)
    free: list[Range] | None = None
    for copy in copies:
        table = read_exact(read, (reserved + copy * fat_size) * sector, table_bytes, what=f"FAT copy {copy + 1}")
        runs = _free_entries(table, kind=kind, entries=entries)
        free = runs if free is None else _intersect(free, runs)
    cluster = per_cluster * sector
    # cluster n lies at data_start + (n - 2) clusters
    return scale([(lo - 2, hi - 2) for lo, hi in free or []], unit=cluster, base=data_start * sector)


def _free_entries(table: bytes, *, kind: int, entries: int) -> list[Range]:
    """Ranges of cluster numbers (from 2) whose entry is zero."""
    if kind == 12:
        runs: list[Range] = []
        for n in range(2, entries):
            pair = table[n * 3 // 2] | table[n * 3 // 2 + 1] << 8
            value = pair >> 4 if n & 1 else pair & 0xFFF
            if value == 0:
                if runs and runs[-1][1] == n:
                    runs[-1] = (runs[-1][0], n + 1)
                else:
                    runs.append((n, n + 1))
        return runs
    runs = zero_entry_runs(table[: entries * (kind // 8)], width=kind // 8)
    return [(max(lo, 2), hi) for lo, hi in runs if hi > 2]


def _intersect(a: list[Range], b: list[Range]) -> list[Range]:
    out: list[Range] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out
