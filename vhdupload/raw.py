"""The raw reader: a raw image is its own disk, byte for byte, with no header and no footer.

It has no signature, so nothing recognises it: the caller says raw (``open_disk(path, raw=True)``).
"""

from __future__ import annotations

import pathlib

from .virtual_disk import FlatDisk


class RawDisk(FlatDisk):
    """A raw image: the whole file is the disk; no footer."""

    disk_type = "raw"


def open_raw(*, fd: int, path: pathlib.Path, file_size: int) -> RawDisk:
    """The raw image at ``path`` (already open as ``fd``, which the returned disk then owns)."""
    return RawDisk(path=path, fd=fd, file_size=file_size, virtual_size=file_size, footer=None, footer_bytes=None)
