"""``publish`` end to end: Azurite for blobs, the ARM double through the real azure-mgmt-compute
client for images and managed disks; the blobs and disks are compared byte for byte with their
sources."""

from __future__ import annotations

import threading

import pytest

from tests.support.registration import LOC, RG, SUB
from vhdupload import ArmConnection, PageBlob, TransferSettings, verify
from vhdupload.errors import CancelledError, InputError, PublishCheckError
from vhdupload.publish import DiskSource, ImageTarget, PublishOptions, PublishPlan, StorageTarget, publish

from .conftest import MIB, assert_holds, write_manifest

IMAGE_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/images/app-image"


def _blob(service, container_url: str, name: str) -> bytes:
    container = container_url.rsplit("/", 1)[1]
    return service.get_blob_client(container, name).download_blob().readall()


def _containers(service) -> set[str]:
    return {c.name for c in service.list_containers()}


def _arm(compute_client) -> ArmConnection:
    """The connection over a ready ComputeManagementClient aimed at the ARM double."""
    return ArmConnection.from_client(compute_client())


def test_blob_publish_registers_one_image_with_the_right_sources(disks, double, compute_client, azurite, service,
                                                                   container_url):
    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    seen: set[tuple[int, str]] = set()
    # a pinned budget of 8 connections, shared by the disks (the default lets each disk adapt)
    result = publish(manifest, arm=_arm(compute_client), connection_string=azurite.connection_string,
                     settings=TransferSettings(threads=8), progress=lambda p: seen.add((p.index, p.role)))
    assert result.created and result.image_id == IMAGE_ID
    puts = double.puts()
    assert len(puts) == 1 and puts[0].path == IMAGE_ID
    props = puts[0].body["properties"]
    assert props["hyperVGeneration"] == "V2"  # the GPT OS disk has an EFI system partition
    storage = props["storageProfile"]
    assert storage["osDisk"] == {"osType": "Linux", "osState": "Generalized", "blobUri": f"{container_url}/os.vhd"}
    assert storage["dataDisks"] == [
        {"lun": 0, "blobUri": f"{container_url}/data0.vhd", "caching": "ReadOnly"},
        {"lun": 3, "blobUri": f"{container_url}/data1.vhd"},
    ]
    for name, content in disks.content.items():
        assert_holds(_blob(service, container_url, name), content)
    assert _blob(service, container_url, "data1.vhd")[:-512].__len__() == 23 * MIB  # 22 MiB + 12 KiB rounded up
    # every disk reported its progress, told apart
    assert seen == {(0, "os"), (1, "data"), (2, "data")}
    data = result.to_dict()
    assert set(data) == {"image_id", "created", "bytes_sent", "seconds", "disks"}
    assert [(d["path"].rsplit("/", 1)[1], d["role"], d["lun"], d["verified"], d["resumed"]) for d in data["disks"]] == [
        ("os.vhd", "os", None, True, False), ("data0.vhd", "data", 0, True, False), ("data1.vhd", "data", 3, True, False)]
    assert data["disks"][1]["destination"] == f"{container_url}/data0.vhd"
    assert data["bytes_sent"] == sum(d["bytes_sent"] for d in data["disks"]) > 2 * MIB
    assert sum(result.threads) == 8 and result.threads[0] >= result.threads[2]  # the budget shared by data held

    # a rerun sends nothing and writes nothing to ARM, and says the image is there
    writes, requests = len(double.writes()), len(double.requests)
    again = publish(manifest, arm=_arm(compute_client), connection_string=azurite.connection_string)
    assert not again.created and again.bytes_sent == 0 and again.image_id == IMAGE_ID
    assert len(double.writes()) == writes
    assert [r.method for r in double.requests[requests:]] == ["GET"]  # the image, looked at once
    assert all(d.bytes_sent == 0 for d in again.disks)


