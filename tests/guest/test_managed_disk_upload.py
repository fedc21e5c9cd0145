"""``upload --managed-disk --os-type``: the OS disk is looked into before it goes."""

from __future__ import annotations

import pytest

from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from vhdupload.destinations.managed_disk import ManagedDiskSpec
from vhdupload.errors import InputError
from vhdupload.managed_disks import upload_to_managed_disk


def spec(name: str, os_type: str) -> ManagedDiskSpec:
    return ManagedDiskSpec(name=name, resource_group=RG, location="westeurope", os_type=os_type)


def test_auto_takes_the_os_inside_and_says_it_is_not_generalized(images, managed_disk_double, compute_client):
    vhd = images.get("ext4-not-generalized")
    result = upload_to_managed_disk(vhd, spec("os1", "auto"), compute_client=compute_client())
    body = [r for r in managed_disk_double.disk_calls("os1") if r.method == "PUT"][0].body
    assert body["properties"]["osType"] == "Linux"
    assert any("not generalized" in n for n in result.notes)


def test_a_contradicting_os_type_is_refused_before_anything_remote(images, managed_disk_double, compute_client):
    vhd = images.get("ext4-generalized")
    with pytest.raises(InputError, match="Windows was given, but the disk holds Linux"):
        upload_to_managed_disk(vhd, spec("os2", "windows"), compute_client=compute_client())
    assert not managed_disk_double.disk_calls()
