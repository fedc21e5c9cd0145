"""Send only what the disk holds: the free space of a disk's file systems, as byte ranges.

- :mod:`.survey` walks the partitions (the guest layer's reader) and reads each volume's
  allocation map: :mod:`.ext` (block bitmaps), :mod:`.xfs` (the bnobt of each AG, behind a
  clean log), :mod:`.fat` (the tables), :mod:`.ntfs` (``$Bitmap``), :mod:`.swap` (past the header), :mod:`.lvm` (unused extents, and the logical
  volumes' own file systems); what no partition covers is free too, less
  the tables and the boot loader's gap;
- :mod:`.bitmap` turns maps into ranges (and never a used unit into a free one);
- :mod:`.holes` gives the disk an upload sends: free ranges read as zeros and are never read.

Nothing here knows of uploads or destinations: upload, convert, verify and inspect call in.
"""

from __future__ import annotations

from .. import planning
from ..virtual_disk import VirtualDisk
from .bitmap import Range
from .holes import WithoutFreeSpace
from .survey import FreeSpace, VolumeSpace, find_free_space

__all__ = [
    "FreeSpace",
    "VolumeSpace",
    "WithoutFreeSpace",
    "data_in_free_space",
    "find_free_space",
    "free_space_of",
    "without_free_space",
]


def free_space_of(disk: VirtualDisk) -> FreeSpace:
    """The free space of ``disk`` (any format), read from its allocation maps."""
    return find_free_space(disk.read, disk.virtual_size)


def without_free_space(disk: VirtualDisk) -> tuple[WithoutFreeSpace, FreeSpace]:
    """``disk`` with its free space as holes, and what was found."""
    found = free_space_of(disk)
    return WithoutFreeSpace(disk, found.ranges), found


#: Stored free space read whole by :func:`data_in_free_space`; past it, samples are read.
SAMPLE_ABOVE = 1024 * 1024 * 1024
_SAMPLE = 256 * 1024


def data_in_free_space(disk: VirtualDisk, ranges: tuple[Range, ...] | list[Range], *,
                       budget: int = SAMPLE_ABOVE) -> int:
    """Bytes of the free ``ranges`` that hold data: non-zero 4 KiB pages (sectors at the ends)
    of the parts the disk stores at all (a sparse file's holes and unallocated blocks are not
    read). Up to ``budget`` bytes stored, every one is looked at; beyond, ``budget`` bytes of
    evenly spread samples are, and the count is scaled up (an estimate, to whole pages): a fixed
    VHD stores all its free space, and ``inspect`` must not read a whole disk."""
    stored = [piece for lo, hi in ranges for piece in disk.extents(lo, hi)]
    total = sum(hi - lo for lo, hi in stored)
    if total <= budget:
        return sum(_nonzero(disk, lo, hi) for lo, hi in stored)
    step = total / (budget // _SAMPLE)
    sampled = found = 0
    position = 0.0  # in the stored bytes, laid end to end
    passed = 0
    for lo, hi in stored:
        while position < passed + (hi - lo):
            at = lo + int(position - passed)
            at -= at % planning.PAGE if at - at % planning.PAGE >= lo else 0
            end = min(hi, at + _SAMPLE)
            found += _nonzero(disk, at, end)
            sampled += end - at
            position += step
        passed += hi - lo
    estimate = found * total // sampled if sampled else 0
    return int(estimate - estimate % planning.PAGE)


def _nonzero(disk: VirtualDisk, start: int, stop: int) -> int:
    found = 0
    for offset in range(start, stop, planning.CHUNK):
        n = min(planning.CHUNK, stop - offset)
        found += planning.total(planning.nonzero_runs(disk.read(offset, n), base=offset))
    return found
