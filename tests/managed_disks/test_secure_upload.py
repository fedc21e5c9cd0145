"""Secure uploads: a Trusted Launch or Confidential VM OS disk with its VM guest state (and
metadata), as the az CLI's ``--upload-type UploadWithSecurityData`` makes it: created
``UploadPreparedSecure``, granted with ``getSecureVMGuestStateSAS``, the OS disk sent to
``accessSAS`` and the guest state to ``securityDataAccessSAS`` (metadata to
``securityMetadataAccessSAS``), then revoked. Against the ARM double and its disk proxy."""

from __future__ import annotations

import threading

import pytest

from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from tests.support.arm_double import GUEST_STATE_BYTES, METADATA_BLOB
from tests.support.uploads import qemu_img, write_random
from vhdupload import ArmConnection, ManagedDisk, TransferSettings, upload
from vhdupload.errors import CancelledError, InputError

MIB = 1024 * 1024


def secure(arm: ArmConnection, name: str, **kw) -> ManagedDisk:
    options = {"os_type": "linux", "hyper_v_generation": "V2", "security_type": "TrustedLaunch"} | kw
    return ManagedDisk(name, resource_group=RG, arm=arm, location="westeurope", **options)


def fixed_vhd(tmp_path, name: str, size: int, seed: int) -> tuple:
    raw = tmp_path / f"{name}.raw"
    content = write_random(raw, size, runs=[(0, 64 * 1024), (size - 8192, 4096)], seed=seed)
    vhd = tmp_path / f"{name}.vhd"
    qemu_img("convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size=on", raw, vhd)
    return vhd, content


@pytest.fixture
def files(tmp_path):
    os_disk, os_content = fixed_vhd(tmp_path, "os", 24 * MIB, seed=1)
    guest, _ = fixed_vhd(tmp_path, "vmgs", GUEST_STATE_BYTES - 512, seed=2)
    metadata, _ = fixed_vhd(tmp_path, "vmmd", GUEST_STATE_BYTES - 512, seed=3)
    return os_disk, os_content, guest, metadata


def test_a_trusted_launch_disk_with_its_guest_state(managed_disk_double, arm_connection, files):
    os_disk, os_content, guest, _ = files
    result = upload(os_disk, secure(arm_connection(), "tl1", vm_guest_state=guest))
    double = managed_disk_double
    body = [r for r in double.disk_calls("tl1") if r.method == "PUT"][0].body
    assert body["properties"]["creationData"] == {"createOption": "UploadPreparedSecure", "uploadSizeBytes": 24 * MIB + 512}
    assert body["properties"]["securityProfile"] == {"securityType": "TrustedLaunch"}
    grants = [r.body for r in double.disk_calls("tl1") if r.path.endswith("/beginGetAccess")]
    assert grants and all(g.get("getSecureVMGuestStateSAS") is True for g in grants)
    assert double.disk_bytes("tl1")[: len(os_content)] == os_content
    assert double.companion_bytes("tl1") == guest.read_bytes()
    assert result.disk_state == "Unattached" and not double.active_grants("tl1")
    assert any("VM guest state" in note for note in result.notes)
    # the guest state went through the disk endpoint as Put Pages with a CRC64 each, and was read back
    puts = [r for r in double.proxy.requests if r.operation == "PutPage" and r.path.endswith("_vmgs")]
    assert puts and all("x-ms-content-crc64" in r.headers for r in puts)
    assert any(r.operation == "GetBlob" and r.path.endswith("_vmgs") for r in double.proxy.requests)


def test_a_confidential_vm_disk_sends_its_metadata_too(managed_disk_double, arm_connection, files):
    os_disk, _, guest, metadata = files
    upload(os_disk, secure(arm_connection(), "cvm1", security_type="ConfidentialVM_DiskEncryptedWithPlatformKey",
                           vm_guest_state=guest, security_metadata=metadata))
    assert managed_disk_double.companion_bytes("cvm1") == guest.read_bytes()
    assert managed_disk_double.companion_bytes("cvm1", METADATA_BLOB) == metadata.read_bytes()
    assert managed_disk_double.disk_state("cvm1") == "Unattached"


