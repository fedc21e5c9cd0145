"""Gallery image versions and disk imports through the real client against the ARM double."""

from __future__ import annotations

import pytest

from tests.support.registration import LOC, MIB, RG, SUB
from vhdupload import ArmConnection
from vhdupload.errors import ArmError, InputError
from tests.support.registration import register_disk, register_gallery_version

from .disk_images import ESP, gpt

GALLERY = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries"


def _os_blob(blobs, tmp_path):
    data = gpt(tmp_path / "os", (2048, 4095, ESP)).read_bytes()
    return blobs.page_blob("os.vhd", data[: 8 * 512], size=len(data))


def _version(blobs, compute, os_url, **kw):
    args = dict(
        gallery="gal", image_definition="ubuntu", version="1.2.3", resource_group=RG, location=LOC,
        os_disk=os_url, arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory(),
    )
    args.update(kw)
    return register_gallery_version(**args)


def test_gallery_and_definition_created_when_missing(blobs, arm, compute, tmp_path):
    os_url = _os_blob(blobs, tmp_path)
    data = [blobs.page_blob("d0.vhd"), blobs.page_blob("d1.vhd")]
    version = _version(
        blobs, compute, os_url, data_disks=[f"{data[0]},lun=4", data[1]], os_type="linux", os_state="specialized",
        publisher="contoso", offer="ubuntu", sku="24_04", target_regions=["westeurope=2", "northeurope"],
    )
    puts = arm.puts()
    assert [p.path for p in puts] == [f"{GALLERY}/gal", f"{GALLERY}/gal/images/ubuntu", f"{GALLERY}/gal/images/ubuntu/versions/1.2.3"]
    assert puts[0].body == {"location": LOC, "properties": {}}
    assert puts[1].body["properties"] == {
        "osType": "Linux", "osState": "Specialized", "hyperVGeneration": "V2",
        # Generation 2: Trusted Launch supported, Azure's default for a new VM (the ESP-only test
        # disk has no kernel modules to read, so no controller or network promise is made)
        "features": [{"name": "SecurityType", "value": "TrustedLaunchSupported"}],
        "identifier": {"publisher": "contoso", "offer": "ubuntu", "sku": "24_04"},
    }
    account = arm.storage_account_id
    assert puts[2].body["properties"] == {
        "publishingProfile": {
            "targetRegions": [{"name": "westeurope", "regionalReplicaCount": 2}, {"name": "northeurope"}]
        },
        "storageProfile": {
            "osDiskImage": {"hostCaching": "ReadWrite", "source": {"storageAccountId": account, "uri": os_url}},
            "dataDiskImages": [
                {"lun": 0, "hostCaching": "None", "source": {"storageAccountId": account, "uri": data[1]}},
                {"lun": 4, "hostCaching": "None", "source": {"storageAccountId": account, "uri": data[0]}},
            ],
        },
    }
    assert arm.polls_of("async") == 9  # three operations, each polled three times (northeurope: ARM's 1 replica)
    assert version["properties"]["provisioningState"] == "Succeeded"


def test_missing_definition_without_identity_names_what_is_missing(blobs, arm, compute, tmp_path):
    with pytest.raises(InputError, match="image definition ubuntu does not exist in gallery gal; to create it, also give --offer, --sku, --os-type"):
        _version(blobs, compute, _os_blob(blobs, tmp_path), publisher="contoso")
    assert arm.puts() == []


def test_existing_definition_is_used_and_checked(blobs, arm, compute, tmp_path):
    os_url = _os_blob(blobs, tmp_path)
    _version(blobs, compute, os_url, publisher="p", offer="o", sku="s", os_type="linux")
    arm.requests.clear()
    _version(blobs, compute, os_url, version="1.2.4")
    assert [p.path.rsplit("/", 1)[-1] for p in arm.puts()] == ["1.2.4"]
    with pytest.raises(InputError, match="is for OS state Generalized, not Specialized"):
        _version(blobs, compute, os_url, version="1.2.5", os_state="specialized")


def test_existing_definition_of_another_generation_is_refused(blobs, arm, compute, tmp_path):
    os_url = _os_blob(blobs, tmp_path)  # GPT + ESP: the definition is made V2
    _version(blobs, compute, os_url, publisher="p", offer="o", sku="s", os_type="linux")
    arm.requests.clear()
    with pytest.raises(InputError, match="is for Hyper-V generation V2, not V1: a version takes its definition's generation"):
        _version(blobs, compute, os_url, version="1.2.4", hyper_v_generation="V1")
    assert arm.puts() == []
    _version(blobs, compute, os_url, version="1.2.4", hyper_v_generation="v2")  # the same generation is fine
    assert [p.path.rsplit("/", 1)[-1] for p in arm.puts()] == ["1.2.4"]


def test_storage_account_not_found_asks_for_the_id(blobs, arm, compute, tmp_path):
    arm.storage_accounts.clear()
    with pytest.raises(InputError, match="cannot find the storage account 'devstoreaccount1'.*pass --storage-account-id"):
        _version(blobs, compute, _os_blob(blobs, tmp_path), publisher="p", offer="o", sku="s", os_type="linux")
    assert arm.puts() == []


