"""``VdiDisk``: a VDI (dynamic, static or differencing) as the flat VirtualDisk view.

Block *n* of the disk is at ``offset_data + map[n] × (block_size + block_extra) + block_extra``
in the file; a map entry of 0xFFFFFFFF is unallocated (the parent's data, else zeros) and
0xFFFFFFFE a zero block (zeros, hiding any parent).
"""

from __future__ import annotations

import os
import pathlib
import uuid
from array import array
from collections.abc import Iterator

from ..errors import CorruptVhdError
from ..ranges import coalesce
from ..virtual_disk import VirtualDisk, pread_padded, sparse_extents
from .header import DIFF, FIXED, UNALLOCATED, ZERO, Header

_DATA, _ZERO, _PARENT = "data", "zero", "parent"


class VdiDisk(VirtualDisk):
    format = "vdi"

    def __init__(self, *, path: pathlib.Path, fd: int, file_size: int, header: Header, block_map: array[int],
                 parent: VirtualDisk | None, notes: list[str]) -> None:
        super().__init__(path=path, fd=fd, file_size=file_size, virtual_size=header.disk_size,
                         footer=None, footer_bytes=None)
        self.disk_type = ("differencing" if header.image_type == DIFF else
                          "fixed" if header.image_type == FIXED else "dynamic")
        self.header = header
        self.parent = parent
        self.notes = list(notes)
        if parent is not None:
            self.parents = [parent.path, *parent.parents]
        self._map = block_map

    @property
    def block_size(self) -> int:
        return self.header.block_size

    @property
    def disk_id(self) -> uuid.UUID:
        return self.header.image_uuid

    def _pieces(self, start: int, stop: int) -> Iterator[tuple[int, int, str, int]]:
        """``(start, end, kind, file offset)`` covering ``[start, stop)``, adjacent blocks of one kind merged."""
        h = self.header
        bs, stride = h.block_size, h.block_size + h.block_extra
        current: tuple[int, int, str, int] | None = None
        pos = start
        while pos < stop:
            block = pos // bs
            end = min((block + 1) * bs, stop)
            entry = self._map[block]
            if entry == UNALLOCATED:
                piece = (pos, end, _PARENT, 0)
            elif entry == ZERO:
                piece = (pos, end, _ZERO, 0)
            else:
                offset = h.offset_data + entry * stride + h.block_extra
                if offset >= self.file_size:
                    raise CorruptVhdError(
                        f"{self.path}: VDI block {block} lies at offset {offset}, beyond the end of the file "
                        f"({self.file_size} bytes): the file is truncated")
                piece = (pos, end, _DATA, offset + pos - block * bs)
            if current is not None and current[1] == pos and current[2] == piece[2] and (
                    piece[2] != _DATA or current[3] + (pos - current[0]) == piece[3]):
                current = (current[0], end, current[2], current[3])
            else:
                if current is not None:
                    yield current
                current = piece
            pos = end
        if current is not None:
            yield current

    def _read(self, offset: int, length: int) -> bytes:
        parts: list[bytes] = []
        for a, b, kind, file_offset in self._pieces(offset, offset + length):
            if kind == _DATA:
                parts.append(pread_padded(self._fd, file_offset, b - a))
            elif kind == _PARENT and self.parent is not None:
                end = min(b, self.parent.virtual_size)
                if a < end:
                    parts.append(self.parent.read(a, end - a))
                if end < b:
                    parts.append(bytes(b - max(a, end)))
            else:
                parts.append(bytes(b - a))
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _extents(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        return coalesce(self._raw_extents(start, stop))

    def _raw_extents(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        for a, b, kind, file_offset in self._pieces(start, stop):
            if kind == _DATA:
                # a static VDI on a sparse file: blocks never written are holes, read as zeros
                for fa, fb in sparse_extents(self._fd, file_offset, file_offset + b - a):
                    yield a + fa - file_offset, a + fb - file_offset
            elif kind == _PARENT and self.parent is not None:
                yield from self.parent.extents(a, min(b, self.parent.virtual_size))

    def close(self) -> None:
        if self.parent is not None:
            self.parent.close()
            self.parent = None
        super().close()
