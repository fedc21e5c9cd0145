"""Every kind of source goes up byte for byte: the blob equals what qemu-img (or libvhdi, for
differencing disks) reads from the source, then zero padding to a whole MiB, then the expected
footer."""

from __future__ import annotations

import pytest

from tests.support.uploads import container_client, libvhdi_read, page_blob, page_ranges, qemu_img, qemu_raw, read_blob, write_random
from tests.vhd.builders import build_differencing, build_dynamic, build_fixed
from vhdupload import upload, verify
from vhdupload.vhd import Footer
from vhdupload.errors import NotAzureReadyError
from vhdupload.crc64 import compute, to_hex

from vhdupload import TransferSettings

MIB = 1 << 20
RUNS = [(0, 4096), (3 * MIB + 512 * 3, 70_000), (9 * MIB, 2 * MIB + 4096), (17 * MIB - 8192, 8192)]


def check_blob(blob: bytes, data: bytes, *, source_footer: Footer | None, data_size: int) -> Footer:
    assert len(blob) == data_size + 512
    assert blob[: len(data)] == data
    assert blob[len(data) : data_size] == bytes(data_size - len(data))
    footer = Footer.parse(blob[-512:])
    assert footer.disk_type == 2 and footer.current_size == data_size
    if source_footer is not None:
        assert footer.uuid == source_footer.uuid
    return footer


@pytest.mark.parametrize("subformat", ["fixed", "dynamic"])
def test_qemu_force_size_images(tmp_path, conn, dest, qemu_img_path, subformat):
    raw = tmp_path / "disk.raw"
    write_random(raw, 20 * MIB, runs=RUNS)
    vhd = tmp_path / f"{subformat}.vhd"
    qemu_img("convert", "-f", "raw", "-O", "vpc", "-o", f"subformat={subformat},force_size=on", raw, vhd)
    result = upload(vhd, page_blob(conn, dest), settings=TransferSettings(threads=3))
    blob = read_blob(conn, dest)
    source_footer = Footer.parse(vhd.read_bytes()[-512:])
    check_blob(blob, qemu_raw(vhd, tmp_path), source_footer=source_footer, data_size=20 * MIB)
    if subformat == "fixed":
        assert blob[-512:] == vhd.read_bytes()[-512:]  # a whole-MiB fixed VHD keeps its own footer
    assert result.crc64 == to_hex(compute(blob))
    assert not result.resized and not result.resumed
    data = sum(n for _, n in RUNS)
    assert result.data_bytes >= data and result.bytes_sent <= 1.4 * result.data_bytes + 512
    assert verify(vhd, page_blob(conn, dest)).identical


