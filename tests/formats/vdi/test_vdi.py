"""VDI images made by qemu-img (dynamic and static) read byte for byte as ``qemu-img convert -O raw``
reads them; zero blocks and differencing images (which qemu does not write: made here the way
VirtualBox lays them out) read as VirtualBox reads them; damage is one line naming the file."""

from __future__ import annotations

import shutil
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from vhdupload import open_disk
from vhdupload.errors import CorruptVhdError, OtherFormatError, ParentChainError, VhdUploadError
from vhdupload.vdi import VdiDisk

from tests.formats.qcow2.conftest import MIB, assert_same_as_raw, qemu_img, qemu_io, to_raw

WRITES = ("write -P 0x11 0 4k", "write -P 0x22 1000k 100k", "write -z 3M 64k", "write -P 0x33 5M 1M",
          "write -P 0x44 8388096 512")


def make_vdi(path, size: str, *commands: str, static: bool = False):
    qemu_img("create", "-q", "-f", "vdi", "-o", f"static={'on' if static else 'off'}", path, size)
    if commands:
        qemu_io(path, *commands, fmt="vdi")
    return path


def _check(tmp_path, image) -> VdiDisk:
    truth = to_raw(image, tmp_path / "truth.raw", fmt="vdi")
    with open_disk(image) as disk:
        assert isinstance(disk, VdiDisk)
        assert_same_as_raw(disk, truth)
    return disk


def _header(path) -> dict[str, int]:
    data = path.read_bytes()
    offset_bmap, offset_data = struct.unpack_from("<II", data, 340)
    blocks = struct.unpack_from("<I", data, 384)[0]
    return {"bmap": offset_bmap, "data": offset_data, "blocks": blocks}


def _poke(path, offset: int, value: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(value)


@pytest.mark.parametrize("static", [False, True])
def test_qemu_images_read_as_qemu_reads_them(tmp_path, static):
    disk = _check(tmp_path, make_vdi(tmp_path / "d.vdi", "8M", *WRITES, static=static))
    assert disk.disk_type == ("fixed" if static else "dynamic")


def test_static_image_on_a_sparse_file_reads_only_its_data(tmp_path):
    image = make_vdi(tmp_path / "s.vdi", "64M", "write -P 0x11 1M 64k", static=True)
    with open_disk(image) as disk:
        assert disk.allocated_bytes() <= 1 * MIB  # the file's holes are not data


def test_sparse_256_gib_image_enumerates_quickly(tmp_path):
    image = make_vdi(tmp_path / "big.vdi", "256G", "write -P 0x11 1G 32M", "write -P 0x22 200G 32M")
    started = time.monotonic()
    with open_disk(image) as disk:
        assert list(disk.extents()) == [(1 << 30, (1 << 30) + 32 * MIB), (200 << 30, (200 << 30) + 32 * MIB)]
        assert disk.read(200 << 30, 2) == b"\x22\x22"
    assert time.monotonic() - started < 5


def test_zero_block_reads_zeros(tmp_path):
    image = make_vdi(tmp_path / "z.vdi", "4M", "write -P 0x11 0 4M")
    h = _header(image)
    _poke(image, h["bmap"] + 4, struct.pack("<I", 0xFFFFFFFE))  # block 1: discarded, reads zeros
    with open_disk(image) as disk:
        assert list(disk.extents()) == [(0, MIB), (2 * MIB, 4 * MIB)]
        assert disk.read(MIB - 2, 4) == b"\x11\x11\x00\x00"


def _differencing(tmp_path, *, parent_dir=None):
    """A parent with data everywhere and a child (VirtualBox's layout: type 4, uuid_link = the
    parent's UUID) holding block 1 of its own, block 2 zero and the rest the parent's."""
    parent_dir = parent_dir or tmp_path
    parent = make_vdi(parent_dir / "base.vdi", "4M", "write -P 0x11 0 4M")
    (tmp_path / "Snapshots").mkdir(exist_ok=True)
    child = make_vdi(tmp_path / "Snapshots" / "{child}.vdi", "4M", "write -P 0x22 1M 1M")
    parent_uuid = parent.read_bytes()[392:408]
    h = _header(child)
    _poke(child, 76, struct.pack("<I", 4))
    _poke(child, 392 + 32, parent_uuid)
    _poke(child, h["bmap"] + 8, struct.pack("<I", 0xFFFFFFFE))
    return parent, child


def test_differencing_image_over_its_parent(tmp_path):
    parent, child = _differencing(tmp_path)  # the parent one directory up, as VirtualBox keeps it
    with open_disk(child) as disk:
        assert disk.disk_type == "differencing" and disk.parents == [parent]
        assert disk.read(0, 4 * MIB) == b"\x11" * MIB + b"\x22" * MIB + bytes(MIB) + b"\x11" * MIB
        assert list(disk.extents()) == [(0, 2 * MIB), (3 * MIB, 4 * MIB)]


def test_differencing_image_without_its_parent_is_refused(tmp_path):
    parent, child = _differencing(tmp_path)
    parent.rename(tmp_path / "base.vdi.moved")
    with pytest.raises(ParentChainError, match=r"differencing VDI whose parent \(UUID .*\) is not here: put the "
                                               r"parent .vdi in .*Snapshots or the directory above it"):
        open_disk(child)


def test_parent_with_another_uuid_is_not_taken(tmp_path):
    parent, child = _differencing(tmp_path)
    _poke(parent, 392, bytes(range(16)))
    with pytest.raises(ParentChainError, match="is not here"):
        open_disk(child)


def test_differencing_loop_is_refused(tmp_path):
    a = make_vdi(tmp_path / "a.vdi", "4M")
    b = make_vdi(tmp_path / "b.vdi", "4M")
    for child, parent in ((a, b), (b, a)):
        _poke(child, 76, struct.pack("<I", 4))
        _poke(child, 424, parent.read_bytes()[392:408])
    with pytest.raises(ParentChainError, match="loop"):
        open_disk(a)


def _refused(path, error, *needles: str) -> None:
    with pytest.raises(error) as caught:
        with open_disk(path) as disk:
            for a, b in list(disk.extents()):
                disk.read(a, min(b - a, MIB))
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path)), message
    for needle in needles:
        assert needle in message, message


