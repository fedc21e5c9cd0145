"""Registration from managed disks: a source given as a disk resource ID becomes ``managedDisk.id``
(images) or ``source.id`` (gallery versions), after a pre-flight that reads the disk through ARM.
Real ``azure-mgmt-compute`` client against the ARM double (tests/support/arm_double.py)."""

from __future__ import annotations

import json

import pytest

from tests.support.arm_double import MIB
from tests.support.registration import LOC, RG, SUB
from vhdupload import ArmConnection
from vhdupload.cli import main
from vhdupload.errors import InputError, PreflightError
from tests.support.registration import register_gallery_version, register_image
from vhdupload.registration import ImageSpec, PlanContext, plan_image

SIZE = 20 * MIB + 512


def _disk(double, name, state="Unattached", **properties) -> str:
    return double.add_disk(name, state=state, upload_size_bytes=SIZE, properties=properties)["id"]


def test_image_from_managed_disks_references_them_by_id(managed_disk_double, compute_client):
    double = managed_disk_double
    os_id = _disk(double, "os", osType="Linux", hyperVGeneration="V2")
    d0, d1 = _disk(double, "data0"), _disk(double, "data1")
    image = register_image(
        name="img", resource_group=RG, location=LOC, os_disk=os_id, os_type="linux",
        data_disks=[f"{d1},lun=3,caching=ReadOnly", d0], arm=ArmConnection.from_client(compute_client()),
    )
    put = [r for r in double.puts() if "/images/" in r.path][0]
    profile = put.body["properties"]["storageProfile"]
    assert profile["osDisk"] == {"osType": "Linux", "osState": "Generalized", "managedDisk": {"id": os_id}}
    assert profile["dataDisks"] == [
        {"lun": 0, "managedDisk": {"id": d0}},
        {"lun": 3, "managedDisk": {"id": d1}, "caching": "ReadOnly"},
    ]
    assert put.body["properties"]["hyperVGeneration"] == "V2"  # auto: the disk's own
    assert image.as_dict()["properties"]["provisioningState"] == "Succeeded"
    # the pre-flight only read the disks (the OS disk, another tool's, through a Read grant it revoked)
    grants = [r for r in double.writes() if r.path.endswith(("/beginGetAccess", "/endGetAccess"))]
    assert [r.path.rsplit("/", 1)[1] for r in grants] == ["beginGetAccess", "endGetAccess"]
    assert grants[0].body["access"] == "Read" and double.disk_state("os") == "Unattached"
    assert [r for r in double.writes() if r not in grants] == [put]


def test_plan_notes_where_the_generation_came_from(managed_disk_double, compute_client):
    os_id = _disk(managed_disk_double, "os", osType="Windows", hyperVGeneration="V1")
    plan = plan_image(ImageSpec(name="img", resource_group=RG, location=LOC, os_disk=os_id, os_type="windows"), context=PlanContext(subscription_id=SUB, compute_client=compute_client()))
    assert plan.body["properties"]["hyperVGeneration"] == "V1"
    assert any("the managed disk os records it" in n for n in plan.notes)
    assert plan.target.az_command.startswith(f"az image create --subscription {SUB} --resource-group {RG} "
                                              f"--location {LOC} --name img --source {os_id} --os-type Windows")
    assert [type(c).__name__ for c in plan.checks] == ["DiskCheck"]


@pytest.mark.parametrize("state, words", [
    ("ActiveUpload", "its upload is not finished; run the same upload again"),
    ("ReadyToUpload", "its upload is not finished"),
    ("Attached", "detach it"),
])
def test_a_disk_that_is_not_unattached_is_refused_before_any_write(managed_disk_double, compute_client, state, words):
    os_id = _disk(managed_disk_double, "os", state=state, osType="Linux", hyperVGeneration="V2")
    with pytest.raises(PreflightError, match=words) as info:
        register_image(name="img", resource_group=RG, location=LOC, os_disk=os_id, os_type="linux",
                       arm=ArmConnection.from_client(compute_client()))
    assert "\n" not in str(info.value)
    assert managed_disk_double.puts() == []


def test_inconsistent_os_type_generation_or_missing_disk_are_refused(managed_disk_double, compute_client):
    os_id = _disk(managed_disk_double, "os", osType="Linux", hyperVGeneration="V2")
    client = compute_client()
    with pytest.raises(PreflightError, match="is a Linux OS disk, not Windows"):
        register_image(name="img", resource_group=RG, location=LOC, os_disk=os_id, os_type="windows", arm=ArmConnection.from_client(client))
    with pytest.raises(PreflightError, match="is Hyper-V generation V2, not V1 as asked"):
        register_image(name="img", resource_group=RG, location=LOC, os_disk=os_id, os_type="linux",
                       hyper_v_generation="V1", arm=ArmConnection.from_client(client))
    missing = os_id.rsplit("/", 1)[0] + "/nosuch"
    with pytest.raises(PreflightError, match="nosuch does not exist"):
        register_image(name="img", resource_group=RG, location=LOC, os_disk=os_id, os_type="linux",
                       data_disks=[missing], arm=ArmConnection.from_client(client))
    with pytest.raises(InputError, match="is given twice"):
        register_image(name="img", resource_group=RG, location=LOC, os_disk=os_id, os_type="linux",
                       data_disks=[os_id], arm=ArmConnection.from_client(client))
    assert managed_disk_double.puts() == []


