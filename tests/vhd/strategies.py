"""Hypothesis strategies for the on-disk structures, and the round-trip check they share."""

from __future__ import annotations

from hypothesis import strategies as st

from vhdupload.vhd import Footer
from vhdupload.vhd.dynamic_header import DynamicHeader, ParentLocator

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)

footers = st.builds(
    Footer,
    features=u32, format_version=u32, data_offset=u64, timestamp=u32,
    creator_application=st.binary(min_size=4, max_size=4), creator_version=u32,
    creator_host_os=st.binary(min_size=4, max_size=4), original_size=u64, current_size=u64,
    cylinders=st.integers(0, 65535), heads=st.integers(0, 255), sectors_per_track=st.integers(0, 255),
    disk_type=st.sampled_from([2, 3, 4]), uuid=st.uuids(), saved_state=st.integers(0, 255),
    reserved=st.binary(min_size=427, max_size=427),
)
locators = st.builds(ParentLocator, platform_code=st.binary(min_size=4, max_size=4), data_space=u32,
                     data_length=u32, reserved=u32, data_offset=u64)
headers = st.builds(
    DynamicHeader, data_offset=u64, table_offset=u64, header_version=u32, max_table_entries=u32,
    block_size=u32, parent_uuid=st.uuids(), parent_timestamp=u32, reserved1=u32,
    parent_name_raw=st.binary(min_size=512, max_size=512),
    locators=st.tuples(*[locators] * 8), reserved2=st.binary(min_size=256, max_size=256),
)


def assert_round_trip(structure, *, size: int) -> None:
    """build -> parse gives the same fields (the checksum recomputed) and the same bytes."""
    data = structure.to_bytes()
    assert len(data) == size
    parsed = type(structure).parse(data)
    assert parsed.replace(checksum=0) == structure.replace(checksum=0)
    assert parsed.to_bytes() == data
