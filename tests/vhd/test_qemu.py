"""Against a producer nobody here wrote: qemu-img makes the images, and expands them to raw
as the ground truth; qemu-img also judges what ``convert`` writes."""

from __future__ import annotations

import os

import pytest

from vhdupload import convert_image, open_disk
from vhdupload.azure_rules import MIB, azure_readiness, round_up_to_mib

from .qemu import needs_qemu, qemu_img, qemu_info_size, qemu_io_write

pytestmark = needs_qemu

WRITES = [(0xAB, 0, 4096), (0x11, 3 * MIB + 512, 3 * MIB), (0x5C, 17 * MIB, 512), (0xEE, 31 * MIB, 4096)]


def _make(tmp_path, name: str, options: str, size: str) -> "os.PathLike":
    path = tmp_path / name
    qemu_img("create", "-q", "-f", "vpc", "-o", options, str(path), size)
    qemu_io_write(path, "vpc", WRITES)
    return path


def _flat(tmp_path, path) -> bytes:
    raw = tmp_path / (path.name + ".raw")
    qemu_img("convert", "-f", "vpc", "-O", "raw", str(path), str(raw))
    return raw.read_bytes()


def _read_all(disk) -> bytes:
    return b"".join(disk.read(o, min(4 * MIB, disk.virtual_size - o)) for o in range(0, disk.virtual_size, 4 * MIB))


@pytest.mark.parametrize(
    "name, options, size, disk_type",
    [
        ("fixed.vhd", "subformat=fixed", "32M", "fixed"),  # CHS-rounded by qemu: not 32 MiB
        ("fixed_forced.vhd", "subformat=fixed,force_size", "32M", "fixed"),
        ("dynamic.vhd", "subformat=dynamic", "40M", "dynamic"),
        ("dynamic_forced.vhd", "subformat=dynamic,force_size", "33M", "dynamic"),
        ("dynamic_odd.vhd", "subformat=dynamic,force_size", "33554944", "dynamic"),  # 32 MiB + 512
    ],
)
def test_reads_equal_qemu_img_convert(tmp_path, name, options, size, disk_type):
    path = _make(tmp_path, name, options, size)
    expected = _flat(tmp_path, path)
    with open_disk(path) as disk:
        assert disk.disk_type == disk_type
        assert disk.virtual_size == len(expected) == qemu_info_size(path)
        assert _read_all(disk) == expected
        # every nonzero byte lies inside an extent, and odd-sized reads agree too
        covered = bytearray(len(expected))
        for start, stop in disk.extents():
            covered[start:stop] = expected[start:stop]
        assert bytes(covered) == expected
        assert disk.read(3 * MIB + 100, 5000) == expected[3 * MIB + 100:3 * MIB + 5100]
        assert disk.allocated_bytes() < disk.virtual_size


def test_chs_rounded_image_is_not_ready_but_force_size_is(tmp_path):
    rounded = _make(tmp_path, "r.vhd", "subformat=fixed", "32M")
    forced = _make(tmp_path, "f.vhd", "subformat=fixed,force_size", "32M")
    with open_disk(rounded) as disk:
        readiness = azure_readiness(disk)
        assert disk.virtual_size != 32 * MIB and not readiness.ready
        assert any("whole number of MiB" in p for p in readiness.problems)
    with open_disk(forced) as disk:
        assert disk.virtual_size == 32 * MIB and azure_readiness(disk).ready


@pytest.mark.parametrize("options, size", [("subformat=dynamic", "40M"), ("subformat=fixed", "32M"),
                                            ("subformat=dynamic,force_size", "33554944")])
def test_convert_output_is_read_by_qemu_at_its_size_and_equal(tmp_path, options, size):
    src = _make(tmp_path, "src.vhd", options, size)
    dst = tmp_path / "out.vhd"
    result = convert_image(src, dst)
    with open_disk(src) as disk:
        source_size, source_uuid = disk.virtual_size, disk.footer.uuid
    assert result.virtual_size == round_up_to_mib(source_size) == qemu_info_size(dst)
    assert result.uuid == str(source_uuid)  # the disk keeps its identity
    assert os.path.getsize(dst) == result.virtual_size + 512
    # qemu-img compare treats the larger image's tail as must-be-zero: exactly our padding
    qemu_img("compare", "-f", "vpc", "-F", "vpc", str(src), str(dst))
    with open_disk(dst) as out:
        assert azure_readiness(out).ready


def test_convert_raw_is_sparse_and_equal(tmp_path):
    raw = tmp_path / "disk.raw"
    with open(raw, "wb") as f:
        f.truncate(50 * MIB + 1000)  # not even a whole sector
        f.seek(MIB)
        f.write(b"\x42" * 8192)
        f.seek(50 * MIB + 1)
        f.write(b"end")
    dst = tmp_path / "disk.vhd"
    result = convert_image(raw, dst, raw=True)  # no partition table at its start: said to be raw
    assert result.source_type == "raw" and result.virtual_size == 51 * MIB == qemu_info_size(dst)
    qemu_img("compare", "-f", "raw", "-F", "vpc", str(raw), str(dst))
    assert os.stat(dst).st_blocks * 512 < 4 * MIB  # holes stayed holes
