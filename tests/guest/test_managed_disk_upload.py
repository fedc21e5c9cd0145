"""``upload --managed-disk --os-type``: the OS disk is looked into before it goes."""

from __future__ import annotations

import pytest

from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from vhdupload import ArmConnection, ManagedDisk, upload
from vhdupload.errors import InputError


def disk(name: str, os_type: str, compute_client) -> ManagedDisk:
    return ManagedDisk(name, resource_group=RG, location="westeurope", os_type=os_type,
                       arm=ArmConnection.from_client(compute_client))


def test_auto_takes_the_os_inside_and_says_it_is_not_generalized(images, managed_disk_double, compute_client):
    vhd = images.get("ext4-not-generalized")
    result = upload(vhd, disk("os1", "auto", compute_client()))
    body = [r for r in managed_disk_double.disk_calls("os1") if r.method == "PUT"][0].body
    assert body["properties"]["osType"] == "Linux"
    assert any("not generalized" in n for n in result.notes)


def test_a_contradicting_os_type_is_refused_before_anything_remote(images, managed_disk_double, compute_client):
    vhd = images.get("ext4-generalized")
    with pytest.raises(InputError, match="Windows was given, but the disk holds Linux"):
        upload(vhd, disk("os2", "windows", compute_client()))
    assert not managed_disk_double.disk_calls()