def test_a_cancelled_secure_upload_resumes(managed_disk_double, arm_connection, files):
    os_disk, os_content, guest, _ = files
    cancel = threading.Event()

    def stop_early(progress) -> None:
        if progress.requests >= 1:
            cancel.set()

    with pytest.raises(CancelledError):
        upload(os_disk, secure(arm_connection(), "tl2", vm_guest_state=guest), cancel=cancel, progress=stop_early,
               settings=TransferSettings(threads=1))
    result = upload(os_disk, secure(arm_connection(), "tl2", vm_guest_state=guest))
    assert result.resumed and result.disk_state == "Unattached"
    assert managed_disk_double.companion_bytes("tl2") == guest.read_bytes()
    assert managed_disk_double.disk_bytes("tl2")[: len(os_content)] == os_content


@pytest.mark.parametrize("kw, message", [
    ({"security_type": "ConfidentialVM_DiskEncryptedWithPlatformKey"}, "uploaded with its VM guest state"),
    ({"hyper_v_generation": "V1", "vm_guest_state": "GUEST"}, "Generation 2"),
    ({"security_type": None, "os_type": None, "hyper_v_generation": "auto", "vm_guest_state": "GUEST"}, "security type"),
    ({"vm_guest_state": "GUEST", "security_metadata": "GUEST"}, "Confidential VM disk"),
    ({"security_type": "ConfidentialVM_DiskEncryptedWithCustomerKey", "vm_guest_state": "GUEST"}, "disk encryption set"),
    ({"security_type": "ConfidentialVM_NonPersistedTPM", "vm_guest_state": "GUEST"}, "is not one of"),
])
def test_what_azure_refuses_is_refused_before_anything_remote(managed_disk_double, arm_connection, files, kw, message):
    _, _, guest, _ = files
    kw = {k: (guest if v == "GUEST" else v) for k, v in kw.items()}
    with pytest.raises(InputError, match=message):
        secure(arm_connection(), "bad", **kw)
    assert not managed_disk_double.disk_calls()


def test_a_guest_state_for_a_generation_1_disk_is_refused_before_anything_remote(managed_disk_double, arm_connection,
                                                                                 files):
    os_disk, _, guest, _ = files  # random bytes: no GPT, so "auto" finds Generation 1
    with pytest.raises(InputError, match="needs a Generation 2"):
        upload(os_disk, secure(arm_connection(), "gen1", hyper_v_generation="auto", vm_guest_state=guest))
    assert not managed_disk_double.disk_calls()


def test_a_guest_state_of_the_wrong_size_is_refused_before_the_os_disk_is_sent(managed_disk_double, arm_connection,
                                                                               files, tmp_path):
    os_disk, _, _, _ = files
    small, _ = fixed_vhd(tmp_path, "small", 2 * MIB, seed=4)
    with pytest.raises(InputError, match="VM guest state"):
        upload(os_disk, secure(arm_connection(), "tl3", vm_guest_state=small))
    assert not [r for r in managed_disk_double.proxy.requests if r.operation == "PutPage"]


def test_the_double_refuses_a_confidential_type_on_a_plain_upload(managed_disk_double, compute_client):
    from azure.core.exceptions import HttpResponseError

    body = {"location": "westeurope", "properties": {
        "osType": "Linux", "hyperVGeneration": "V2", "creationData": {"createOption": "Upload", "uploadSizeBytes": 21 * MIB + 512},
        "securityProfile": {"securityType": "ConfidentialVM_DiskEncryptedWithPlatformKey"}}}
    with pytest.raises(HttpResponseError, match="UploadPreparedSecure"):
        compute_client().disks.begin_create_or_update(RG, "cvm-plain", body).result()


def test_a_plain_disk_is_not_continued_as_a_secure_one(managed_disk_double, arm_connection, files):
    os_disk, _, guest, _ = files
    cancel = threading.Event()
    with pytest.raises(CancelledError):
        upload(os_disk, secure(arm_connection(), "tl4"), cancel=cancel,
               progress=lambda p: cancel.set(), settings=TransferSettings(threads=1))
    with pytest.raises(Exception, match="plain upload"):
        upload(os_disk, secure(arm_connection(), "tl4", vm_guest_state=guest))


