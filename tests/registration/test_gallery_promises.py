"""Gallery first (#18): a new definition says what the OS disk can do (security type, NVMe,
accelerated networking); an existing one that promises more is refused before anything is sent;
a managed image is refused where Azure could not use it; the version replicates where asked and
the replication is watched region by region. Through the real client against the ARM double."""

from __future__ import annotations

import pytest

from tests.support.registration import LOC, RG, SUB, register_gallery_version, register_image
from vhdupload import ArmConnection
from vhdupload.errors import InputError
from vhdupload.guest import Capabilities
from vhdupload.registration import (
    Distribution, GalleryVersionSpec, PlanContext, Registrar, ReplicationFailedError, TargetRegion, plan_gallery_version,
)

from .disk_images import ESP, gpt, mbr

GALLERY = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries"
NVME_AND_MLX = Capabilities(disk_controller_types=["SCSI", "NVMe"], accelerated_network=True, signs=["test"])
SCSI_ONLY = Capabilities(disk_controller_types=["SCSI"], accelerated_network=False, signs=["test"])


def _gen2_blob(blobs, tmp_path, name="os.vhd"):
    data = gpt(tmp_path / name, (2048, 4095, ESP)).read_bytes()
    return blobs.page_blob(name, data[: 8 * 512], size=len(data))


def _gen1_blob(blobs, tmp_path, name="os1.vhd"):
    data = mbr(tmp_path / name, "83").read_bytes()
    return blobs.page_blob(name, data[:512], size=len(data))


def _spec(os_url, **kw):
    args = dict(gallery="gal", image_definition="app", version="1.0.0", resource_group=RG, location=LOC,
                os_disk=os_url, publisher="p", offer="o", sku="s", os_type="linux")
    args.update(kw)
    return GalleryVersionSpec(**args)


def _registrar(blobs, compute, **kw):
    return Registrar(ArmConnection.from_client(compute), blob_client_factory=blobs.factory(), polling_interval=0, **kw)


def _definition(arm):
    return next(p for p in arm.puts() if p.path.endswith("/images/app"))


def test_a_new_definition_promises_what_the_disk_can_do(blobs, arm, compute, tmp_path):
    registrar = _registrar(blobs, compute)
    registrar.register(_spec(_gen2_blob(blobs, tmp_path), capabilities=NVME_AND_MLX))
    assert _definition(arm).body["properties"]["features"] == [
        {"name": "SecurityType", "value": "TrustedLaunchSupported"},
        {"name": "DiskControllerTypes", "value": "SCSI, NVMe"},
        {"name": "IsAcceleratedNetworkSupported", "value": "True"},
    ]


def test_the_security_type_asked_for_is_the_definitions(blobs, arm, compute, tmp_path):
    registrar = _registrar(blobs, compute)
    plan = registrar.plan(_spec(_gen2_blob(blobs, tmp_path), security_type="trustedlaunchandconfidentialvmsupported",
                                capabilities=SCSI_ONLY))
    definition = next(r for r in plan.requests if "definition" in r.description)
    assert definition.body["properties"]["features"] == [
        {"name": "SecurityType", "value": "TrustedLaunchAndConfidentialVmSupported"},
        {"name": "DiskControllerTypes", "value": "SCSI"},
        {"name": "IsAcceleratedNetworkSupported", "value": "False"},
    ]
    with pytest.raises(InputError, match="security type 'Bogus' is not one of Standard, TrustedLaunch"):
        registrar.plan(_spec(_gen2_blob(blobs, tmp_path), security_type="Bogus"))


def test_a_generation_1_disk_gets_no_trusted_launch_and_cannot_ask_for_it(blobs, arm, compute, tmp_path):
    registrar = _registrar(blobs, compute)
    url = _gen1_blob(blobs, tmp_path)
    plan = registrar.plan(_spec(url))
    definition = next(r for r in plan.requests if "definition" in r.description)
    assert definition.body["properties"]["hyperVGeneration"] == "V1"
    assert "features" not in definition.body["properties"]
    with pytest.raises(InputError, match="security type TrustedLaunchSupported needs a Generation 2 .* this disk is Generation 1"):
        registrar.plan(_spec(url, security_type="TrustedLaunchSupported"))
    assert arm.puts() == []


