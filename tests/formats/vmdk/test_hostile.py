"""Hostile VMDKs: every damage is one line from the FormatError/InputError tree, fast, bounded."""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vhdupload import open_disk
from vhdupload.errors import CorruptVhdError, FormatError, InputError, VhdUploadError

from .stream_writer import GD_AT_END, header, stream_vmdk

MIB = 1024 * 1024
DISK = bytes(range(256)) * 4096 + bytes(3 * MIB) + b"tail" * 1000  # 4 MiB-ish, data at both ends


def _read_all(path) -> None:
    with open_disk(path) as disk:
        for a, b in disk.extents():
            for pos in range(a, b, MIB):
                disk.read(pos, min(MIB, b - pos))


def _headed(tmp_path, **fields) -> object:
    path = tmp_path / "bad.vmdk"
    path.write_bytes(header(**fields) + bytes(4096))
    return path


def test_a_huge_grain_directory_is_refused_without_reading_it(tmp_path):
    # 2^40 sectors at 1-sector grains and 1 entry per table: far past qemu's 32 Mi directory entries
    path = _headed(tmp_path, capacity=1 << 40, gd_offset=1, descriptor_sectors=0, grain=1, gtes=1)
    with pytest.raises(CorruptVhdError, match="grain directory would have"):
        open_disk(path)


def test_a_grain_directory_past_the_end_is_refused(tmp_path):
    path = _headed(tmp_path, capacity=1 << 30, gd_offset=10, descriptor_sectors=0)
    with pytest.raises(CorruptVhdError, match="past the end"):
        open_disk(path)


@pytest.mark.parametrize("grain, match", [(3, "power of two"), (1 << 20, "power of two up to"), (0, "grain")])
def test_absurd_grains_are_refused(tmp_path, grain, match):
    with pytest.raises(CorruptVhdError, match=match):
        open_disk(_headed(tmp_path, capacity=1024, gd_offset=1, descriptor_sectors=0, grain=grain))


def test_an_absurd_embedded_descriptor_size_is_refused(tmp_path):
    path = tmp_path / "bad.vmdk"
    raw = bytearray(header(capacity=1024, gd_offset=1, descriptor_sectors=1 << 40))
    path.write_bytes(bytes(raw) + bytes(4096))
    with pytest.raises(CorruptVhdError, match="descriptor"):
        open_disk(path)


def test_a_separate_descriptor_of_absurd_size_is_refused(tmp_path):
    path = tmp_path / "bad.vmdk"
    with open(path, "wb") as f:
        f.write(b"# Disk DescriptorFile\n")
        f.truncate(2 * MIB)
    with pytest.raises(CorruptVhdError, match="descriptor"):
        open_disk(path)


def test_grain_tables_past_the_end_are_refused(tmp_path):
    image = bytearray(stream_vmdk(DISK))
    footer_at = len(image) - 1024
    gd_offset = struct.unpack_from("<Q", image, footer_at + 56)[0]
    struct.pack_into("<I", image, gd_offset * 512, 0x7FFFFFFF)  # the first table far past the end
    path = tmp_path / "bad.vmdk"
    path.write_bytes(bytes(image))
    with pytest.raises(CorruptVhdError, match="past the end"):
        open_disk(path)


def test_a_grain_that_inflates_past_its_size_is_refused(tmp_path):
    import zlib

    image = bytearray(stream_vmdk(DISK))
    first = 128 * 512  # the first grain's marker
    bomb = zlib.compress(bytes(4 * 65536))
    struct.pack_into("<QI", image, first, 0, len(bomb))
    image[first + 12:first + 12 + len(bomb)] = bomb
    path = tmp_path / "bad.vmdk"
    path.write_bytes(bytes(image))
    with open_disk(path) as disk, pytest.raises(CorruptVhdError, match="inflates past"):
        disk.read(0, 512)


def test_a_grain_marker_for_another_grain_is_refused(tmp_path):
    image = bytearray(stream_vmdk(DISK))
    struct.pack_into("<Q", image, 128 * 512, 999)  # the first grain claims to be grain 999's
    path = tmp_path / "bad.vmdk"
    path.write_bytes(bytes(image))
    with open_disk(path) as disk, pytest.raises(CorruptVhdError, match="tables and grains disagree"):
        disk.read(0, 512)


def test_a_stream_cut_short_is_refused(tmp_path):
    image = stream_vmdk(DISK)
    path = tmp_path / "bad.vmdk"
    path.write_bytes(image[:len(image) // 2] + bytes(1024))  # no footer any more
    with pytest.raises(FormatError):
        _read_all(path)
    assert header(capacity=1, gd_offset=GD_AT_END, descriptor_sectors=0)[:4] == b"KDMV"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_metadata_fails_cleanly(tmp_path, data):
    """Any mutation of the header, descriptor, tables or footer: either it reads, or one error of the tree."""
    image = bytearray(stream_vmdk(DISK))
    metadata = list(range(0, 1024)) + list(range(len(image) - 6 * 1024, len(image)))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.sampled_from(metadata))
        image[at] = data.draw(st.integers(0, 255))
    path = tmp_path / "fuzz.vmdk"
    path.write_bytes(bytes(image))
    started = time.monotonic()
    try:
        _read_all(path)
    except (VhdUploadError,) as exc:
        assert isinstance(exc, (FormatError, InputError)), repr(exc)
        assert "\n" not in str(exc)
    assert time.monotonic() - started < 10


def test_a_directory_of_millions_of_empty_entries_enumerates_at_once(tmp_path):
    # 8 Mi directory entries (32 MiB of zeros, a sparse file) mapping 2 MiB grains: 8 PiB of nothing
    path = tmp_path / "vast.vmdk"
    entries = 8 * 1024 * 1024
    with open(path, "wb") as f:
        f.write(header(capacity=entries * 512 * 4096, gd_offset=1, descriptor_sectors=0, grain=4096))
        f.truncate(512 + entries * 4)
    started = time.monotonic()
    with open_disk(path) as disk:
        assert list(disk.extents()) == []
        assert disk.read(disk.virtual_size - 512, 512) == bytes(512)
    assert time.monotonic() - started < 10


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list('RWDONLYFATSPEZV "0123456789\n./²-_=#cdet')), max_size=120))
def test_fuzzed_descriptor_text_fails_cleanly(tmp_path, text):
    (tmp_path / "x-flat.vmdk").write_bytes(b"\x01" * 4096)
    path = tmp_path / "fuzz.vmdk"
    path.write_text('# Disk DescriptorFile\nversion=1\nRW 8 FLAT "x-flat.vmdk" 0\n' + text, encoding="utf-8")
    try:
        _read_all(path)
    except VhdUploadError as exc:
        assert isinstance(exc, (FormatError, InputError)), repr(exc)
        assert "\n" not in str(exc)