def test_the_double_refuses_an_image_of_a_disk_that_is_uploading(managed_disk_double, compute_client):
    """Without the pre-flight, Azure's own check (the double's) still stops it."""
    from vhdupload.errors import ArmError

    os_id = _disk(managed_disk_double, "os", state="ActiveUpload")
    with pytest.raises(ArmError, match="unattached"):
        register_image(name="img", resource_group=RG, location=LOC, os_disk=os_id, os_type="linux",
                       hyper_v_generation="V2", skip_preflight=True, arm=ArmConnection.from_client(compute_client()))


def test_gallery_version_from_managed_disks_uses_source_id(managed_disk_double, compute_client):
    double = managed_disk_double
    os_id = _disk(double, "os", osType="Linux", hyperVGeneration="V2")
    data_id = _disk(double, "data0")
    register_gallery_version(
        gallery="gal", image_definition="def", version="1.0.0", resource_group=RG, location=LOC,
        os_disk=os_id, data_disks=[f"{data_id},lun=1"], publisher="p", offer="o", sku="s",
        arm=ArmConnection.from_client(compute_client()),
    )
    puts = {r.path.rsplit("/", 1)[-1]: r.body for r in double.puts()}
    definition = puts["def"]["properties"]
    assert definition["osType"] == "Linux" and definition["hyperVGeneration"] == "V2"  # both the disk's own
    storage = puts["1.0.0"]["properties"]["storageProfile"]
    assert storage["osDiskImage"]["source"] == {"id": os_id}
    assert storage["dataDiskImages"] == [{"lun": 1, "hostCaching": "None", "source": {"id": data_id}}]
    # a no storage account lookup was needed: no blob among the sources
    assert not [r for r in double.requests if "Microsoft.Storage" in r.path]


def test_gallery_version_refuses_a_disk_of_another_generation_than_its_definition(managed_disk_double, compute_client):
    double = managed_disk_double
    client = compute_client()
    os_id = _disk(double, "os", osType="Linux", hyperVGeneration="V2")
    register_gallery_version(gallery="gal", image_definition="def", version="1.0.0", resource_group=RG, location=LOC,
                             os_disk=os_id, publisher="p", offer="o", sku="s", arm=ArmConnection.from_client(client))
    old = _disk(double, "old", osType="Linux", hyperVGeneration="V1")
    with pytest.raises(PreflightError, match="generation V1, not V2"):
        register_gallery_version(gallery="gal", image_definition="def", version="1.0.1", resource_group=RG,
                                 location=LOC, os_disk=old, arm=ArmConnection.from_client(client))


def test_cli_register_image_from_a_disk_id_and_its_dry_run(stub_az, managed_disk_double, capsys):  # noqa: F811
    double = managed_disk_double
    os_id = _disk(double, "os", osType="Linux", hyperVGeneration="V2")
    data_id = _disk(double, "data0")
    common = ["--subscription", SUB, "--arm-endpoint", double.url]
    code = main(["register", "image", "img", "-g", RG, "-l", LOC, "--os-disk", os_id, "--os-type", "linux",
                 "--data-disk", f"{data_id},caching=ReadOnly", "--dry-run", *common])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert double.writes() == []  # the dry run read the disks, nothing else
    assert [r.method for r in double.requests] == ["GET", "GET"]
    body = json.loads(out.split("\n", 1)[1].split("# the same with the Azure CLI:\n")[0])
    assert body["properties"]["storageProfile"]["dataDisks"] == [{"lun": 0, "managedDisk": {"id": data_id}, "caching": "ReadOnly"}]
    assert f"--source {os_id} --os-type Linux --data-disk-sources {data_id}" in out
    code = main(["register", "image", "img", "-g", RG, "-l", LOC, "--os-disk", os_id, "--os-type", "linux", *common])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip().endswith("/images/img")
    double.set_disk_state("data0", "ActiveUpload")
    code = main(["register", "image", "img2", "-g", RG, "-l", LOC, "--os-disk", os_id, "--os-type", "linux",
                 "--data-disk", data_id, *common])
    out, err = capsys.readouterr()
    assert code == 1 and err.startswith("error: the managed disk data0 is ActiveUpload") and err.count("\n") == 1


def test_os_type_auto_takes_what_the_disk_records_when_nothing_inside_tells(managed_disk_double, compute_client):
    """Another tool's disk whose contents say nothing (no OS found inside): ``auto`` takes the
    OS type the disk itself records instead of asking for --os-type."""
    double = managed_disk_double
    os_id = _disk(double, "os", osType="Windows", hyperVGeneration="V2")
    register_image(name="img", resource_group=RG, location=LOC, os_disk=os_id, os_type="auto",
                   arm=ArmConnection.from_client(compute_client()))
    put = [r for r in double.puts() if "/images/" in r.path][0]
    assert put.body["properties"]["storageProfile"]["osDisk"]["osType"] == "Windows"
