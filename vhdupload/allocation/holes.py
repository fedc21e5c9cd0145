""":class:`WithoutFreeSpace`: a disk seen with its free space as holes.

Its ``extents()`` leave out the whole 4 KiB pages of the free ranges, so an upload never reads
them; its ``read()`` returns zeros in every free byte (without reading it), so every CRC64,
spot check and resume proof is of what the destination ends up holding: the disk's used
blocks, and zeros in the free ones. Extents end on page boundaries wherever free space cut
them (a 1 KiB-block file system frees 1 KiB pieces): the upload and the checks after it look
for data page by page from an extent's start, and must all see the same pages.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator, Sequence
from typing import Any

from ..virtual_disk import VirtualDisk
from .bitmap import Range, coalesce

_PAGE = 4096


class WithoutFreeSpace(VirtualDisk):
    """``disk`` with ``free`` (byte ranges) reading as zeros and left out of its extents.

    Closing it closes ``disk``; the format's own attributes (``disk_id``, ``block_size``) are
    the inner disk's."""

    def __init__(self, disk: VirtualDisk, free: Sequence[Range]) -> None:
        super().__init__(path=disk.path, fd=-1, file_size=disk.file_size, virtual_size=disk.virtual_size,
                         footer=disk.footer, footer_bytes=disk.footer_bytes)
        self.disk_type = disk.disk_type
        self.parents = disk.parents
        self.inner = disk
        self.free = coalesce((max(0, lo), min(hi, disk.virtual_size)) for lo, hi in free)
        self._starts = [lo for lo, _ in self.free]
        self.holes = [(a, b) for a, b in ((-(-lo // _PAGE) * _PAGE, hi - hi % _PAGE) for lo, hi in self.free) if a < b]
        self._hole_starts = [lo for lo, _ in self.holes]

    def __getattr__(self, name: str) -> Any:  # only for names this class does not have
        if name.startswith("__") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def free_bytes(self) -> int:
        return sum(hi - lo for lo, hi in self.free)

    @property
    def touched_pages(self) -> list[Range]:
        """The 4 KiB pages holding a free byte: the only places where this view and the inner
        disk may read differently (a rerun that switches between them rewrites just these)."""
        return coalesce((lo - lo % _PAGE, -(-hi // _PAGE) * _PAGE) for lo, hi in self.free)

    def extents(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, int]]:
        for lo, hi in self.inner.extents(start, stop):
            yield from _outside(self.holes, self._hole_starts, lo, hi)

    def read(self, offset: int, length: int) -> bytes:
        used = list(_outside(self.free, self._starts, offset, offset + length)) if length > 0 else []
        if used == [(offset, offset + length)]:
            return self.inner.read(offset, length)
        self.inner.read(offset, 0)  # the inner disk's checks: closed, out of range
        if offset < 0 or offset + length > self.virtual_size:
            return self.inner.read(offset, length)  # raises its InputError
        out = bytearray(length)
        for lo, hi in used:
            out[lo - offset : hi - offset] = self.inner.read(lo, hi - lo)
        return bytes(out)

    def fingerprint_files(self) -> list[os.stat_result]:
        return self.inner.fingerprint_files()

    def allocated_bytes(self) -> int:
        return sum(hi - lo for lo, hi in self.extents())

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"<WithoutFreeSpace {self.inner!r}, {self.free_bytes} bytes free>"


def _outside(ranges: list[Range], starts: list[int], start: int, stop: int) -> Iterator[Range]:
    """The parts of ``[start, stop)`` outside the sorted, disjoint ``ranges``."""
    i = max(bisect.bisect_right(starts, start) - 1, 0)
    cursor = start
    for lo, hi in ranges[i:]:
        if lo >= stop:
            break
        if hi <= cursor:
            continue
        if lo > cursor:
            yield (cursor, lo)
        cursor = max(cursor, hi)
    if cursor < stop:
        yield (cursor, stop)
