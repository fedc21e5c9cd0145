"""The map-to-ranges code over random allocation maps: a used unit is never reported free, and
every free unit in a whole free byte is."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from vhdupload.allocation.bitmap import coalesce, free_runs, subtract, zero_entry_runs
from vhdupload.allocation.fat import _free_entries


def _bits(bitmap: bytes, count: int) -> list[bool]:
    """True for a used unit (bits past the bitmap's end count as used)."""
    return [i >= len(bitmap) * 8 or bool(bitmap[i // 8] >> (i % 8) & 1) for i in range(count)]


# Maps with long runs of both kinds, as real ones have, and noise.
runs_of_bits = st.lists(st.tuples(st.booleans(), st.integers(1, 80)), max_size=40)


def _from_runs(runs: list[tuple[bool, int]]) -> bytes:
    bits = [used for used, n in runs for _ in range(n)]
    data = bytearray(-(-len(bits) // 8))
    for i, used in enumerate(bits):
        if used:
            data[i // 8] |= 1 << (i % 8)
    return bytes(data)


@settings(max_examples=200)
@given(st.one_of(st.binary(max_size=64), runs_of_bits.map(_from_runs)), st.integers(0, 600))
def test_no_used_unit_is_ever_free_and_whole_free_bytes_always_are(bitmap, count):
    used = _bits(bitmap, count)
    runs = free_runs(bitmap, count=count)
    free = {i for lo, hi in runs for i in range(lo, hi)}
    assert not any(used[i] for i in free)
    assert all(0 <= lo < hi <= count for lo, hi in runs)
    assert runs == sorted(runs) and all(a[1] < b[0] for a, b in zip(runs, runs[1:]))  # disjoint, not touching
    for i in range(min(count, len(bitmap) * 8)):
        if bitmap[i // 8] == 0:
            assert i in free
    # a run reaching into a partly used byte takes every free bit next to it
    for lo, hi in runs:
        assert lo == 0 or used[lo - 1]
        assert hi == count or used[hi]


@settings(max_examples=150)
@given(st.lists(st.integers(0, 3), max_size=200), st.sampled_from([12, 16, 32]))
def test_fat_entries_zero_in_the_table_are_free_and_only_they(values, kind):
    entries = len(values) + 2
    table = _table([0xFF8, 0xFFF] + [0 if v == 0 else v + 1 for v in values], kind)
    runs = _free_entries(table, kind=kind, entries=entries)
    free = {i for lo, hi in runs for i in range(lo, hi)}
    assert free == {n + 2 for n, v in enumerate(values) if v == 0}


def _table(entries: list[int], kind: int) -> bytes:
    if kind == 16:
        return b"".join(struct.pack("<H", e) for e in entries)
    if kind == 32:
        return b"".join(struct.pack("<I", e) for e in entries)
    data = bytearray(-(-len(entries) * 3 // 2) + 1)
    for n, e in enumerate(entries):
        at = n * 3 // 2
        if n & 1:
            data[at] |= (e << 4) & 0xF0
            data[at + 1] = e >> 4
        else:
            data[at] = e & 0xFF
            data[at + 1] |= e >> 8
    return bytes(data)


ranges = st.lists(st.tuples(st.integers(0, 500), st.integers(0, 60)).map(lambda t: (t[0], t[0] + t[1])), max_size=12)


@given(ranges, ranges)
def test_subtract_removes_exactly_what_it_is_given(keep, remove):
    keep = coalesce(keep)
    got = subtract(keep, remove)
    points = {i for lo, hi in keep for i in range(lo, hi)} - {i for lo, hi in remove for i in range(lo, hi)}
    assert {i for lo, hi in got for i in range(lo, hi)} == points
    assert got == coalesce(got) or all(a[1] <= b[0] for a, b in zip(got, got[1:]))


@given(st.binary(max_size=80), st.sampled_from([2, 4]))
def test_zero_entries_are_whole_aligned_entries(table, width):
    runs = zero_entry_runs(table, width=width)
    zero = {n for n in range(len(table) // width) if table[n * width : (n + 1) * width] == bytes(width)}
    assert {n for lo, hi in runs for n in range(lo, hi)} == zero