def test_managed_disk_publish_references_the_disks_by_id(disks, double, compute_client):
    manifest = write_manifest(disks.folder, storage='managed_disks = true\ndisk_sku = "premium_lrs"')
    result = publish(manifest, arm=_arm(compute_client), settings=TransferSettings(threads=4))
    image_put = [r for r in double.puts() if "/images/" in r.path]
    assert len(image_put) == 1
    storage = image_put[0].body["properties"]["storageProfile"]
    disk_id = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/disks/app-image-"
    assert storage["osDisk"]["managedDisk"] == {"id": disk_id + "os"}
    assert [(d["lun"], d["managedDisk"]["id"], d.get("caching")) for d in storage["dataDisks"]] == [
        (0, disk_id + "data0", "ReadOnly"), (3, disk_id + "data1", None)]
    assert image_put[0].body["properties"]["hyperVGeneration"] == "V2"
    os_disk = double.disk("app-image-os")
    assert os_disk["properties"]["osType"] == "Linux" and os_disk["properties"]["hyperVGeneration"] == "V2"
    assert os_disk["sku"]["name"] == "Premium_LRS"
    for stem in ("os", "data0", "data1"):
        assert double.disk_state(f"app-image-{stem}") == "Unattached"
        assert_holds(double.disk_bytes(f"app-image-{stem}"), disks.content[f"{stem}.vhd"])
    assert [d.destination for d in result.disks] == [disk_id + s for s in ("os", "data0", "data1")]
    assert all(d.verified for d in result.disks)
    writes = len(double.writes())
    again = publish(manifest, arm=_arm(compute_client))
    assert not again.created and again.bytes_sent == 0 and len(double.writes()) == writes


def test_gallery_version_manifest(disks, double, compute_client, azurite, container_url):
    manifest = write_manifest(
        disks.folder, kind="gallery-version", storage=f'container_url = "{container_url}"',
        image_extra='gallery = "gal"\ndefinition = "app"\nversion = "1.0.0"\npublisher = "contoso"\noffer = "app"\nsku = "v1"\n'
                    'tags = { team = "x" }\n',
    )
    fast = PublishOptions(polling_interval=0)
    result = publish(manifest, arm=_arm(compute_client), connection_string=azurite.connection_string, options=fast)
    puts = double.puts()
    assert [p.path.rsplit("/", 1)[1] for p in puts] == ["gal", "app", "1.0.0"]
    definition = puts[1].body["properties"]
    assert definition["osType"] == "Linux" and definition["hyperVGeneration"] == "V2"
    assert definition["identifier"] == {"publisher": "contoso", "offer": "app", "sku": "v1"}
    version = puts[2].body
    assert version["tags"] == {"team": "x"}
    storage = version["properties"]["storageProfile"]
    assert storage["osDiskImage"]["source"] == {"storageAccountId": double.storage_account_id, "uri": f"{container_url}/os.vhd"}
    assert [(d["lun"], d["hostCaching"], d["source"]["uri"]) for d in storage["dataDiskImages"]] == [
        (0, "ReadOnly", f"{container_url}/data0.vhd"), (3, "None", f"{container_url}/data1.vhd")]
    assert result.image_id.endswith("/galleries/gal/images/app/versions/1.0.0") and result.created
    assert result.threads == []  # no budget given: each disk's requests in flight adapted on their own
    assert [(r.region, r.state) for r in result.replication.regions] == [("westeurope", "Completed")]
    assert result.to_dict()["replication"]["aggregatedState"] == "Completed"
    writes = len(double.writes())
    again = publish(manifest, arm=_arm(compute_client), connection_string=azurite.connection_string, options=fast)
    assert not again.created and again.bytes_sent == 0 and len(double.writes()) == writes
    assert again.replication is not None  # a rerun watches again, never recreates


def test_gallery_version_manifest_with_replication_and_security(disks, double, compute_client, azurite, container_url):
    seen = []
    manifest = write_manifest(
        disks.folder, kind="gallery-version", storage=f'container_url = "{container_url}"',
        image_extra='gallery = "gal"\ndefinition = "app"\nversion = "1.0.0"\npublisher = "c"\noffer = "a"\nsku = "v1"\n'
                    'security_type = "TrustedLaunchAndConfidentialVmSupported"\nreplica_count = 2\n'
                    'target_regions = ["eastus=1=Standard_ZRS", { name = "westus3", replicas = 3 }]\n'
                    'exclude_from_latest = true\nend_of_life = 2030-01-01\n',
    )
    result = publish(manifest, arm=_arm(compute_client), connection_string=azurite.connection_string,
                     options=PublishOptions(polling_interval=0), on_replication=seen.append)
    definition, version = double.puts()[1].body["properties"], double.puts()[2].body["properties"]
    assert {"name": "SecurityType", "value": "TrustedLaunchAndConfidentialVmSupported"} in definition["features"]
    assert version["publishingProfile"] == {
        "targetRegions": [{"name": "westeurope"}, {"name": "eastus", "regionalReplicaCount": 1, "storageAccountType": "Standard_ZRS"},
                          {"name": "westus3", "regionalReplicaCount": 3}],
        "replicaCount": 2, "excludeFromLatest": True, "endOfLifeDate": "2030-01-01T00:00:00+00:00",
    }
    assert {r.region for r in result.replication.regions} == {"westeurope", "eastus", "westus3"}
    assert seen and seen[-1].done


