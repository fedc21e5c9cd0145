"""Cylinder/head/sector geometry as the VHD specification computes it.

The algorithm is the one in the "Virtual Hard Disk Image Format Specification" (appendix
"CHS calculation"); qemu's ``calculate_geometry`` in ``block/vpc.c`` follows it too. CHS can
describe at most 65535 * 16 * 255 sectors (about 127 GiB), and most sizes only approximately,
which is why Azure (and vhdupload) trust the footer's *current size* instead.
"""

from __future__ import annotations

from typing import NamedTuple

SECTOR_SIZE = 512
MAX_CYLINDERS = 65535
MAX_HEADS = 16
MAX_SECTORS_PER_TRACK = 255
MAX_CHS_SECTORS = MAX_CYLINDERS * MAX_HEADS * MAX_SECTORS_PER_TRACK


class Geometry(NamedTuple):
    cylinders: int
    heads: int
    sectors_per_track: int

    @property
    def size(self) -> int:
        """The bytes this geometry describes."""
        return self.cylinders * self.heads * self.sectors_per_track * SECTOR_SIZE

    @property
    def is_maximum(self) -> bool:
        """65535/16/255: the geometry that tells readers "use the current size"."""
        return tuple(self) == MAXIMUM_GEOMETRY

    def __str__(self) -> str:
        return f"{self.cylinders}/{self.heads}/{self.sectors_per_track}"


MAXIMUM_GEOMETRY = Geometry(MAX_CYLINDERS, MAX_HEADS, MAX_SECTORS_PER_TRACK)


def chs_for_size(size: int) -> Geometry:
    """The specification's CHS for a disk of ``size`` bytes (rounding down, as the spec does)."""
    if size < 0:
        raise ValueError(f"size must not be negative, got {size}")
    total = min(size // SECTOR_SIZE, MAX_CHS_SECTORS)
    if total >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cyl_times_heads = total // spt
    else:
        spt = 17
        cyl_times_heads = total // spt
        heads = max((cyl_times_heads + 1023) // 1024, 4)
        if cyl_times_heads >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cyl_times_heads = total // spt
        if cyl_times_heads >= heads * 1024:
            spt, heads = 63, 16
            cyl_times_heads = total // spt
    return Geometry(cyl_times_heads // heads, heads, spt)
