"""Registration looks inside the OS disk's blob (ranged reads, in Azurite) before any ARM call."""

from __future__ import annotations

import json

import pytest

from tests.support.registration import LOC, RG, SUB
from vhdupload import ArmConnection
from vhdupload.cli import main
from vhdupload.errors import InputError, NotGeneralizedError
from tests.support.registration import register_image
from vhdupload.registration import GalleryVersionSpec, PlanContext, plan_gallery_version

CHUNK = 1024 * 1024


def put_fixed_vhd(blobs, name: str, path) -> str:
    """The fixed VHD at ``path`` as a page blob, sending only its nonzero MiBs."""
    data = path.read_bytes()
    blob = blobs.client(name)
    blob.create_page_blob(len(data))
    for offset in range(0, len(data), CHUNK):
        chunk = data[offset : offset + CHUNK]
        if any(chunk):
            chunk += bytes(-len(chunk) % 512)
            blob.upload_page(chunk, offset=offset, length=len(chunk))
    return blob.url


@pytest.fixture
def reads(monkeypatch):
    """Every ranged read registration makes of a blob, as (offset, length)."""
    from vhdupload.registration import blobs as blob_module

    seen: list[tuple[int, int]] = []
    original = blob_module.BlobReader.read

    def spy(self, offset, length):
        seen.append((offset, length))
        return original(self, offset, length)

    monkeypatch.setattr(blob_module.BlobReader, "read", spy)
    return seen


def test_a_not_generalized_os_disk_is_refused_before_any_arm_call(images, blobs, arm, compute, reads):
    url = put_fixed_vhd(blobs, "dirty.vhd", images.get("ext4-not-generalized"))
    with pytest.raises(NotGeneralizedError) as caught:
        register_image(name="img", resource_group=RG, location=LOC, os_disk=url, os_type="linux",
                       arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory())
    message = str(caught.value)
    assert "is not generalized" in message and "waagent -deprovision+user" in message
    assert "--skip-guest-check" in message
    assert any("/var/lib/waagent/provisioned" in p for p in caught.value.problems)
    assert arm.requests == []
    # only a few MB were read, in a few requests
    assert sum(n for _, n in reads) < 12 * CHUNK and len(reads) < 20


def test_skip_guest_check_registers_it_anyway(images, blobs, arm, compute):
    url = put_fixed_vhd(blobs, "dirty.vhd", images.get("ext4-not-generalized"))
    register_image(name="img", resource_group=RG, location=LOC, os_disk=url, os_type="linux",
                   arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory(), skip_guest_check=True)
    assert len(arm.puts()) == 1


def test_os_type_auto_and_a_conflict(images, blobs, arm, compute):
    url = put_fixed_vhd(blobs, "clean.vhd", images.get("ext4-generalized"))
    register_image(name="img", resource_group=RG, location=LOC, os_disk=url, os_type="auto",
                   arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory())
    assert arm.puts()[0].body["properties"]["storageProfile"]["osDisk"]["osType"] == "Linux"
    with pytest.raises(InputError, match="--os-type Windows was given, but the OS disk holds Debian GNU/Linux 12"):
        register_image(name="img2", resource_group=RG, location=LOC, os_disk=url, os_type="windows",
                       arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory())


def test_gallery_definition_takes_the_detected_architecture_and_os_type(images, blobs, arm, compute):
    url = put_fixed_vhd(blobs, "arm.vhd", images.get("arm64"))
    plan = plan_gallery_version(GalleryVersionSpec(gallery="gal", image_definition="def", version="1.0.0", resource_group=RG, location=LOC, os_disk=url, publisher="p", offer="o", sku="s"), context=PlanContext(subscription_id=SUB, compute_client=compute, blob_client_factory=blobs.factory()))
    definition = next(r for r in plan.requests if "image definition" in r.description)
    assert definition.body["properties"]["architecture"] == "Arm64"
    assert definition.body["properties"]["osType"] == "Linux"
    assert "--architecture Arm64" in definition.az_command
    assert any("architecture Arm64: detected inside the disk" in n for n in plan.notes)
    with pytest.raises(InputError, match="architecture x64 was given, but the disk holds Arm64"):
        plan_gallery_version(GalleryVersionSpec(gallery="gal", image_definition="def", version="1.0.0", resource_group=RG, location=LOC, os_disk=url, publisher="p", offer="o", sku="s", architecture="x64"), context=PlanContext(subscription_id=SUB, compute_client=compute, blob_client_factory=blobs.factory()))


def test_specialized_version_of_a_generalized_disk_is_a_warning(images, blobs, arm, compute):
    url = put_fixed_vhd(blobs, "clean.vhd", images.get("ext4-generalized"))
    plan = plan_gallery_version(GalleryVersionSpec(gallery="gal", image_definition="def", version="1.0.0", resource_group=RG, location=LOC, os_disk=url, publisher="p", offer="o", sku="s", os_state="specialized"), context=PlanContext(subscription_id=SUB, compute_client=compute, blob_client_factory=blobs.factory()))
    assert any("generalized but registered as specialized" in w for w in plan.warnings)


def test_a_disk_with_nothing_readable_is_a_warning_not_a_refusal(images, blobs, arm, compute):
    url = put_fixed_vhd(blobs, "nofs.vhd", images.get("no-fs"))
    plan = plan_gallery_version(GalleryVersionSpec(gallery="gal", image_definition="def", version="1.0.0", resource_group=RG, location=LOC, os_disk=url, publisher="p", offer="o", sku="s", os_type="linux", hyper_v_generation="V2"), context=PlanContext(subscription_id=SUB, compute_client=compute, blob_client_factory=blobs.factory()))
    assert any("no OS was recognised on the OS disk" in w for w in plan.warnings)


def test_cli_refusal_is_one_line_and_exit_1(images, blobs, arm, azurite, capsys, monkeypatch):
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    url = put_fixed_vhd(blobs, "dirty.vhd", images.get("ext4-not-generalized"))
    common = ["--subscription", SUB, "--arm-endpoint", arm.url, "--connection-string", azurite.connection_string]
    code = main(["register", "image", "img", "-g", RG, "-l", LOC, "--os-disk", url, "--dry-run", *common])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--skip-guest-check" in lines[0], err
    code = main(["register", "image", "img", "-g", RG, "-l", LOC, "--os-disk", url, "--dry-run", "--json",
                 "--skip-guest-check", *common])
    out, err = capsys.readouterr()
    assert code == 0, err
    body = json.loads(out)
    assert body["requests"][0]["body"]["properties"]["storageProfile"]["osDisk"]["osType"] == "Linux"
