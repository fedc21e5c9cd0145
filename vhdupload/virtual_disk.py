"""The virtual-disk view every format produces: a flat disk of ``virtual_size`` bytes.

This is the interface the format packages (``vhd``, ``vhdx``, ``raw``) implement and everything
above them (the fixed-VHD blob view, upload, convert, inspect, guest) reads. It knows no format:
a reader subclasses :class:`VirtualDisk` (or :class:`FlatDisk`, for bytes that lie flat in the
file) and supplies ``_extents`` and ``_read``.

Reads go through ``os.pread`` on one file descriptor, which is thread-safe (no shared seek
position), because the uploader reads from many threads at once.
"""

from __future__ import annotations

import errno
import os
import pathlib
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from .errors import CorruptVhdError, InputError

if TYPE_CHECKING:  # the VHD footer a disk was read with, for the fixed-VHD view above the formats
    from .vhd.footer import Footer


class VirtualDisk:
    """Base of every format's disk (FixedDisk, DynamicDisk, DifferencingDisk, VhdxDisk, RawDisk).

    ``footer``/``footer_bytes`` are the VHD footer the file carries (a VHD), None for every
    other format; the fixed-VHD view (:mod:`vhdupload.blob_image`) starts from them.
    ``extents()`` yields sorted, coalesced, half-open ranges that may hold nonzero data;
    everything outside them reads as zeros. ``read()`` returns exactly the bytes asked for.
    """

    disk_type: str = "raw"

    def __init__(self, *, path: pathlib.Path, fd: int, file_size: int, virtual_size: int,
                 footer: Footer | None, footer_bytes: bytes | None) -> None:
        self.path = path
        self._fd = fd
        self.file_size = file_size
        self.virtual_size = virtual_size
        self.footer = footer
        self.footer_bytes = footer_bytes
        self.parents: list[pathlib.Path] = []

    # -- the contract ------------------------------------------------------------------
    def extents(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, int]]:
        self._check_open()
        if not _is_int(start) or not (stop is None or _is_int(stop)):
            raise InputError(f"extents() takes integer offsets, got start={start!r}, stop={stop!r}")
        start, stop = self._bounds(start, stop)
        return self._extents(start, stop)

    def _extents(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        raise NotImplementedError

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes from ``offset``; zeros where nothing is allocated.

        InputError for a range outside ``[0, virtual_size)`` and for a closed disk.
        """
        self._check_open()
        if not _is_int(offset) or not _is_int(length):
            raise InputError(f"read() takes integer offset and length, got {offset!r} and {length!r}")
        if offset < 0 or length < 0 or offset + length > self.virtual_size:
            raise InputError(
                f"read of {length} bytes at {offset} is outside the disk's {self.virtual_size} bytes"
            )
        if length == 0:
            return b""
        return self._read(offset, length)

    def _read(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def allocated_bytes(self) -> int:
        return sum(stop - start for start, stop in self.extents())

    def fingerprint_files(self) -> list[os.stat_result]:
        """``stat`` of every file in the chain (this one first), for change detection."""
        return [os.stat(path) for path in [self.path, *self.parents]]

    def _check_open(self) -> None:
        if self._fd < 0:
            raise InputError(f"{self.path} was closed: open it again (open_disk) to read it")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "VirtualDisk":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {str(self.path)!r} {self.virtual_size} bytes>"

    # -- helpers for subclasses ----------------------------------------------------------
    def _bounds(self, start: int, stop: int | None) -> tuple[int, int]:
        if stop is None or stop > self.virtual_size:
            stop = self.virtual_size
        start = max(start, 0)
        return start, max(start, stop)

    def _pread(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` file bytes at ``offset``, or CorruptVhdError if the file is short."""
        return pread_exact(self._fd, offset, length, path=self.path)


class FlatDisk(VirtualDisk):
    """A disk whose bytes lie flat in the file from offset 0 (a raw image, a fixed VHD's data)."""

    def _extents(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        # stop never exceeds virtual_size, so whatever follows the data (a footer) is never yielded.
        return sparse_extents(self._fd, start, stop)

    def _read(self, offset: int, length: int) -> bytes:
        return self._pread(offset, length)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def pread_exact(fd: int, offset: int, length: int, *, path: pathlib.Path) -> bytes:
    chunks: list[bytes] = []
    remaining = length
    while remaining:
        chunk = os.pread(fd, remaining, offset)
        if not chunk:
            raise CorruptVhdError(
                f"{path}: unexpected end of file at offset {offset} (the file is truncated or "
                "was shortened while being read)"
            )
        chunks.append(chunk)
        offset += len(chunk)
        remaining -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def sparse_extents(fd: int, start: int, stop: int) -> Iterator[tuple[int, int]]:
    """Ranges of ``[start, stop)`` the file holds data in, found with SEEK_DATA/SEEK_HOLE.

    Holes are skipped without reading them. Where the platform or file system cannot tell,
    the whole range is one extent: finding zeros by reading is the upload planner's job.
    """
    seek_data = getattr(os, "SEEK_DATA", None)
    seek_hole = getattr(os, "SEEK_HOLE", None)
    if seek_data is None or seek_hole is None:
        if start < stop:
            yield (start, stop)
        return
    pos = start
    while pos < stop:
        try:
            data = os.lseek(fd, pos, seek_data)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after pos
                return
            if pos == start:  # not supported here: one extent, the whole range
                yield (start, stop)
                return
            raise
        if data >= stop:
            return
        hole = os.lseek(fd, data, seek_hole)
        end = min(hole, stop)
        yield (data, end)
        pos = end


def pread_padded(fd: int, offset: int, length: int) -> bytes:
    """``length`` bytes at ``offset``; what lies past the file's end reads as zeros (a last block
    or cluster cut short, as qemu's file driver reads it)."""
    chunks: list[bytes] = []
    got = 0
    while got < length:
        chunk = os.pread(fd, length - got, offset + got)
        if not chunk:
            chunks.append(bytes(length - got))
            break
        chunks.append(chunk)
        got += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


#: Trees whose files are never disk images, whatever they look like (/proc/self/mem is a
#: "regular" file of 0 bytes): a parent locator naming one is refused, not opened.
PSEUDO_FILE_TREES = ("/proc", "/sys", "/dev")


def pseudo_file_reason(real_path: str) -> str | None:
    """Why the resolved ``real_path`` cannot be a parent disk (a file of /proc, /sys or /dev), or None."""
    for top in PSEUDO_FILE_TREES:
        if real_path == top or real_path.startswith(top + "/"):
            return f"a file of {top}, which is never a disk image"
    return None


def os_error_words(exc: OSError) -> str:
    """The OS's words for ``exc``, without ``[Errno N]`` or the (possibly huge) file name."""
    text = exc.strerror or type(exc).__name__
    return text[:1].lower() + text[1:]