def test_an_existing_definition_promising_nvme_is_refused_for_a_disk_without_the_driver(blobs, arm, compute, tmp_path):
    registrar = _registrar(blobs, compute)
    url = _gen2_blob(blobs, tmp_path)
    registrar.register(_spec(url, capabilities=NVME_AND_MLX))
    arm.requests.clear()
    with pytest.raises(InputError, match=r"the image definition app promises NVMe \(DiskControllerTypes=SCSI, NVMe\), "
                                         "but the OS disk has no NVMe driver"):
        registrar.plan(_spec(url, version="1.0.1", capabilities=SCSI_ONLY))
    assert arm.puts() == []
    with pytest.raises(InputError, match="has security type TrustedLaunchSupported, not Standard"):
        registrar.plan(_spec(url, version="1.0.1", capabilities=NVME_AND_MLX, security_type="Standard"))
    plan = registrar.plan(_spec(url, version="1.0.1", capabilities=Capabilities(["SCSI", "NVMe"], False)))
    assert any("says accelerated networking is supported, but the OS disk has no Mellanox" in w for w in plan.warnings)


def test_the_double_refuses_trusted_launch_on_a_generation_1_definition(blobs, arm, compute, tmp_path):
    """What Azure refuses, the double refuses: the tool never sends it (checked above), so send it raw."""
    compute.galleries.begin_create_or_update(RG, "gal", {"location": LOC, "properties": {}}).result()
    from vhdupload.errors import ArmError
    from vhdupload.azure.arm import arm_errors

    body = {"location": LOC, "properties": {"osType": "Linux", "osState": "Generalized", "hyperVGeneration": "V1",
                                             "identifier": {"publisher": "p", "offer": "o", "sku": "s"},
                                             "features": [{"name": "SecurityType", "value": "TrustedLaunchSupported"}]}}
    with pytest.raises(ArmError, match="supported only for Hyper-V Generation V2"):
        with arm_errors("create the definition"):
            compute.gallery_images.begin_create_or_update(RG, "gal", "raw", body).result()


# -- managed images: refused where Azure could not use them ---------------------------------------


def test_a_managed_image_for_trusted_launch_is_refused_before_anything_is_sent(blobs, arm, compute, tmp_path):
    with pytest.raises(InputError, match="a managed image cannot back a TrustedLaunch VM: register a gallery image version"):
        register_image(name="img", resource_group=RG, location=LOC, os_disk=_gen2_blob(blobs, tmp_path), os_type="linux",
                       arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory(),
                       security_type="TrustedLaunch")
    assert arm.requests == []


# -- replication -----------------------------------------------------------------------------------


def test_target_regions_take_azs_syntax_and_the_gallery_region_is_kept(blobs, arm, compute, tmp_path):
    registrar = _registrar(blobs, compute)
    plan = registrar.plan(_spec(
        _gen2_blob(blobs, tmp_path), target_regions=["eastus=2=Standard_ZRS", {"name": "North Europe", "replicas": 3},
                                                     TargetRegion("westus3")],
        replica_count=2, storage_account_type="premium_lrs", replication_mode="full", exclude_from_latest=True,
        end_of_life="2027-12-31",
    ))
    assert plan.body["properties"]["publishingProfile"] == {
        "targetRegions": [
            {"name": "westeurope"},
            {"name": "eastus", "regionalReplicaCount": 2, "storageAccountType": "Standard_ZRS"},
            {"name": "northeurope", "regionalReplicaCount": 3},
            {"name": "westus3"},
        ],
        "replicaCount": 2, "storageAccountType": "Premium_LRS", "replicationMode": "Full", "excludeFromLatest": True,
        "endOfLifeDate": "2027-12-31T00:00:00+00:00",
    }
    assert any("westeurope (the gallery's region) added" in n for n in plan.notes)


@pytest.mark.parametrize("regions, message", [
    (["eastus=0"], "replicas 0 is not a number from 1 to 100"),
    (["eastus=2=Fast_LRS"], "'Fast_LRS' is not one of Standard_LRS, Standard_ZRS"),
    (["east us!"], "is not an Azure region name"),
    (["eastus", "EastUS"], "target region eastus is given twice"),
    ([{"name": "eastus", "replica": 2}], "unknown key 'replica'"),
])
def test_bad_target_regions_are_refused_before_anything_is_sent(blobs, arm, compute, tmp_path, regions, message):
    with pytest.raises(InputError, match=message):
        _registrar(blobs, compute).plan(_spec(_gen2_blob(blobs, tmp_path), target_regions=regions))
    assert arm.puts() == []


