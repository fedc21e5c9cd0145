"""Footer: build/parse round trips, checksum, the 511-byte footer, CHS geometry."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vhdupload.errors import CorruptVhdError, FormatError, InputError, NotAVhdError
from vhdupload.vhd import Footer, chs_for_size, make_fixed_footer
from vhdupload.vhd.footer import footer_geometry
from vhdupload.vhd.geometry import MAXIMUM_GEOMETRY

from .builders import footer_bytes
from .strategies import assert_round_trip, footers

@settings(max_examples=150, deadline=None)
@given(footers)
def test_footer_round_trip(footer):
    assert_round_trip(footer, size=512)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupt_footer_raises_format_error_or_parses(data):
    good = bytearray(make_fixed_footer(virtual_size=64 * 1024 * 1024).to_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        good[data.draw(st.integers(0, 511))] = data.draw(st.integers(0, 255))
    try:
        Footer.parse(bytes(good))
    except FormatError:
        pass


def test_checksum_mismatch_is_corrupt_and_missing_cookie_is_not_a_vhd():
    data = bytearray(make_fixed_footer(virtual_size=1 << 20).to_bytes())
    data[48] ^= 1
    with pytest.raises(CorruptVhdError, match="checksum"):
        Footer.parse(bytes(data))
    with pytest.raises(NotAVhdError):
        Footer.parse(bytes(512))


def test_parse_matches_independent_builder():
    ident = uuid.uuid4()
    footer = Footer.parse(footer_bytes(disk_type=3, current_size=12345 * 512, data_offset=512, uuid=ident))
    assert (footer.disk_type_name, footer.current_size, footer.data_offset, footer.uuid) == (
        "dynamic", 12345 * 512, 512, ident)


def test_old_511_byte_footer_is_accepted():
    data = make_fixed_footer(virtual_size=1 << 20).to_bytes()
    assert Footer.parse(data[:511]) == Footer.parse(data)


@pytest.mark.parametrize(
    "size, chs",
    [
        # what qemu-img 7.2 writes for `-o subformat=fixed` (creator qemu) at these sizes
        (10514432, (302, 4, 17)),
        (104865792, (1004, 12, 17)),
        (1 << 30, (2080, 16, 63)),
        # past 65535*16*63 sectors the spec switches to 255 sectors per track
        (100 * 1024**3, (51400, 16, 255)),
    ],
)
def test_chs_matches_the_spec_algorithm(size, chs):
    assert tuple(chs_for_size(size)) == chs


def test_chs_caps_at_maximum():
    assert chs_for_size(10 * 1024**4) == MAXIMUM_GEOMETRY


def test_fixed_footer_geometry_is_exact_chs_or_maximum():
    exact = 10514432
    assert footer_geometry(exact).size == exact
    assert footer_geometry(1 << 30) == MAXIMUM_GEOMETRY  # CHS cannot say 1 GiB exactly


def test_make_fixed_footer_keeps_template_identity():
    template = Footer.parse(footer_bytes(disk_type=3, current_size=5 << 20, data_offset=512))
    footer = make_fixed_footer(virtual_size=6 << 20, template=template)
    assert footer.uuid == template.uuid and footer.timestamp == template.timestamp
    assert (footer.disk_type, footer.current_size, footer.original_size) == (2, 6 << 20, 6 << 20)
    assert (footer.creator_application, footer.creator_host_os, footer.features) == (b"vhdu", b"Wi2k", 2)
    assert footer.data_offset == 2**64 - 1 and footer.format_version == 0x00010000
    ident = uuid.uuid4()
    again = make_fixed_footer(virtual_size=6 << 20, uuid=ident, timestamp=1234)
    assert again.uuid == ident and again.timestamp == 1234
    assert make_fixed_footer(virtual_size=6 << 20, uuid=ident, timestamp=1234).to_bytes() == again.to_bytes()


@pytest.mark.parametrize("size", [0, 1000, -512])
def test_make_fixed_footer_refuses_sizes_that_are_not_whole_sectors(size):
    with pytest.raises(InputError):
        make_fixed_footer(virtual_size=size)
