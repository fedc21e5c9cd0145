"""Uploads straight into a managed disk, through the real azure-mgmt-compute client, against the
ARM double (tests/support/arm_double.py) whose disks are Azurite page blobs behind a proxy that
allows only what Azure's disk endpoint allows."""

from __future__ import annotations

import json
import threading

import pytest

from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from tests.support.uploads import qemu_img, write_random
from vhdupload import ArmConnection, ManagedDisk, TransferSettings, status, upload, verify
from vhdupload.azure.state import KEY_HEARTBEAT
from vhdupload.errors import CancelledError, DestinationConflictError, InputError, LeaseHeldError, NotAzureReadyError

MIB = 1024 * 1024
ALLOWED = {("PUT", "page"), ("GET", "pagelist"), ("GET", ""), ("HEAD", "")}


def disk(arm: ArmConnection, name: str = "disk1", **kw) -> ManagedDisk:
    """The managed disk ``name`` as an upload makes it (in westeurope)."""
    return ManagedDisk(name, resource_group=RG, arm=arm, location="westeurope", **kw)


def existing(arm: ArmConnection, name: str) -> ManagedDisk:
    """The managed disk ``name`` as verify and status name it: no location, nothing to create."""
    return ManagedDisk(name, resource_group=RG, arm=arm)


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


def test_a_fixed_vhd_lands_byte_identical_and_unattached(managed_disk_double, arm_connection, fixed_vhd):
    vhd, content = fixed_vhd
    result = upload(vhd, disk(arm_connection()))
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
    check = verify(vhd, existing(arm_connection(), "disk1"))
    assert check.identical and check.ok, check.problem
    assert managed_disk_double.disk_state("disk1") == "Unattached"
    # a rerun is already complete and sends nothing
    again = upload(vhd, disk(arm_connection()))
    assert again.already_complete and again.bytes_sent == 0
    found = status(existing(arm_connection(), "disk1"))
    assert found.complete and found.disk_state == "Unattached" and found.crc64 == result.crc64
    assert found.state == "complete" and found.size == 24 * MIB + 512 and found.writer is None
    assert found.bytes_present is None and found.disk_id.lower().endswith("/disks/disk1")


def test_a_small_raw_image_is_padded_to_20_mib(managed_disk_double, arm_connection, tmp_path):
    raw = tmp_path / "tiny.img"
    content = write_random(raw, 3 * MIB + 1000, runs=[(0, 8192)])
    result = upload(raw, disk(arm_connection(), "tiny"), raw=True)
    assert result.resized and any("20 MiB" in n for n in result.notes)
    data = managed_disk_double.disk_bytes("tiny")
    assert len(data) == 20 * MIB + 512 and data[: len(content)] == content
    assert data[-512:-504] == b"conectix"
    assert verify(raw, existing(arm_connection(), "tiny"), raw=True).identical


def test_os_disk_body_has_os_type_and_detected_generation(managed_disk_double, arm_connection, tmp_path):
    import subprocess

    raw = tmp_path / "gpt.img"
    raw.write_bytes(b"")
    with open(raw, "wb") as f:
        f.truncate(32 * MIB)
    subprocess.run(["sgdisk", "-n", "1:2048:+8M", "-t", "1:ef00", "-n", "2:0:0", str(raw)], check=True, capture_output=True)
    upload(raw, disk(arm_connection(), "os", os_type="linux", security_type="TrustedLaunch", sku="premium_lrs",
                     tags={"team": "x"}), raw=True)
    props = create_body(managed_disk_double, "os")
    assert props["properties"]["osType"] == "Linux"
    assert props["properties"]["hyperVGeneration"] == "V2"
    assert props["properties"]["securityProfile"] == {"securityType": "TrustedLaunch"}
    assert props["sku"] == {"name": "Premium_LRS"}
    assert managed_disk_double.disk("os")["tags"]["team"] == "x"


def test_another_tools_disk_is_refused_in_one_line(managed_disk_double, arm_connection, fixed_vhd):
    vhd, _ = fixed_vhd
    managed_disk_double.add_disk("theirs", state="ActiveUpload", upload_size_bytes=24 * MIB + 512)
    with pytest.raises(DestinationConflictError) as info:
        upload(vhd, disk(arm_connection(), "theirs"))
    assert "another tool" in str(info.value) and "\n" not in str(info.value)
    managed_disk_double.add_disk("attached", state="Attached", upload_size_bytes=24 * MIB + 512)
    with pytest.raises(DestinationConflictError, match="detach"):
        upload(vhd, disk(arm_connection(), "attached"), overwrite=True)


