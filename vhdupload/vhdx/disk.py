"""``VhdxDisk``: a VHDX (fixed, dynamic or differencing) as the flat VirtualDisk view.

Reads map virtual offsets through the BAT: fully present blocks come from the file (with the
replayed log laid over it), partially present blocks follow the sector bitmap, and the rest is
zeros or, in a differencing disk, the parent's data. ``footer`` is None: the blob gets a fresh
fixed-VHD footer, like a raw image's (see docs/vhdx.md).
"""

from __future__ import annotations

import bisect
import pathlib
import uuid
from collections.abc import Iterator

from ..ranges import coalesce
from ..virtual_disk import VirtualDisk, sparse_extents
from . import bat as bat_module
from .bat import Bat
from .bitmap import runs
from .fileview import FileView
from .header import Header
from .log import Replay
from .metadata import Metadata

_FILE, _ZERO, _PARENT = "file", "zero", "parent"
_BITMAP_CACHE = 256


class VhdxDisk(VirtualDisk):
    format = "vhdx"

    def __init__(self, *, view: FileView, header: Header, metadata: Metadata, bat: Bat,
                 replay: Replay, creator: str, parent: VirtualDisk | None) -> None:
        # The file as opened (``view`` also carries what a replayed log adds, in memory).
        super().__init__(path=view.path, fd=view.fd, file_size=view.real_size, virtual_size=metadata.virtual_size,
                         footer=None, footer_bytes=None)
        self.disk_type = (
            "differencing" if metadata.has_parent else "fixed" if metadata.leave_block_allocated else "dynamic"
        )
        self.header = header
        self.metadata = metadata
        self.replay = replay
        self.creator = creator
        self.parent = parent
        if parent is not None:
            self.parents = [parent.path, *parent.parents]
        self._view = view
        self._bat = bat
        self._bitmaps: dict[int, list[tuple[int, int, bool]]] = {}

    # -- facts --------------------------------------------------------------------------
    @property
    def block_size(self) -> int:
        return self.metadata.block_size

    @property
    def logical_sector_size(self) -> int:
        return self.metadata.logical_sector_size

    @property
    def physical_sector_size(self) -> int:
        return self.metadata.physical_sector_size

    @property
    def data_write_guid(self) -> uuid.UUID:
        return self.header.data_write_guid

    @property
    def disk_id(self) -> uuid.UUID:
        return self.metadata.disk_id

    @property
    def log_state(self) -> str:
        """``no log``, ``empty`` (a LogGuid but no complete sequence) or ``replayed N entries``."""
        if self.replay.state == "replayed":
            return f"replayed {self.replay.entries} log entries ({self.replay.writes} writes) in memory"
        return self.replay.state

    # -- the contract ---------------------------------------------------------------------
    def _pieces(self, start: int, stop: int) -> Iterator[tuple[int, int, str, int]]:
        """``(start, end, kind, file offset)`` covering ``[start, stop)`` in order: one piece per
        run of the BAT (a run of present blocks is contiguous in the file), not one per block."""
        if start >= stop or not len(self._bat):
            return
        bs = self.metadata.block_size
        default = _PARENT if self.parent is not None else _ZERO
        i = self._bat.run_index(start // bs)
        pos = start
        while pos < stop:
            run = self._bat.run(i)
            i += 1
            a, b = pos, min(run.end * bs, stop)
            if run.state == bat_module.FULLY_PRESENT:
                yield a, b, _FILE, run.offset + a - run.start * bs
            elif run.state == bat_module.PARTIALLY_PRESENT:
                for block in range(a // bs, (b - 1) // bs + 1):
                    offset = run.offset + (block - run.start) * bs
                    yield from self._partial(block, offset, max(a, block * bs), min(b, (block + 1) * bs))
            elif run.state == bat_module.ZERO:  # zero, unmapped: zeros, hiding any parent data
                yield a, b, _ZERO, 0
            else:  # not present; undefined: the parent's (or zeros) is a valid reading
                yield a, b, default, 0
            pos = b

    def _partial(self, block: int, offset: int, a: int, b: int) -> Iterator[tuple[int, int, str, int]]:
        lss = self.metadata.logical_sector_size
        block_start = block * self.metadata.block_size
        for first, end, present in self._block_bitmap(block):
            pa, pb = max(block_start + first * lss, a), min(block_start + end * lss, b)
            if pa < pb:
                yield pa, pb, (_FILE if present else _PARENT), offset + pa - block_start

    def _block_bitmap(self, block: int) -> list[tuple[int, int, bool]]:
        cached = self._bitmaps.get(block)
        if cached is not None:
            return cached
        g = self._bat.geometry
        sectors = g.block_size // g.logical_sector_size
        _state, sb_offset = self._bat.bitmap(block // g.chunk_ratio)  # present: checked at open
        first_bit = (block % g.chunk_ratio) * sectors
        bits = self._view.read(sb_offset + first_bit // 8, sectors // 8, what=f"sector bitmap of block {block}")
        found = runs(bits)
        if len(self._bitmaps) >= _BITMAP_CACHE:
            self._bitmaps.clear()
        self._bitmaps[block] = found
        return found

    def _read(self, offset: int, length: int) -> bytes:
        parts: list[bytes] = []
        for a, b, kind, file_offset in self._pieces(offset, offset + length):
            if kind == _FILE:
                parts.append(self._view.read(file_offset, b - a, what="payload block"))
            elif kind == _ZERO:
                parts.append(bytes(b - a))
            else:
                assert self.parent is not None
                parent_end = min(b, self.parent.virtual_size)
                if a < parent_end:
                    parts.append(self.parent.read(a, parent_end - a))
                if parent_end < b:
                    parts.append(bytes(b - max(a, parent_end)))
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _extents(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        return coalesce(self._raw_extents(start, stop))  # neighbouring runs as one extent

    def _raw_extents(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        view = self._view
        for a, b, kind, file_offset in self._pieces(start, stop):
            if kind == _FILE:
                end = file_offset + b - a
                if view.touched(file_offset, end):
                    yield a, b
                    continue
                # Holes in the file (a fixed VHDX on a sparse file) read as zeros: skip them.
                for fa, fb in sparse_extents(self._fd, file_offset, min(end, view.real_size)):
                    yield a + fa - file_offset, a + fb - file_offset
            elif kind == _PARENT:
                assert self.parent is not None
                yield from self.parent.extents(a, min(b, self.parent.virtual_size))

    def close(self) -> None:
        if self.parent is not None:
            self.parent.close()
            self.parent = None
        super().close()
