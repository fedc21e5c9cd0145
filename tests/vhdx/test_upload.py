"""A VHDX uploaded to Azurite becomes the fixed VHD qemu-img reads from it; resume and verify
work as for a VHD; registration pre-flight refuses a 4 KiB-sector layout as an OS disk."""

from __future__ import annotations

import pytest
from azure.storage.blob import BlobClient

from tests.support.uploads import page_blob
from vhdupload import upload, verify
from vhdupload.vhd import Footer
from vhdupload.vhdx import partition_sector_size

from .conftest import qemu_img, to_raw, write_runs
from .writer import MIB, Spec, write_vhdx
from vhdupload import TransferSettings

RUNS = [(0, 5000), (5 * MIB + 17, 300000), (20 * MIB, MIB), (33 * MIB - 512, 512)]


def _blob(conn, dest) -> bytes:
    container, name = dest.split("/", 1)
    return BlobClient.from_connection_string(conn, container, name).download_blob().readall()


@pytest.mark.parametrize("subformat", ["dynamic", "fixed"])
def test_upload_of_vhdx_equals_expected_fixed_vhd(tmp_path, conn, container_name, subformat):
    raw = tmp_path / "src.raw"
    write_runs(raw, 33 * MIB - 512, RUNS)  # not a whole MiB: the blob rounds up
    image = tmp_path / "disk.vhdx"
    qemu_img("convert", "-f", "raw", "-O", "vhdx", "-o", f"subformat={subformat},block_size=1M", raw, image)
    truth = to_raw(image, tmp_path / "truth.raw").read_bytes()
    dest = f"{container_name}/disk.vhd"
    result = upload(image, page_blob(conn, dest), settings=TransferSettings(threads=4))
    blob = _blob(conn, dest)
    assert len(blob) == 33 * MIB + 512
    assert blob[: len(truth)] == truth and not any(blob[len(truth):33 * MIB])
    footer = Footer.parse(blob[-512:])
    assert footer.disk_type_name == "fixed" and footer.current_size == 33 * MIB
    assert result.bytes_sent <= 4 * MIB  # only the data, never the empty blocks
    assert verify(image, page_blob(conn, dest)).identical
    again = upload(image, page_blob(conn, dest))  # a rerun finds it complete
    assert again.bytes_sent == 0
    assert _blob(conn, dest) == blob


def test_upload_of_vhdx_with_pending_log(tmp_path, conn, container_name):
    from .test_log import A, B, _pending

    path, _ = _pending(tmp_path)
    dest = f"{container_name}/log.vhd"
    upload(path, page_blob(conn, dest))
    blob = _blob(conn, dest)
    assert blob[:MIB] == A and blob[2 * MIB:3 * MIB] == B and not any(blob[MIB:2 * MIB])


def test_4k_sector_vhdx_blob_is_512_byte_sector_vhd_of_same_size(tmp_path, conn, container_name):
    # a GPT laid out for 4096-byte sectors: protective MBR at 0, "EFI PART" at LBA 1 = byte 4096
    block = bytearray(MIB)
    block[510:512] = b"\x55\xaa"
    block[4096:4104] = b"EFI PART"
    path = tmp_path / "4k.vhdx"
    write_vhdx(path, Spec(virtual_size=24 * MIB, logical_sector_size=4096, blocks={0: (6, bytes(block))}))
    dest = f"{container_name}/4k.vhd"
    upload(path, page_blob(conn, dest))
    blob = _blob(conn, dest)
    assert len(blob) == 24 * MIB + 512 and Footer.parse(blob[-512:]).current_size == 24 * MIB
    assert blob[:MIB] == bytes(block)
    assert partition_sector_size(lambda o, n: blob[o:o + n]) == 4096


def test_registration_refuses_a_4k_layout_as_os_disk(tmp_path, conn, container_name):
    from vhdupload.errors import PreflightError
    from vhdupload.registration import ImageSpec, PlanContext, plan_image

    block = bytearray(MIB)
    block[446 + 4] = 0xEE  # protective MBR
    block[510:512] = b"\x55\xaa"
    block[4096:4104] = b"EFI PART"
    path = tmp_path / "4k.vhdx"
    write_vhdx(path, Spec(virtual_size=24 * MIB, logical_sector_size=4096, blocks={0: (6, bytes(block))}))
    dest = f"{container_name}/os4k.vhd"
    upload(path, page_blob(conn, dest))
    url = BlobClient.from_connection_string(conn, container_name, "os4k.vhd").url

    def factory(blob_url):
        container, name = blob_url.split("?")[0].rsplit("/", 2)[-2:]
        return BlobClient.from_connection_string(conn, container, name)

    with pytest.raises(PreflightError, match="partitioned for 4096-byte sectors .* would not boot as an OS disk"):
        plan_image(ImageSpec(name="img", resource_group="rg", location="westeurope", os_disk=url, os_type="linux", skip_guest_check=True), context=PlanContext(subscription_id="00000000-0000-0000-0000-000000000000", blob_client_factory=factory))
