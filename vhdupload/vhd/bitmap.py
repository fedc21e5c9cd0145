"""Sector bitmaps in front of each dynamic block.

Bit order: the most significant bit of each byte stands for the lowest sector (VirtualBox's
VHD backend and MiniVHD agree; reading least-significant-first, as azure-vhd-utils does,
mixes up sectors of differencing disks written below 4 KiB). A set bit means the block holds
the sector; a clear bit means zeros (dynamic) or "ask the parent" (differencing).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

SECTOR_SIZE = 512
_NONZERO_BYTES = re.compile(rb"[^\x00]+")


def bitmap_size(block_size: int) -> int:
    """Bytes the bitmap of a block takes on disk: one bit per sector, padded to a sector."""
    sectors = -(-block_size // SECTOR_SIZE)
    return -(-sectors // (8 * SECTOR_SIZE)) * SECTOR_SIZE


def sector_is_set(bitmap: bytes, sector: int) -> bool:
    return bool(bitmap[sector >> 3] & (0x80 >> (sector & 7)))


def sector_runs(bitmap: bytes, first: int, stop: int) -> Iterator[tuple[int, int, bool]]:
    """Maximal runs ``(start, stop, is_set)`` of sectors in ``[first, stop)``.

    Whole 0x00/0xFF bytes are taken eight sectors at a time, because this sits on the read path.
    """
    run_start = first
    run_bit: bool | None = None
    s = first
    while s < stop:
        byte = bitmap[s >> 3]
        if not s & 7 and s + 8 <= stop and byte in (0, 0xFF):
            bit, step = byte == 0xFF, 8
        else:
            bit, step = bool(byte & (0x80 >> (s & 7))), 1
        if bit != run_bit:
            if run_bit is not None:
                yield (run_start, s, run_bit)
            run_start, run_bit = s, bit
        s += step
    if run_bit is not None:
        yield (run_start, stop, run_bit)


def set_byte_ranges(bitmap: bytes) -> Iterator[tuple[int, int]]:
    """Byte ranges within the block that may hold data, at 8-sector (4 KiB) granularity.

    A superset of the set sectors, found with a regex rather than a bit loop: extents only
    promise "may hold data", and reads honour every bit exactly.
    """
    for match in _NONZERO_BYTES.finditer(bitmap):
        yield (match.start() * 8 * SECTOR_SIZE, match.end() * 8 * SECTOR_SIZE)
