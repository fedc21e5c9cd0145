"""Damaged and hostile qcow2 images: each is one line naming the file and what is wrong, found at
open or while the extents are enumerated (before anything is sent), within bounded time and memory."""

from __future__ import annotations

import struct
import time
import zlib

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from vhdupload import open_disk
from vhdupload.errors import CorruptVhdError, OtherFormatError, ParentChainError, VhdUploadError
from vhdupload.qcow2 import compressed

from .conftest import MIB, make_qcow2, qemu_img

CLUSTER = 4096


def _image(tmp_path, *, options: str = "cluster_size=4k", name: str = "h.qcow2"):
    return make_qcow2(tmp_path / name, "4M", "write -P 0x11 0 64k", "write -P 0x22 2M 8k", options=options)


def _layout(path) -> tuple[int, list[int]]:
    """(L1 offset, L2 table offsets) of an image."""
    data = path.read_bytes()
    l1_size, l1_offset = struct.unpack_from(">IQ", data, 36)
    l1 = struct.unpack_from(f">{l1_size}Q", data, l1_offset)
    return l1_offset, [e & 0x00FF_FFFF_FFFF_FE00 for e in l1 if e]


def _poke(path, offset: int, value: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(value)


def _read_everything(path) -> None:
    with open_disk(path) as disk:
        for a, b in list(disk.extents()):
            disk.read(a, min(b - a, MIB))


def _refused(path, error=CorruptVhdError, *needles: str) -> str:
    started = time.monotonic()
    with pytest.raises(error) as caught:
        _read_everything(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path)), message
    for needle in needles:
        assert needle in message, message
    assert time.monotonic() - started < 10
    return message


def test_truncated_l2_table(tmp_path):
    image = _image(tmp_path)
    _, l2 = _layout(image)
    with open(image, "r+b") as f:
        f.truncate(max(l2) + 100)
    _refused(image, CorruptVhdError, "L2 table", "beyond the end of the file", "truncated")


def test_l1_table_beyond_the_file(tmp_path):
    image = _image(tmp_path)
    _poke(image, 40, struct.pack(">Q", 1 << 40))
    _refused(image, CorruptVhdError, "L1 table", "beyond the end of the file")


def test_huge_l1_size(tmp_path):
    image = _image(tmp_path)
    _poke(image, 36, struct.pack(">I", 0xFFFF_FFFF))
    _refused(image, CorruptVhdError, "larger than qemu's 32 MiB bound")


def test_l1_too_small_for_the_size(tmp_path):
    image = _image(tmp_path)
    _poke(image, 24, struct.pack(">Q", 1 << 50))
    _refused(image, CorruptVhdError, "fewer than the")


@pytest.mark.parametrize("bits", [8, 22, 63])
def test_cluster_bits_out_of_range(tmp_path, bits):
    image = _image(tmp_path)
    _poke(image, 20, struct.pack(">I", bits))
    _refused(image, CorruptVhdError, f"cluster_bits is {bits}")


def test_data_cluster_beyond_the_file(tmp_path):
    image = _image(tmp_path)
    _, l2 = _layout(image)
    _poke(image, l2[0], struct.pack(">Q", (1 << 63) | (1 << 40)))
    _refused(image, CorruptVhdError, "guest offset 0", "beyond the end of the file")


def test_misaligned_data_cluster(tmp_path):
    image = _image(tmp_path)
    _, l2 = _layout(image)
    _poke(image, l2[0], struct.pack(">Q", (1 << 63) | CLUSTER + 512))
    _refused(image, CorruptVhdError, "not a cluster boundary")


def test_l2_table_shared_by_two_l1_entries(tmp_path):
    image = make_qcow2(tmp_path / "h.qcow2", "64M", "write -P 0x11 0 64k", "write -P 0x22 40M 64k",
                       options="cluster_size=4k")
    l1_offset, l2 = _layout(image)
    assert len(l2) == 2
    entry = (1 << 63) | l2[0]
    _poke(image, l1_offset, struct.pack(">Q", entry) * 16)  # every entry at one table: an amplifier
    _refused(image, CorruptVhdError, "an L2 table another entry already uses")


def test_l2_table_on_the_header(tmp_path):
    image = _image(tmp_path)
    l1_offset, _ = _layout(image)
    _poke(image, l1_offset, struct.pack(">Q", 1 << 63))  # offset 0 | copied: "no table"
    _read_everything(image)  # unallocated, fine
    _poke(image, l1_offset, struct.pack(">Q", l1_offset))  # the L1 table as its own L2 table
    _refused(image, CorruptVhdError, "overlaps the header or the L1 table")


