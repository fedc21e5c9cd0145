"""Issue #22's managed-disk items: what ARM or a disk's tags say cannot make the upload send data
in cleartext, claim a success that is not one, crash, or word its advice wrongly."""

from __future__ import annotations

import pytest

from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from tests.support.uploads import write_random
from vhdupload import ArmConnection, ManagedDisk, TransferSettings, status, upload
from vhdupload.errors import ArmError, AuthenticationError, DestinationConflictError

MIB = 1024 * 1024


def disk(arm: ArmConnection, name: str, **kw) -> ManagedDisk:
    return ManagedDisk(name, resource_group=RG, arm=arm, location="westeurope", **kw)


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "d.raw"
    write_random(path, 21 * MIB, runs=[(0, 64 * 1024), (20 * MIB, 4096)])
    return path


def test_a_sas_over_plain_http_to_a_remote_host_is_refused_before_any_byte(managed_disk_double, arm_connection, image):
    # A port on loopback that nothing serves stands for the remote host: no request may reach either.
    managed_disk_double.sas_base = "http://disk.example.invalid:9"
    with pytest.raises(ArmError, match="not https") as info:
        upload(image, disk(arm_connection(), "http1"), raw=True)
    assert "sig=" not in str(info.value) and "disk.example.invalid" in str(info.value)
    assert not managed_disk_double.proxy.requests


def test_the_guest_state_sas_is_checked_too(managed_disk_double, arm_connection, tmp_path):
    from tests.managed_disks.test_secure_upload import fixed_vhd
    from tests.support.arm_double import GUEST_STATE_BYTES

    os_disk, _ = fixed_vhd(tmp_path, "os", 21 * MIB, seed=5)
    guest, _ = fixed_vhd(tmp_path, "vmgs", GUEST_STATE_BYTES - 512, seed=6)
    managed_disk_double.sas_base = "http://10.0.0.1:9"
    with pytest.raises(ArmError, match="not https"):
        upload(os_disk, disk(arm_connection(), "http2", os_type="linux", hyper_v_generation="V2",
                             security_type="TrustedLaunch", vm_guest_state=guest))
    assert not managed_disk_double.proxy.requests


def test_a_state_that_flaps_back_after_the_revoke_is_not_a_success(managed_disk_double, arm_connection, image):
    managed_disk_double.state_after_revoke = "ReadyToUpload"
    with pytest.raises(ArmError, match="ReadyToUpload after its write access was revoked, not Unattached"):
        upload(image, disk(arm_connection(), "flap"), raw=True)
    # once Azure settles, the same command finishes it
    managed_disk_double.state_after_revoke = None
    managed_disk_double.set_disk_state("flap", "Unattached")
    result = upload(image, disk(arm_connection(), "flap"), raw=True)
    assert result.already_complete and result.disk_state == "Unattached"


def test_a_corrupt_footer_uuid_tag_is_a_foreign_disk_in_one_line(managed_disk_double, arm_connection, image):
    upload(image, disk(arm_connection(), "tagged"), raw=True)
    tags = managed_disk_double.disk("tagged")["tags"]
    tags["vhdupload_footer_uuid"] = "not-a-uuid"
    with managed_disk_double._lock:
        managed_disk_double.resources[managed_disk_double._find_disk("tagged", None)]["tags"] = tags
    with pytest.raises(DestinationConflictError) as info:
        upload(image, disk(arm_connection(), "tagged"), raw=True)
    message = str(info.value)
    assert "vhdupload_footer_uuid is not a UUID" in message and "\n" not in message
    assert status(disk(arm_connection(), "tagged")).state == "foreign"


def test_an_expired_grant_says_the_grant_expired_and_the_disk_is_left_active(managed_disk_double, arm_connection,
                                                                             image):
    managed_disk_double.grant_seconds = -60  # every SAS Azure grants has expired already
    with pytest.raises(AuthenticationError) as info:
        upload(image, disk(arm_connection(), "expired"), raw=True, settings=TransferSettings(max_retries=0))
    message = str(info.value)
    assert "make a new one" not in message and "lasts longer" not in message
    assert "write access Azure granted" in message and "expired" in message
    assert "left ActiveUpload" in message and "ReadyToUpload" not in message
