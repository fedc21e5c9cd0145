"""Dynamic header, BAT and bitmaps: round trips, bit order, and random corruption of every
on-disk structure, which must end in the package's FormatError or a clean read."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vhdupload.errors import CorruptVhdError, FormatError, InputError
from vhdupload import open_disk
from vhdupload.vhd.bat import UNALLOCATED, build_bat, parse_bat
from vhdupload.vhd.bitmap import bitmap_size, sector_is_set, sector_runs, set_byte_ranges
from vhdupload.vhd.dynamic_header import DynamicHeader, encode_parent_name

from .builders import BAT_OFFSET, HEADER_OFFSET, MIB, build_differencing, build_dynamic, build_fixed
from .strategies import assert_round_trip, headers, u32

@settings(max_examples=100, deadline=None)
@given(headers)
def test_dynamic_header_round_trip(header):
    assert_round_trip(header, size=1024)


@settings(max_examples=100, deadline=None)
@given(st.lists(u32, max_size=300))
def test_bat_round_trip(entries):
    data = build_bat(entries)
    assert len(data) % 512 == 0
    assert list(parse_bat(data)[: len(entries)]) == entries
    assert all(e == UNALLOCATED for e in parse_bat(data)[len(entries):])


def test_parent_name_is_utf16_big_endian():
    header = DynamicHeader(parent_name_raw=encode_parent_name("pärent.vhd"))
    assert header.parent_name_raw.startswith("pärent.vhd".encode("utf-16-be"))
    assert DynamicHeader.parse(header.to_bytes()).parent_name == "pärent.vhd"


def test_bitmap_is_most_significant_bit_first():
    bitmap = bytes([0b1000_0001, 0xFF, 0x00, 0b0100_0000])
    assert sector_is_set(bitmap, 0) and sector_is_set(bitmap, 7) and not sector_is_set(bitmap, 1)
    assert sector_is_set(bitmap, 25) and not sector_is_set(bitmap, 24)
    assert list(sector_runs(bitmap, 0, 32)) == [
        (0, 1, True), (1, 7, False), (7, 16, True), (16, 25, False), (25, 26, True), (26, 32, False)]
    assert list(sector_runs(bitmap, 3, 10)) == [(3, 7, False), (7, 10, True)]
    assert list(set_byte_ranges(bitmap)) == [(0, 2 * 4096), (3 * 4096, 4 * 4096)]


@pytest.mark.parametrize("block, size", [(512, 512), (2 * MIB, 512), (4 * MIB, 1024), (2**31, 512 * 1024)])
def test_bitmap_size_is_padded_to_a_sector(block, size):
    assert bitmap_size(block) == size


# -- random corruption of whole files ------------------------------------------------------

def _read_everything(path) -> None:
    # Damage may claim a huge (yet consistent) disk: read a bounded amount, in pieces.
    with open_disk(path) as disk:
        for start, stop in disk.extents(0, 1 << 20):
            disk.read(start, stop - start)
        for offset in range(0, min(disk.virtual_size, 1 << 20), 1 << 16):
            disk.read(offset, min(1 << 16, disk.virtual_size - offset))


def _corrupt_and_read(data, path, image: bytes, regions: list[tuple[int, int]]) -> None:
    buf = bytearray(image)
    for _ in range(data.draw(st.integers(1, 6), label="flips")):
        start, stop = data.draw(st.sampled_from(regions), label="region")
        pos = data.draw(st.integers(start, stop - 1), label="offset")
        buf[pos] = data.draw(st.integers(0, 255), label="value")
    if data.draw(st.booleans(), label="fix checksums"):
        _fix_checksums(buf)  # so damage reaches past the checksums into values
    path.write_bytes(bytes(buf))
    try:
        _read_everything(path)
    except FormatError:
        pass


def _fix_checksums(buf: bytearray) -> None:
    def fix(offset: int, length: int, field: int) -> None:
        buf[offset + field:offset + field + 4] = bytes(4)
        buf[offset + field:offset + field + 4] = struct.pack(">I", ~sum(buf[offset:offset + length]) & 0xFFFFFFFF)

    fix(len(buf) - 512, 512, 64)
    if buf[:8] == b"conectix":
        fix(0, 512, 64)
        fix(HEADER_OFFSET, 1024, 36)


_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(data=st.data())
def test_corrupt_dynamic_disk(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("dyn")
    src = build_dynamic(folder / "src.vhd", virtual_size=3 * 4096 * 8, block_size=4096 * 8,
                        writes={0: b"\x11" * 700, 40000: b"\x22" * 9000})
    image = src.read_bytes()
    n = len(image)
    regions = [(n - 512, n), (0, 512), (HEADER_OFFSET, HEADER_OFFSET + 1024), (BAT_OFFSET, BAT_OFFSET + 12),
               (BAT_OFFSET + 512, n - 512)]  # footer, its copy at 0, header, BAT, bitmaps and data
    _corrupt_and_read(data, folder / "bad.vhd", image, regions)


@_SETTINGS
@given(data=st.data())
def test_corrupt_differencing_disk(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("diff")
    build_dynamic(folder / "parent.vhd", virtual_size=2 * 4096 * 8, block_size=4096 * 8, writes={512: b"p" * 4096})
    child = build_differencing(folder / "child.vhd", parent=folder / "parent.vhd", block_size=4096 * 8,
                               writes={1024: b"c" * 1024})
    image = child.read_bytes()
    n = len(image)
    regions = [(n - 512, n), (0, 512), (HEADER_OFFSET, HEADER_OFFSET + 1024), (BAT_OFFSET, BAT_OFFSET + 8),
               (BAT_OFFSET + 512, n - 512)]  # footer, its copy, header, BAT, locator data, bitmaps and data
    _corrupt_and_read(data, folder / "bad.vhd", image, regions)


@_SETTINGS
@given(data=st.data())
def test_corrupt_fixed_disk_footer(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fixed")
    image = build_fixed(folder / "src.vhd", virtual_size=64 * 1024, writes={0: b"x" * 100}).read_bytes()
    n = len(image)
    _corrupt_and_read(data, folder / "bad.vhd", image, [(n - 512, n)])


@_SETTINGS
@given(cut=st.integers(1, 100_000))
def test_truncated_files_are_refused_or_read(tmp_path_factory, cut):
    folder = tmp_path_factory.mktemp("cut")
    image = build_dynamic(folder / "src.vhd", virtual_size=4 * MIB, block_size=MIB,
                          writes={0: b"a" * 5000, 3 * MIB: b"b" * 100}).read_bytes()
    bad = folder / "bad.vhd"
    bad.write_bytes(image[: max(0, len(image) - cut)])
    try:
        _read_everything(bad)
    except (FormatError, InputError):
        pass


# -- precise refusals ------------------------------------------------------------------------

def _rewrite_header(path, **changes) -> None:
    data = bytearray(path.read_bytes())
    header = DynamicHeader.parse(bytes(data[HEADER_OFFSET:HEADER_OFFSET + 1024])).replace(**changes)
    data[HEADER_OFFSET:HEADER_OFFSET + 1024] = header.to_bytes()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"block_size": 0}, "block size 0"),
        ({"block_size": 3 * 1024 * 1024}, "power of two"),
        ({"max_table_entries": 2**32 - 1}, "2\\^32 - 1"),
        ({"max_table_entries": 1}, "needs 4"),
        ({"table_offset": 10**12}, "BAT .* past the data area"),
        ({"max_table_entries": 10**6}, "BAT .* past the data area"),
    ],
)
def test_header_values_checked_against_the_file(tmp_path, changes, message):
    path = build_dynamic(tmp_path / "d.vhd", virtual_size=8 * MIB, writes={0: b"x"})
    _rewrite_header(path, **changes)
    with pytest.raises(CorruptVhdError, match=message):
        open_disk(path)


def test_bat_entry_past_the_end(tmp_path):
    path = build_dynamic(tmp_path / "d.vhd", virtual_size=8 * MIB, writes={0: b"x"})
    data = bytearray(path.read_bytes())
    data[BAT_OFFSET + 4:BAT_OFFSET + 8] = struct.pack(">I", 10**6)
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptVhdError, match="BAT entry 1 points at sector 1000000"):
        open_disk(path)


def test_header_overlapping_the_footer(tmp_path):
    path = build_dynamic(tmp_path / "d.vhd", virtual_size=8 * MIB)
    data = bytearray(path.read_bytes())
    n = len(data)
    footer = bytearray(data[-512:])
    footer[16:24] = struct.pack(">Q", n - 1024)  # header would run into the footer
    footer[64:68] = bytes(4)
    footer[64:68] = struct.pack(">I", ~sum(footer) & 0xFFFFFFFF)
    data[-512:] = footer
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptVhdError, match="overlapping the footer"):
        open_disk(path)


# -- hostile sizes must not turn into allocations ---------------------------------------------

def _peak_memory_of(fn) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        try:
            fn()
        except FormatError:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _rewrite_footer(path, **fields) -> None:
    data = bytearray(path.read_bytes())
    footer = bytearray(data[-512:])
    for offset, value in fields.items():
        struct.pack_into(">Q", footer, int(offset), value)
    footer[64:68] = bytes(4)
    footer[64:68] = struct.pack(">I", ~sum(footer) & 0xFFFFFFFF)
    data[-512:] = footer
    data[:512] = footer
    path.write_bytes(bytes(data))


def test_huge_table_that_fits_a_sparse_file_loads_only_what_the_size_needs(tmp_path):
    """2^32 - 2 BAT entries (16 GiB of table) inside a sparse file: the table is never read whole."""
    path = build_dynamic(tmp_path / "d.vhd", virtual_size=8 * MIB, writes={0: b"x" * 512})
    _rewrite_header(path, max_table_entries=2**32 - 2)
    footer = path.read_bytes()[-512:]
    with open(path, "r+b") as f:  # move the footer past the claimed table, leaving a hole
        f.truncate(17 * 1024**3)
        f.seek(0, 2)
        f.write(footer)

    def read() -> None:
        with open_disk(path) as disk:
            assert disk.read(0, 512) == b"x" * 512
            assert list(disk.extents()) == [(0, 4096)]

    assert _peak_memory_of(read) < 2 * MIB


@pytest.mark.parametrize("block_size, size", [(512, 2**41), (2**31, 2**63)])
def test_huge_virtual_size_is_refused_without_allocating(tmp_path, block_size, size):
    path = build_dynamic(tmp_path / "d.vhd", virtual_size=8 * MIB)
    _rewrite_header(path, block_size=block_size, max_table_entries=2**32 - 2)
    _rewrite_footer(path, **{"48": size})
    with pytest.raises(CorruptVhdError):
        open_disk(path)
    assert _peak_memory_of(lambda: open_disk(path)) < MIB
