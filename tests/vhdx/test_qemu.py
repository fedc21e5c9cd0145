"""VHDX made by qemu-img, read back equal to qemu-img's own raw conversion."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from vhdupload import convert_image, open_disk
from vhdupload.vhdx import VhdxDisk

from .conftest import assert_same_as_raw, qemu_img, to_raw, write_runs

MIB = 1024 * 1024
GIB = 1024 * MIB
TIB = 1024 * GIB

RUNS = [(0, 70000), (3 * MIB - 100, 5000), (17 * MIB + 512, 2 * MIB), (40 * MIB, 1), (63 * MIB, MIB)]


@pytest.fixture(scope="module")
def source_raw(tmp_path_factory):
    path = tmp_path_factory.mktemp("qemu") / "source.raw"
    write_runs(path, 64 * MIB + 4096 * 3, RUNS)  # not a whole MiB: the VHDX keeps the odd size
    return path


@pytest.mark.parametrize("subformat", ["dynamic", "fixed"])
@pytest.mark.parametrize("block_size", ["1M", "32M"])
def test_converted_vhdx_reads_as_qemu_reads_it(tmp_path, source_raw, subformat, block_size):
    image = tmp_path / "disk.vhdx"
    qemu_img("convert", "-f", "raw", "-O", "vhdx", "-o", f"subformat={subformat},block_size={block_size}",
             source_raw, image)
    truth = to_raw(image, tmp_path / "truth.raw")
    with open_disk(image) as disk:
        assert isinstance(disk, VhdxDisk)
        assert disk.disk_type == subformat
        assert disk.block_size == (MIB if block_size == "1M" else 32 * MIB)
        assert (disk.logical_sector_size, disk.log_state) == (512, "no log")
        assert assert_same_as_raw(disk, truth) > 0
        assert assert_same_as_raw(disk, source_raw) > 0
        # only the blocks that hold data are extents (a fixed VHDX's holes are skipped too)
        assert disk.allocated_bytes() <= 8 * MIB + 2 * 32 * MIB


def test_empty_vhdx_from_qemu_create(tmp_path):
    image = tmp_path / "empty.vhdx"
    qemu_img("create", "-f", "vhdx", image, "3G")
    with open_disk(image) as disk:
        assert disk.virtual_size == 3 * GIB and list(disk.extents()) == []
        assert disk.read(GIB - 10, 20) == bytes(20)


@pytest.mark.skipif(shutil.which("mkfs.ext4") is None, reason="needs e2fsprogs (mkfs.ext4)")
def test_ext4_file_system(tmp_path):
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "hostname").write_text("vhdx-test\n")
    (tree / "blob.bin").write_bytes(os.urandom(3 * MIB + 123))
    raw = tmp_path / "fs.raw"
    with open(raw, "wb") as f:
        f.truncate(96 * MIB)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0", "-d", str(tree), str(raw)], check=True)
    image = tmp_path / "fs.vhdx"
    qemu_img("convert", "-f", "raw", "-O", "vhdx", raw, image)
    truth = to_raw(image, tmp_path / "truth.raw")
    with open_disk(image) as disk:
        assert assert_same_as_raw(disk, truth) >= 3 * MIB
        assert disk.read(1024 + 56, 2) == b"\x53\xef"  # the ext4 superblock magic


def test_large_sparse_vhdx_with_little_data(tmp_path):
    raw = tmp_path / "big.raw"
    runs = [(0, 4096), (TIB // 2 + 12345, 100000), (TIB - MIB, MIB)]
    write_runs(raw, TIB, runs)
    image = tmp_path / "big.vhdx"
    qemu_img("convert", "-f", "raw", "-O", "vhdx", "-S", "4k", raw, image)
    assert os.stat(image).st_blocks * 512 < 512 * MIB
    with open_disk(image) as disk:
        assert disk.virtual_size == TIB
        assert disk.allocated_bytes() <= 3 * 32 * MIB
        assert assert_same_as_raw(disk, raw) >= 100000


def test_convert_of_vhdx_equals_qemu_raw(tmp_path, source_raw):
    image = tmp_path / "disk.vhdx"
    qemu_img("convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=1M", source_raw, image)
    out = tmp_path / "fixed.vhd"
    result = convert_image(image, out)
    assert result.source_type == "dynamic" and result.virtual_size % MIB == 0
    truth = to_raw(image, tmp_path / "truth.raw").read_bytes()
    data = out.read_bytes()
    assert data[: len(truth)] == truth
    assert data[len(truth):result.virtual_size] == bytes(result.virtual_size - len(truth))
    assert data[result.virtual_size:result.virtual_size + 8] == b"conectix" and len(data) == result.virtual_size + 512
    # qemu agrees the output is a fixed VHD holding the same disk
    back = to_raw(out, tmp_path / "back.raw", fmt="vpc").read_bytes()
    assert back[: len(truth)] == truth


def test_libvhdi_reads_the_same(tmp_path, source_raw):
    pyvhdi = pytest.importorskip("pyvhdi")
    image = tmp_path / "disk.vhdx"
    qemu_img("convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=1M", source_raw, image)
    handle = pyvhdi.file()
    handle.open(str(image))
    try:
        theirs = handle.read_buffer_at_offset(handle.get_media_size(), 0)
    finally:
        handle.close()
    with open_disk(image) as disk:
        assert disk.read(0, disk.virtual_size) == theirs
