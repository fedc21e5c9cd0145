"""Log replay (2.3), read-only: the active sequence's writes become a :class:`FileView` overlay.

The log is a ring of 4 KiB-aligned entries. An entry is valid when its signature, CRC-32C,
LogGuid, descriptors and data sectors all check; a sequence is consecutive valid entries whose
sequence numbers rise by one; it is complete when its newest entry's ``Tail`` points inside it.
The newest complete sequence is replayed, from the tail entry to the head, every descriptor in
order (later writes win). A log without any complete sequence has nothing to replay (as qemu
treats it). Work is bounded: each entry is validated once, a ring is scanned once, and the log
and the number of replayed writes are capped.
"""

from __future__ import annotations

import bisect
import pathlib
import re
import struct
import sys
import uuid
from array import array
from dataclasses import dataclass, field

import google_crc32c

from ..errors import CorruptVhdError
from ..virtual_disk import pread_exact
from . import guids
from .fileview import LoggedSector, Piece

SECTOR = 4096
MIB = 1024 * 1024
#: Hyper-V and qemu write 1 MiB logs; a bigger one is allowed up to this bound.
MAX_LOG_LENGTH = 64 * MIB
#: Writes replayed from one active sequence, at most.
MAX_REPLAYED_WRITES = 1 << 18

# entry header: signature 0 (4), checksum 4 (4), entry length 8 (4), tail 12 (4), sequence
# number 16 (8), descriptor count 24 (4), reserved 28 (4), log GUID 32 (16), flushed file
# offset 48 (8), last file offset 56 (8)
_ENTRY = struct.Struct("<4sIIIQI4x16sQQ")
# zero descriptor: "zero" 0, reserved 4, zero length 8, file offset 16, sequence number 24
_ZERO = struct.Struct("<4s4xQQQ")
# data descriptor: "desc" 0, trailing bytes 4 (4), leading bytes 8 (8), file offset 16, sequence 24
_DESC = struct.Struct("<4s4s8sQQ")
_HIGH = struct.Struct("<I")
#: Each 32-byte descriptor starts with its kind; anything else (another entry's header) ends the entry.
_DESCRIPTOR_KINDS = re.compile(rb"(?:(?:zero|desc).{28})*", re.DOTALL)
#: Bytes CRC-checked over all candidates, as a multiple of the log's length: valid entries do not
#: overlap, so a real log needs at most 1x; overlapping claims beyond 4x are a damaged log.
_CRC_BUDGET_FACTOR = 4
assert _ENTRY.size == 64 and _ZERO.size == 32 and _DESC.size == 32
_FIRST_SECTOR_DESCRIPTORS = (SECTOR - _ENTRY.size) // 32  # 126
_SECTOR_DESCRIPTORS = SECTOR // 32  # 128


#: A write the log holds: ``("zero", offset, length)`` or ``("data", offset, LoggedSector)``.
Write = tuple[str, int, "int | LoggedSector"]


@dataclass(frozen=True)
class Entry:
    offset: int  # in the log
    length: int
    tail: int
    sequence: int
    flushed_file_offset: int
    last_file_offset: int
    writes: list[Write] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Replay:
    """What the log held: ``entries`` replayed (0: nothing to replay) and the overlay."""

    entries: int
    writes: int
    pieces: list[Piece]
    file_size: int  # the file's size after replay (it may grow)
    state: str  # "no log" | "empty" | "replayed"


class _Ring:
    """The whole log, read once (it is at most :data:`MAX_LOG_LENGTH`): candidates are checked in
    memory, never re-read, and the bytes CRC-checked across all candidates are capped."""

    def __init__(self, *, fd: int, path: pathlib.Path, offset: int, length: int) -> None:
        self.offset, self.length = offset, length
        self.data = pread_exact(fd, offset, length, path=path)
        self.crc_budget = _CRC_BUDGET_FACTOR * length

    def sector(self, at: int) -> memoryview:
        """The 4 KiB sector at log position ``at`` (a multiple of 4 KiB, wrapping at the end)."""
        at %= self.length
        return memoryview(self.data)[at:at + SECTOR]

    def entry_checksum_ok(self, at: int, length: int, stored: int) -> bool:
        """Whether the CRC-32C of the ``length`` bytes at ``at`` (checksum field zeroed) is ``stored``."""
        self.crc_budget -= length
        if self.crc_budget < 0:
            raise CorruptVhdError(
                f"VHDX log holds overlapping entries that claim more than {_CRC_BUDGET_FACTOR} times the log's "
                f"{self.length} bytes to check: the log is damaged"
            )
        first = min(length, self.length - at)
        crc = google_crc32c.value(self.data[at:at + 4] + b"\0\0\0\0")
        crc = google_crc32c.extend(crc, self.data[at + 8:at + first])
        if first < length:
            crc = google_crc32c.extend(crc, self.data[:length - first])
        return int(crc) == stored

    def file_offset(self, at: int) -> int:
        return self.offset + at % self.length


