"""A managed image cannot back an Arm64 VM: an Arm64 OS disk is refused with the fix (a gallery
version) before anything is sent, by `register image` and by `publish` before any upload."""

from __future__ import annotations

import pytest

from tests.support.registration import LOC, RG, register_image
from vhdupload import ArmConnection
from vhdupload.errors import InputError, PublishCheckError
from vhdupload.publish import DiskSource, ImageTarget, PublishPlan, StorageTarget, publish

from .test_registration import put_fixed_vhd


def test_register_image_refuses_an_arm64_disk(images, blobs, arm, compute):
    url = put_fixed_vhd(blobs, "arm.vhd", images.get("arm64"))
    with pytest.raises(InputError, match="the OS disk is Arm64, and a managed image can only back x64 VMs: "
                                         "register a gallery image version instead"):
        register_image(name="img", resource_group=RG, location=LOC, os_disk=url, os_type="linux",
                       arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory())
    assert arm.writes() == []


def test_publish_refuses_an_arm64_managed_image_before_any_upload(images, arm, compute, blobs):
    plan = PublishPlan(
        image=ImageTarget(name="img", resource_group=RG, location=LOC, os_type="linux"),
        storage=StorageTarget(container_url=f"http://127.0.0.1:1/devstoreaccount1/{blobs.container}"),
        disks=(DiskSource(path=images.get("arm64"), role="os"),),
    )
    with pytest.raises(PublishCheckError, match="the OS disk is Arm64, and a managed image can only back x64 VMs"):
        publish(plan, arm=ArmConnection.from_client(compute))
    assert arm.requests == []
