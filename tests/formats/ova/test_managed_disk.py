"""An OVA's disk uploaded straight into a managed disk (ARM double + Azurite), then verified."""

from __future__ import annotations

from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from tests.vhdx.conftest import qemu_img, write_runs
from vhdupload import ManagedDisk, upload, verify

from .build import make_ova, ovf_text

MIB = 1024 * 1024


def test_an_ova_member_lands_in_a_managed_disk(tmp_path, managed_disk_double, arm_connection):
    raw = tmp_path / "src.raw"
    write_runs(raw, 21 * MIB, [(0, 70000), (20 * MIB, 4096)])
    vmdk = tmp_path / "src.vmdk"
    qemu_img("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, vmdk)
    ova = make_ova(tmp_path / "app.ova", ovf_text([("disk1.vmdk", 21 * MIB, 0)]), [("disk1.vmdk", vmdk)])
    result = upload(ova / "disk1.vmdk", ManagedDisk("vm-os", resource_group=RG, arm=arm_connection(),
                                                    location="westeurope"))
    assert result.bytes_sent <= MIB
    data = managed_disk_double.disk_bytes("vm-os")
    assert data[:21 * MIB] == raw.read_bytes() and data[-512:-504] == b"conectix"
    assert verify(ova / "disk1.vmdk", ManagedDisk("vm-os", resource_group=RG, arm=arm_connection())).identical