def test_without_a_guest_state_trusted_launch_stays_a_plain_upload(managed_disk_double, arm_connection, files):
    os_disk, _, _, _ = files
    upload(os_disk, secure(arm_connection(), "tl5"))
    body = [r for r in managed_disk_double.disk_calls("tl5") if r.method == "PUT"][0].body
    assert body["properties"]["creationData"]["createOption"] == "Upload"
    assert body["properties"]["securityProfile"] == {"securityType": "TrustedLaunch"}
    grants = [r.body for r in managed_disk_double.disk_calls("tl5") if r.path.endswith("/beginGetAccess")]
    assert all("getSecureVMGuestStateSAS" not in g for g in grants)


def test_the_cli_uploads_with_a_guest_state_and_refuses_a_confidential_type_without_one(
        stub_az, managed_disk_double, files, capsys):
    from tests.support.registration import SUB
    from vhdupload.cli import main

    os_disk, _, guest, _ = files
    arm = ["-g", RG, "-l", "westeurope", "--subscription", SUB, "--arm-endpoint", managed_disk_double.url]
    base = ["upload", str(os_disk), "--managed-disk", "cli1", *arm, "--os-type", "linux", "--hyper-v-generation", "V2"]
    assert main([*base, "--security-type", "ConfidentialVM_DiskEncryptedWithPlatformKey"]) != 0
    err = capsys.readouterr().err
    assert "VM guest state" in err and err.count("\n") == 1, err
    assert not managed_disk_double.disk_calls()
    assert main([*base, "--security-type", "TrustedLaunch", "--vm-guest-state", str(guest), "--json"]) == 0
    assert managed_disk_double.companion_bytes("cli1") == guest.read_bytes()


# -- publish: the same per disk, from the manifest ---------------------------------------------
def _manifest(folder, disk_extra: str) -> object:
    from tests.publish.conftest import MANIFEST
    from tests.support.registration import LOC

    text = MANIFEST.format(rg=RG, loc=LOC, kind="gallery-version", storage="managed_disks = true", disk_extra="",
                           image_extra='gallery = "gal"\ndefinition = "app"\nversion = "1.0.0"\npublisher = "contoso"\n'
                                       'offer = "app"\nsku = "v1"\n')
    text = text.replace('path = "os.vhd"\nrole = "os"\n', f'path = "os.vhd"\nrole = "os"\n{disk_extra}')
    path = folder / "publish.toml"
    path.write_text(text)
    return path


@pytest.fixture
def publish_disks(tmp_path):
    from tests.publish.conftest import make_disks

    disks = make_disks(tmp_path / "img")
    guest, _ = fixed_vhd(disks.folder, "vmgs", GUEST_STATE_BYTES - 512, seed=7)
    return disks, guest


def test_publish_uploads_the_os_disk_with_its_guest_state(managed_disk_double, arm_connection, publish_disks):
    from vhdupload import PublishOptions, publish

    disks, guest = publish_disks
    manifest = _manifest(disks.folder, 'vm_guest_state = "vmgs.vhd"\nsecurity_type = "TrustedLaunch"\n')
    publish(manifest, arm=arm_connection(), options=PublishOptions(polling_interval=0))  # the replication's polls
    body = [r for r in managed_disk_double.disk_calls("app-image-os") if r.method == "PUT"][0].body
    assert body["properties"]["creationData"]["createOption"] == "UploadPreparedSecure"
    assert body["properties"]["securityProfile"] == {"securityType": "TrustedLaunch"}
    assert managed_disk_double.companion_bytes("app-image-os") == guest.read_bytes()
    data_body = [r for r in managed_disk_double.disk_calls("app-image-data0") if r.method == "PUT"][0].body
    assert data_body["properties"]["creationData"]["createOption"] == "Upload"


@pytest.mark.parametrize("extra, words", [
    ('vm_guest_state = "missing.vhd"\n', "does not exist"),
    ('security_type = "ConfidentialVM_DiskEncryptedWithPlatformKey"\n', "VM guest state"),
])
def test_publish_refuses_a_bad_guest_state_before_anything_remote(managed_disk_double, arm_connection, publish_disks,
                                                                  extra, words):
    from vhdupload import publish
    from vhdupload.errors import PublishCheckError

    disks, _ = publish_disks
    with pytest.raises(PublishCheckError, match=words):
        publish(_manifest(disks.folder, extra), arm=arm_connection())
    assert not managed_disk_double.writes()