def test_overwrite_replaces_an_unattached_disk(managed_disk_double, arm_connection, fixed_vhd):
    vhd, content = fixed_vhd
    managed_disk_double.add_disk("old", state="Unattached", upload_size_bytes=24 * MIB + 512, content=b"x" * 4096)
    with pytest.raises(DestinationConflictError, match="--overwrite"):
        upload(vhd, disk(arm_connection(), "old"))
    upload(vhd, disk(arm_connection(), "old"), overwrite=True)
    assert managed_disk_double.disk_bytes("old")[: len(content)] == content


def test_too_large_a_disk_is_refused_before_anything_remote():
    """32,767 GiB is Azure's limit; no file system here holds a sparse file that large, so the
    layout is asked about a disk that only says its size."""
    import pathlib

    from vhdupload.destinations.disk_layout import managed_disk_image

    class Huge:
        virtual_size = 32768 * 1024**3
        path = pathlib.Path("huge.vhd")
        disk_type = "dynamic"
        footer = None

    with pytest.raises(NotAzureReadyError, match="a managed disk holds at most"):
        managed_disk_image(Huge(), resize=True)


def test_crc_header_refused_is_survived_and_said(managed_disk_double, arm_connection, fixed_vhd):
    vhd, content = fixed_vhd
    managed_disk_double.proxy.refuse_crc64 = True
    result = upload(vhd, disk(arm_connection(), "nocrc"))
    assert any("crc64" in n.lower() for n in result.notes)
    assert managed_disk_double.disk_bytes("nocrc")[: len(content)] == content


def test_the_other_answers_of_an_untried_endpoint(managed_disk_double, arm_connection, fixed_vhd):
    """Tags refused while ActiveUpload, and Get Page Ranges refused on resume: both go on, said."""
    vhd, content = fixed_vhd
    managed_disk_double.refuse_update_while_uploading = True
    result = upload(vhd, disk(arm_connection(), "notags"))
    assert any("tags" in n for n in result.notes)
    assert managed_disk_double.disk("notags")["tags"]["vhdupload_state"] == "complete"
    assert managed_disk_double.disk_state("notags") == "Unattached"

    managed_disk_double.refuse_update_while_uploading = False
    managed_disk_double.proxy.refuse_page_ranges = True
    cancel = threading.Event()
    with pytest.raises(CancelledError):
        upload(vhd, disk(arm_connection(), "noranges"), progress=lambda p: cancel.set(), cancel=cancel,
               settings=TransferSettings(threads=1))
    managed_disk_double.clock_offset = 120
    again = upload(vhd, disk(arm_connection(), "noranges"))
    assert again.resumed and any("everything was sent again" in n for n in again.notes)
    assert managed_disk_double.disk_bytes("noranges")[: len(content)] == content


def test_a_second_write_grant_refused_says_what_to_do(managed_disk_double, arm_connection, fixed_vhd):
    vhd, _ = fixed_vhd
    cancel = threading.Event()
    with pytest.raises(CancelledError):
        upload(vhd, disk(arm_connection(), "regrant"), progress=lambda p: cancel.set(), cancel=cancel,
               settings=TransferSettings(threads=1))
    managed_disk_double.refuse_regrant = True
    managed_disk_double.clock_offset = 120
    with pytest.raises(DestinationConflictError, match="did not grant write access again"):
        upload(vhd, disk(arm_connection(), "regrant"))


def test_write_access_that_ends_mid_upload_is_granted_again(managed_disk_double, arm_connection, fixed_vhd):
    """A long upload outlives its grant's SAS: the disk answers 403; a new grant continues it."""
    vhd, content = fixed_vhd
    expired = []

    def expire_once(_progress) -> None:
        if not expired:
            for grant in managed_disk_double.active_grants("renew"):
                grant.active = False  # as if its SAS had expired
            expired.append(True)

    result = upload(vhd, disk(arm_connection(), "renew"), progress=expire_once, settings=TransferSettings(threads=1))
    assert expired and any("granted again" in n for n in result.notes)
    assert managed_disk_double.disk_bytes("renew")[: len(content)] == content
    assert managed_disk_double.disk_state("renew") == "Unattached"
    grants = [r for r in managed_disk_double.disk_calls("renew") if r.path.lower().endswith("/begingetaccess")]
    assert len(grants) == 2


