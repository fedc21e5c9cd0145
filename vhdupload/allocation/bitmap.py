"""Allocation bitmaps to free ranges, and the small helpers every file-system reader shares.

A bitmap here is the ext4/NTFS kind: bit ``i`` (the least significant bit of byte ``i // 8``
first) is set when unit ``i`` is in use. Free runs are found a zero *byte* at a time with a
regular expression (C speed; a 2 TiB ext4 has 64 MiB of bitmaps), then widened into the
partly-free bytes at both ends. A free run that lies wholly inside non-zero bytes (fewer than
eight units, between used ones on both sides) is not reported: it stays "used" and is sent,
which costs a few blocks and can never drop one in use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ..planning import coalesce as coalesce  # one definition of joining ranges, re-exported to the readers

Range = tuple[int, int]

#: Reads ``length`` bytes at ``offset`` of a volume or disk (fewer only at its end).
ReadAt = Callable[[int, int], bytes]

_ZERO_BYTES = re.compile(rb"\x00+")
#: For each byte value: how many of its top bits (bit 7 down) are clear, and of its low bits.
_HIGH_CLEAR = bytes(8 - value.bit_length() for value in range(256))
_LOW_CLEAR = bytes(8 if value == 0 else (value & -value).bit_length() - 1 for value in range(256))


class Unreadable(Exception):
    """A volume's allocation map cannot be trusted (damaged, unclean, unsupported): keep it all."""


def free_runs(bitmap: bytes, *, count: int) -> list[Range]:
    """Half-open ranges of clear bits among the first ``count`` bits of ``bitmap`` (in units).

    Bits past the end of ``bitmap`` count as set (in use)."""
    limit = min(count, len(bitmap) * 8)
    out: list[Range] = []
    last = len(bitmap)
    for match in _ZERO_BYTES.finditer(bitmap):
        i, j = match.span()
        start = i * 8 - (_HIGH_CLEAR[bitmap[i - 1]] if i else 0)
        stop = min(j * 8 + (_LOW_CLEAR[bitmap[j]] if j < last else 0), limit)
        if start < stop:
            out.append((start, stop))
    return out


def zero_entry_runs(table: bytes, *, width: int) -> list[Range]:
    """Ranges of entry indices whose ``width``-byte little-endian entry is zero (FAT16/FAT32)."""
    out: list[Range] = []
    for match in _ZERO_BYTES.finditer(table):
        i, j = match.span()
        first = -(-i // width)
        stop = j // width
        if first < stop:
            if out and out[-1][1] == first:
                out[-1] = (out[-1][0], stop)
            else:
                out.append((first, stop))
    return out


def scale(runs: Iterable[Range], *, unit: int, base: int) -> list[Range]:
    """Unit ranges to absolute byte ranges: ``base + index * unit``."""
    return [(base + start * unit, base + stop * unit) for start, stop in runs]


def subtract(ranges: Iterable[Range], remove: Iterable[Range]) -> list[Range]:
    """Sorted, disjoint ``ranges`` minus ``remove`` (any order); the result is sorted."""
    cuts = list(coalesce(remove))
    out: list[Range] = []
    k = 0
    for start, stop in ranges:
        while k < len(cuts) and cuts[k][1] <= start:
            k += 1
        cursor = start
        j = k
        while j < len(cuts) and cuts[j][0] < stop:
            lo, hi = cuts[j]
            if lo > cursor:
                out.append((cursor, lo))
            cursor = max(cursor, hi)
            j += 1
        if cursor < stop:
            out.append((cursor, stop))
    return out


def bounded_reader(read: ReadAt, size: int) -> ReadAt:
    """``read`` limited to ``[0, size)``: fewer bytes at the end, none outside."""

    def read_at(offset: int, length: int) -> bytes:
        length = max(0, min(length, size - offset))
        if length == 0 or offset < 0:
            return b""
        return read(offset, length)

    return read_at


def read_exact(read: ReadAt, offset: int, length: int, *, what: str) -> bytes:
    """``length`` bytes at ``offset`` or :class:`Unreadable` naming ``what``."""
    data = read(offset, length)
    if len(data) != length:
        raise Unreadable(f"its {what} at offset {offset} lies past the end of the volume")
    return data