@pytest.mark.parametrize("extra, problem", [
    ('security_type = "TrustedLaunch"\n', 'security_type = "TrustedLaunch": a managed image cannot back such a VM: set kind = "gallery-version"'),
    ('target_regions = ["eastus"]\n', 'target_regions applies to kind = "gallery-version" only'),
    ('security_type = "Fast"\n', "security type 'Fast' is not one of Standard"),
])
def test_gallery_only_promises_on_a_managed_image_are_manifest_problems(disks, double, compute_client, container_url, extra, problem):
    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"', image_extra=extra)
    with pytest.raises(PublishCheckError) as info:
        publish(manifest, arm=_arm(compute_client))
    assert any(problem in p for p in info.value.problems), info.value.problems
    assert double.requests == []


def test_bad_target_regions_are_refused_before_any_upload(disks, double, compute_client, container_url):
    manifest = write_manifest(
        disks.folder, kind="gallery-version", storage=f'container_url = "{container_url}"',
        image_extra='gallery = "g"\ndefinition = "d"\nversion = "1.0.0"\ntarget_regions = ["eastus=2=Cheap_LRS"]\n')
    with pytest.raises(PublishCheckError, match="'Cheap_LRS' is not one of Standard_LRS"):
        publish(manifest, arm=_arm(compute_client))
    assert double.requests == []


def test_one_bad_file_creates_nothing_remote(disks, double, compute_client, azurite, service, container_url):
    (disks.folder / "data1.vhd").write_bytes(b"not a disk at all\n" * 100)
    (disks.folder / "os.vhd").unlink()
    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    before = _containers(service)
    with pytest.raises(PublishCheckError) as info:
        publish(manifest, arm=_arm(compute_client), connection_string=azurite.connection_string)
    problems = info.value.problems
    assert len(problems) == 2 and all("\n" not in p for p in problems)
    assert problems[0].startswith("[[disk]] #1 (os.vhd): ") and "no such file" in problems[0]
    assert problems[1].startswith("[[disk]] #3 (data1.vhd): ")
    assert double.requests == [] and _containers(service) == before
    # the same through managed disks: no disk made
    manifest = write_manifest(disks.folder, storage="managed_disks = true", name="md.toml")
    with pytest.raises(PublishCheckError):
        publish(manifest, arm=_arm(compute_client))
    assert double.requests == [] and not double.upload_disks


def test_dry_run_creates_nothing(disks, double, compute_client, azurite, service, container_url):
    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    before = _containers(service)
    result = publish(manifest, arm=_arm(compute_client), connection_string=azurite.connection_string,
                     options=PublishOptions(dry_run=True))
    assert double.writes() == [] and _containers(service) == before
    data = result.to_dict()
    assert data["dry_run"] is True and data["created"] is False and data["existing"] is None
    assert data["requests"][0]["id"] == IMAGE_ID
    assert data["requests"][0]["body"]["properties"]["storageProfile"]["dataDisks"][1]["lun"] == 3
    assert data["az"][0].startswith("az storage blob upload --type page --account-name devstoreaccount1")
    assert data["az"][-1].startswith(f"az image create --subscription {SUB} --resource-group {RG} --location {LOC}")
    sizes = [d["bytes_to_send"] for d in data["disks"]]
    assert sizes[0] >= 1 * MIB and all(0 < s <= 24 * MIB for s in sizes)
    # managed disks: no disk created either
    manifest = write_manifest(disks.folder, storage="managed_disks = true", name="md.toml")
    result = publish(manifest, arm=_arm(compute_client), options=PublishOptions(dry_run=True))
    assert double.writes() == [] and not double.upload_disks
    assert any(line.startswith(f"az disk create --subscription {SUB} --resource-group images-rg --name app-image-os") for line in result.upload_az)


def test_a_different_existing_image_is_refused_unless_overwrite(disks, double, compute_client, azurite, container_url):
    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    publish(manifest, arm=_arm(compute_client), connection_string=azurite.connection_string)
    changed = write_manifest(disks.folder, storage=f'container_url = "{container_url}"',
                             disk_extra='caching = "ReadWrite"\n', name="changed.toml")
    writes = len(double.writes())
    with pytest.raises(InputError, match=r"already exists with another body \(properties.storageProfile.dataDisks\[1\].caching"):
        publish(changed, arm=_arm(compute_client), connection_string=azurite.connection_string)
    assert len(double.writes()) == writes
    result = publish(changed, arm=_arm(compute_client), connection_string=azurite.connection_string,
                     options=PublishOptions(overwrite=True))
    assert result.created and result.bytes_sent == 0  # the blobs were there already
    methods = [(r.method, r.path) for r in double.writes()[writes:]]
    assert methods == [("DELETE", IMAGE_ID), ("PUT", IMAGE_ID)]
    assert double.puts()[-1].body["properties"]["storageProfile"]["dataDisks"][1]["caching"] == "ReadWrite"


