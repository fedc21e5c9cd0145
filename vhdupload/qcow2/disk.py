"""``Qcow2Disk``: a qcow2 image's active layer as the flat VirtualDisk view.

Data clusters are read from the image (or its external data file), compressed clusters are
inflated on the reading thread, zero clusters read as zeros, and unallocated ones read the
backing file's bytes (zeros past its end) or zeros when there is none.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator

from ..errors import CorruptVhdError
from ..ranges import coalesce
from ..virtual_disk import VirtualDisk, pread_padded, sparse_extents
from .compressed import inflate
from .header import COMPRESSION_ZSTD, Header
from .tables import DATA, PACKED, UNALLOCATED, Tables


class Qcow2Disk(VirtualDisk):
    """A qcow2 image (version 2 or 3). ``notes`` say what was read differently from a plain image
    (internal snapshots ignored, a dirty image, a backing file taken as raw)."""

    format = "qcow2"

    def __init__(self, *, path: pathlib.Path, fd: int, file_size: int, header: Header, tables: Tables,
                 backing: VirtualDisk | None, data_file: tuple[pathlib.Path, int] | None, notes: list[str]) -> None:
        super().__init__(path=path, fd=fd, file_size=file_size, virtual_size=header.size,
                         footer=None, footer_bytes=None)
        self.disk_type = "differencing" if backing is not None else "dynamic"
        self.header = header
        self.backing = backing
        self.notes = list(notes)
        if backing is not None:
            self.parents = [backing.path, *backing.parents]
        self.data_file_path = data_file[0] if data_file else None
        self._data_fd = data_file[1] if data_file else fd
        self._tables = tables

    # -- facts --------------------------------------------------------------------------
    @property
    def cluster_size(self) -> int:
        return self.header.cluster_size

    @property
    def version(self) -> int:
        return self.header.version

    # -- the contract ---------------------------------------------------------------------
    def _read(self, offset: int, length: int) -> bytes:
        try:
            return b"".join(self._read_pieces(offset, offset + length))
        except CorruptVhdError as exc:
            raise CorruptVhdError(f"{self.path}: {exc}") from None

    def _read_pieces(self, start: int, stop: int) -> Iterator[bytes]:
        cs = self.header.cluster_size
        for a, b, kind, host, csize in self._tables.pieces(start, stop):
            if kind == DATA:
                yield pread_padded(self._data_fd, host, b - a)
            elif kind == PACKED:
                packed = pread_padded(self._fd, host, csize)
                cluster = inflate(packed, cluster_size=cs, zstd=self.header.compression_type == COMPRESSION_ZSTD,
                                  where=f"at host offset {host} (guest offset {a - a % cs})")
                yield cluster[a % cs:a % cs + b - a]
            elif kind == UNALLOCATED and self.backing is not None:
                end = min(b, self.backing.virtual_size)
                if a < end:
                    yield self.backing.read(a, end - a)
                if end < b:
                    yield bytes(b - max(a, end))
            else:
                yield bytes(b - a)

    def _extents(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        try:
            yield from coalesce(self._raw_extents(start, stop))
        except CorruptVhdError as exc:
            raise CorruptVhdError(f"{self.path}: {exc}") from None

    def _raw_extents(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        for a, b, kind, host, _ in self._tables.pieces(start, stop):
            if kind == DATA:
                # preallocated clusters never written (preallocation=metadata) are holes in the file
                for fa, fb in sparse_extents(self._data_fd, host, host + b - a):
                    yield a + fa - host, a + fb - host
            elif kind == PACKED:
                yield a, b
            elif kind == UNALLOCATED and self.backing is not None:
                yield from self.backing.extents(a, min(b, self.backing.virtual_size))

    def fingerprint_files(self) -> list[os.stat_result]:
        stats = super().fingerprint_files()
        if self.data_file_path is not None:
            stats.append(os.stat(self.data_file_path))
        return stats

    def close(self) -> None:
        if self.backing is not None:
            self.backing.close()
            self.backing = None
        if self.data_file_path is not None and self._data_fd >= 0:
            os.close(self._data_fd)
            self._data_fd = -1
        super().close()
