"""VMDKs of every subformat made by qemu-img, read back byte for byte as qemu-img reads them."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from vhdupload import convert_image, open_disk
from vhdupload.errors import FormatError, InputError, OtherFormatError, ParentChainError
from vhdupload.vmdk import VmdkDisk
from tests.vhdx.conftest import assert_same_as_raw, qemu_img, to_raw, write_runs

from .stream_writer import stream_vmdk

MIB = 1024 * 1024
GIB = 1024 * MIB
RUNS = [(0, 70000), (3 * MIB - 100, 5000), (17 * MIB + 512, 2 * MIB), (40 * MIB, 1), (63 * MIB, MIB)]
SUBFORMATS = ["monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat", "streamOptimized"]


def qemu_io(image, *commands) -> None:
    args = [a for c in commands for a in ("-c", c)]
    subprocess.run(["qemu-io", "-f", "vmdk", *args, str(image)], check=True, capture_output=True)


@pytest.fixture(scope="module")
def source_raw(tmp_path_factory):
    path = tmp_path_factory.mktemp("vmdk") / "source.raw"
    write_runs(path, 64 * MIB + 4096 * 3, RUNS)  # not a whole MiB, nor a whole grain table
    return path


@pytest.mark.parametrize("subformat", SUBFORMATS)
def test_each_subformat_reads_as_qemu_reads_it(tmp_path, source_raw, subformat):
    image = tmp_path / "disk.vmdk"
    qemu_img("convert", "-f", "raw", "-O", "vmdk", "-o", f"subformat={subformat},adapter_type=lsilogic",
             source_raw, image)
    truth = to_raw(image, tmp_path / "truth.raw", fmt="vmdk")
    with open_disk(image) as disk:
        assert isinstance(disk, VmdkDisk)
        assert disk.create_type == subformat
        assert disk.adapter_type == "lsilogic"
        assert disk.disk_type == ("fixed" if "Flat" in subformat else "dynamic")
        assert_same_as_raw(disk, truth)
        # only the data is claimed: grains of 64 KiB around each run, nothing more
        assert disk.allocated_bytes() <= sum(n for _, n in RUNS) + len(RUNS) * 2 * 65536


@pytest.mark.parametrize("subformat", ["twoGbMaxExtentSparse", "twoGbMaxExtentFlat"])
def test_split_extents_across_files(tmp_path, subformat):
    image = tmp_path / "split.vmdk"
    qemu_img("create", "-f", "vmdk", "-o", f"subformat={subformat}", image, "5G")
    # across the first 2 GiB boundary, and in the last file
    qemu_io(image, "write -P 0x11 2047M 2M", "write -P 0x22 4500M 64k")
    truth = to_raw(image, tmp_path / "truth.raw", fmt="vmdk")
    with open_disk(image) as disk:
        assert disk.extent_count == 3
        assert_same_as_raw(disk, truth)
        assert disk.read(2047 * MIB + MIB - 1, 2) == b"\x11\x11"
        assert len(disk.fingerprint_files()) == 4  # the descriptor and its three extents


def test_stream_optimized_as_vmware_writes_it(tmp_path):
    """Grain directory at the end, the header in the footer: read natively, and qemu agrees."""
    data = bytearray(8 * MIB + 12345)
    data[100:200] = os.urandom(100)
    data[5 * MIB:5 * MIB + 300000] = os.urandom(300000)
    data[-10:] = b"0123456789"
    image = tmp_path / "disk.vmdk"
    image.write_bytes(stream_vmdk(bytes(data)))
    truth = to_raw(image, tmp_path / "truth.raw", fmt="vmdk")
    with open_disk(image) as disk:
        assert disk.create_type == "streamOptimized" and disk.compressed
        assert disk.virtual_size == -(-len(data) // 512) * 512
        assert_same_as_raw(disk, truth)
        assert disk.read(0, len(data)) == bytes(data)


def test_backing_chain_with_data_and_zero_writes(tmp_path, source_raw):
    base = tmp_path / "base.vmdk"
    qemu_img("convert", "-f", "raw", "-O", "vmdk", source_raw, base)
    child = tmp_path / "child.vmdk"
    qemu_img("create", "-f", "vmdk", "-o", "zeroed_grain=on", "-b", "base.vmdk", "-F", "vmdk", child)
    qemu_io(child, "write -P 0x5a 1M 70k", "write -z 0 64k", "write -P 0x33 63M 4k")
    truth = to_raw(child, tmp_path / "truth.raw", fmt="vmdk")
    with open_disk(child) as disk:
        assert disk.disk_type == "differencing"
        assert [p.name for p in disk.parents] == ["base.vmdk"]
        assert disk.read(0, 65536) == bytes(65536)  # a zeroed grain hides the parent's data
        assert_same_as_raw(disk, truth)


def test_parent_with_another_cid_is_refused(tmp_path, source_raw):
    base = tmp_path / "base.vmdk"
    qemu_img("convert", "-f", "raw", "-O", "vmdk", source_raw, base)
    child = tmp_path / "child.vmdk"
    qemu_img("create", "-f", "vmdk", "-b", "base.vmdk", "-F", "vmdk", child)
    qemu_img("convert", "-f", "raw", "-O", "vmdk", source_raw, base)  # a new base: a new CID
    with pytest.raises(ParentChainError, match="CID"):
        open_disk(child)


def test_parent_loop_is_refused(tmp_path):
    a, b = tmp_path / "a.vmdk", tmp_path / "b.vmdk"
    qemu_img("create", "-f", "vmdk", a, "1M")
    qemu_img("create", "-f", "vmdk", "-b", "a.vmdk", "-F", "vmdk", b)
    # make a's embedded descriptor name b as its parent, with b's CID: a loop a -> b -> a
    text = b.read_bytes()
    cid = text[text.index(b"CID=") + 4:text.index(b"CID=") + 12]
    raw = bytearray(a.read_bytes())
    start = raw.index(b"# Disk DescriptorFile")
    end = raw.index(b"\0", start)
    descriptor = bytes(raw[start:end]).replace(b"parentCID=ffffffff", b"parentCID=" + cid + b'\nparentFileNameHint="b.vmdk"')
    assert len(descriptor) < 1024
    raw[start:start + len(descriptor)] = descriptor
    a.write_bytes(bytes(raw))
    with pytest.raises(ParentChainError, match="loop"):
        open_disk(b)


def test_zero_extent_and_relative_subdirectory(tmp_path, source_raw):
    (tmp_path / "extents").mkdir()
    flat = tmp_path / "extents" / "data-flat.vmdk"
    flat.write_bytes(source_raw.read_bytes()[:MIB])
    (tmp_path / "disk.vmdk").write_text(
        '# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType="custom"\n'
        'RW 2048 FLAT "extents/data-flat.vmdk" 0\nRDONLY 4096 ZERO\nRW 1024 VMFS "extents/data-flat.vmdk" 1024\n'
    )
    with open_disk(tmp_path / "disk.vmdk") as disk:
        assert disk.virtual_size == 7168 * 512
        assert disk.read(0, MIB) == flat.read_bytes()
        assert disk.read(MIB, 2 * MIB) == bytes(2 * MIB)
        assert disk.read(3 * MIB, 512 * 1024) == flat.read_bytes()[512 * 1024:]
        assert list(disk.extents(MIB, 3 * MIB)) == []


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "a/../../x.vmdk", "C:\\\\Windows\\\\disk.vmdk"])
def test_extent_names_that_leave_the_directory_are_refused(tmp_path, name):
    (tmp_path / "disk.vmdk").write_text(f'# Disk DescriptorFile\nversion=1\nCID=1\nRW 8 FLAT "{name}" 0\n')
    with pytest.raises(InputError, match="absolute path|outside its own directory") as caught:
        open_disk(tmp_path / "disk.vmdk")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("kind, create_type", [("SESPARSE", "seSparse"), ("VMFSSPARSE", "vmfsSparse")])
def test_snapshot_deltas_are_refused_with_the_fix(tmp_path, kind, create_type):
    (tmp_path / "delta.vmdk").write_text(
        f'# Disk DescriptorFile\nversion=1\nCID=1\ncreateType="{create_type}"\nRW 8 {kind} "delta-sesparse.vmdk"\n'
    )
    with pytest.raises(OtherFormatError, match="vmkfstools -i.*qemu-img convert"):
        open_disk(tmp_path / "delta.vmdk")


def test_convert_a_vmdk_to_a_vhd_equals_qemu(tmp_path, source_raw):
    image = tmp_path / "disk.vmdk"
    qemu_img("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", source_raw, image)
    result = convert_image(image, tmp_path / "out.vhd")
    assert result.source_type == "dynamic" and result.virtual_size == 65 * MIB
    back = to_raw(tmp_path / "out.vhd", tmp_path / "back.raw", fmt="vpc")
    assert back.read_bytes()[:source_raw.stat().st_size] == source_raw.read_bytes()


def test_a_huge_sparse_vmdk_enumerates_in_seconds(tmp_path):
    """256 GiB holding 64 MiB: only the directory and the allocated tables are read."""
    image = tmp_path / "big.vmdk"
    qemu_img("create", "-f", "vmdk", image, "256G")
    qemu_io(image, "write -P 0x44 0 32M", "write -P 0x55 200G 32M")
    started = time.monotonic()
    with open_disk(image) as disk:
        extents = list(disk.extents())
        data = sum(b - a for a, b in extents)
        assert disk.read(200 * GIB + 5, 3) == b"\x55\x55\x55"
    assert data == 64 * MIB
    assert time.monotonic() - started < 5


def test_absurd_extent_sizes_are_refused(tmp_path):
    from vhdupload.errors import CorruptVhdError

    (tmp_path / "disk.vmdk").write_text('# Disk DescriptorFile\nversion=1\nRDONLY 99999999999999999999999 ZERO\n')
    with pytest.raises(CorruptVhdError, match="absurd"):
        open_disk(tmp_path / "disk.vmdk")
