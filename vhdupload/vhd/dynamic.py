"""Dynamic and differencing VHDs: header, BAT and sector bitmaps behind a flat-disk view.

Everything is bounds-checked against the file size before it is trusted, and the BAT is read
only after its size is known to fit in the file, so a hostile header cannot make us allocate
memory by an untrusted count.
"""

from __future__ import annotations

import pathlib
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .. import ranges
from ..errors import CorruptVhdError
from ..virtual_disk import VirtualDisk, pread_exact
from .bat import ENTRY_SIZE, UNALLOCATED, parse_bat
from .bitmap import SECTOR_SIZE, bitmap_size, sector_runs, set_byte_ranges
from .chain import locator_regions
from .dynamic_header import HEADER_SIZE, NO_OFFSET, DynamicHeader
from .footer import DISK_TYPE_DIFFERENCING, FOOTER_SIZE, Footer
from .layout import BlockLayoutError, Region, check_block_layout

#: The largest BAT we load: 2^24 entries (64 MiB) is 32 TiB at 2 MiB blocks and still 8 TiB
#: at 512 KiB blocks, past any VHD (2040 GiB) or page blob (8 TiB), so a larger claim is
#: damage, not a disk; the cap keeps a hostile sparse file from costing more memory than that.
MAX_BAT_ENTRIES = 1 << 24
MIN_BLOCK_SIZE = SECTOR_SIZE
MAX_BLOCK_SIZE = 1 << 31
#: Bitmaps kept per disk: the uploader reads 4 MiB pieces in order, so a few suffice.
BITMAP_CACHE_SIZE = 64