@pytest.mark.parametrize("subformat", ["dynamic", "fixed"])
def test_chs_rounded_image_is_padded_to_a_whole_mib(tmp_path, conn, dest, qemu_img_path, subformat):
    vhd = tmp_path / "chs.vhd"
    qemu_img("create", "-f", "vpc", "-o", f"subformat={subformat}", vhd, "50M")  # CHS-rounded: 52,432,896 bytes
    subprocess_write(vhd, [(0x11, 0, 65536), (0x22, 50 * MIB - 4096, 4096)])
    virtual = len(qemu_raw(vhd, tmp_path))
    assert virtual % MIB
    result = upload(vhd, page_blob(conn, dest))
    data_size = -(-virtual // MIB) * MIB
    blob = read_blob(conn, dest)
    check_blob(blob, qemu_raw(vhd, tmp_path), source_footer=Footer.parse(vhd.read_bytes()[-512:]), data_size=data_size)
    assert result.resized and result.virtual_size == virtual and result.blob_size == data_size + 512


def test_no_resize_refuses_with_azures_reason_and_creates_nothing(tmp_path, conn, dest, qemu_img_path):
    vhd = tmp_path / "chs.vhd"
    qemu_img("create", "-f", "vpc", vhd, "50M")
    with pytest.raises(NotAzureReadyError, match="unsupported virtual size of 52432896 bytes. The size must be a whole number"):
        upload(vhd, page_blob(conn, dest), resize=False)
    assert not container_client(conn, dest).exists()  # not even the container


def subprocess_write(path, writes):
    import subprocess

    cmds = []
    for pattern, offset, length in writes:
        cmds += ["-c", f"write -P {pattern} {offset} {length}"]
    subprocess.run(["qemu-io", "-f", "vpc", *cmds, str(path)], check=True, capture_output=True)


def test_differencing_chain_is_expanded_as_libvhdi_reads_it(tmp_path, conn, dest):
    """libvhdi is the independent reader (qemu-img reads no differencing disk); every write
    is 4 KiB-aligned, where libvhdi is trusted (it misreads partly set bitmap bytes)."""
    size = 12 * MIB
    base_writes = {0: b"\x01" * 8192, 5 * MIB: b"\x02" * MIB, 2 * MIB - 4096: b"\x08" * 8192}
    middle_writes = {4096: b"\x03" * 4096, 5 * MIB + 4096: b"\x04" * 4096, 11 * MIB: b"\x05" * 4096}
    top_writes = {0: b"\x06" * 4096, 7 * MIB: b"\x07" * 3 * 4096, 11 * MIB: b"\x09" * 8192}
    base = build_dynamic(tmp_path / "base.vhd", virtual_size=size, writes=base_writes)
    middle = build_differencing(tmp_path / "middle.vhd", parent=base, writes=middle_writes)
    top = build_differencing(tmp_path / "top.vhd", parent=middle, writes=top_writes, block_size=512 * 1024)
    oracle = libvhdi_read([top, middle, base])
    assert len(oracle) == size and oracle[7 * MIB : 7 * MIB + 4] == b"\x07" * 4  # the oracle reads the chain
    result = upload(top, page_blob(conn, dest))
    blob = read_blob(conn, dest)
    check_blob(blob, oracle, source_footer=Footer.parse(top.read_bytes()[-512:]), data_size=size)
    # the union of the chain's allocated pages, each counted once
    assert result.data_bytes == 8192 + 8192 + MIB + 3 * 4096 + 8192
    assert verify(top, page_blob(conn, dest)).identical


def test_sparse_raw_image_gets_a_footer_on_the_fly_and_zeros_are_skipped(tmp_path, conn, dest):
    raw = tmp_path / "sparse.img"
    size = 64 * MIB + 4096  # not a whole MiB: rounded up
    content = write_random(raw, size, runs=[(MIB, 4096), (40 * MIB, 3 * 4096), (64 * MIB, 4096)])
    result = upload(raw, page_blob(conn, dest), raw=True)
    blob = read_blob(conn, dest)
    footer = check_blob(blob, content, source_footer=None, data_size=65 * MIB)
    # Get Page Ranges: only the data pages and the footer were written
    assert page_ranges(conn, dest) == [(MIB, MIB + 4096), (40 * MIB, 40 * MIB + 3 * 4096), (64 * MIB, 64 * MIB + 4096),
                                       (65 * MIB, 65 * MIB + 512)]
    assert result.bytes_sent == 5 * 4096 + 512 and result.requests == 4
    assert result.bytes_skipped == result.blob_size - result.bytes_sent
    # a rerun writes the same footer: the raw image's footer identity is pinned in the metadata
    again = upload(raw, page_blob(conn, dest), raw=True)
    assert again.already_complete and again.bytes_sent == 0
    assert Footer.parse(read_blob(conn, dest)[-512:]) == footer
    assert verify(raw, page_blob(conn, dest), raw=True).identical


def test_whole_mib_fixed_vhd_from_the_builders_keeps_its_footer(tmp_path, conn, dest):
    vhd = build_fixed(tmp_path / "f.vhd", virtual_size=8 * MIB, writes={4 * MIB - 512: b"\x07" * 1024})
    upload(vhd, page_blob(conn, dest))
    blob = read_blob(conn, dest)
    assert blob == vhd.read_bytes()
    # the two sectors straddle a 4 MiB chunk boundary: two requests, one page each side
    assert page_ranges(conn, dest) == [(4 * MIB - 4096, 4 * MIB + 4096), (8 * MIB, 8 * MIB + 512)]