def test_data_cluster_shared_by_two_guest_clusters(tmp_path):
    # every entry at one cluster: a small file claiming a whole disk of data
    image = _image(tmp_path)
    _, l2 = _layout(image)
    (first,) = struct.unpack_from(">Q", image.read_bytes(), l2[0])
    _poke(image, l2[0], struct.pack(">Q", first) * (CLUSTER // 8))
    _refused(image, CorruptVhdError, "guest offset 4096", "another guest cluster or the image's own tables")


def test_data_cluster_on_an_l2_table(tmp_path):
    image = _image(tmp_path)
    _, l2 = _layout(image)
    _poke(image, l2[0], struct.pack(">Q", (1 << 63) | l2[0]))  # guest cluster 0 is its own L2 table
    _refused(image, CorruptVhdError, "guest offset 0", "already use")


def _compressed_image(tmp_path):
    raw = tmp_path / "src.raw"
    raw.write_bytes(b"compressible " * 2000)
    image = tmp_path / "c.qcow2"
    qemu_img("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4k", raw, image)
    _, l2 = _layout(image)
    (entry,) = struct.unpack_from(">Q", image.read_bytes(), l2[0])
    assert entry & (1 << 62)
    return image, l2[0], entry


def test_compressed_cluster_that_does_not_inflate(tmp_path):
    image, _, entry = _compressed_image(tmp_path)
    x = 62 - (12 - 8)
    _poke(image, entry & ((1 << x) - 1), b"\xff" * 64)
    _refused(image, CorruptVhdError, "compressed cluster", "does not decompress")


def test_compressed_cluster_that_inflates_short(tmp_path):
    image, l2_offset, entry = _compressed_image(tmp_path)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -12)
    short = deflate.compress(b"x" * 100) + deflate.flush()
    x = 62 - (12 - 8)
    _poke(image, entry & ((1 << x) - 1), short)
    _refused(image, CorruptVhdError, "decompresses to 100 bytes, not the cluster's 4096")


def test_compressed_cluster_beyond_the_file(tmp_path):
    image, l2_offset, entry = _compressed_image(tmp_path)
    _poke(image, l2_offset, struct.pack(">Q", (1 << 62) | (1 << 50)))
    _refused(image, CorruptVhdError, "compressed cluster", "outside the file")


def test_zstd_image_without_the_module_is_one_line(tmp_path, monkeypatch):
    raw = tmp_path / "src.raw"
    raw.write_bytes(b"z" * 100000)
    image = tmp_path / "z.qcow2"
    qemu_img("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "compression_type=zstd", raw, image)
    monkeypatch.setattr(compressed, "_zstd", None)
    _refused(image, OtherFormatError, "zstd-compressed and the zstd module is missing: `pip install backports.zstd`")


def test_corrupt_bit_is_refused_and_dirty_bit_is_a_note(tmp_path):
    image = _image(tmp_path, options="cluster_size=4k,compat=1.1,lazy_refcounts=on")
    _poke(image, 72, struct.pack(">Q", 1))  # dirty
    with open_disk(image) as disk:
        assert any("dirty" in note and "qemu-img check -r all" in note for note in disk.notes)
        assert disk.read(0, 4) == b"\x11" * 4
    _poke(image, 72, struct.pack(">Q", 2))  # corrupt
    _refused(image, CorruptVhdError, "marked corrupt", "qemu-img check -r all")


def test_unknown_incompatible_feature_is_refused(tmp_path):
    image = _image(tmp_path)
    _poke(image, 72, struct.pack(">Q", 1 << 40))
    _refused(image, OtherFormatError, "incompatible features this reader does not know")


def test_header_extension_running_past_its_space(tmp_path):
    image = _image(tmp_path)
    header_length = struct.unpack_from(">I", image.read_bytes(), 100)[0]
    _poke(image, header_length, struct.pack(">II", 0x12345678, 1 << 30))
    _refused(image, CorruptVhdError, "header extension")


def test_protocol_backing_name_is_refused(tmp_path):
    base = make_qcow2(tmp_path / "base.qcow2", "4M")
    top = make_qcow2(tmp_path / "top.qcow2", "4M", backing=base)
    qemu_img("rebase", "-u", "-b", "nbd://127.0.0.1:1/x", "-F", "raw", top)
    _refused(top, ParentChainError, "is a protocol name, not a file")


def test_version_1_is_refused(tmp_path):
    image = _image(tmp_path)
    _poke(image, 4, struct.pack(">I", 1))
    _refused(image, OtherFormatError, "qcow2 version 1")


def _metadata_spans(path) -> list[tuple[int, int]]:
    l1_offset, l2 = _layout(path)
    return [(0, 512), (l1_offset, l1_offset + 64)] + [(o, o + 256) for o in l2]


_PRISTINE: dict[str, bytes] = {}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), options=st.sampled_from(["cluster_size=4k", "cluster_size=4k,compat=0.10",
                                                "extended_l2=on,cluster_size=16k"]))
def test_fuzzed_metadata_reads_or_is_refused_in_one_line(tmp_path_factory, data, options):
    if options not in _PRISTINE:  # qemu makes each kind of image once; examples mutate copies
        _PRISTINE[options] = _image(tmp_path_factory.mktemp("pristine"), options=options).read_bytes()
    image = tmp_path_factory.mktemp("fuzz") / "h.qcow2"
    image.write_bytes(_PRISTINE[options])
    spans = _metadata_spans(image)
    for _ in range(data.draw(st.integers(1, 6))):
        a, b = data.draw(st.sampled_from(spans))
        offset = data.draw(st.integers(a, b - 1))
        _poke(image, offset, bytes([data.draw(st.integers(0, 255))]))
    started = time.monotonic()
    try:
        with open_disk(image) as disk:
            for a, b in list(disk.extents())[:32]:
                disk.read(a, min(b - a, MIB))
    except VhdUploadError as exc:
        assert "\n" not in str(exc) and str(image) in str(exc)
    assert time.monotonic() - started < 10
    image.unlink()
