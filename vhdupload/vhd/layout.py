"""Where a dynamic VHD's blocks lie, checked once when the disk is opened.

Every allocated block (its sector bitmap, then its data) must lie inside the data area and
overlap neither the file's own structures (the footer copy at offset 0, the dynamic header, the
BAT, the parent locators that are read) nor another block. Without this, entries pointing into
the header or at one shared block make the header's bytes, or one block many times over, look
like disk data: a 1 MiB file could claim 256 MiB.

The check is one pass over the BAT in entry order, O(n), with a compact bucket table: the file
is cut into stretches one block long, and a block can only overlap blocks that start in its
own stretch or a neighbouring one. The first offending entry (in BAT order) is named, with what
it overlaps. A Python-level pass costs about 0.1 µs per unallocated and 0.3 µs per allocated
entry, so the largest table (2^24 entries) stays within a few seconds.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from .bat import UNALLOCATED

SECTOR = 512
#: The bucket table is a 4-byte slot per block-length stretch of the file: at most 68 MiB.
MAX_BUCKETS = (1 << 24) + (1 << 20)  # room for 2^24 blocks and the structures before them
#: Blocks smaller than 128 KiB spread over a file longer than 2^24 block lengths (no real VHD
#: writer makes these) are bucketed in a dict instead; its memory grows with the allocated
#: blocks, so their count is capped there.
MAX_SPARSE_BUCKET_BLOCKS = 1 << 21


@dataclass(frozen=True)
class Region:
    """A half-open byte range ``[start, stop)`` of the file that holds a VHD structure."""

    start: int
    stop: int
    name: str


class BlockLayoutError(Exception):
    """Raised with one line saying which BAT entry is wrong and what it overlaps (no path)."""


def check_block_layout(
    *, bat: array[int], block_size: int, bitmap_bytes: int, virtual_size: int, data_end: int,
    regions: list[Region],
) -> None:
    """Raise :class:`BlockLayoutError` for the first BAT entry whose block is outside
    ``[0, data_end)``, overlaps one of ``regions`` or overlaps the block of an earlier entry.

    Every block is ``bitmap_bytes + block_size`` long, except the last entry's, which only
    needs the part the virtual size uses (some writers end the file there).
    """
    n = len(bat)
    if n == 0:
        return
    full = bitmap_bytes + block_size
    assert full % SECTOR == 0
    span = full // SECTOR  # a block's length in sectors: the bucket width too
    last = n - 1
    max_start = (data_end - full) // SECTOR  # the last sector a full block may start at (may be < 0)
    forbidden = _forbidden_starts(regions, length=full)
    lo = max((hi for _, hi, _ in forbidden), default=0)  # at or past every region: no region check

    # Bucket k (sectors [k * span, (k + 1) * span)) is slot k + 1, so k - 1 always has a slot;
    # a slot holds the index + 1 of the one block that starts in it (0: none).
    slots = max(max_start, 0) // span + 3
    buckets: array[int] | _Buckets
    if slots <= MAX_BUCKETS:
        buckets = array("I", bytes(4 * slots))
    else:
        allocated = n - bat.count(UNALLOCATED)
        if allocated > MAX_SPARSE_BUCKET_BLOCKS:
            raise BlockLayoutError(
                f"{allocated} allocated blocks of {block_size} bytes spread over {data_end} bytes is "
                "beyond the layouts vhdupload checks (no VHD writer makes blocks this small in a file this big)"
            )
        buckets = _Buckets()

    def outside(i: int, e: int) -> None:
        """Entry ``i`` is below ``lo`` or past ``max_start``: raise unless it is still fine."""
        if e > max_start:
            raise BlockLayoutError(_past_the_end(i, e, full, data_end))
        _check_regions(i, e, full, regions, forbidden)

    # The usual layout: every block starts at the same offset modulo the block length (they
    # were laid end to end after the BAT, in whatever order). Two such blocks overlap only
    # when they start in the same bucket, which makes this loop a third cheaper than the
    # general one below, to which it hands over at the first block that breaks the pattern.
    first = next((e for e in itertools.islice(bat, last) if e != UNALLOCATED), None)
    phase = first % span if first is not None else 0
    resume = last
    for i, e in enumerate(itertools.islice(bat, last)):
        if e != UNALLOCATED:
            if not lo <= e <= max_start:
                outside(i, e)
            if e % span != phase:
                resume = i
                break
            k = e // span + 1
            if buckets[k]:
                raise BlockLayoutError(_overlap(i, e, buckets[k] - 1, bat, full))
            buckets[k] = i + 1

    for i, e in enumerate(itertools.islice(bat, resume, last), resume):
        if e != UNALLOCATED:
            if not lo <= e <= max_start:
                outside(i, e)
            k = e // span
            if buckets[k] or buckets[k + 1] or buckets[k + 2]:
                _check_neighbours(i, e, full, full, bat, buckets, k)
            buckets[k + 1] = i + 1

    e = bat[last]
    if e != UNALLOCATED:
        length = bitmap_bytes + (virtual_size - last * block_size)
        if e * SECTOR + length > data_end:
            raise BlockLayoutError(_past_the_end(last, e, length, data_end))
        _check_regions(last, e, length, regions, None)
        # A short last block may start past the last full block's bucket: read past the table as empty.
        view = buckets if isinstance(buckets, _Buckets) else _Window(buckets, slots)
        _check_neighbours(last, e, length, full, bat, view, e // span)


class _Slots(Protocol):
    def __getitem__(self, slot: int, /) -> int: ...


class _Buckets(dict[int, int]):
    """A sparse bucket table: absent buckets read as empty."""

    def __missing__(self, key: int) -> int:
        return 0


class _Window:
    """Reads of a bucket table that treat slots past its end as empty."""

    def __init__(self, buckets: array[int], size: int) -> None:
        self._buckets, self._size = buckets, size

    def __getitem__(self, slot: int) -> int:
        return self._buckets[slot] if slot < self._size else 0


def _forbidden_starts(regions: list[Region], *, length: int) -> list[tuple[int, int, str]]:
    """Sorted sector ranges ``[lo, hi)`` where a block of ``length`` bytes would overlap a region."""
    out: list[tuple[int, int, str]] = []
    for region in regions:
        if region.stop <= region.start:
            continue
        lo = max((region.start - length) // SECTOR + 1, 0)  # first start whose block reaches the region
        hi = -(-region.stop // SECTOR)  # first start at or past the region's end
        if lo < hi:
            out.append((lo, hi, region.name))
    out.sort()
    return out


def _check_regions(index: int, entry: int, length: int, regions: list[Region],
                   forbidden: Iterable[tuple[int, int, str]] | None) -> None:
    if forbidden is not None and not any(lo <= entry < hi for lo, hi, _ in forbidden):
        return  # quick answer for full-length blocks
    a, b = entry * SECTOR, entry * SECTOR + length
    for region in regions:
        if a < region.stop and region.start < b:
            raise BlockLayoutError(
                f"BAT entry {index} points at sector {entry}, whose block (bytes {a}..{b}) overlaps "
                f"{region.name} (bytes {region.start}..{region.stop})"
            )


def _check_neighbours(index: int, entry: int, length: int, full: int, bat: array[int], buckets: _Slots,
                      k: int) -> None:
    """Raise if a block stored in buckets k - 1 .. k + 1 overlaps ``entry``'s ``length`` bytes."""
    a = entry * SECTOR
    for slot in (k, k + 1, k + 2):
        other = buckets[slot]
        if other:
            b = bat[other - 1] * SECTOR
            if b < a + length and a < b + full:
                raise BlockLayoutError(_overlap(index, entry, other - 1, bat, full))


def _overlap(index: int, entry: int, j: int, bat: array[int], full: int) -> str:
    what = "the same block as" if bat[j] == entry else "a block overlapping that of"
    return (
        f"BAT entry {index} points at sector {entry}, {what} BAT entry {j} (sector {bat[j]}); "
        f"blocks are {full} bytes: two entries must never share file space"
    )


def _past_the_end(index: int, entry: int, length: int, data_end: int) -> str:
    end = entry * SECTOR + length
    return (
        f"BAT entry {index} points at sector {entry}, whose block ends at {end}, past the data "
        f"area, which ends at {data_end} (a truncated or damaged file)"
    )
