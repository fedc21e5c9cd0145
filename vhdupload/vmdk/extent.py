"""The extents a VMDK is made of, each a run of the virtual disk: flat, zero, or sparse.

Each extent answers ``pieces(start, stop)`` with ``(start, stop, kind, where)`` runs relative
to its own first byte: ``FILE`` (``where`` is the offset in its span), ``ZERO`` (zeros, hiding
any parent), ``PARENT`` (not allocated: the parent's data, or zeros) and ``GRAIN`` (a compressed
grain: ``where`` is the grain's offset in the span; inflated by ``read_grain`` in the reader's
thread, never at open).
"""

from __future__ import annotations

import re
import sys
import threading
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Iterator

from ..errors import CorruptVhdError
from .header import SECTOR, SparseHeader
from .span import Span

FILE, ZERO, PARENT, GRAIN = "file", "zero", "parent", "grain"
Piece = tuple[int, int, str, int]

_GT_CACHE = 4096  # grain tables of 512 entries: 8 MiB at most
_GRAIN_CACHE = 32  # inflated grains: a read that straddles two grains inflates each once
_MARKER_SIZE = 12  # a grain marker: the grain's first sector (u64) and the compressed size (u32)
_ZEROED_GTE = 1
_NONZERO = re.compile(rb"[^\x00]")  # a grain table entry meaning "zeros" when the header's zero-grain flag is set


class FlatExtent:
    """Bytes that lie flat in a file from ``offset`` (monolithicFlat, twoGbMaxExtentFlat, vmfs)."""

    def __init__(self, *, span: Span, offset: int, length: int) -> None:
        self.span = span
        self.offset = offset
        self.length = length

    def pieces(self, start: int, stop: int) -> Iterator[Piece]:
        if start < stop:
            yield start, stop, FILE, self.offset + start


class ZeroExtent:
    """A run of zeros with no file (an extent of type ZERO)."""

    span: Span | None = None

    def __init__(self, *, length: int) -> None:
        self.length = length

    def pieces(self, start: int, stop: int) -> Iterator[Piece]:
        if start < stop:
            yield start, stop, ZERO, 0


