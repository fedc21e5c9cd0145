"""A fixed VHD: the disk's bytes lie flat in the file, then the footer."""

from __future__ import annotations

from ..virtual_disk import FlatDisk


class FixedDisk(FlatDisk):
    """A fixed VHD: ``virtual_size`` bytes of data, then the footer."""

    disk_type = "fixed"
