"""A byte range of an open file: a whole extent file, or a member inside an archive (an OVA).

Reads go through ``os.pread`` (thread-safe, no shared seek position) and never leave the span:
whatever a VMDK's tables say, nothing outside its own bytes is read.
"""

from __future__ import annotations

import os
import pathlib

from ..errors import CorruptVhdError
from ..virtual_disk import pread_exact


class Span:
    """``size`` bytes of ``fd`` starting at ``base``; ``path`` names it in messages."""

    def __init__(self, *, fd: int, path: pathlib.Path, base: int = 0, size: int) -> None:
        self.fd = fd
        self.path = path
        self.base = base
        self.size = size

    def read(self, offset: int, length: int, *, what: str) -> bytes:
        """``length`` bytes at ``offset`` of the span, or CorruptVhdError naming ``what`` if they lie past its end."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise CorruptVhdError(
                f"VMDK {what} ({length} bytes at offset {offset}) lies past the end of {self.path.name} "
                f"({self.size} bytes)"
            )
        return pread_exact(self.fd, self.base + offset, length, path=self.path)

    def read_upto(self, offset: int, length: int, *, what: str) -> bytes:
        """At most ``length`` bytes at ``offset`` (fewer at the span's end)."""
        return self.read(offset, max(0, min(length, self.size - offset)), what=what)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