class SparseExtent:
    """A hosted sparse extent (monolithicSparse, twoGbMaxExtentSparse, streamOptimized).

    The grain directory is read at open (its size is bounded by the file's); grain tables are
    read when a range needs them and kept in a small cache, so enumerating a 256 GiB disk reads
    only its directory and its allocated tables.
    """

    def __init__(self, *, span: Span, header: SparseHeader, length: int) -> None:
        self.span = span
        self.header = header
        self.length = length
        self.grain_bytes = header.grain_bytes
        self.table_span = header.grain_bytes * header.gtes_per_gt  # virtual bytes one grain table maps
        gd_bytes = span.read(header.gd_offset * SECTOR, header.gd_entries * 4, what="grain directory")
        self.directory = _u32s(gd_bytes)
        self._directory_bytes = gd_bytes
        table_bytes = header.gtes_per_gt * 4
        if self.directory and max(self.directory) * SECTOR + table_bytes > span.size:
            worst = max(self.directory)
            raise CorruptVhdError(
                f"VMDK grain directory points at a grain table at sector {worst}, past the end of "
                f"{span.path.name} ({span.size} bytes)"
            )
        self._tables: OrderedDict[int, array[int]] = OrderedDict()
        self._grains: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    # -- tables ------------------------------------------------------------------------
    def _table(self, index: int) -> array[int]:
        with self._lock:
            table = self._tables.get(index)
            if table is not None:
                self._tables.move_to_end(index)
                return table
        raw = self.span.read(self.directory[index] * SECTOR, self.header.gtes_per_gt * 4,
                             what=f"grain table {index}")
        table = _u32s(raw)
        with self._lock:
            self._tables[index] = table
            if len(self._tables) > _GT_CACHE:
                self._tables.popitem(last=False)
        return table

    def pieces(self, start: int, stop: int) -> Iterator[Piece]:
        pending: Piece | None = None
        for piece in self._grain_pieces(start, stop):
            if pending is not None and piece[0] == pending[1] and piece[2] == pending[2] and piece[2] != GRAIN and (
                    piece[2] != FILE or piece[3] == pending[3] + pending[1] - pending[0]):
                pending = (pending[0], piece[1], pending[2], pending[3])
                continue
            if pending is not None:
                yield pending
            pending = piece
        if pending is not None:
            yield pending

    def _grain_pieces(self, start: int, stop: int) -> Iterator[Piece]:
        if start >= stop:
            return
        h = self.header
        gb, ts = self.grain_bytes, self.table_span
        t, last = start // ts, (stop - 1) // ts
        while t <= last:
            t_start, t_stop = max(start, t * ts), min(stop, (t + 1) * ts)
            if t >= len(self.directory) or self.directory[t] == 0:
                # a run of tables not allocated, found at C speed: a directory of millions of
                # empty entries costs no Python loop
                found = _NONZERO.search(self._directory_bytes, t * 4)
                after = min(last + 1, found.start() // 4 if found is not None else last + 1)
                yield t_start, min(stop, after * ts), PARENT, 0
                t = max(after, t + 1)
                continue
            index, t = t, t + 1
            table = self._table(index)
            if not any(table):
                yield t_start, t_stop, PARENT, 0
                continue
            for g in range((t_start - index * ts) // gb, (t_stop - 1 - index * ts) // gb + 1):
                g_start = index * ts + g * gb
                a, b = max(t_start, g_start), min(t_stop, g_start + gb)
                entry = table[g]
                if entry == 0:
                    yield a, b, PARENT, 0
                elif entry == _ZEROED_GTE and h.zero_grains:
                    yield a, b, ZERO, 0
                else:
                    where = entry * SECTOR
                    if h.compressed:
                        if where + _MARKER_SIZE > self.span.size:
                            raise self._past_end(g_start, entry)
                        yield a, b, GRAIN, where
                    else:
                        if where + (b - g_start) > self.span.size:
                            raise self._past_end(g_start, entry)
                        yield a, b, FILE, where + a - g_start

    def _past_end(self, grain_start: int, entry: int) -> CorruptVhdError:
        return CorruptVhdError(
            f"VMDK grain at byte {grain_start} of the extent points at sector {entry}, past the end of "
            f"{self.span.path.name} ({self.span.size} bytes)"
        )

    # -- compressed grains -----------------------------------------------------------------
    def read_grain(self, where: int, grain_start: int) -> bytes:
        """The inflated grain stored at ``where`` that holds the extent's bytes from ``grain_start``."""
        with self._lock:
            cached = self._grains.get(where)
            if cached is not None:
                self._grains.move_to_end(where)
                return cached
        gb = self.grain_bytes
        if self.header.markers:
            marker = self.span.read(where, _MARKER_SIZE, what="grain marker")
            lba = int.from_bytes(marker[:8], "little")
            size = int.from_bytes(marker[8:12], "little")
            if lba * SECTOR != grain_start:
                raise CorruptVhdError(
                    f"VMDK grain marker at offset {where} is for sector {lba}, but the grain table puts it at "
                    f"sector {grain_start // SECTOR}: the tables and grains disagree"
                )
            if size == 0 or size > 2 * gb:
                raise CorruptVhdError(f"VMDK grain marker at offset {where} says {size} compressed bytes "
                                      f"for a {gb}-byte grain")
            data = self.span.read(where + _MARKER_SIZE, size, what="compressed grain")
        else:
            data = self.span.read_upto(where, 2 * gb, what="compressed grain")
        inflater = zlib.decompressobj()
        try:
            grain = inflater.decompress(data, gb)
        except zlib.error as exc:
            raise CorruptVhdError(f"VMDK compressed grain at offset {where} does not inflate ({exc})") from None
        if inflater.unconsumed_tail:
            raise CorruptVhdError(f"VMDK compressed grain at offset {where} inflates past its {gb}-byte grain")
        if not inflater.eof:
            raise CorruptVhdError(f"VMDK compressed grain at offset {where} is cut short")
        need = min(gb, self.length - grain_start)
        if len(grain) < need:
            raise CorruptVhdError(
                f"VMDK compressed grain at offset {where} inflates to {len(grain)} bytes, fewer than its {need}"
            )
        with self._lock:
            self._grains[where] = grain
            if len(self._grains) > _GRAIN_CACHE:
                self._grains.popitem(last=False)
        return grain


Extent = FlatExtent | ZeroExtent | SparseExtent


def _u32s(raw: bytes) -> array[int]:
    values = array("I")
    values.frombytes(raw)
    if sys.byteorder != "little":
        values.byteswap()
    return values
