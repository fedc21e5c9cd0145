"""The BAT (2.5): one 64-bit entry per payload block, with a sector-bitmap entry after every
``chunk_ratio`` payload entries.

Entry: state in bits 0-2, file offset in MiB in bits 20-63. Payload block *b* is entry
*b* + ⌊*b* / chunk ratio⌋; the sector bitmap of chunk *c* is entry (*c* + 1) × chunk ratio + *c*.

The BAT is read in slices and kept as **runs**: consecutive blocks that read the same way (not
present, zeros, or present at consecutive file offsets) are one run, so a BAT of 2^24 entries
costs a few runs, not 2^24 Python objects. States are found with byte scans
(``bytes.translate``, a regular expression) and a present run's offsets are compared with the
expected progression in one ``bytes`` comparison; only a run whose blocks are scattered in the
file costs a Python step per block, and the number of runs is capped.
"""

from __future__ import annotations

import bisect
import functools
import re
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import CorruptVhdError
from .identifier import HEADER_SECTION_SIZE

MIB = 1024 * 1024
SECTORS_PER_BITMAP_BLOCK = 1 << 23
#: Bound on memory and time: 2^24 payload blocks is 16 TiB at the smallest block size, twice
#: what a page blob holds.
MAX_PAYLOAD_BLOCKS = 1 << 24
#: Bound on memory: runs of blocks the BAT may break into (17 bytes each).
MAX_RUNS = 1 << 22
#: Bound on the occupancy map used to find overlapping blocks (one byte per MiB of the file):
#: a block more than 64 TiB into the file (the largest virtual size the metadata allows) is damage.
MAX_FILE_MIB = 1 << 26

# Payload states (2.5.1.1)
NOT_PRESENT, UNDEFINED, ZERO, UNMAPPED, FULLY_PRESENT, PARTIALLY_PRESENT = 0, 1, 2, 3, 6, 7
# Sector bitmap states (2.5.1.2)
SB_NOT_PRESENT, SB_PRESENT = 0, 6

#: Entries read per slice (a multiple of the chunk ratio + 1 close to this): 8 MiB at a time.
_SLICE_ENTRIES = 1 << 20
_OFFSET_MASK = ~(MIB - 1) & 0xFFFFFFFFFFFFFFFF  # bits 20-63: the offset in MiB is the offset in bytes
# How a run reads: undefined reads as not present (the parent's data, or zeros), unmapped as zeros.
_CLASS = bytes({1: NOT_PRESENT, 3: ZERO}.get(b & 7, b & 7) for b in range(256))
# a run of one class (the classes are 0, 2, 4, 5, 6, 7); no back-reference: 20x faster than (.)\1*
_SAME_CLASS = re.compile(rb"\x00+|\x02+|\x06+|\x07+|\x04+|\x05+")
_STATE_NAMES = {0: "not present", 1: "undefined", 2: "zero", 3: "unmapped", 6: "fully present", 7: "partially present"}
_PRESENT = (FULLY_PRESENT, PARTIALLY_PRESENT)


