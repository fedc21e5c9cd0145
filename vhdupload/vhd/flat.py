"""Disks whose bytes lie flat in the file: fixed VHDs (data then footer) and raw images."""

from __future__ import annotations

from collections.abc import Iterator

from .disk import VirtualDisk, sparse_extents


class _FlatDisk(VirtualDisk):
    def _extents(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        # stop never exceeds virtual_size, so the footer region is never yielded.
        return sparse_extents(self._fd, start, stop)

    def _read(self, offset: int, length: int) -> bytes:
        return self._pread(offset, length)


class FixedDisk(_FlatDisk):
    """A fixed VHD: ``virtual_size`` bytes of data, then the footer."""

    disk_type = "fixed"


class RawDisk(_FlatDisk):
    """A raw image: the whole file is the disk; no footer."""

    disk_type = "raw"
