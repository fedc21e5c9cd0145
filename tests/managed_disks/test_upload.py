"""Uploads straight into a managed disk, through the real azure-mgmt-compute client, against the
ARM double (tests/support/arm_double.py) whose disks are Azurite page blobs behind a proxy that
allows only what Azure's disk endpoint allows."""

from __future__ import annotations

import json

import pytest

from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from tests.support.uploads import qemu_img, write_random
from vhdupload.destinations.managed_disk import ManagedDiskSpec
from vhdupload.errors import DestinationConflictError, NotAzureReadyError
from vhdupload.managed_disks import managed_disk_status, upload_to_managed_disk, verify_managed_disk
from vhdupload import TransferSettings

MIB = 1024 * 1024
ALLOWED = {("PUT", "page"), ("GET", "pagelist"), ("GET", ""), ("HEAD", "")}


def spec(name: str = "disk1", **kw) -> ManagedDiskSpec:
    return ManagedDiskSpec(name=name, resource_group=RG, location="westeurope", **kw)


def create_body(double, name: str) -> dict:
    return [r for r in double.disk_calls(name) if r.method == "PUT"][0].body


def assert_surface(double) -> None:
    seen = {(r.method, r.comp or "") for r in double.proxy.requests}
    assert seen <= ALLOWED, seen - ALLOWED


@pytest.fixture
def fixed_vhd(tmp_path):
    raw = tmp_path / "src.raw"
    content = write_random(raw, 24 * MIB, runs=[(0, 64 * 1024), (5 * MIB, 1 * MIB), (23 * MIB, 4096)])
    vhd = tmp_path / "src.vhd"
    qemu_img("convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size=on", raw, vhd)
    return vhd, content


def test_a_fixed_vhd_lands_byte_identical_and_unattached(managed_disk_double, compute_client, fixed_vhd):
    vhd, content = fixed_vhd
    result = upload_to_managed_disk(vhd, spec(), compute_client=compute_client())
    data = managed_disk_double.disk_bytes("disk1")
    assert data[: len(content)] == content
    assert data[-512:] == vhd.read_bytes()[-512:]
    assert result.disk_state == "Unattached" and managed_disk_double.disk_state("disk1") == "Unattached"
    assert result.disk_id.lower().endswith("/disks/disk1")
    assert result.bytes_sent < len(content) // 4
    body = create_body(managed_disk_double, "disk1")
    assert body["properties"]["creationData"] == {"createOption": "Upload", "uploadSizeBytes": 24 * MIB + 512}
    assert not managed_disk_double.existing_disk_puts
    assert_surface(managed_disk_double)
    tags = managed_disk_double.disk("disk1")["tags"]
    assert tags["vhdupload_state"] == "complete" and all("sig=" not in v for v in tags.values())
    # verify grants read, compares, revokes
    check = verify_managed_disk(vhd, disk_name="disk1", resource_group=RG, compute_client=compute_client())
    assert check.identical, check.problem
    assert managed_disk_double.disk_state("disk1") == "Unattached"
    # a rerun is already complete and sends nothing
    again = upload_to_managed_disk(vhd, spec(), compute_client=compute_client())
    assert again.already_complete and again.bytes_sent == 0
    status = managed_disk_status(disk_name="disk1", resource_group=RG, compute_client=compute_client())
    assert status.complete and status.disk_state == "Unattached" and status.crc64 == result.crc64


def test_a_small_raw_image_is_padded_to_20_mib(managed_disk_double, compute_client, tmp_path):
    raw = tmp_path / "tiny.img"
    content = write_random(raw, 3 * MIB + 1000, runs=[(0, 8192)])
    result = upload_to_managed_disk(raw, spec("tiny"), compute_client=compute_client(), raw=True)
    assert result.resized and any("20 MiB" in n for n in result.notes)
    data = managed_disk_double.disk_bytes("tiny")
    assert len(data) == 20 * MIB + 512 and data[: len(content)] == content
    assert data[-512:-504] == b"conectix"
    assert verify_managed_disk(raw, raw=True, disk_name="tiny", resource_group=RG, compute_client=compute_client()).identical


def test_os_disk_body_has_os_type_and_detected_generation(managed_disk_double, compute_client, tmp_path):
    import subprocess

    raw = tmp_path / "gpt.img"
    raw.write_bytes(b"")
    with open(raw, "wb") as f:
        f.truncate(32 * MIB)
    subprocess.run(["sgdisk", "-n", "1:2048:+8M", "-t", "1:ef00", "-n", "2:0:0", str(raw)], check=True, capture_output=True)
    upload_to_managed_disk(raw, spec("os", os_type="linux", security_type="TrustedLaunch", sku="premium_lrs", tags={"team": "x"}),
                           compute_client=compute_client(), raw=True)
    props = create_body(managed_disk_double, "os")
    assert props["properties"]["osType"] == "Linux"
    assert props["properties"]["hyperVGeneration"] == "V2"
    assert props["properties"]["securityProfile"] == {"securityType": "TrustedLaunch"}
    assert props["sku"] == {"name": "Premium_LRS"}
    assert managed_disk_double.disk("os")["tags"]["team"] == "x"


