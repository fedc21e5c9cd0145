"""A VHDX whose last metadata update is only in the log: read with the log replayed in memory,
the user's file untouched."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from vhdupload.errors import CorruptVhdError
from vhdupload import open_disk

from .writer import BAT_OFFSET, LOG_OFFSET, MIB, Spec, bat_entry, log_entry, write_vhdx

A = os.urandom(MIB)
B = os.urandom(MIB)
LOG_GUID = uuid.UUID("11111111-2222-3333-4444-555555555555")


def _bat_sector(path) -> bytes:
    with open(path, "rb") as f:
        f.seek(BAT_OFFSET)
        return f.read(4096)


def _pending(tmp_path, *, entries=None, log_guid=LOG_GUID, name="pending.vhdx"):
    """A disk where block 2 (B) was written but its BAT entry is only in the log."""
    path = tmp_path / name
    spec = Spec(virtual_size=8 * MIB, blocks={0: (6, A), 2: (6, B)})
    write_vhdx(path, spec)
    good = _bat_sector(path)
    if entries is None:
        entries = [log_entry(sequence=5, tail=0, log_guid=LOG_GUID, writes=[("data", BAT_OFFSET, good)])]
    spec.log_guid = log_guid
    write_vhdx(path, spec, log=b"".join(entries), bat_override={2: bat_entry(0, 0)})
    return path, good


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_write_only_in_the_log_is_read(tmp_path):
    path, _ = _pending(tmp_path)
    before = (_digest(path), os.stat(path).st_mtime_ns)
    with open_disk(path) as disk:
        assert disk.read(0, MIB) == A
        assert disk.read(2 * MIB, MIB) == B
        assert list(disk.extents()) == [(0, MIB), (2 * MIB, 3 * MIB)]
        assert disk.log_state.startswith("replayed 1 log entries")
    assert (_digest(path), os.stat(path).st_mtime_ns) == before  # never written


def test_without_replay_the_block_would_be_missing(tmp_path):
    # the same file with a different LogGuid in the header: its entries are not valid
    path, _ = _pending(tmp_path, log_guid=uuid.UUID(int=99))
    with open_disk(path) as disk:
        assert disk.read(2 * MIB, MIB) == bytes(MIB)
        assert disk.log_state == "empty"


def test_sequence_replays_in_order_and_zero_descriptors(tmp_path):
    good = None

    def entries(good_sector):
        first = log_entry(sequence=7, tail=0, log_guid=LOG_GUID, writes=[("zero", BAT_OFFSET, 4096)])
        second = log_entry(sequence=8, tail=0, log_guid=LOG_GUID, writes=[("data", BAT_OFFSET, good_sector)])
        return [first, second]

    path, good = _pending(tmp_path)
    # rebuild with a two-entry sequence: zero the BAT sector, then write it
    spec_entries = entries(good)
    path2, _ = _pending(tmp_path, entries=spec_entries, name="two.vhdx")
    with open_disk(path2) as disk:
        assert disk.read(2 * MIB, MIB) == B and disk.read(0, MIB) == A
        assert disk.replay.entries == 2
    # the reverse order: the zeroing is newest, so no block is present
    rev = [log_entry(sequence=7, tail=0, log_guid=LOG_GUID, writes=[("data", BAT_OFFSET, good)]),
           log_entry(sequence=8, tail=0, log_guid=LOG_GUID, writes=[("zero", BAT_OFFSET, 4096)])]
    path3, _ = _pending(tmp_path, entries=rev, name="rev.vhdx")
    with open_disk(path3) as disk:
        assert list(disk.extents()) == []


def test_newest_complete_sequence_wins_and_incomplete_is_ignored(tmp_path):
    path, good = _pending(tmp_path)
    old = log_entry(sequence=3, tail=0, log_guid=LOG_GUID, writes=[("zero", BAT_OFFSET, 4096)])
    new = log_entry(sequence=20, tail=4096, log_guid=LOG_GUID, writes=[("data", BAT_OFFSET, good)])
    path2, _ = _pending(tmp_path, entries=[old, new], name="two-seqs.vhdx")
    with open_disk(path2) as disk:
        assert disk.read(2 * MIB, MIB) == B
        assert disk.replay.entries == 1
    # a head whose tail points outside its sequence is incomplete: only the old one counts
    broken = log_entry(sequence=20, tail=65536, log_guid=LOG_GUID, writes=[("data", BAT_OFFSET, good)])
    path3, _ = _pending(tmp_path, entries=[old, broken], name="incomplete.vhdx")
    with open_disk(path3) as disk:
        assert list(disk.extents()) == []


def test_damaged_entry_is_not_replayed(tmp_path):
    path, good = _pending(tmp_path)
    entry = bytearray(log_entry(sequence=5, tail=0, log_guid=LOG_GUID, writes=[("data", BAT_OFFSET, good)]))
    entry[4096 + 100] ^= 1  # one bit of the data sector: the entry's CRC fails
    path2, _ = _pending(tmp_path, entries=[bytes(entry)], name="bad-crc.vhdx")
    with open_disk(path2) as disk:
        assert disk.read(2 * MIB, MIB) == bytes(MIB) and disk.log_state == "empty"


def test_truncated_file_per_flushed_offset_is_refused(tmp_path):
    path, good = _pending(tmp_path)
    entry = log_entry(sequence=5, tail=0, log_guid=LOG_GUID, writes=[("data", BAT_OFFSET, good)], flushed=1 << 40)
    path2, _ = _pending(tmp_path, entries=[entry], name="trunc.vhdx")
    with pytest.raises(CorruptVhdError, match="log says the file was at least .* truncated"):
        open_disk(path2)


def test_log_full_of_tiny_entries_is_bounded(tmp_path):
    path, good = _pending(tmp_path)
    # 254 one-sector entries, each its own complete sequence with a falling sequence number
    entries = [log_entry(sequence=1000 - i, tail=i * 4096, log_guid=LOG_GUID, writes=[]) for i in range(254)]
    entries.append(log_entry(sequence=5000, tail=254 * 4096, log_guid=LOG_GUID, writes=[("data", BAT_OFFSET, good)]))
    path2, _ = _pending(tmp_path, entries=entries, name="many.vhdx")
    with open_disk(path2) as disk:
        assert disk.read(2 * MIB, MIB) == B and disk.replay.entries == 1
    assert LOG_OFFSET == MIB
