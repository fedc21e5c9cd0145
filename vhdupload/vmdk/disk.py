"""``VmdkDisk``: a VMDK (any of its extents, with its parent) as the flat VirtualDisk view.

The virtual disk is the extents laid end to end. Unallocated grains read as the parent's data
(a ``parentFileNameHint`` chain) or zeros; compressed grains are inflated in ``read()``, that
is in the upload's worker threads. ``footer`` is None: the blob gets a fresh fixed-VHD footer.
"""

from __future__ import annotations

import bisect
import os
import pathlib
from collections.abc import Iterator, Sequence

from ..ranges import coalesce
from ..virtual_disk import VirtualDisk, sparse_extents
from .descriptor import Descriptor
from .extent import FILE, GRAIN, PARENT, Extent, FlatExtent, SparseExtent
from .span import Span


class VmdkDisk(VirtualDisk):
    format = "vmdk"

    def __init__(self, *, path: pathlib.Path, own: Span, extents: Sequence[Extent], descriptor: Descriptor | None,
                 parent: VirtualDisk | None, stat_paths: Sequence[pathlib.Path], create_type: str) -> None:
        # ``own`` is the file opened (the descriptor, or the sparse extent that embeds it)
        spans = _distinct_spans(own, extents)
        super().__init__(path=path, fd=own.fd, file_size=sum(s.size for s in spans),
                         virtual_size=sum(e.length for e in extents), footer=None, footer_bytes=None)
        self._spans = spans
        self._extents_list = list(extents)
        self._starts: list[int] = []
        pos = 0
        for extent in self._extents_list:
            self._starts.append(pos)
            pos += extent.length
        self.descriptor = descriptor
        self.create_type = create_type
        self.parent = parent
        self._stat_paths = list(stat_paths)
        if parent is not None:
            self.parents = [parent.path, *parent.parents]
        sparse = any(isinstance(e, SparseExtent) for e in extents)
        self.disk_type = "differencing" if parent is not None else "dynamic" if sparse else "fixed"

    # -- facts --------------------------------------------------------------------------
    @property
    def cid(self) -> int | None:
        return self.descriptor.cid if self.descriptor is not None else None

    @property
    def adapter_type(self) -> str | None:
        return self.descriptor.adapter_type if self.descriptor is not None else None

    @property
    def compressed(self) -> bool:
        return any(isinstance(e, SparseExtent) and e.header.compressed for e in self._extents_list)

    @property
    def extent_count(self) -> int:
        return len(self._extents_list)

    # -- the contract -----------------------------------------------------------------------
    def _pieces(self, start: int, stop: int) -> Iterator[tuple[int, int, str, int, Extent, int]]:
        """``(start, stop, kind, where, extent, extent's first byte)`` covering ``[start, stop)``."""
        i = bisect.bisect_right(self._starts, start) - 1
        while start < stop and i < len(self._extents_list):
            extent, base = self._extents_list[i], self._starts[i]
            end = min(stop, base + extent.length)
            for a, b, kind, where in extent.pieces(start - base, end - base):
                yield a + base, b + base, kind, where, extent, base
            start = end
            i += 1

    def _read(self, offset: int, length: int) -> bytes:
        parts: list[bytes] = []
        for a, b, kind, where, extent, base in self._pieces(offset, offset + length):
            if kind == FILE:
                assert extent.span is not None
                parts.append(extent.span.read(where, b - a, what="grain"))
            elif kind == GRAIN:
                assert isinstance(extent, SparseExtent)
                grain_start = (a - base) // extent.grain_bytes * extent.grain_bytes
                grain = extent.read_grain(where, grain_start)
                parts.append(grain[a - base - grain_start:b - base - grain_start])
            elif kind == PARENT and self.parent is not None:
                parent_end = min(b, self.parent.virtual_size)
                if a < parent_end:
                    parts.append(self.parent.read(a, parent_end - a))
                if parent_end < b:
                    parts.append(bytes(b - max(a, parent_end)))
            else:  # ZERO, or PARENT with no parent
                parts.append(bytes(b - a))
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _extents(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        return coalesce(self._data_runs(start, stop))  # neighbouring runs as one extent

    def _data_runs(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        for a, b, kind, where, extent, _base in self._pieces(start, stop):
            if kind == FILE and isinstance(extent, FlatExtent) and extent.span.base == 0:
                # a flat extent in a sparse file (what qemu-img and VMware make): its holes are zeros
                for fa, fb in sparse_extents(extent.span.fd, where, where + b - a):
                    yield a + fa - where, a + fb - where
            elif kind in (FILE, GRAIN):
                yield a, b
            elif kind == PARENT and self.parent is not None:
                yield from self.parent.extents(a, min(b, self.parent.virtual_size))
            # ZERO: nothing

    def fingerprint_files(self) -> list[os.stat_result]:
        """``stat`` of every file the disk reads (descriptor, extents, archive, parents)."""
        own = [os.stat(p) for p in self._stat_paths]
        return own + (self.parent.fingerprint_files() if self.parent is not None else [])

    def close(self) -> None:
        if self.parent is not None:
            self.parent.close()
            self.parent = None
        for span in self._spans:
            span.close()
        self._fd = -1


def _distinct_spans(own: Span, extents: Sequence[Extent]) -> list[Span]:
    spans: list[Span] = [own]
    seen: set[int] = {id(own)}
    for extent in extents:
        span = extent.span
        if span is not None and id(span) not in seen:
            seen.add(id(span))
            spans.append(span)
    return spans


__all__ = ["VmdkDisk"]
