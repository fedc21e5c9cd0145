"""The VHDX file as the reader sees it: the bytes on disk with the replayed log laid over them.

Log replay never writes the user's file (it may be read-only, or in use): the log's writes
become an in-memory overlay of 4 KiB pieces, each either zeros or a data sector still in the
log (read from there on demand, so the overlay costs a few bytes per sector). A replayed log
may also extend the file; the extension reads as zeros.
"""

from __future__ import annotations

import bisect
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import CorruptVhdError
from ..virtual_disk import pread_exact


@dataclass(frozen=True)
class LoggedSector:
    """A 4 KiB write kept in the log: ``leading`` + 4084 bytes at ``log_data_offset`` + ``trailing``."""

    leading: bytes
    log_data_offset: int  # file offset of the 4084 data bytes inside the log's data sector
    trailing: bytes


#: One overlay piece: ``(start, end, source)``; source None means zeros.
Piece = tuple[int, int, "LoggedSector | None"]


class FileView:
    def __init__(self, *, fd: int, path: pathlib.Path, file_size: int) -> None:
        self.fd = fd
        self.path = path
        self.real_size = file_size
        self.size = file_size  # grows when a replayed log extends the file
        self._pieces: list[Piece] = []
        self._starts: list[int] = []

    def set_overlay(self, pieces: list[Piece], *, size: int) -> None:
        """Install the replayed log: sorted, disjoint pieces, and the file size after replay."""
        self._pieces = pieces
        self._starts = [p[0] for p in pieces]
        self.size = max(self.size, size)

    def touched(self, start: int, end: int) -> bool:
        """Whether the overlay changes anything in ``[start, end)``."""
        return next(self._overlapping(start, end), None) is not None

    def read(self, offset: int, length: int, *, what: str) -> bytes:
        """``length`` bytes at ``offset`` as replayed; ``what`` names the structure for errors."""
        end = offset + length
        if offset < 0 or end > self.size:
            raise CorruptVhdError(
                f"VHDX {what} ({length} bytes at offset {offset}) lies past the end of the file ({self.size} bytes)"
            )
        real_end = min(end, self.real_size)
        data = pread_exact(self.fd, offset, real_end - offset, path=self.path) if real_end > offset else b""
        if real_end < end:
            data += bytes(end - max(real_end, offset))
        if not self._pieces:
            return data
        out = None
        for start, stop, source in self._overlapping(offset, end):
            if out is None:
                out = bytearray(data)
            a, b = max(start, offset), min(stop, end)
            if source is None:
                out[a - offset:b - offset] = bytes(b - a)
            else:
                sector = self._sector(source)
                out[a - offset:b - offset] = sector[a - start:b - start]
        return data if out is None else bytes(out)

    def _sector(self, source: LoggedSector) -> bytes:
        body = pread_exact(self.fd, source.log_data_offset, 4084, path=self.path)
        return source.leading + body + source.trailing

    def _overlapping(self, start: int, end: int) -> Iterator[Piece]:
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        while i < len(self._pieces) and self._pieces[i][0] < end:
            piece = self._pieces[i]
            if piece[1] > start:
                yield piece
            i += 1