def test_another_tools_disk_is_refused_in_one_line(managed_disk_double, compute_client, fixed_vhd):
    vhd, _ = fixed_vhd
    managed_disk_double.add_disk("theirs", state="ActiveUpload", upload_size_bytes=24 * MIB + 512)
    with pytest.raises(DestinationConflictError) as info:
        upload_to_managed_disk(vhd, spec("theirs"), compute_client=compute_client())
    assert "another tool" in str(info.value) and "\n" not in str(info.value)
    managed_disk_double.add_disk("attached", state="Attached", upload_size_bytes=24 * MIB + 512)
    with pytest.raises(DestinationConflictError, match="detach"):
        upload_to_managed_disk(vhd, spec("attached"), compute_client=compute_client(), overwrite=True)


def test_overwrite_replaces_an_unattached_disk(managed_disk_double, compute_client, fixed_vhd):
    vhd, content = fixed_vhd
    managed_disk_double.add_disk("old", state="Unattached", upload_size_bytes=24 * MIB + 512, content=b"x" * 4096)
    with pytest.raises(DestinationConflictError, match="--overwrite"):
        upload_to_managed_disk(vhd, spec("old"), compute_client=compute_client())
    upload_to_managed_disk(vhd, spec("old"), compute_client=compute_client(), overwrite=True)
    assert managed_disk_double.disk_bytes("old")[: len(content)] == content


def test_too_large_a_disk_is_refused_before_anything_remote():
    """32,767 GiB is Azure's limit; no file system here holds a sparse file that large, so the
    layout is asked about a disk that only says its size."""
    import pathlib

    from vhdupload.managed_disks import managed_disk_image

    class Huge:
        virtual_size = 32768 * 1024**3
        path = pathlib.Path("huge.vhd")
        disk_type = "dynamic"
        footer = None

    with pytest.raises(NotAzureReadyError, match="a managed disk holds at most"):
        managed_disk_image(Huge(), resize=True)


def test_crc_header_refused_is_survived_and_said(managed_disk_double, compute_client, fixed_vhd):
    vhd, content = fixed_vhd
    managed_disk_double.proxy.refuse_crc64 = True
    result = upload_to_managed_disk(vhd, spec("nocrc"), compute_client=compute_client())
    assert any("crc64" in n.lower() for n in result.notes)
    assert managed_disk_double.disk_bytes("nocrc")[: len(content)] == content


def test_the_other_answers_of_an_untried_endpoint(managed_disk_double, compute_client, fixed_vhd):
    """Tags refused while ActiveUpload, and Get Page Ranges refused on resume: both go on, said."""
    vhd, content = fixed_vhd
    managed_disk_double.refuse_update_while_uploading = True
    result = upload_to_managed_disk(vhd, spec("notags"), compute_client=compute_client())
    assert any("tags" in n for n in result.notes)
    assert managed_disk_double.disk("notags")["tags"]["vhdupload_state"] == "complete"
    assert managed_disk_double.disk_state("notags") == "Unattached"

    managed_disk_double.refuse_update_while_uploading = False
    managed_disk_double.proxy.refuse_page_ranges = True
    cancel = __import__("threading").Event()
    from vhdupload.errors import CancelledError

    with pytest.raises(CancelledError):
        upload_to_managed_disk(vhd, spec("noranges"), compute_client=compute_client(), progress=lambda p: cancel.set(), cancel=cancel, settings=TransferSettings(threads=1))
    managed_disk_double.clock_offset = 120
    again = upload_to_managed_disk(vhd, spec("noranges"), compute_client=compute_client())
    assert again.resumed and any("everything was sent again" in n for n in again.notes)
    assert managed_disk_double.disk_bytes("noranges")[: len(content)] == content


def test_a_second_write_grant_refused_says_what_to_do(managed_disk_double, compute_client, fixed_vhd):
    vhd, _ = fixed_vhd
    cancel = __import__("threading").Event()
    from vhdupload.errors import CancelledError

    with pytest.raises(CancelledError):
        upload_to_managed_disk(vhd, spec("regrant"), compute_client=compute_client(), progress=lambda p: cancel.set(), cancel=cancel, settings=TransferSettings(threads=1))
    managed_disk_double.refuse_regrant = True
    managed_disk_double.clock_offset = 120
    with pytest.raises(DestinationConflictError, match="did not grant write access again"):
        upload_to_managed_disk(vhd, spec("regrant"), compute_client=compute_client())


def test_write_access_that_ends_mid_upload_is_granted_again(managed_disk_double, compute_client, fixed_vhd):
    """A long upload outlives its grant's SAS: the disk answers 403; a new grant continues it."""
    vhd, content = fixed_vhd
    expired = []

    def expire_once(_progress) -> None:
        if not expired:
            for grant in managed_disk_double.active_grants("renew"):
                grant.active = False  # as if its SAS had expired
            expired.append(True)

    result = upload_to_managed_disk(vhd, spec("renew"), compute_client=compute_client(), progress=expire_once, settings=TransferSettings(threads=1))
    assert expired and any("granted again" in n for n in result.notes)
    assert managed_disk_double.disk_bytes("renew")[: len(content)] == content
    assert managed_disk_double.disk_state("renew") == "Unattached"
    grants = [r for r in managed_disk_double.disk_calls("renew") if r.path.lower().endswith("/begingetaccess")]
    assert len(grants) == 2