def test_block_map_beyond_the_file(tmp_path):
    image = make_vdi(tmp_path / "d.vdi", "4M", "write -P 0x11 0 4k")
    _poke(image, 340, struct.pack("<I", 1 << 30))
    _refused(image, CorruptVhdError, "block map", "beyond the end of the file")


def test_block_pointing_past_the_image(tmp_path):
    image = make_vdi(tmp_path / "d.vdi", "4M", "write -P 0x11 0 4k")
    _poke(image, _header(image)["bmap"], struct.pack("<I", 1000))
    _refused(image, CorruptVhdError, "entry 0 points at data block 1000")


def test_two_blocks_sharing_their_data(tmp_path):
    image = make_vdi(tmp_path / "d.vdi", "4M", "write -P 0x11 0 4k")
    _poke(image, _header(image)["bmap"], struct.pack("<I", 0) * 4)
    _refused(image, CorruptVhdError, "entry 1 points at data block 0, which another entry uses")


def test_truncated_data_block(tmp_path):
    image = make_vdi(tmp_path / "d.vdi", "4M", "write -P 0x11 0 4k", "write -P 0x22 3M 4k")
    with open(image, "r+b") as f:
        f.truncate(_header(image)["data"] + MIB - 10)  # the second block's data is gone
    _refused(image, CorruptVhdError, "VDI block 3 lies at offset", "truncated")


@pytest.mark.parametrize("offset, value, needle", [
    (376, 3000, "block size 3000"), (360, 4096, "sector size is 4096"), (384, 1 << 30, "exceeds the"),
    (384, 1, "fewer than its size"),
])
def test_bad_header_fields(tmp_path, offset, value, needle):
    image = make_vdi(tmp_path / "d.vdi", "4M")
    _poke(image, offset, struct.pack("<I", value))
    _refused(image, CorruptVhdError, needle)


def test_old_version_and_undo_image_are_refused(tmp_path):
    image = make_vdi(tmp_path / "d.vdi", "4M")
    _poke(image, 76, struct.pack("<I", 3))
    _refused(image, OtherFormatError, "undo image")
    _poke(image, 68, struct.pack("<I", 0x00000001))
    _refused(image, OtherFormatError, "VDI version 0.1")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=st.lists(st.tuples(st.integers(0, 4 * MIB - 1), st.integers(1, 1_500_000), st.integers(1, 255)),
                       min_size=1, max_size=6),
       static=st.booleans())
def test_random_writes_read_as_qemu_reads_them(tmp_path_factory, writes, static):
    tmp = tmp_path_factory.mktemp("fuzz")
    commands = [f"write -P {p} {o} {min(n, 4 * MIB - o)}" for o, n, p in writes]
    _check(tmp, make_vdi(tmp / "d.vdi", "4M", *commands, static=static))
    shutil.rmtree(tmp)


_PRISTINE: list[bytes] = []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pokes=st.lists(st.tuples(st.integers(64, 0x1C0 + 16), st.integers(0, 255)), min_size=1, max_size=6))
def test_fuzzed_header_and_map_read_or_are_refused_in_one_line(tmp_path_factory, pokes):
    if not _PRISTINE:
        _PRISTINE.append(make_vdi(tmp_path_factory.mktemp("p") / "p.vdi", "4M", "write -P 1 0 64k",
                                  "write -P 2 3M 4k").read_bytes())
    image = tmp_path_factory.mktemp("fuzz") / "f.vdi"
    image.write_bytes(_PRISTINE[0])
    for offset, value in pokes:
        _poke(image, offset if offset <= 0x1C0 else 0x200 + offset - 0x1C0, bytes([value]))
    started = time.monotonic()
    try:
        with open_disk(image) as disk:
            for a, b in list(disk.extents())[:32]:
                disk.read(a, min(b - a, MIB))
    except VhdUploadError as exc:
        assert "\n" not in str(exc) and str(image) in str(exc)
    assert time.monotonic() - started < 10


def test_extra_data_before_each_block(tmp_path):
    # VirtualBox's layout allows bytes of its own before each block (qemu writes none): the same
    # blocks laid out with 512 bytes of such data each read the same.
    image = make_vdi(tmp_path / "d.vdi", "4M", "write -P 0x11 0 1M", "write -P 0x22 2M 1M")
    with open_disk(image) as disk:
        expected = disk.read(0, 4 * MIB)
    h = _header(image)
    data = image.read_bytes()
    blocks = [data[h["data"] + n * MIB:h["data"] + (n + 1) * MIB] for n in range(2)]
    with open(image, "r+b") as f:
        f.truncate(h["data"])
        f.seek(h["data"])
        for block in blocks:
            f.write(b"\xee" * 512 + block)
    _poke(image, 380, struct.pack("<I", 512))
    with open_disk(image) as disk:
        assert disk.read(0, 4 * MIB) == expected
