"""Bounded, read-only byte access to a disk for the file-system readers.

A file system is hostile input: a damaged one can point its readers anywhere, or in circles.
Every byte the readers get passes through one :class:`Budget` (a byte cap and a deadline), so
examining a disk costs at most that many bytes and seconds whatever it holds. Reads go through
a small block cache, because the readers ask for many small, repeated pieces (and a blob read
is an HTTP request).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from typing import Callable

#: Reads ``length`` bytes at ``offset`` of the disk (fewer only at its end).
ReadAt = Callable[[int, int], bytes]

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
#: The whole guest check ends within this, whatever the disk holds (issue 22: a tangled file
#: system kept it busy for minutes); a real disk is judged in well under a second or two.
DEFAULT_SECONDS = 10.0
#: Path components resolved plus directory entries listed, for the whole examination. A real
#: root file system needs a few thousand; symbolic links that walk hundreds of directories down
#: and back up again need millions, served from cached blocks (so the byte cap never trips).
DEFAULT_MAX_STEPS = 200_000
TANGLED = "the file system is too tangled to read"


class BudgetExceeded(OSError):
    """Raised inside a reader's read when the examination has used up its bytes or time.

    An ``OSError`` so that the C readers (which call back into Python for every read) turn it
    into their own I/O error, which the caller catches and reports as a warning.
    """


class Budget:
    """What one examination may do: read ``max_bytes`` in total and take ``max_steps`` lookup
    steps (:meth:`step`), until ``seconds`` have passed."""

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES, seconds: float = DEFAULT_SECONDS,
                 max_steps: int = DEFAULT_MAX_STEPS) -> None:
        self.max_bytes = max_bytes
        self.seconds = seconds
        self.max_steps = max_steps
        self.deadline = time.monotonic() + seconds
        self.used = 0
        self.steps = 0
        self.exceeded: str | None = None

    def step(self) -> None:
        """Count one path component resolved or directory entry listed, and look at the clock:
        lookups in cached blocks read nothing new, so :meth:`charge` alone never sees them."""
        if self.exceeded is None:
            self.steps += 1
            if self.steps > self.max_steps:
                self.exceeded = f"{TANGLED}: more than {self.max_steps:,} path lookups"
            elif time.monotonic() > self.deadline:
                self.exceeded = f"{TANGLED} in {self.seconds:g} s"
        if self.exceeded is not None:
            raise BudgetExceeded(self.exceeded)

    def charge(self, length: int) -> None:
        if self.exceeded is None:
            if time.monotonic() > self.deadline:
                self.exceeded = f"the examination took longer than {self.seconds:g} s"
            elif self.used + length > self.max_bytes:
                self.exceeded = f"the examination would read more than {self.max_bytes // (1024 * 1024)} MiB"
        if self.exceeded is not None:
            raise BudgetExceeded(self.exceeded)
        self.used += length


class CachedDisk:
    """``read_at`` of a disk of ``size`` bytes through an LRU cache of aligned blocks.

    Bytes are charged to the budget when they are fetched from the disk, not when a cached
    block is handed out again.
    """

    def __init__(self, read_at: ReadAt, size: int, *, budget: Budget, block_size: int = 64 * 1024,
                 cache_blocks: int = 512) -> None:
        self._read_at = read_at
        self.size = size
        self.budget = budget
        self._block = block_size
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_blocks = cache_blocks

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer at the end of the disk)."""
        length = max(0, min(length, self.size - offset))
        if length == 0 or offset < 0:
            return b""
        pieces = []
        first, last = offset // self._block, (offset + length - 1) // self._block
        for index in range(first, last + 1):
            pieces.append(self._block_at(index))
        data = b"".join(pieces)
        skip = offset - first * self._block
        return data[skip : skip + length]

    def _block_at(self, index: int) -> bytes:
        block = self._cache.get(index)
        if block is not None:
            self._cache.move_to_end(index)
            return block
        start = index * self._block
        length = min(self._block, self.size - start)
        self.budget.charge(length)
        block = self._read_at(start, length)
        if len(block) < length:  # a short read inside the disk: the rest reads as zeros
            block = block + bytes(length - len(block))
        self._cache[index] = block
        if len(self._cache) > self._cache_blocks:
            self._cache.popitem(last=False)
        return block


class Window:
    """A read-only file object over ``[start, start + size)`` of a disk, for the libyal readers.

    They call ``read``, ``seek``, ``get_offset`` (or ``tell``) and ``get_size``.
    """

    def __init__(self, disk: CachedDisk, start: int, size: int) -> None:
        self._disk = disk
        self.start = start
        self.size = max(0, min(size, disk.size - start))
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.size - self._pos
        size = max(0, min(size, self.size - self._pos))
        if size == 0:
            return b""
        data = self._disk.read(self.start + self._pos, size)
        self._pos += len(data)
        return data

    def read_at(self, offset: int, length: int) -> bytes:
        length = max(0, min(length, self.size - offset))
        return self._disk.read(self.start + offset, length) if length and offset >= 0 else b""

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self._pos
        elif whence == os.SEEK_END:
            offset += self.size
        if offset < 0:
            raise OSError(f"seek to {offset}, before the start of the volume")
        self._pos = offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    get_offset = tell

    def get_size(self) -> int:
        return self.size

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:  # the disk belongs to the caller
        pass
