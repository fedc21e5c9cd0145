"""The L1 and L2 tables: where each guest cluster (or subcluster) of the active layer lives.

The read path is refcount-free, as in qemu: an L1 entry points at an L2 table (bits 9-55; 0 is
none), an L2 entry says data at a host cluster (bits 9-55), zeros (bit 0, version 3), compressed
(bit 62: offset and sector count packed by ``cluster_bits``) or unallocated (the backing file's
data, else zeros). Extended L2 entries add a 64-bit bitmap: bit *i* allocates subcluster *i*,
bit 32 + *i* makes it read as zeros.

Bounds: the L1 table is at most 32 MiB (checked with the header); each L2 table is read when a
range needs it (a few are cached), so memory is bounded whatever the disk's size; L2 tables are
distinct clusters inside the file (checked at open), so walking them costs at most the file's size.
"""

from __future__ import annotations

import sys
import threading
from array import array
from collections.abc import Callable, Iterator

from ..errors import CorruptVhdError
from .header import Header

OFFSET_MASK = 0x00FF_FFFF_FFFF_FE00
COPIED, COMPRESSED, ZERO_FLAG = 1 << 63, 1 << 62, 1
SUBCLUSTERS = 32

# piece kinds
DATA, ZERO, UNALLOCATED, PACKED = "data", "zero", "unallocated", "compressed"

#: ``(guest start, guest end, kind, host offset, compressed bytes)``; host offset is that of
#: the guest start for DATA, of the compressed cluster for PACKED, 0 otherwise.
Piece = tuple[int, int, str, int, int]

_L2_CACHE = 32
_BIG_ENDIAN = sys.byteorder == "big"


def parse_u64_be(data: bytes) -> array[int]:
    table = array("Q", data)
    if not _BIG_ENDIAN:
        table.byteswap()
    return table