def test_shallow_replication_stays_in_the_gallery_region():
    with pytest.raises(InputError, match="replication mode Shallow keeps the version in its own region"):
        Distribution(target_regions=["eastus"], replication_mode="shallow").publishing_profile("westeurope")
    profile, _ = Distribution(replication_mode="Shallow").publishing_profile("westeurope")
    assert profile == {"targetRegions": [{"name": "westeurope", "regionalReplicaCount": 1}], "replicationMode": "Shallow"}


def test_replication_is_watched_region_by_region_until_done(blobs, arm, compute, tmp_path):
    registrar = _registrar(blobs, compute)
    registration = registrar.begin_register(_spec(_gen2_blob(blobs, tmp_path), target_regions=["eastus", "westus3"]))
    registration.result()
    seen = []
    final = registrar.watch_replication(registration, on_status=seen.append, poll_seconds=0)
    assert [(r.region, r.state, r.progress) for r in final.regions] == [
        ("westeurope", "Completed", 100), ("eastus", "Completed", 100), ("westus3", "Completed", 100)]
    assert [r.progress for r in seen[0].regions] == [50, 50, 50]  # the double advances 50 % per read
    gets = [r for r in arm.requests if r.method == "GET" and r.query.get("$expand") == ["ReplicationStatus"]]
    assert len(gets) == len(seen) == 2


def test_a_failed_region_is_named_with_arms_message_and_a_rerun_does_not_recreate_the_version(blobs, arm, compute, tmp_path):
    arm.failing_regions["eastus"] = "The storage account quota in eastus was exceeded."
    registrar = _registrar(blobs, compute)
    spec = _spec(_gen2_blob(blobs, tmp_path), target_regions=["eastus"])
    registration = registrar.begin_register(spec)
    registration.result()
    with pytest.raises(ReplicationFailedError, match="replication failed in 1 region.*eastus: The storage account quota "
                                                     "in eastus was exceeded") as caught:
        registrar.watch_replication(registration, poll_seconds=0)
    assert [r.state for r in caught.value.status.regions] == ["Completed", "Failed"]
    version_puts = [p for p in arm.puts() if "/versions/" in p.path]
    again = registrar.begin_register(spec)  # the rerun: same body, so nothing is sent again
    assert again.done() and again.status() == "Succeeded"
    assert [p for p in arm.puts() if "/versions/" in p.path] == version_puts
    assert any("already exists with this body" in n for n in again.plan.notes)


def test_watching_gives_up_at_its_timeout_and_says_it_goes_on(blobs, arm, compute, tmp_path):
    arm.replication_step = 1
    registrar = _registrar(blobs, compute)
    registration = registrar.begin_register(_spec(_gen2_blob(blobs, tmp_path)))
    registration.result()
    from vhdupload.errors import RegistrationError

    with pytest.raises(RegistrationError, match=r"replication of app 1.0.0 is not done after 0 s \(westeurope 1%\); it goes on"):
        registrar.watch_replication(registration, poll_seconds=0, timeout=0)


def test_the_az_lines_carry_the_features_and_the_distribution(blobs, arm, compute, tmp_path):
    plan = _registrar(blobs, compute).plan(_spec(
        _gen2_blob(blobs, tmp_path), capabilities=NVME_AND_MLX, target_regions=["eastus=2=Standard_ZRS", "westus3"],
        replica_count=3, replication_mode="Full", exclude_from_latest=True, end_of_life="2030-01-01",
    ))
    definition, version = (r.az_command for r in plan.requests[-2:])
    assert ("--features SecurityType=TrustedLaunchSupported DiskControllerTypes=SCSI,NVMe "
            "IsAcceleratedNetworkSupported=True") in definition
    assert "--target-regions westeurope=3 eastus=2=Standard_ZRS westus3=3 --replica-count 3" in version
    assert "--replication-mode Full --exclude-from-latest true --end-of-life-date 2030-01-01T00:00:00+00:00" in version