class DynamicDisk(VirtualDisk):
    """A dynamic VHD: unallocated blocks and clear bitmap bits read as zeros.

    The bitmap is honoured for dynamic disks too (qemu ignores it on reads; writers zero the
    block's data when they allocate it, so the two agree on well-formed files).
    """

    disk_type = "dynamic"

    def __init__(self, *, header: DynamicHeader, bat: array[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.header = header
        self.block_size = header.block_size
        self._bat = bat
        self._bitmap_size = bitmap_size(header.block_size)
        self._bitmaps: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    # -- bitmaps ------------------------------------------------------------------------
    def _bitmap(self, index: int) -> bytes:
        with self._lock:
            cached = self._bitmaps.get(index)
            if cached is not None:
                self._bitmaps.move_to_end(index)
                return cached
        bitmap = self._pread(self._bat[index] * SECTOR_SIZE, self._bitmap_size)
        with self._lock:
            self._bitmaps[index] = bitmap
            if len(self._bitmaps) > BITMAP_CACHE_SIZE:
                self._bitmaps.popitem(last=False)
        return bitmap

    # -- extents ------------------------------------------------------------------------
    def _own_extents(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        bs = self.block_size
        for index in range(start // bs, -(-stop // bs)):
            if self._bat[index] == UNALLOCATED:
                continue
            base = index * bs
            block = ((base + a, base + min(b, bs)) for a, b in set_byte_ranges(self._bitmap_uncached(index)))
            yield from ranges.clip(block, start, stop)

    def _bitmap_uncached(self, index: int) -> bytes:
        # Enumerating extents touches every block once; keep it out of the read cache.
        return self._pread(self._bat[index] * SECTOR_SIZE, self._bitmap_size)

    def _extents(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        return ranges.coalesce(self._own_extents(start, stop))

    # -- reads --------------------------------------------------------------------------
    def _read(self, offset: int, length: int) -> bytes:
        out = bytearray(length)
        bs = self.block_size
        pos, end = offset, offset + length
        while pos < end:
            index = pos // bs
            base = index * bs
            piece_end = min(base + bs, end)
            if self._bat[index] == UNALLOCATED:
                self._fill_unallocated(out, offset, pos, piece_end)
            else:
                self._read_block(out, offset, index, pos, piece_end)
            pos = piece_end
        return bytes(out)

    def _read_block(self, out: bytearray, offset: int, index: int, pos: int, end: int) -> None:
        base = index * self.block_size
        data_start = self._bat[index] * SECTOR_SIZE + self._bitmap_size
        bitmap = self._bitmap(index)
        first = (pos - base) // SECTOR_SIZE
        last = -(-(end - base) // SECTOR_SIZE)
        for s0, s1, is_set in sector_runs(bitmap, first, last):
            a = max(base + s0 * SECTOR_SIZE, pos)
            b = min(base + s1 * SECTOR_SIZE, end)
            if is_set:
                out[a - offset:b - offset] = self._pread(data_start + (a - base), b - a)
            else:
                self._fill_unallocated(out, offset, a, b)

    def _fill_unallocated(self, out: bytearray, offset: int, a: int, b: int) -> None:
        """Sectors this file does not hold: zeros (``out`` starts zeroed)."""


class DifferencingDisk(DynamicDisk):
    """A differencing VHD: sectors it does not hold come from its parent chain."""

    disk_type = "differencing"

    def __init__(self, *, parent: VirtualDisk, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parent = parent
        self.parents = [parent.path, *parent.parents]

    def _extents(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        # The union over the chain is a superset of the merged view, which is all extents promise.
        parent_stop = min(stop, self.parent.virtual_size)
        inherited = self.parent.extents(start, parent_stop) if start < parent_stop else iter(())
        return ranges.union(self._own_extents(start, stop), inherited)

    def _fill_unallocated(self, out: bytearray, offset: int, a: int, b: int) -> None:
        b = min(b, self.parent.virtual_size)  # past a smaller parent: zeros
        if a < b:
            out[a - offset:b - offset] = self.parent.read(a, b - a)

    def close(self) -> None:
        super().close()
        self.parent.close()


@dataclass(frozen=True)
class SparseLayout:
    """What a dynamic/differencing VHD's header and BAT say, checked against the file."""

    header: DynamicHeader
    bat: array[int]  # the entries the virtual size uses, as an array of u32 (compact: 4 bytes each)
    data_end: int  # where the footer at the end of the file begins


def read_sparse_layout(*, fd: int, path: pathlib.Path, file_size: int, footer: Footer, footer_bytes: bytes) -> SparseLayout:
    """Read and check the header and BAT of a dynamic/differencing VHD, and where its blocks lie.

    Parent locators are only bounds-checked here (their bytes may not be block data); finding
    the parent is :mod:`.chain`'s job, driven by :func:`.open.open_disk`.
    """
    data_end = file_size - len(footer_bytes)  # the footer at the end is not data
    header_offset = footer.data_offset
    if header_offset == NO_OFFSET or header_offset + HEADER_SIZE > data_end:
        raise CorruptVhdError(
            f"{path}: the {footer.disk_type_name} VHD's header offset {header_offset} puts its "
            f"{HEADER_SIZE}-byte header past the data area, which ends at {data_end} (overlapping "
            "the footer, or a truncated file)"
        )
    try:
        header = DynamicHeader.parse(pread_exact(fd, header_offset, HEADER_SIZE, path=path))
    except CorruptVhdError as exc:
        raise CorruptVhdError(f"{path}: {exc}") from None

    bs = header.block_size
    if bs < MIN_BLOCK_SIZE or bs > MAX_BLOCK_SIZE or bs & (bs - 1):
        raise CorruptVhdError(
            f"{path}: dynamic header has block size {bs}; it must be a power of two from "
            f"{MIN_BLOCK_SIZE} to {MAX_BLOCK_SIZE} bytes"
        )
    virtual_size = footer.current_size
    needed = -(-virtual_size // bs)
    entries = header.max_table_entries
    if entries == 0xFFFFFFFF:
        raise CorruptVhdError(f"{path}: dynamic header claims 2^32 - 1 BAT entries: the header is damaged")
    if entries < needed:
        raise CorruptVhdError(
            f"{path}: the BAT has {entries} entries but a virtual size of {virtual_size} bytes "
            f"in {bs}-byte blocks needs {needed}"
        )
    if needed > MAX_BAT_ENTRIES:
        raise CorruptVhdError(
            f"{path}: {needed} blocks of {bs} bytes ({virtual_size} bytes) is more than any VHD "
            f"holds (limit {MAX_BAT_ENTRIES} blocks): the footer or header is damaged"
        )
    table_end = header.table_offset + entries * ENTRY_SIZE
    if table_end > data_end:
        raise CorruptVhdError(
            f"{path}: the BAT ({entries} entries at offset {header.table_offset}) ends at "
            f"{table_end}, past the data area, which ends at {data_end}"
        )
    # Only the entries the virtual size uses are loaded; the count was checked above.
    bat = parse_bat(pread_exact(fd, header.table_offset, needed * ENTRY_SIZE, path=path))
    regions = [
        Region(0, FOOTER_SIZE, "the footer copy at offset 0"),
        Region(header_offset, header_offset + HEADER_SIZE, "the dynamic header"),
        Region(header.table_offset, table_end, "the BAT"),
    ]
    if footer.disk_type == DISK_TYPE_DIFFERENCING:
        regions += locator_regions(header, data_end=data_end)
    try:
        check_block_layout(bat=bat, block_size=bs, bitmap_bytes=bitmap_size(bs), virtual_size=virtual_size,
                           data_end=data_end, regions=regions)
    except BlockLayoutError as exc:
        raise CorruptVhdError(f"{path}: {exc}") from None
    return SparseLayout(header=header, bat=bat, data_end=data_end)
