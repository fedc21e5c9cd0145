"""Helpers for half-open byte ranges ``(start, stop)``."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator


def coalesce(ranges: Iterable[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Merge sorted ranges that overlap or touch; drop empty ones."""
    current: tuple[int, int] | None = None
    for start, stop in ranges:
        if stop <= start:
            continue
        if current is None:
            current = (start, stop)
        elif start <= current[1]:
            current = (current[0], max(current[1], stop))
        else:
            yield current
            current = (start, stop)
    if current is not None:
        yield current


def union(*sorted_range_lists: Iterable[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """The coalesced union of several sorted range sequences."""
    return coalesce(heapq.merge(*sorted_range_lists))


def clip(ranges: Iterable[tuple[int, int]], start: int, stop: int) -> Iterator[tuple[int, int]]:
    """The parts of ``ranges`` inside ``[start, stop)``."""
    for a, b in ranges:
        a, b = max(a, start), min(b, stop)
        if a < b:
            yield (a, b)
