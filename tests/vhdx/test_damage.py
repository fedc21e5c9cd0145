"""Damaged and hostile VHDX files: each gives a one-line format error naming the structure,
in bounded time and memory; hypothesis-built files read as their model says."""

from __future__ import annotations

import os
import struct
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vhdupload.errors import CorruptVhdError, FormatError
from vhdupload import open_disk
from vhdupload.vhdx import guids

from .writer import BAT_OFFSET, META_OFFSET, MIB, Spec, bat_entry, region_table, write_vhdx

KIB = 1024


def _good(path, **kw):
    spec = Spec(virtual_size=4 * MIB, blocks={0: (6, b"\x01" * MIB), 1: (6, b"\x02" * MIB)}, **kw)
    return write_vhdx(path, spec)


def _poke(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _error(path) -> str:
    with pytest.raises(FormatError) as info:
        open_disk(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_bad_crc_on_current_header_falls_back_to_the_other(tmp_path):
    path = tmp_path / "d.vhdx"
    _good(path)  # header 2 (128 KiB) has the higher sequence number
    _poke(path, 128 * KIB + 200, b"\xff")
    with open_disk(path) as disk:
        assert disk.header.offset == 64 * KIB and disk.read(MIB, 4) == b"\x02" * 4


def test_both_headers_bad(tmp_path):
    path = tmp_path / "d.vhdx"
    _good(path)
    _poke(path, 64 * KIB + 200, b"\xff")
    _poke(path, 128 * KIB, b"HEAD")
    message = _error(path)
    assert "neither VHDX header is valid" in message and "bad CRC-32C" in message and "'head'" in message


def test_region_table_overlap(tmp_path):
    path = tmp_path / "d.vhdx"
    _good(path)
    table = region_table([(guids.BAT_REGION, BAT_OFFSET, MIB, 1), (guids.METADATA_REGION, BAT_OFFSET, MIB, 1)])
    _poke(path, 192 * KIB, table)
    _poke(path, 256 * KIB, table)
    assert "overlap" in _error(path)


def test_region_table_overlapping_the_log(tmp_path):
    path = tmp_path / "d.vhdx"
    _good(path, log_guid=uuid.uuid4())
    table = region_table([(guids.BAT_REGION, BAT_OFFSET, MIB, 1), (guids.METADATA_REGION, MIB, MIB, 1)])
    _poke(path, 192 * KIB, table)
    _poke(path, 256 * KIB, table)
    assert "overlap" in _error(path)


def test_unknown_required_region(tmp_path):
    path = tmp_path / "d.vhdx"
    _good(path)
    table = region_table([(guids.BAT_REGION, BAT_OFFSET, MIB, 1), (guids.METADATA_REGION, META_OFFSET, MIB, 1),
                          (uuid.uuid4(), 40 * MIB, MIB, 1)])
    _poke(path, 192 * KIB, table)
    assert "region this reader does not know" in _error(path)


def test_bat_entry_past_eof(tmp_path):
    path = tmp_path / "d.vhdx"
    write_vhdx(path, Spec(virtual_size=4 * MIB), bat_override={0: bat_entry(6, 1000 * MIB)})
    assert "BAT entry of block 0 points at offset 1048576000, past the end of the file" in _error(path)


def test_bat_entry_in_header_section_and_overlapping_blocks(tmp_path):
    path = tmp_path / "d.vhdx"
    write_vhdx(path, Spec(virtual_size=4 * MIB), bat_override={0: bat_entry(6, 0)})
    assert "inside the header section" in _error(path)
    write_vhdx(path, Spec(virtual_size=4 * MIB, blocks={0: (6, b"x")}), bat_override={1: bat_entry(6, 4 * MIB)})
    assert "overlap" in _error(path)


def test_block_size_not_a_power_of_two(tmp_path):
    path = tmp_path / "d.vhdx"
    write_vhdx(path, Spec(virtual_size=6 * MIB, block_size=MIB, block_size_field=3 * MIB))
    assert "block size of 3145728 bytes; it must be a power of two" in _error(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "d.vhdx"
    _good(path)
    os.truncate(path, 3 * MIB)
    assert "truncated" in _error(path)
    os.truncate(path, 100 * KIB)
    assert "shorter than its 1 MiB header section" in _error(path)


def test_partially_present_in_a_dynamic_disk(tmp_path):
    path = tmp_path / "d.vhdx"
    write_vhdx(path, Spec(virtual_size=4 * MIB, blocks={0: (7, b"x")}))
    assert "only a differencing disk" in _error(path)


def test_huge_virtual_size_is_bounded(tmp_path):
    path = tmp_path / "d.vhdx"
    write_vhdx(path, Spec(virtual_size=4 * MIB))
    # claim 64 TiB with 1 MiB blocks: 2^26 blocks, past the reader's bound, refused before reading the BAT
    item = struct.pack("<Q", 64 * 1024**4)
    with open(path, "r+b") as f:
        f.seek(META_OFFSET + 32 + 32 + 16)  # second table entry: virtual disk size -> its offset
        (offset,) = struct.unpack("<I", f.read(4))
        f.seek(META_OFFSET + offset)
        f.write(item)
    started = time.monotonic()
    assert "blocks" in _error(path)
    assert time.monotonic() - started < 2


# -- hypothesis ---------------------------------------------------------------------------
_STATES = st.sampled_from([0, 1, 2, 3, 6])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    blocks=st.integers(1, 6),
    block_mib=st.sampled_from([1, 2]),
    logical=st.sampled_from([512, 4096]),
    tail=st.integers(0, 7),
    states=st.lists(_STATES, min_size=6, max_size=6),
    seed=st.integers(0, 2**32),
)
def test_built_vhdx_reads_as_its_model(tmp_path, blocks, block_mib, logical, tail, states, seed):
    import random

    rng = random.Random(seed)
    block = block_mib * MIB
    size = (blocks - 1) * block + (tail + 1) * (block // 8)
    size -= size % logical
    content = {}
    for b in range(-(-size // block)):
        state = states[b]
        data = rng.randbytes(block) if state == 6 else None
        content[b] = (state, data)
    path = tmp_path / f"h{seed}.vhdx"
    write_vhdx(path, Spec(virtual_size=size, block_size=block, logical_sector_size=logical, blocks=content))
    expected = bytearray(size)
    for b, (state, data) in content.items():
        if state == 6:
            end = min(size, (b + 1) * block)
            expected[b * block:end] = data[:end - b * block]
    with open_disk(path) as disk:
        assert disk.virtual_size == size and disk.logical_sector_size == logical
        assert disk.read(0, size) == bytes(expected)
        for a, c in disk.extents():
            assert 0 <= a < c <= size
        outside = bytearray(expected)
        for a, c in disk.extents():
            outside[a:c] = bytes(c - a)
        assert not any(outside)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    path = tmp_path_factory.mktemp("pristine") / "p.vhdx"
    child_dwg = uuid.uuid4()
    write_vhdx(path, Spec(virtual_size=4 * MIB, blocks={0: (6, b"\x01" * MIB), 2: (6, b"\x03" * MIB)},
                          data_write_guid=child_dwg, log_guid=uuid.uuid4()))
    return path.read_bytes()


# places where damage matters: headers, region tables, metadata table and items, BAT
_HOT = st.one_of(
    st.integers(64 * KIB, 64 * KIB + 80), st.integers(128 * KIB, 128 * KIB + 80),
    st.integers(192 * KIB, 192 * KIB + 80), st.integers(256 * KIB, 256 * KIB + 80),
    st.integers(META_OFFSET, META_OFFSET + 300), st.integers(META_OFFSET + 64 * KIB, META_OFFSET + 64 * KIB + 64),
    st.integers(BAT_OFFSET, BAT_OFFSET + 64), st.integers(MIB, MIB + 64),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pokes=st.lists(st.tuples(_HOT, st.binary(min_size=1, max_size=8)), min_size=1, max_size=4))
def test_damaged_structures_give_format_errors_in_bounded_time(tmp_path, pristine, pokes):
    path = tmp_path / "x.vhdx"
    data = bytearray(pristine)
    for offset, value in pokes:
        data[offset:offset + len(value)] = value
    path.write_bytes(data)
    started = time.monotonic()
    try:
        with open_disk(path) as disk:
            n = min(disk.virtual_size, 8 * MIB)  # a poked size can be large: read a bounded part
            assert len(disk.read(0, n)) == n
            list(disk.extents(0, 64 * MIB))
    except FormatError as exc:
        assert "\n" not in str(exc)
    assert time.monotonic() - started < 5
