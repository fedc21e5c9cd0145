"""The BAT (2.5): one 64-bit entry per payload block, with a sector-bitmap entry after every
``chunk_ratio`` payload entries.

Entry: state in bits 0-2, file offset in MiB in bits 20-63. Payload block *b* is entry
*b* + ⌊*b* / chunk ratio⌋; the sector bitmap of chunk *c* is entry (*c* + 1) × chunk ratio + *c*.
"""

from __future__ import annotations

import re
import sys
from array import array
from dataclasses import dataclass

from ..errors import CorruptVhdError
from .identifier import HEADER_SECTION_SIZE

MIB = 1024 * 1024
SECTORS_PER_BITMAP_BLOCK = 1 << 23
#: Bound on memory and time: 2^24 payload blocks is 16 TiB at the smallest block size, twice
#: what a page blob holds.
MAX_PAYLOAD_BLOCKS = 1 << 24

# Payload states (2.5.1.1)
NOT_PRESENT, UNDEFINED, ZERO, UNMAPPED, FULLY_PRESENT, PARTIALLY_PRESENT = 0, 1, 2, 3, 6, 7
# Sector bitmap states (2.5.1.2)
SB_NOT_PRESENT, SB_PRESENT = 0, 6

_STATE_TABLE = bytes(b & 7 for b in range(256))
_NONZERO = re.compile(rb"[^\x00]")
_STATE_NAMES = {0: "not present", 1: "undefined", 2: "zero", 3: "unmapped", 6: "fully present", 7: "partially present"}


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


class Bat:
    """The entries, read once; look-ups are plain array indexing (thread-safe)."""

    def __init__(self, raw: bytes, geometry: Geometry) -> None:
        self.geometry = geometry
        self._ratio = geometry.chunk_ratio
        entries = array("Q")
        entries.frombytes(raw[: geometry.entries * 8])
        if sys.byteorder == "big":
            entries.byteswap()
        self._entries = entries
        # the lowest byte of each entry holds its state (bits 0-2)
        self._low_bytes = bytes(raw[0 : geometry.entries * 8 : 8])

    def payload(self, block: int) -> tuple[int, int]:
        """``(state, file offset)`` of payload block ``block``."""
        value = self._entries[block + block // self._ratio]
        return value & 7, (value >> 20) * MIB

    def bitmap(self, chunk: int) -> tuple[int, int]:
        value = self._entries[(chunk + 1) * self._ratio + chunk]
        return value & 7, (value >> 20) * MIB

    def notable(self) -> list[tuple[int, int, int]]:
        """``(block, state, file offset)`` of every payload block whose state is not NOT_PRESENT,
        in block order. Found with a byte scan, so a huge, mostly empty BAT costs no Python loop."""
        states = self._low_bytes.translate(_STATE_TABLE)
        ratio1 = self._ratio + 1
        found = []
        for match in _NONZERO.finditer(states):
            i = match.start()
            if (i + 1) % ratio1 == 0:
                continue  # a sector bitmap entry
            block = i - i // ratio1
            if block >= self.geometry.payload_blocks:
                break
            value = self._entries[i]
            found.append((block, value & 7, (value >> 20) * MIB))
        return found

    def check(self, *, file_size: int, reserved: list[tuple[int, int, str]]) -> list[tuple[int, int, int]]:
        """Check every entry that points into the file: state known, after the header section,
        inside the file, not overlapping another block or a region. Returns :meth:`notable`.

        ``reserved`` lists ``(offset, end, name)`` of the regions and the log.
        """
        g = self.geometry
        spans: list[tuple[int, int, str]] = list(reserved)
        notable = self.notable()
        partial_chunks = set()
        for block, state, offset in notable:
            if state in (FULLY_PRESENT, PARTIALLY_PRESENT):
                if state == PARTIALLY_PRESENT:
                    if not g.has_parent:
                        raise CorruptVhdError(
                            f"VHDX BAT entry of block {block} is 'partially present', which only a differencing "
                            "disk may use"
                        )
                    partial_chunks.add(block // self._ratio)
                length = min(g.block_size, g.virtual_size - block * g.block_size)
                self._place(f"block {block}", offset, length, file_size)
                spans.append((offset, offset + length, f"payload block {block}"))
            elif state not in _STATE_NAMES:
                raise CorruptVhdError(f"VHDX BAT entry of block {block} has the reserved state {state}")
        if g.has_parent:
            for chunk in range(g.bitmap_blocks):
                state, offset = self.bitmap(chunk)
                if state == SB_PRESENT:
                    self._place(f"sector bitmap {chunk}", offset, MIB, file_size)
                    spans.append((offset, offset + MIB, f"sector bitmap block {chunk}"))
                elif state != SB_NOT_PRESENT:
                    raise CorruptVhdError(f"VHDX BAT entry of sector bitmap {chunk} has the reserved state {state}")
                elif chunk in partial_chunks:
                    raise CorruptVhdError(
                        f"VHDX sector bitmap {chunk} is not present but a block of its chunk is partially present"
                    )
        spans.sort()
        for (a0, a1, an), (b0, _b1, bn) in zip(spans, spans[1:]):
            if b0 < a1:
                raise CorruptVhdError(f"VHDX {an} (at {a0}) and {bn} (at {b0}) overlap in the file")
        return notable

    @staticmethod
    def _place(what: str, offset: int, length: int, file_size: int) -> None:
        if offset < HEADER_SECTION_SIZE:
            raise CorruptVhdError(f"VHDX BAT entry of {what} points at offset {offset}, inside the header section")
        if offset + length > file_size:
            raise CorruptVhdError(
                f"VHDX BAT entry of {what} points at offset {offset}, past the end of the file ({file_size} bytes): "
                "the file is truncated or the BAT is damaged"
            )


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