def test_a_plan_from_python_objects_with_cleanup(disks, double, compute_client, azurite, service, container_url):
    plan = PublishPlan(
        image=ImageTarget(name="py-image", resource_group=RG, location=LOC, os_type="Linux"),
        storage=StorageTarget(container_url=container_url),
        disks=(DiskSource(path=disks.path("os.vhd"), role="os"), DiskSource(path=disks.path("data0.vhd"), lun=2)),
    )
    result = publish(plan, arm=_arm(compute_client), connection_string=azurite.connection_string,
                     options=PublishOptions(cleanup=True))
    assert result.created and result.cleaned_up
    assert [d.lun for d in result.disks] == [None, 2]
    container = container_url.rsplit("/", 1)[1]
    assert list(service.get_container_client(container).list_blobs()) == []  # Azure holds its own copy now


def test_cancel_stops_and_a_rerun_resumes(disks, double, compute_client, azurite, service, container_url):
    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    cancel = threading.Event()

    def stop_early(p):
        if p.progress.bytes_sent > 0:
            cancel.set()

    with pytest.raises(CancelledError):
        publish(manifest, arm=_arm(compute_client), connection_string=azurite.connection_string,
                settings=TransferSettings(threads=1, max_bandwidth=4 * MIB), cancel=cancel, progress=stop_early)
    assert double.puts() == []  # nothing registered
    result = publish(manifest, arm=_arm(compute_client), connection_string=azurite.connection_string)
    assert result.created and any(d.resumed for d in result.disks)
    for name, content in disks.content.items():
        assert_holds(_blob(service, container_url, name), content)
        blob = service.get_blob_client(container_url.rsplit("/", 1)[1], name)
        assert verify(disks.path(name), PageBlob.from_client(blob)).identical


def test_a_not_generalized_os_disk_is_refused_before_anything_remote(disks, double, compute_client, azurite,
                                                                       container_url, tmp_path):
    """The guest check (vhdupload.guest) on the local file: a Linux root with SSH host keys, a
    machine ID and the agent's 'provisioned' mark, built by mkfs.ext4 -d (tests/guest)."""
    import shutil

    from tests.guest.image_set import Images
    from vhdupload.guest import examine
    from vhdupload import open_disk

    (tmp_path / "guest").mkdir()
    image = Images(tmp_path / "guest").get("ext4-not-generalized")
    with open_disk(image) as disk:
        if examine(disk).generalized is not False:
            pytest.skip("the file-system readers (vhdupload[inspect]) are not installed")
    shutil.copyfile(image, disks.path("os.vhd"))
    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    with pytest.raises(PublishCheckError) as info:
        publish(manifest, arm=_arm(compute_client), connection_string=azurite.connection_string)
    (problem,) = info.value.problems
    assert problem.startswith("[[disk]] #1 (os.vhd): the OS disk (") and "is not generalized" in problem
    assert problem.endswith("(--skip-guest-check)")
    assert double.requests == []
    result = publish(manifest, arm=_arm(compute_client), connection_string=azurite.connection_string,
                     options=PublishOptions(dry_run=True, skip_guest_check=True))
    assert result.plan.body["properties"]["hyperVGeneration"] == "V1"  # MBR without an EFI partition


def test_verify_modes_of_a_publish(disks, double, compute_client, azurite, container_url):
    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    text = manifest.read_text()
    manifest.write_text('verify = "none"\n' + text)
    result = publish(manifest, arm=_arm(compute_client), connection_string=azurite.connection_string)
    assert result.created and all(d.verified is None for d in result.disks)  # not checked, as asked
    manifest.write_text('verify = "sometimes"\n' + text)
    with pytest.raises(PublishCheckError, match="verify = 'sometimes' is not one of 'ranges', 'full', 'none'"):
        publish(manifest, arm=_arm(compute_client), connection_string=azurite.connection_string)
    with pytest.raises(InputError, match="verify 'twice' is not one of ranges, full, none"):
        publish(manifest, arm=_arm(compute_client), options=PublishOptions(verify="twice"))