class Tables:
    """The active layer's mapping, read on demand through ``read_meta`` (bounds-checked file reads)."""

    def __init__(self, *, header: Header, l1: array[int], file_size: int, has_data_file: bool,
                 read_meta: Callable[[int, int, str], bytes]) -> None:
        self.header = header
        self._l1 = l1
        self._file_size = file_size
        self._has_data_file = has_data_file
        self._read_meta = read_meta
        self._cache: dict[int, array[int]] = {}
        self._lock = threading.Lock()
        cb = header.cluster_bits
        self._csize_shift = 62 - (cb - 8)
        self._coffset_mask = (1 << self._csize_shift) - 1
        self._csize_mask = (1 << (cb - 8)) - 1

    def check_l1(self) -> None:
        """Each L2 table a cluster of its own inside the file, clear of the header and the L1 table."""
        h = self.header
        cs = h.cluster_size
        l1_end = h.l1_offset + h.l1_size * 8
        seen: set[int] = set()
        for index, entry in enumerate(self._l1):
            offset = entry & OFFSET_MASK
            if not offset:
                continue
            if offset % cs:
                raise CorruptVhdError(f"qcow2 L1 entry {index} points at offset {offset}, not a cluster boundary")
            if offset + cs > self._file_size:
                raise CorruptVhdError(
                    f"qcow2 L2 table of L1 entry {index} ({cs} bytes at offset {offset}) lies beyond the end of the "
                    f"file ({self._file_size} bytes): the file is truncated")
            if offset < cs or (offset < l1_end and offset + cs > h.l1_offset):
                raise CorruptVhdError(
                    f"qcow2 L2 table of L1 entry {index} at offset {offset} overlaps the header or the L1 table")
            if offset in seen:
                raise CorruptVhdError(f"qcow2 L1 entry {index} points at an L2 table another entry already uses")
            seen.add(offset)

    def check_clusters(self) -> None:
        """Every data cluster of the active layer used once, by one guest cluster, and none of them
        the header, the L1 table or an L2 table. qemu never shares a cluster within one layer; a
        file that does claims more data than it holds (one cluster read for the whole disk), and
        the walk would cost a lookup per guest cluster. One pass over the L2 tables at open, a
        byte per host cluster of the file (16 MiB for a 1 TiB file of 64 KiB clusters)."""
        if self._has_data_file:  # host offsets are in the data file: no metadata to collide with
            return
        h = self.header
        cs = h.cluster_size
        used = bytearray(-(-self._file_size // cs))
        used[0] = 1
        l1_first, l1_end = h.l1_offset // cs, -(-(h.l1_offset + h.l1_size * 8) // cs)
        used[l1_first:l1_end] = b"\x01" * (l1_end - l1_first)
        for entry in self._l1:
            if entry & OFFSET_MASK:
                used[(entry & OFFSET_MASK) // cs] = 1
        for l1_index, l1_entry in enumerate(self._l1):
            if not l1_entry & OFFSET_MASK:
                continue
            table = self.l2_table(l1_index)
            assert table is not None
            entries = table[::2] if h.extended_l2 else table
            n = len(entries)
            i = 0
            while i < n:
                entry = entries[i]
                if not entry & OFFSET_MASK or entry & COMPRESSED or (entry & ZERO_FLAG and not h.extended_l2):
                    i += 1
                    continue
                j = i + 1
                while j < n and entries[j] == entry + (j - i) * cs:
                    j += 1
                guest = (l1_index * h.l2_entries + i) * cs
                first = self._data_offset(entry, guest) or 0
                a, b = first // cs, first // cs + j - i
                if b > len(used):
                    self._data_offset(entries[j - 1], guest + (j - i - 1) * cs)  # names the one past the end
                if used[a:b].count(0) != b - a:
                    raise CorruptVhdError(
                        f"qcow2 L2 entries from guest offset {guest} point at host clusters from offset {first} that "
                        "another guest cluster or the image's own tables already use")
                used[a:b] = b"\x01" * (b - a)
                i = j

    def l2_table(self, l1_index: int) -> array[int] | None:
        """The L2 table of ``l1_index`` as integers (two per entry with extended L2), None if none."""
        offset = self._l1[l1_index] & OFFSET_MASK if l1_index < len(self._l1) else 0
        if not offset:
            return None
        with self._lock:
            cached = self._cache.get(l1_index)
        if cached is not None:
            return cached
        table = parse_u64_be(self._read_meta(offset, self.header.cluster_size, f"L2 table of L1 entry {l1_index}"))
        with self._lock:
            if len(self._cache) >= _L2_CACHE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[l1_index] = table
        return table

    def pieces(self, start: int, stop: int) -> Iterator[Piece]:
        """What ``[start, stop)`` is made of, in order, adjacent pieces of one kind merged."""
        current: Piece | None = None
        for piece in self._cluster_pieces(start, stop):
            if current is not None and _joins(current, piece):
                current = (current[0], piece[1], current[2], current[3], 0)
                continue
            if current is not None:
                yield current
            current = piece
        if current is not None:
            yield current

    def _cluster_pieces(self, start: int, stop: int) -> Iterator[Piece]:
        h = self.header
        cs = h.cluster_size
        per_table = h.l2_entries
        span = cs * per_table  # guest bytes one L2 table maps
        pos = start
        while pos < stop:
            l1_index = pos // span
            table_end = min((l1_index + 1) * span, stop)
            table = self.l2_table(l1_index)
            if table is None or not any(table):
                yield pos, table_end, UNALLOCATED, 0, 0
                pos = table_end
                continue
            table_start = l1_index * span
            last = -(-(table_end - table_start) // cs)  # one past the last entry the range needs
            while pos < table_end:
                cluster = pos // cs
                cluster_start = cluster * cs
                i = cluster % per_table
                if h.extended_l2:
                    end = min(cluster_start + cs, table_end)
                    yield from self._extended(table[2 * i], table[2 * i + 1], cluster_start, pos, end)
                else:
                    # A run of entries alike (unallocated, zero, or data clusters one after the other
                    # in the file) is one piece: a dense disk is walked with one comparison per cluster.
                    entry = table[i]
                    step = cs if entry & OFFSET_MASK and not entry & (COMPRESSED | ZERO_FLAG) else 0
                    j = i + 1
                    while j < last and table[j] == entry + (j - i) * step:
                        j += 1
                    end = min(table_start + j * cs, table_end)
                    piece = self._standard(entry, cluster_start, pos, min(cluster_start + cs, end))
                    kind = piece[2]
                    if j > i + 1 and (kind in (ZERO, UNALLOCATED) or (kind == DATA and step)):
                        if kind == DATA:
                            self._data_offset(table[j - 1], table_start + (j - 1) * cs)  # the run's end in range
                        piece = (pos, end, kind, piece[3], 0)
                    else:  # one cluster (a compressed one, or host offset 0 in a data file)
                        end = min(cluster_start + cs, end)
                    yield piece
                pos = end

    def _standard(self, entry: int, cluster_start: int, a: int, b: int) -> Piece:
        if entry & COMPRESSED:
            return self._compressed(entry, cluster_start, a, b)
        if entry & ZERO_FLAG:
            return a, b, ZERO, 0, 0
        offset = self._data_offset(entry, cluster_start)
        if offset is None:
            return a, b, UNALLOCATED, 0, 0
        return a, b, DATA, offset + a - cluster_start, 0

    def _extended(self, entry: int, bitmap: int, cluster_start: int, a: int, b: int) -> Iterator[Piece]:
        if entry & COMPRESSED:
            yield self._compressed(entry, cluster_start, a, b)
            return
        alloc, zero = bitmap & 0xFFFF_FFFF, bitmap >> 32
        if alloc & zero:
            raise CorruptVhdError(
                f"qcow2 extended L2 entry of guest offset {cluster_start} marks subclusters both allocated and zero")
        offset = self._data_offset(entry, cluster_start)
        if offset is None and alloc:
            raise CorruptVhdError(
                f"qcow2 extended L2 entry of guest offset {cluster_start} allocates subclusters of no host cluster")
        if alloc == 0xFFFF_FFFF or (alloc == 0 and zero in (0, 0xFFFF_FFFF)):
            kind = DATA if alloc else ZERO if zero else UNALLOCATED
            yield a, b, kind, (offset + a - cluster_start) if kind == DATA and offset is not None else 0, 0
            return
        sub = self.header.cluster_size // SUBCLUSTERS
        for s in range((a - cluster_start) // sub, -(-(b - cluster_start) // sub)):
            sa, sb = max(a, cluster_start + s * sub), min(b, cluster_start + (s + 1) * sub)
            if alloc >> s & 1:
                assert offset is not None
                yield sa, sb, DATA, offset + sa - cluster_start, 0
            else:
                yield sa, sb, (ZERO if zero >> s & 1 else UNALLOCATED), 0, 0

    def _data_offset(self, entry: int, cluster_start: int) -> int | None:
        offset = entry & OFFSET_MASK
        if offset == 0 and not (self._has_data_file and entry & COPIED):
            return None
        if offset % self.header.cluster_size:
            raise CorruptVhdError(
                f"qcow2 L2 entry of guest offset {cluster_start} points at host offset {offset}, "
                "not a cluster boundary")
        if not self._has_data_file and offset >= self._file_size:
            raise CorruptVhdError(
                f"qcow2 L2 entry of guest offset {cluster_start} points at host offset {offset}, beyond the end of "
                f"the file ({self._file_size} bytes): the file is truncated")
        return offset

    def _compressed(self, entry: int, cluster_start: int, a: int, b: int) -> Piece:
        if self._has_data_file:
            raise CorruptVhdError(f"qcow2 cluster at guest offset {cluster_start} is compressed in an image with an "
                                  "external data file, which the format forbids")
        coffset = entry & self._coffset_mask
        sectors = ((entry >> self._csize_shift) & self._csize_mask) + 1
        csize = sectors * 512 - (coffset & 511)
        if coffset < self.header.cluster_size or coffset >= self._file_size:
            raise CorruptVhdError(
                f"qcow2 compressed cluster of guest offset {cluster_start} is at host offset {coffset}, outside the "
                f"file's data ({self._file_size} bytes)")
        return a, b, PACKED, coffset, min(csize, self._file_size - coffset)


def _joins(first: Piece, second: Piece) -> bool:
    """Whether ``second`` continues ``first`` (data only when the host bytes are contiguous too)."""
    kind = first[2]
    if first[1] != second[0] or kind != second[2] or kind == PACKED:
        return False
    return kind != DATA or first[3] + (first[1] - first[0]) == second[3]