def test_a_cancelled_upload_clears_its_heartbeat_and_the_same_call_resumes_at_once(managed_disk_double,
                                                                                   arm_connection, fixed_vhd):
    """A clean cancel stops the writer there and then: its heartbeat tag is cleared, so the same
    upload run again at once (no clock moved) continues instead of being told to wait for it."""
    vhd, content = fixed_vhd
    cancel = threading.Event()
    sent: list[int] = []

    def stop_once_data_flows(progress) -> None:
        sent.append(progress.bytes_sent)
        if progress.bytes_sent > 0:
            cancel.set()

    with pytest.raises(CancelledError) as info:
        upload(vhd, disk(arm_connection(), "stopped"), progress=stop_once_data_flows, cancel=cancel,
               settings=TransferSettings(threads=1))
    assert "\n" not in str(info.value) and "run the same command again" in str(info.value)
    assert any(sent) and managed_disk_double.disk_state("stopped") == "ActiveUpload"
    tags = managed_disk_double.disk("stopped")["tags"]
    assert tags["vhdupload_state"] != "complete" and not tags.get(KEY_HEARTBEAT)
    found = status(existing(arm_connection(), "stopped"))
    assert found.state == "partial" and found.writer is None and found.disk_state == "ActiveUpload"
    # at once: no "its heartbeat is 1 s old ... rerun in 59 s"
    result = upload(vhd, disk(arm_connection(), "stopped"))
    assert result.resumed and not result.already_complete and result.disk_state == "Unattached"
    data = managed_disk_double.disk_bytes("stopped")
    assert data[: len(content)] == content and data[-512:] == vhd.read_bytes()[-512:]
    assert verify(vhd, existing(arm_connection(), "stopped")).ok


def test_a_running_uploads_heartbeat_still_keeps_a_second_writer_out(managed_disk_double, arm_connection, fixed_vhd):
    """What the cleared heartbeat must not weaken: while an upload runs (its heartbeat fresh),
    a second one is refused in one line that says when to rerun."""
    vhd, _ = fixed_vhd
    second: list[BaseException] = []
    cancel = threading.Event()

    def try_a_second_writer(_progress) -> None:
        if second:
            return
        try:
            upload(vhd, disk(arm_connection(), "busy"))
        except BaseException as exc:  # noqa: BLE001 - inspected below
            second.append(exc)
        cancel.set()

    with pytest.raises(CancelledError):
        upload(vhd, disk(arm_connection(), "busy"), progress=try_a_second_writer, cancel=cancel,
               settings=TransferSettings(threads=1))
    assert len(second) == 1 and isinstance(second[0], LeaseHeldError), second
    assert "heartbeat" in str(second[0]) and "rerun in" in str(second[0]) and "\n" not in str(second[0])


def test_a_managed_disk_is_checked_when_it_is_made_and_its_location_only_to_create_it(managed_disk_double,
                                                                                      arm_connection, fixed_vhd):
    vhd, _ = fixed_vhd
    arm = arm_connection()
    with pytest.raises(InputError, match="SKU"):
        ManagedDisk("d", resource_group=RG, arm=arm, sku="gold")
    with pytest.raises(InputError, match="vhdupload_"):
        ManagedDisk("d", resource_group=RG, arm=arm, tags={"vhdupload_state": "complete"})
    with pytest.raises(InputError, match="os type"):
        ManagedDisk("d", resource_group=RG, arm=arm, security_type="TrustedLaunch")
    with pytest.raises(InputError, match="credential"):
        ManagedDisk("d", resource_group=RG, arm=ArmConnection.from_client(arm.compute()),
                    data_access_auth_mode="AzureActiveDirectory")
    with pytest.raises(InputError, match="location"):
        upload(vhd, existing(arm, "nowhere"))  # verify and status need none; creating it does
    assert [r.method for r in managed_disk_double.disk_calls("nowhere") if r.method != "GET"] == []
    with pytest.raises(KeyError):
        managed_disk_double.disk_state("nowhere")
