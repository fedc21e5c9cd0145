"""The block allocation table: big-endian u32 sector offsets, 0xFFFFFFFF = not allocated."""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable

UNALLOCATED = 0xFFFFFFFF
ENTRY_SIZE = 4


def parse_bat(data: bytes) -> array[int]:
    """The entries of a BAT (``len(data)`` a multiple of 4) as an array of unsigned ints."""
    if len(data) % ENTRY_SIZE:
        raise ValueError("a BAT is a whole number of 4-byte entries")
    table = array("I")
    assert table.itemsize == ENTRY_SIZE
    table.frombytes(data)
    if sys.byteorder == "little":
        table.byteswap()  # on disk the entries are big-endian
    return table


def build_bat(entries: Iterable[int], *, pad_to: int = 512) -> bytes:
    """The on-disk bytes of ``entries``, padded with unallocated entries to ``pad_to`` bytes."""
    table = array("I", entries)
    if sys.byteorder == "little":
        table.byteswap()
    data = table.tobytes()
    if pad_to and len(data) % pad_to:
        data += b"\xff" * (pad_to - len(data) % pad_to)
    return data