def test_given_storage_account_id_skips_the_lookup(blobs, arm, compute, tmp_path):
    _version(blobs, compute, _os_blob(blobs, tmp_path), publisher="p", offer="o", sku="s", os_type="linux",
             storage_account_id=arm.storage_account_id)
    assert not any("Microsoft.Storage" in r.path for r in arm.requests)


def test_gallery_version_failure(blobs, arm, compute, tmp_path):
    os_url = _os_blob(blobs, tmp_path)
    _version(blobs, compute, os_url, publisher="p", offer="o", sku="s", os_type="linux")
    arm.fail_next = {"code": "ReplicationJobsNotCompleted", "message": "Replication failed in westeurope."}
    with pytest.raises(ArmError, match="cannot create the image version ubuntu 2.0.0: Azure answered ReplicationJobsNotCompleted: Replication failed"):
        _version(blobs, compute, os_url, version="2.0.0")


def test_bad_version_refused(blobs, compute):
    with pytest.raises(InputError, match="not MAJOR.MINOR.PATCH"):
        _version(blobs, compute, blobs.url("x.vhd"), version="1.2")


# -- disks ------------------------------------------------------------------------------------


def test_disk_import_body_and_location_polling(blobs, arm, compute, tmp_path):
    os_url = _os_blob(blobs, tmp_path)
    disk = register_disk(
        name="osdisk", resource_group=RG, location=LOC, source=os_url, sku="Premium_LRS", os_type="linux",
        arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory(),
    )
    put = arm.puts()[0]
    assert put.path.endswith("/providers/Microsoft.Compute/disks/osdisk")
    assert put.body == {
        "location": LOC,
        "sku": {"name": "Premium_LRS"},
        "properties": {
            "osType": "Linux",
            "hyperVGeneration": "V2",
            "creationData": {"createOption": "Import", "sourceUri": os_url, "storageAccountId": arm.storage_account_id},
        },
    }
    assert arm.polls_of("location") == 3  # 202, 202, 200 with the disk
    assert disk["properties"]["provisioningState"] == "Succeeded"


def test_data_disk_import_without_generation(blobs, arm, compute):
    register_disk(name="data", resource_group=RG, location=LOC, source=blobs.page_blob("d.vhd", size=4 * MIB),
                  arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory())
    assert "hyperVGeneration" not in arm.puts()[0].body["properties"]


def test_disk_import_failure_is_a_clear_error(blobs, arm, compute):
    arm.fail_next = {"code": "ImportFailed", "message": "The blob could not be copied."}
    with pytest.raises(ArmError, match="cannot create the disk data: Azure answered ImportFailed: The blob could not be copied.") as info:
        register_disk(name="data", resource_group=RG, location=LOC, source=blobs.page_blob("d.vhd"),
                      arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory())
    assert info.value.code == "ImportFailed" and info.value.status == 400


def test_disk_plan_gives_the_az_line(blobs, arm, compute):
    from vhdupload.registration import DiskImportSpec, PlanContext, plan_disk

    url = blobs.page_blob("d.vhd")
    plan = plan_disk(DiskImportSpec(name="data", resource_group=RG, location=LOC, source=url + "?sv=1&sig=abc", sku="StandardSSD_LRS", storage_account_id=arm.storage_account_id, skip_preflight=True), context=PlanContext(subscription_id=SUB, compute_client=compute))
    assert plan.target.az_command == (
        f"az disk create --subscription {SUB} --resource-group {RG} --location {LOC} --name data --source {url} "
        f"--source-storage-account-id {arm.storage_account_id} --sku StandardSSD_LRS"
    )
    assert arm.requests == []


def test_new_definition_takes_the_os_type_from_the_disk_when_not_given(blobs, arm, compute, tmp_path):
    from vhdupload.registration import GalleryVersionSpec, PlanContext, plan_gallery_version

    from .disk_images import LINUX

    data = gpt(tmp_path / "linux", (2048, 4095, ESP), (4096, 6143, LINUX)).read_bytes()
    url = blobs.page_blob("linux.vhd", data[: 8 * 512], size=len(data))
    plan = plan_gallery_version(GalleryVersionSpec(gallery="gal", image_definition="ubuntu", version="1.0.0", resource_group=RG, location=LOC, os_disk=url, publisher="p", offer="o", sku="s"), context=PlanContext(subscription_id=SUB, compute_client=compute, blob_client_factory=blobs.factory()))
    definition = plan.requests[1].body["properties"]
    assert definition["osType"] == "Linux" and definition["hyperVGeneration"] == "V2"
    assert any(n.startswith("OS type Linux for the new image definition: the OS disk has Linux filesystem") for n in plan.notes)
    assert arm.writes() == []
    with pytest.raises(InputError, match="also give --os-type \\(the OS disk has no partition type"):
        _version(blobs, compute, _os_blob(blobs, tmp_path), publisher="p", offer="o", sku="s")