@dataclass(frozen=True)
class Geometry:
    """How the BAT is laid out for a disk."""

    virtual_size: int
    block_size: int
    logical_sector_size: int
    has_parent: bool

    @property
    def chunk_ratio(self) -> int:
        return SECTORS_PER_BITMAP_BLOCK * self.logical_sector_size // self.block_size

    @property
    def payload_blocks(self) -> int:
        return -(-self.virtual_size // self.block_size)

    @property
    def bitmap_blocks(self) -> int:
        return -(-self.payload_blocks // self.chunk_ratio)

    @property
    def entries(self) -> int:
        """How many entries the BAT must hold (the spec's two formulas)."""
        blocks, ratio = self.payload_blocks, self.chunk_ratio
        if self.has_parent:
            return self.bitmap_blocks * (ratio + 1)
        return blocks + (blocks - 1) // ratio if blocks else 0


#: Reads ``count`` BAT entries from entry ``first``: ``8 * count`` bytes.
ReadEntries = Callable[[int, int], bytes]


@dataclass(frozen=True)
class Run:
    """Blocks ``[start, end)`` that read the same way: ``state`` is NOT_PRESENT (not present or
    undefined), ZERO (zero or unmapped), FULLY_PRESENT or PARTIALLY_PRESENT; a present run's
    blocks lie one after the other in the file from ``offset``."""

    start: int
    end: int
    state: int
    offset: int


class Bat:
    """The BAT as runs, read once; look-ups are a bisection (thread-safe)."""

    def __init__(self, geometry: Geometry, read: ReadEntries) -> None:
        self.geometry = geometry
        self._ratio = geometry.chunk_ratio
        self._starts = array("Q")
        self._states = bytearray()
        self._offsets = array("Q")
        self._bitmaps = array("Q")  # raw sector bitmap entries, by chunk
        self._read_all(read)

    # -- reading --------------------------------------------------------------------------
    def _read_all(self, read: ReadEntries) -> None:
        g = self.geometry
        group = self._ratio + 1  # ratio payload entries, then one sector bitmap entry
        per_slice = max(1, _SLICE_ENTRIES // group) * group
        first = 0
        while first < g.entries:
            count = min(per_slice, g.entries - first)
            raw = read(first, count)
            values = array("Q")
            values.frombytes(raw)
            if sys.byteorder == "big":
                values.byteswap()
            classes = raw[0::8].translate(_CLASS)
            for k in range(0, count, group):
                block = (first + k) // group * self._ratio
                payload = min(self._ratio, count - k, g.payload_blocks - block)
                if payload > 0:
                    self._add_segment(block, values, raw, classes, k, payload)
                if k + self._ratio < count:
                    self._bitmaps.append(values[k + self._ratio])
            first += count

    def _add_segment(self, block: int, values: array[int], raw: bytes, classes: bytes, at: int, n: int) -> None:
        """Payload entries ``[at, at + n)`` of this slice, for blocks from ``block``."""
        bs = self.geometry.block_size
        for match in _SAME_CLASS.finditer(classes, at, at + n):
            a, b = match.span()
            state = classes[a]
            first_block = block + a - at
            if state not in _PRESENT:
                self._append(first_block, state, 0)
                continue
            v0 = values[a]
            if v0 + (b - a - 1) * bs < 1 << 64 and raw[8 * a:8 * b] == _progression(v0, bs, b - a):
                self._append(first_block, state, v0 & _OFFSET_MASK)
                continue
            for i in range(a, b):  # scattered blocks: one step each
                self._append(first_block + i - a, state, values[i] & _OFFSET_MASK)

    def _append(self, block: int, state: int, offset: int) -> None:
        if self._states:
            last = len(self._states) - 1
            if self._states[last] == state:
                if state not in _PRESENT:
                    return
                if self._offsets[last] + (block - self._starts[last]) * self.geometry.block_size == offset:
                    return
        if len(self._states) >= MAX_RUNS:
            raise CorruptVhdError(
                f"VHDX BAT breaks into more than {MAX_RUNS} runs of blocks, more than this reader maps; convert the "
                "disk to a fresh VHDX (Hyper-V's Convert-VHD, or qemu-img convert -O vhdx) and upload that"
            )
        self._starts.append(block)
        self._states.append(state)
        self._offsets.append(offset)

    # -- look-ups ---------------------------------------------------------------------------
    def __len__(self) -> int:
        """How many runs."""
        return len(self._states)

    def run(self, i: int) -> Run:
        end = self._starts[i + 1] if i + 1 < len(self._states) else self.geometry.payload_blocks
        return Run(self._starts[i], end, self._states[i], self._offsets[i])

    def run_index(self, block: int) -> int:
        """The index of the run holding ``block``."""
        return bisect.bisect_right(self._starts, block) - 1

    def payload(self, block: int) -> tuple[int, int]:
        """``(state, file offset)`` of payload block ``block`` (states as :class:`Run` has them)."""
        run = self.run(self.run_index(block))
        if run.state in _PRESENT:
            return run.state, run.offset + (block - run.start) * self.geometry.block_size
        return run.state, 0

    def bitmap(self, chunk: int) -> tuple[int, int]:
        value = self._bitmaps[chunk]
        return value & 7, value & _OFFSET_MASK

    # -- checks -------------------------------------------------------------------------------
    def check(self, *, file_size: int, reserved: list[tuple[int, int, str]]) -> None:
        """Check every entry that points into the file: state known, after the header section,
        inside the file, not overlapping another block or a region.

        ``reserved`` lists ``(offset, end, name)`` of the regions and the log (whole MiB).
        """
        g = self.geometry
        spans: list[tuple[int, int, str]] = list(reserved)
        partial_chunks: set[int] = set()
        for i in range(len(self._states)):
            run = self.run(i)
            if run.state in (4, 5):
                raise CorruptVhdError(f"VHDX BAT entry of block {run.start} has the reserved state {run.state}")
            if run.state not in _PRESENT:
                continue
            if run.state == PARTIALLY_PRESENT:
                if not g.has_parent:
                    raise CorruptVhdError(
                        f"VHDX BAT entry of block {run.start} is 'partially present', which only a differencing "
                        "disk may use"
                    )
                partial_chunks.update(range(run.start // self._ratio, (run.end - 1) // self._ratio + 1))
            end = run.offset + (run.end - run.start) * g.block_size
            last_length = min(g.block_size, g.virtual_size - (run.end - 1) * g.block_size)
            end -= g.block_size - last_length
            self._place(run, end, file_size)
            what = f"payload block {run.start}" if run.end - run.start == 1 else (
                f"payload blocks {run.start}-{run.end - 1}")
            spans.append((run.offset, end, what))
        if g.has_parent:
            for chunk in range(g.bitmap_blocks):
                state, offset = self.bitmap(chunk)
                if state == SB_PRESENT:
                    what = f"sector bitmap {chunk}"
                    if offset < HEADER_SECTION_SIZE:
                        raise CorruptVhdError(f"VHDX BAT entry of {what} points at offset {offset}, inside the header section")
                    if offset + MIB > file_size:
                        raise CorruptVhdError(
                            f"VHDX BAT entry of {what} points at offset {offset}, past the end of the file "
                            f"({file_size} bytes): the file is truncated or the BAT is damaged"
                        )
                    spans.append((offset, offset + MIB, f"sector bitmap block {chunk}"))
                elif state != SB_NOT_PRESENT:
                    raise CorruptVhdError(f"VHDX BAT entry of sector bitmap {chunk} has the reserved state {state}")
                elif chunk in partial_chunks:
                    raise CorruptVhdError(
                        f"VHDX sector bitmap {chunk} is not present but a block of its chunk is partially present"
                    )
        _no_overlap(spans)

    def _place(self, run: Run, end: int, file_size: int) -> None:
        bs = self.geometry.block_size
        if run.offset < HEADER_SECTION_SIZE:
            raise CorruptVhdError(
                f"VHDX BAT entry of block {run.start} points at offset {run.offset}, inside the header section"
            )
        if end > file_size:
            k = max(0, file_size - run.offset) // bs  # the first block of the run that does not fit
            raise CorruptVhdError(
                f"VHDX BAT entry of block {run.start + k} points at offset {run.offset + k * bs}, past the end of the "
                f"file ({file_size} bytes): the file is truncated or the BAT is damaged"
            )


def _no_overlap(spans: list[tuple[int, int, str]]) -> None:
    """Refuse two spans sharing a byte. Every span is whole MiB (blocks, bitmaps, regions, log)
    except a last block cut short, so a map of the file's MiB finds overlaps without sorting:
    memory is one byte per MiB of the file, time one step per span."""
    if not spans:
        return
    top = -(-max(end for _, end, _ in spans) // MIB)
    if top > MAX_FILE_MIB:
        start, _, what = max(spans, key=lambda s: s[1])
        raise CorruptVhdError(f"VHDX {what} lies at offset {start}, more than {MAX_FILE_MIB} MiB into the file")
    used = bytearray(top)
    for index, (start, end, what) in enumerate(spans):
        lo, hi = start // MIB, -(-end // MIB)
        clash = used.find(1, lo, hi)
        if clash >= 0:
            other = next(s for s in spans[:index] if s[0] // MIB <= clash < -(-s[1] // MIB))
            first, second = sorted([(start, what), (other[0], other[2])])
            raise CorruptVhdError(f"VHDX {first[1]} (at {first[0]}) and {second[1]} (at {second[0]}) overlap in the file")
        used[lo:hi] = b"\x01" * (hi - lo)


@functools.lru_cache(maxsize=4)
def _sums(n: int) -> tuple[int, int]:
    """``(R, S)``: the sums of x^i and of i·x^i for i < n, x = 2^64 (one 64-bit slot per term)."""
    x = 1 << 64
    ones = (x ** n - 1) // (x - 1)
    steps = (x - n * x ** n + (n - 1) * x ** (n + 1)) // (x - 1) ** 2
    return ones, steps


def _progression(first: int, step: int, n: int) -> bytes:
    """``first, first + step, ...`` (n terms, each < 2^64) as little-endian 64-bit words, made with
    two big-integer products instead of n Python steps."""
    ones, steps = _sums(n)
    return (first * ones + step * steps).to_bytes(8 * n, "little")


def check_geometry(g: Geometry, *, bat_region_length: int) -> None:
    if g.payload_blocks > MAX_PAYLOAD_BLOCKS:
        raise CorruptVhdError(
            f"the VHDX has {g.payload_blocks} blocks of {g.block_size} bytes, more than the {MAX_PAYLOAD_BLOCKS} "
            "this reader maps (a page blob holds at most 8 TiB)"
        )
    if g.entries * 8 > bat_region_length:
        raise CorruptVhdError(
            f"VHDX BAT region holds {bat_region_length // 8} entries but the disk needs {g.entries}"
        )
