"""An OS disk uploaded with an OS type carries what the guest check found: ``supportedCapabilities``
(architecture, disk controller types, accelerated networking) in its body, and the verdict (OS,
architecture, generalized, capabilities) in the ``vhdupload_guest`` tag, which registration reads
back; a disk that was not generalized is uploaded with a warning naming the signs that decided it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.guest.image_set import Images
from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from vhdupload import ManagedDisk, upload
from vhdupload.destinations.disk_layout import supported_capabilities
from vhdupload.destinations.disk_verdict import KEY_GUEST, Verdict
from vhdupload.guest.report import Capabilities, GuestReport


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Images:
    return Images(tmp_path_factory.mktemp("verdict-images"))


def os_disk(arm, name: str) -> ManagedDisk:
    return ManagedDisk(name, resource_group=RG, arm=arm, location="westeurope", os_type="auto")


def test_a_generalized_linux_disk_gets_its_capabilities_and_verdict(images, managed_disk_double, arm_connection):
    result = upload(images.get("ext4-generalized"), os_disk(arm_connection(), "gen"))
    body = [r for r in managed_disk_double.disk_calls("gen") if r.method == "PUT"][0].body
    capabilities = body["properties"]["supportedCapabilities"]
    assert capabilities["architecture"] == "x64"
    assert set(capabilities) <= {"architecture", "diskControllerTypes", "acceleratedNetwork"}
    # stored and returned by the double, as Azure does
    assert managed_disk_double.disk("gen")["properties"]["supportedCapabilities"] == capabilities
    verdict = Verdict.from_tag(managed_disk_double.disk("gen")["tags"][KEY_GUEST])
    assert verdict is not None and (verdict.os_type, verdict.architecture, verdict.generalized) == ("linux", "x64", True)
    assert not any(n.startswith("warning:") for n in result.notes)


def test_a_disk_that_was_not_generalized_uploads_with_a_warning_naming_the_real_signs(images, managed_disk_double,
                                                                                      arm_connection):
    result = upload(images.get("ext4-not-generalized"), os_disk(arm_connection(), "spec"))
    warnings = [n for n in result.notes if n.startswith("warning:")]
    assert len(warnings) == 1, result.notes
    assert "not generalized" in warnings[0] and "provisioned" in warnings[0], warnings[0]
    assert "EFI" not in warnings[0] and "os-release" not in warnings[0]
    assert Verdict.from_tag(managed_disk_double.disk("spec")["tags"][KEY_GUEST]).generalized is False


def test_capabilities_come_from_the_report_as_azure_spells_them() -> None:
    report = GuestReport(os_type="linux", architecture="Arm64",
                         capabilities=Capabilities(disk_controller_types=["SCSI", "NVMe"], accelerated_network=True))
    assert supported_capabilities(report).as_dict() == {
        "architecture": "Arm64", "diskControllerTypes": "SCSI, NVMe", "acceleratedNetwork": True}
    assert supported_capabilities(GuestReport()) is None
    verdict = Verdict.of(report, os_type="linux")
    assert Verdict.from_tag(verdict.to_tag()) == verdict
    assert verdict.disk_controller_types == ("SCSI", "NVMe") and verdict.accelerated_network is True


@given(st.text(max_size=300))
def test_any_tag_text_is_a_verdict_or_unknown_never_a_crash(text: str) -> None:
    verdict = Verdict.from_tag(text)
    assert verdict is None or Verdict.from_tag(verdict.to_tag()) == verdict


@pytest.mark.parametrize("text", [
    "v=1;os=linux;arch=x64;generalized=yes;controllers=SCSI;accelerated_network=no;extra=1",
    "v=2;os=linux;arch=x64;generalized=yes;controllers=SCSI;accelerated_network=no",
    "v=1;os=linux;os=linux;arch=x64;generalized=yes;controllers=SCSI;accelerated_network=no",
    "v=1;os=\x1b[31mlinux;arch=x64;generalized=yes;controllers=SCSI;accelerated_network=no",
    "v=1;os=linux;arch=x64;generalized=maybe;controllers=SCSI;accelerated_network=no",
    "", "garbage", "=" * 300,
])
def test_a_corrupt_tag_is_unknown(text: str) -> None:
    assert Verdict.from_tag(text) is None


# -- registration from a managed disk reads the verdict, or (another tool's disk) the disk itself --
def _plan(compute_client, disk_id: str):
    from tests.support.registration import LOC, SUB
    from vhdupload.registration import ImageSpec, PlanContext, plan_image

    return plan_image(ImageSpec(name="img", resource_group=RG, location=LOC, os_disk=disk_id, os_type="auto"),
                      context=PlanContext(subscription_id=SUB, compute_client=compute_client()))


def _read_grants(double, name: str) -> list:
    return [r for r in double.disk_calls(name) if r.path.endswith("/beginGetAccess") and r.body["access"] == "Read"]


def test_register_from_an_uploaded_disk_takes_its_recorded_verdict(images, managed_disk_double, arm_connection,
                                                                   compute_client):
    from vhdupload.errors import NotGeneralizedError

    double = managed_disk_double
    upload(images.get("ext4-generalized"), os_disk(arm_connection(), "good"))
    plan = _plan(compute_client, double.disk("good")["id"])
    assert any("inside the OS disk: Linux (linux, x64), generalized: yes" in n for n in plan.notes), plan.notes
    upload(images.get("ext4-not-generalized"), os_disk(arm_connection(), "bad"))
    with pytest.raises(NotGeneralizedError, match="not generalized"):
        _plan(compute_client, double.disk("bad")["id"])
    assert not _read_grants(double, "good") and not _read_grants(double, "bad")  # the tag sufficed: nothing read


def _foreign(double, name: str, vhd, tags: dict | None = None) -> str:
    data = vhd.read_bytes()
    disk_id = double.add_disk(name, upload_size_bytes=len(data), tags=tags, properties={"osType": "Linux"})["id"]
    blob, step = double.disk_blob(name), 4 * 1024 * 1024
    for offset in range(0, len(data) - 512, step):  # only the chunks that hold data: a sparse disk, fast
        chunk = data[offset:min(offset + step, len(data) - 512)]
        if any(chunk):
            blob.upload_page(chunk, offset=offset, length=len(chunk))
    return disk_id


def test_register_from_another_tools_disk_reads_it_through_a_read_grant_then_revokes(images, managed_disk_double,
                                                                                     compute_client):
    from vhdupload.errors import NotGeneralizedError

    double = managed_disk_double
    disk_id = _foreign(double, "other", images.get("ext4-not-generalized"))
    with pytest.raises(NotGeneralizedError, match="provisioned"):
        _plan(compute_client, disk_id)
    assert len(_read_grants(double, "other")) == 1
    assert any(r.path.endswith("/endGetAccess") for r in double.disk_calls("other"))
    assert double.disk_state("other") == "Unattached" and not double.active_grants("other")


def test_a_corrupt_verdict_tag_is_unknown_and_the_disk_is_read(images, managed_disk_double, compute_client):
    double = managed_disk_double
    disk_id = _foreign(double, "odd", images.get("ext4-generalized"),
                       tags={KEY_GUEST: "v=1;os=linux;arch=x64;generalized=yes\x1b[2J;controllers=SCSI;accelerated_network=no"})
    plan = _plan(compute_client, disk_id)
    assert any("tag is not one vhdupload wrote" in w for w in plan.warnings), plan.warnings
    assert len(_read_grants(double, "odd")) == 1 and double.disk_state("odd") == "Unattached"


def test_the_cli_prints_a_warning_as_a_warning_and_a_note_as_a_note() -> None:
    from vhdupload import UploadResult
    from vhdupload.cli.upload_commands import summary

    result = UploadResult(blob_url="managed disk d", source="s.vhd", virtual_size=1, blob_size=513, data_bytes=0,
                          bytes_sent=0, bytes_skipped=0, bytes_present=0, requests=0, retries=0, seconds=1.0,
                          crc64="0" * 16, resumed=False, already_complete=False, resized=False,
                          notes=["warning: the linux system inside is not generalized: x", "Hyper-V generation V2"])
    lines = summary(result)
    assert "warning: the linux system inside is not generalized: x" in lines
    assert "note: Hyper-V generation V2" in lines and not any(line.startswith("note: warning") for line in lines)


def test_a_dry_run_grants_no_access_to_read_another_tools_disk(images, managed_disk_double, arm_connection):
    from tests.support.registration import LOC
    from vhdupload import Registrar
    from vhdupload.registration import ImageSpec

    double = managed_disk_double
    disk_id = _foreign(double, "dry", images.get("ext4-not-generalized"))
    registrar = Registrar(arm_connection(), read_only=True)  # what --dry-run makes
    before = len(double.writes())
    plan = registrar.plan(ImageSpec(name="img", resource_group=RG, location=LOC, os_disk=disk_id, os_type="linux"))
    assert len(double.writes()) == before and not _read_grants(double, "dry")
    assert any("a dry run grants no access" in w for w in plan.warnings), plan.warnings