def _descriptor_sectors(count: int) -> int:
    if count <= _FIRST_SECTOR_DESCRIPTORS:
        return 1
    return 1 + -(-(count - _FIRST_SECTOR_DESCRIPTORS) // _SECTOR_DESCRIPTORS)


def _descriptors(ring: _Ring, at: int, count: int, sequence: int) -> bytes | None:
    """The ``count`` 32-byte descriptors of the entry at ``at``, if each is a ``zero`` or ``desc``
    descriptor of ``sequence``; checked sector by sector, stopping at the first bad one, so a
    candidate whose descriptors run into another entry's header costs no more than the sectors
    between them."""
    parts: list[bytes] = []
    left = count
    for k in range(_descriptor_sectors(count)):
        start = _ENTRY.size if k == 0 else 0
        n = min(left, (SECTOR - start) // 32)
        left -= n
        chunk = bytes(ring.sector(at + k * SECTOR)[start:start + 32 * n])
        if not _DESCRIPTOR_KINDS.fullmatch(chunk):
            return None
        numbers = array("Q", chunk)
        if sys.byteorder == "big":
            numbers.byteswap()
        if numbers[3::4].count(sequence) != n:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _entry_at(ring: _Ring, at: int, log_guid: uuid.UUID) -> Entry | None:
    """The valid entry at ring position ``at``, or None. The cheap checks come first (header,
    descriptors, data-sector signatures and sequence numbers), the CRC over the entry last."""
    first = ring.sector(at)
    sig, crc, length, tail, seq, count, raw_guid, flushed, last = _ENTRY.unpack_from(first)
    if sig != b"loge" or guids.from_le(raw_guid) != log_guid or seq == 0:
        return None
    if length == 0 or length % SECTOR or length > ring.length or tail % SECTOR or tail >= ring.length:
        return None
    sectors = length // SECTOR
    desc_sectors = _descriptor_sectors(count)
    if desc_sectors > sectors:
        return None
    descriptors = _descriptors(ring, at, count, seq)
    if descriptors is None:
        return None
    data_count = descriptors[0::32].count(b"d")
    if desc_sectors + data_count > sectors:
        return None
    for j in range(data_count):
        sector = ring.sector(at + (desc_sectors + j) * SECTOR)
        high, low = _HIGH.unpack_from(sector, 4)[0], _HIGH.unpack_from(sector, SECTOR - 4)[0]
        if sector[:4].tobytes() != b"data" or (high << 32 | low) != seq:
            return None
    if not ring.entry_checksum_ok(at, length, crc):
        return None
    if count > MAX_REPLAYED_WRITES:
        raise CorruptVhdError(f"VHDX log entry at {at} holds {count} writes, more than {MAX_REPLAYED_WRITES}")
    writes: list[Write] = []
    data_index = desc_sectors
    for k in range(count):
        pos = 32 * k
        if descriptors[pos:pos + 4] == b"zero":
            _, zlen, offset, _dseq = _ZERO.unpack_from(descriptors, pos)
            if zlen % SECTOR or offset % SECTOR:
                return None
            if zlen:
                writes.append(("zero", offset, zlen))
        else:
            _, trailing, leading, offset, _dseq = _DESC.unpack_from(descriptors, pos)
            if offset % SECTOR:
                return None
            spos = data_index * SECTOR
            writes.append(("data", offset, LoggedSector(leading, ring.file_offset(at + spos) + 8, trailing)))
            data_index += 1
    return Entry(at, length, tail, seq, flushed, last, writes)


def replay_log(*, fd: int, path: pathlib.Path, file_size: int, log_guid: uuid.UUID,
               log_offset: int, log_length: int) -> Replay:
    """Find the active sequence and turn it into an overlay; never writes."""
    if log_guid == guids.ZERO:
        return Replay(0, 0, [], file_size, "no log")
    if log_length > MAX_LOG_LENGTH:
        raise CorruptVhdError(
            f"VHDX log is {log_length} bytes, more than the {MAX_LOG_LENGTH} bytes this reader replays"
        )
    if log_offset + log_length > file_size:
        raise CorruptVhdError(
            f"VHDX log ({log_length} bytes at {log_offset}) lies past the end of the file ({file_size} bytes): "
            "the file is truncated"
        )
    ring = _Ring(fd=fd, path=path, offset=log_offset, length=log_length)
    active = _active_sequence(ring, log_guid)
    if not active:
        return Replay(0, 0, [], file_size, "empty")
    head = active[-1]
    if head.flushed_file_offset > file_size:
        raise CorruptVhdError(
            f"VHDX log says the file was at least {head.flushed_file_offset} bytes, but it is {file_size}: "
            "the file is truncated"
        )
    writes = [w for e in active for w in e.writes]
    if len(writes) > MAX_REPLAYED_WRITES:
        raise CorruptVhdError(f"VHDX log holds {len(writes)} writes to replay, more than {MAX_REPLAYED_WRITES}")
    pieces = _resolve(writes)
    size = max([file_size, head.last_file_offset] + [end for _, end, _ in pieces[-1:]])
    return Replay(len(active), len(writes), pieces, size, "replayed")


def _active_sequence(ring: _Ring, log_guid: uuid.UUID) -> list[Entry]:
    """The spec's search (2.3.3), each entry validated once and each dead start skipped."""
    memo: dict[int, Entry | None] = {}
    dead: set[int] = set()  # starts known to lead to an incomplete sequence

    def entry(at: int) -> Entry | None:
        if at not in memo:
            memo[at] = _entry_at(ring, at, log_guid)
        return memo[at]

    candidate: list[Entry] = []
    tail = old_tail = 0
    while True:
        run: list[Entry] = []
        at = tail
        if at not in dead:
            while len(run) <= ring.length // SECTOR:
                e = entry(at)
                if e is None or (run and e.sequence != run[-1].sequence + 1):
                    break
                run.append(e)
                at = (at + e.length) % ring.length
        offsets = [e.offset for e in run]
        complete = bool(run) and run[-1].tail in offsets
        if complete:
            if not candidate or run[-1].sequence > candidate[-1].sequence:
                candidate = run[offsets.index(run[-1].tail):]
            tail = at
        else:
            dead.update(offsets)
            tail = (tail + SECTOR) % ring.length
        if tail < old_tail or (complete and tail == old_tail):
            return candidate
        old_tail = tail


def _resolve(writes: list[Write]) -> list[Piece]:
    """Disjoint, sorted overlay pieces from writes in order (a later write wins)."""
    covered: list[tuple[int, int]] = []  # sorted, disjoint, merged
    pieces: list[Piece] = []
    for kind, offset, payload in reversed(writes):
        source: LoggedSector | None
        if kind == "zero":
            assert isinstance(payload, int)
            start, end, source = offset, offset + payload, None
        else:
            assert isinstance(payload, LoggedSector)
            start, end, source = offset, offset + SECTOR, payload
        i = bisect.bisect_right(covered, (start, -1))
        if i and covered[i - 1][1] > start:
            i -= 1
        j = i
        pos = start
        merged_start, merged_end = start, end
        while j < len(covered) and covered[j][0] <= end:
            a, b = covered[j]
            if a > pos:
                pieces.append((pos, a, source))
            pos = max(pos, b)
            merged_start, merged_end = min(merged_start, a), max(merged_end, b)
            j += 1
        if pos < end:
            pieces.append((pos, end, source))
        covered[i:j] = [(merged_start, merged_end)]
    # Every write is whole 4 KiB sectors, so a data piece is never cut: it is a whole sector.
    pieces.sort(key=lambda p: p[0])
    return pieces

