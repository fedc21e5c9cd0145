"""Where blocks lie: BAT entries that overlap the file's structures or each other are refused,
once, quickly, naming the first offending entry (issue 11, part 2)."""

from __future__ import annotations

import time
from array import array

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vhdupload.cli import main
from vhdupload.errors import CorruptVhdError
from vhdupload import open_disk
from vhdupload.vhd.layout import BlockLayoutError, Region, check_block_layout

from .builders import BAT_OFFSET, MIB
from .hostile import build_with_bat

UNALLOCATED = 0xFFFFFFFF


def _first_block_sector(entries: int) -> int:
    return -(-(BAT_OFFSET + 4 * entries) // 512)


def test_sixteen_million_entries_sharing_one_block_are_refused_quickly(tmp_path, capsys):
    """A 64 MiB file whose 2^24 entries all point at one block took 346 s in `inspect`."""
    n = 1 << 24
    block = _first_block_sector(n)
    path = build_with_bat(tmp_path / "d.vhd", bat=array("I", [block]) * n, block_size=512,
                          data_end=block * 512 + 1024, fill={block * 512: b"\xff" * 1024})
    assert path.stat().st_size < 65 * MIB
    started = time.monotonic()
    with pytest.raises(CorruptVhdError, match=r"BAT entry 1 points at sector \d+, the same block as BAT entry 0"):
        open_disk(path)
    assert main(["inspect", str(path)]) == 1
    assert time.monotonic() - started < 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "BAT entry 1" in err and "intact copy" in err


def test_a_1_mib_file_cannot_claim_256_mib_of_data(tmp_path):
    block_size, entries = 4096, 65536  # 256 MiB of virtual disk
    block = _first_block_sector(entries)
    bitmap = b"\xff" * 512
    path = build_with_bat(tmp_path / "d.vhd", bat=[block] * entries, block_size=block_size, data_end=MIB - 512,
                          fill={block * 512: bitmap + b"\x01" * block_size})
    assert path.stat().st_size == MIB
    with pytest.raises(CorruptVhdError, match="BAT entry 1 .* the same block as BAT entry 0"):
        open_disk(path)


@pytest.mark.parametrize(
    "sector, what",
    [
        (0, "the footer copy at offset 0"),
        (1, "the dynamic header"),
        (2, "the dynamic header"),  # starts inside the header
        (3, "the BAT"),
    ],
)
def test_blocks_over_the_files_own_structures(tmp_path, sector, what):
    entries = 8
    block = _first_block_sector(entries)
    bat = [block + i * 2 for i in range(entries)]
    bat[5] = sector
    path = build_with_bat(tmp_path / "d.vhd", bat=bat, block_size=512, data_end=(block + 2 * entries) * 512)
    with pytest.raises(CorruptVhdError, match=f"BAT entry 5 points at sector {sector}, .*overlaps {what}"):
        open_disk(path)


def test_block_ending_inside_the_header_overlaps_it(tmp_path):
    # A 4 KiB block (+512 bitmap) at sector 0 covers the footer copy; block_size 2048 at sector 0
    # covers the header too; check the first structure is named.
    entries = 4
    block = _first_block_sector(entries) + 8
    bat = [block, block + 10, 0, block + 20]
    path = build_with_bat(tmp_path / "d.vhd", bat=bat, block_size=4096, data_end=(block + 40) * 512)
    with pytest.raises(CorruptVhdError, match="BAT entry 2 points at sector 0, .*overlaps the footer copy"):
        open_disk(path)


def test_the_first_offending_entry_in_bat_order_is_named(tmp_path):
    entries = 6
    base = _first_block_sector(entries)  # blocks of 512 + 512 bytes = 2 sectors
    bat = [base + 10, base + 4, base + 11, base + 4, UNALLOCATED, base]
    path = build_with_bat(tmp_path / "d.vhd", bat=bat, block_size=512, data_end=(base + 20) * 512)
    with pytest.raises(CorruptVhdError, match="BAT entry 2 points at sector .*, a block overlapping that of BAT entry 0"):
        open_disk(path)


def test_well_formed_layouts_in_any_order_still_open(tmp_path):
    entries = 16
    base = _first_block_sector(entries)
    order = [9, 3, 0, 15, 1, 2, 14, 4, 5, 6, 7, 8, 10, 11, 12, 13]  # written in this order
    bat = [base + 2 * order.index(i) for i in range(entries)]  # adjacent, no gaps, out of order
    fill = {}
    for i in range(entries):
        fill[bat[i] * 512] = b"\x80" + bytes(511) + bytes([i + 1]) * 512
    path = build_with_bat(tmp_path / "d.vhd", bat=bat, block_size=512, data_end=(base + 2 * entries) * 512, fill=fill)
    with open_disk(path) as disk:
        assert disk.read(0, entries * 512) == b"".join(bytes([i + 1]) * 512 for i in range(entries))


def test_short_last_block_at_the_end_of_the_file(tmp_path):
    # Virtual size 2.5 blocks: the last block only needs its bitmap and the half it uses.
    base = _first_block_sector(3)
    bat = [base, base + 9, base + 18]  # blocks of 512 bitmap + 4096 data = 9 sectors
    data_end = (base + 18) * 512 + 512 + 2048
    path = build_with_bat(tmp_path / "d.vhd", bat=bat, block_size=4096, virtual_size=4096 * 2 + 2048,
                          data_end=data_end)
    with open_disk(path) as disk:
        assert disk.virtual_size == 10240


# -- the check against a brute-force oracle --------------------------------------------------

def _oracle(bat, *, block_size, bitmap, virtual_size, data_end, regions):
    """The first offending entry by the definition, in O(n^2): (index, kind)."""
    full = bitmap + block_size
    last = len(bat) - 1
    spans = {}
    for i, e in enumerate(bat):
        if e == UNALLOCATED:
            continue
        length = full if i != last else bitmap + virtual_size - last * block_size
        a, b = e * 512, e * 512 + length
        if b > data_end:
            return i, "past"
        for r in regions:
            if a < r.stop and r.start < b:
                return i, "region"
        for j, (c, d) in spans.items():
            if a < d and c < b:
                return i, "block"
        spans[i] = (a, b)
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(9, 13).map(lambda p: 1 << p),
    st.lists(st.one_of(st.just(UNALLOCATED), st.integers(0, 200)), min_size=1, max_size=40),
    st.integers(0, 4000),
    st.integers(0, 1),
)
def test_check_agrees_with_the_oracle(block_size, bat, slack, short_last):
    bitmap = 512
    virtual_size = len(bat) * block_size - (block_size // 2 if short_last else 0)
    data_end = 20 * 512 + slack * 64
    regions = [Region(0, 512, "the footer copy at offset 0"), Region(512, 1536, "the dynamic header"),
               Region(1536, 1536 + 4 * len(bat), "the BAT")]
    expected = _oracle(bat, block_size=block_size, bitmap=bitmap, virtual_size=virtual_size,
                       data_end=data_end, regions=regions)
    try:
        check_block_layout(bat=array("I", bat), block_size=block_size, bitmap_bytes=bitmap,
                           virtual_size=virtual_size, data_end=data_end, regions=regions)
    except BlockLayoutError as exc:
        assert expected is not None, str(exc)
        index, kind = expected
        message = str(exc)
        assert message.startswith(f"BAT entry {index} points at sector {bat[index]},"), (message, expected)
        assert {"past": "past the data area", "region": "overlaps the", "block": "BAT entry"}[kind] in message.split(",", 1)[1]
    else:
        assert expected is None


def test_many_distinct_blocks_are_checked_in_seconds():
    """2^22 allocated entries in a shuffled but valid layout (the check alone)."""
    n = 1 << 22
    span = 2  # 512-byte blocks + 512-byte bitmaps
    first = 100
    # A permutation with no Python-level shuffle: a multiplicative one modulo n (odd multiplier).
    bat = array("I", range(n))
    bat = array("I", ((i * 2654435761) % n * span + first for i in bat))
    started = time.monotonic()
    check_block_layout(bat=bat, block_size=512, bitmap_bytes=512, virtual_size=n * 512,
                       data_end=(first + n * span) * 512, regions=[Region(0, first * 512, "the head")])
    elapsed = time.monotonic() - started
    assert elapsed < 5, elapsed
