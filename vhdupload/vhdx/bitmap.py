"""Sector bitmaps (2.4) of differencing disks: bit *i* (bit *i* mod 8 of byte *i* div 8, least
significant first; not VHD's order) set means sector *i* is in this file, clear means the parent's.
"""

from __future__ import annotations

import re

_UNIFORM_OR_MIXED = re.compile(rb"\x00+|\xff+|[^\x00\xff]")


def runs(bits: bytes) -> list[tuple[int, int, bool]]:
    """``(first sector, end sector, present)`` runs covering every bit of ``bits``, merged."""
    out: list[tuple[int, int, bool]] = []

    def add(a: int, b: int, present: bool) -> None:
        if out and out[-1][2] == present and out[-1][1] == a:
            out[-1] = (out[-1][0], b, present)
        else:
            out.append((a, b, present))

    for match in _UNIFORM_OR_MIXED.finditer(bits):
        first, last = match.start() * 8, match.end() * 8
        byte = bits[match.start()]
        if byte in (0, 0xFF):
            add(first, last, byte == 0xFF)
        else:
            for bit in range(8):
                add(first + bit, first + bit + 1, bool(byte >> bit & 1))
    return out
