"""Turn a disk's extents into Put Page ranges: pure functions over half-open ``(start, stop)``.

The pipeline, per 4 MiB-aligned chunk of the blob:

1. :func:`chunk_pieces` groups the extents that may hold data by chunk, so holes of sparse
   files and unallocated blocks are never read at all;
2. :func:`nonzero_runs` finds the 4 KiB pages of what was read that are not all zeros (the tail
   of a span at 512 bytes);
3. :func:`merge_gaps` joins runs separated by fewer than ``max_gap`` zero bytes, because on
   Azure (and Azurite) a request costs as much time as a good many KiB of payload;
4. :meth:`RangeSet.subtract_from` removes what the blob already holds when an upload resumes.

Chunks are aligned to 4 MiB, the Put Page maximum, so no range ever needs splitting.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from collections.abc import Iterable, Iterator, Sequence

Range = tuple[int, int]

SECTOR = 512
PAGE = 4096
#: Put Page accepts at most 4 MiB per request; chunks are this size and aligned to it.
CHUNK = 4 * 1024 * 1024

_ZERO_CHUNK = bytes(CHUNK)
_ZERO_PAGE = bytes(PAGE)
_ZERO_SECTOR = bytes(SECTOR)


def align_down(n: int, alignment: int) -> int:
    return n - n % alignment


def align_up(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def chunk_pieces(extents: Iterable[Range], *, stop: int, chunk: int = CHUNK) -> Iterator[list[Range]]:
    """For each chunk that any extent touches, the extents inside it, widened to whole 4 KiB
    pages, clipped to the chunk and to ``stop``, and coalesced.

    Only these pieces are read: a hole between two extents, even inside one chunk, reads as
    zeros without a system call (a sparse file's scattered data costs its own size to read).
    """
    current = -1
    pieces: list[Range] = []
    for start, end in extents:
        end = min(end, stop)
        while start < end:
            index = start // chunk
            piece_stop = min(end, (index + 1) * chunk)
            if index != current:
                if pieces:
                    yield pieces
                current, pieces = index, []
            low = max(align_down(start, PAGE), index * chunk)
            high = min(align_up(piece_stop, PAGE), (index + 1) * chunk, stop)
            if pieces and low <= pieces[-1][1]:
                pieces[-1] = (pieces[-1][0], max(high, pieces[-1][1]))
            else:
                pieces.append((low, high))
            start = piece_stop
    if pieces:
        yield pieces


def is_zero(data: bytes) -> bool:
    """True if ``data`` holds only zero bytes (a memcmp against a cached zero buffer)."""
    n = len(data)
    if n == CHUNK:
        return data == _ZERO_CHUNK
    if n < CHUNK:
        return data == bytes(n)  # calloc'd: the OS hands out zero pages without writing them
    return all(is_zero(data[i : i + CHUNK]) for i in range(0, n, CHUNK))


def nonzero_runs(data: bytes, *, base: int = 0) -> list[Range]:
    """Absolute ranges of the 4 KiB pages of ``data`` (read at offset ``base``) that are not
    all zeros, coalesced; a tail shorter than a page is looked at in 512-byte sectors.

    A whole chunk of zeros costs one memcmp; otherwise each page is one ``startswith``
    against a zero page, which compares in place without copying the slice.
    """
    n = len(data)
    if n == CHUNK and data == _ZERO_CHUNK:
        return []
    runs: list[Range] = []
    run_start = -1
    startswith = data.startswith
    whole = n - n % PAGE
    for offset in range(0, whole, PAGE):
        if startswith(_ZERO_PAGE, offset):
            if run_start >= 0:
                runs.append((base + run_start, base + offset))
                run_start = -1
        elif run_start < 0:
            run_start = offset
    for offset in range(whole, n, SECTOR):
        if startswith(_ZERO_SECTOR[: min(SECTOR, n - offset)], offset):
            if run_start >= 0:
                runs.append((base + run_start, base + offset))
                run_start = -1
        elif run_start < 0:
            run_start = offset
    if run_start >= 0:
        runs.append((base + run_start, base + n))
    return runs


def merge_gaps(runs: Sequence[Range], *, max_gap: int) -> list[Range]:
    """Join neighbouring runs whose zero gap is shorter than ``max_gap`` bytes."""
    merged: list[Range] = []
    for start, stop in runs:
        if merged and start - merged[-1][1] < max_gap:
            merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    return merged


def coalesce(ranges: Iterable[Range]) -> list[Range]:
    """Sort ranges and join those that touch or overlap."""
    out: list[Range] = []
    for start, stop in sorted(ranges):
        if stop <= start:
            continue
        if out and start <= out[-1][1]:
            if stop > out[-1][1]:
                out[-1] = (out[-1][0], stop)
        else:
            out.append((start, stop))
    return out


def total(ranges: Iterable[Range]) -> int:
    return sum(stop - start for start, stop in ranges)


class RangeSet:
    """A sorted, coalesced set of ranges with fast clipping; used for what the blob holds."""

    def __init__(self, ranges: Iterable[Range] = ()) -> None:
        self.ranges = coalesce(ranges)
        self._starts = [start for start, _ in self.ranges]

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def size(self) -> int:
        return total(self.ranges)

    def within(self, start: int, stop: int) -> list[Range]:
        """The parts of the set inside ``[start, stop)``."""
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        out = []
        for lo, hi in self.ranges[i:]:
            if lo >= stop:
                break
            lo, hi = max(lo, start), min(hi, stop)
            if lo < hi:
                out.append((lo, hi))
        return out

    def subtract_from(self, ranges: Iterable[Range]) -> list[Range]:
        """``ranges`` minus the set."""
        out: list[Range] = []
        for start, stop in ranges:
            cursor = start
            for lo, hi in self.within(start, stop):
                if lo > cursor:
                    out.append((cursor, lo))
                cursor = hi
            if cursor < stop:
                out.append((cursor, stop))
        return out


def gaps(ranges: Sequence[Range], *, start: int, stop: int) -> list[Range]:
    """The parts of ``[start, stop)`` not covered by the sorted, disjoint ``ranges``."""
    out: list[Range] = []
    cursor = start
    for lo, hi in ranges:
        lo, hi = max(lo, start), min(hi, stop)
        if lo > cursor:
            out.append((cursor, lo))
        cursor = max(cursor, hi)
    if cursor < stop:
        out.append((cursor, stop))
    return out


# --------------------------------------------------------------------------- the gap cost model


@dataclass(frozen=True)
class DestinationLimits:
    """What one destination accepts at most: bytes per second and requests per second."""

    bytes_per_second: float
    requests_per_second: float
    name: str = ""

    @property
    def break_even_gap(self) -> int:
        """Zero bytes that cost as much time to send as one request: a gap shorter than this is
        cheaper sent than skipped (sending ``g`` zeros costs ``g / B`` seconds; skipping them
        costs one more request, ``1 / R`` seconds)."""
        return int(self.bytes_per_second / self.requests_per_second)


MIB = 1024 * 1024

#: Microsoft's scalability target for one standard page blob: 60 MiB/s and 500 requests/s.
STANDARD_PAGE_BLOB = DestinationLimits(60 * MIB, 500, "standard page blob")

#: A managed disk while it takes an upload performs as the Standard HDD of its size, whatever
#: its SKU (Azure's disk types table: S4-S50 500 IOPS / 60 MB/s, S60 1,300 / 300 MB/s, S70 and
#: S80 2,000 / 500 MB/s). Sizes are the tiers' upper bounds in GiB.
_STANDARD_HDD_TIERS = (
    (4 * 1024, DestinationLimits(60e6, 500, "Standard HDD S4-S50")),
    (8 * 1024, DestinationLimits(300e6, 1300, "Standard HDD S60")),
    (32 * 1024, DestinationLimits(500e6, 2000, "Standard HDD S70/S80")),
)


def standard_hdd_limits(size: int) -> DestinationLimits:
    """The limits a managed disk of ``size`` bytes has during its upload (its Standard HDD tier)."""
    gib = size / (1024 * MIB)
    for bound, limits in _STANDARD_HDD_TIERS:
        if gib <= bound:
            return limits
    return _STANDARD_HDD_TIERS[-1][1]


def gap_for_limits(limits: DestinationLimits) -> int:
    """``max_gap`` for a destination: its break-even gap, in whole 4 KiB pages, at least one
    page and at most a chunk. A standard page blob gives 120 KiB (Azure's 60 MiB/s over 500
    requests/s); on the shaped link of the benchmarks (20 MiB/s, 250/s) 80 KiB.

    Why the break-even and not the exact optimum: the best merge for a link bound by both
    limits, min over merges of max(bytes / B, requests / R), depends on every gap of the disk,
    known only once it is all read. Merging exactly the gaps below the break-even minimises
    bytes / B + requests / R (each merge trades g / B for 1 / R), which is at most twice that
    max and needs no look-ahead; the benchmarks report how close it lands (``vhdupload.bench.floor``)."""
    gap = align_down(int(limits.break_even_gap), PAGE)
    return max(PAGE, min(gap, CHUNK))


def default_max_gap(limits: DestinationLimits | None = None) -> int:
    """The ``max_gap`` to use when none is pinned (a standard page blob when ``limits`` is None)."""
    return gap_for_limits(limits or STANDARD_PAGE_BLOB)
