"""A VHDX goes from inspect to a registered image with no conversion step by the user:
inspected, uploaded into a managed disk, checked against qemu-img's reading, registered."""

from __future__ import annotations

import subprocess

from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from vhdupload import ArmConnection, ImageSpec, ManagedDisk, Registrar, inspect_disk, upload, verify

from .conftest import qemu_img, to_raw

MIB = 1024 * 1024


def test_a_vhdx_becomes_a_registered_image(tmp_path, managed_disk_double, compute_client):
    raw = tmp_path / "os.raw"
    with open(raw, "wb") as f:
        f.truncate(40 * MIB)
    subprocess.run(["sgdisk", "-n", "1:2048:+8M", "-t", "1:ef00", "-n", "2:0:0", str(raw)], check=True, capture_output=True)
    with open(raw, "r+b") as f:  # some data in the root partition
        f.seek(20 * MIB)
        f.write(bytes(range(256)) * 4096)
    vhdx = tmp_path / "os.vhdx"
    qemu_img("convert", "-f", "raw", "-O", "vhdx", "-o", "subformat=dynamic", raw, vhdx)

    report = inspect_disk(vhdx).to_dict()
    assert report["format"] == "vhdx" and report["disk_type"] == "dynamic"

    disk = ManagedDisk("vhdx-os", resource_group=RG, location="westeurope", os_type="linux",
                       arm=ArmConnection.from_client(compute_client()))
    result = upload(vhdx, disk)
    truth = to_raw(vhdx, tmp_path / "truth.raw").read_bytes()  # qemu-img's reading of the VHDX
    held = managed_disk_double.disk_bytes("vhdx-os")
    assert held[: len(truth)] == truth and held[-512:-504] == b"conectix"
    assert result.disk_state == "Unattached"
    # a disk that exists is named without its location (only creating one needs it)
    existing = ManagedDisk("vhdx-os", resource_group=RG, arm=ArmConnection.from_client(compute_client()))
    assert verify(vhdx, existing).identical

    registrar = Registrar(ArmConnection.from_client(compute_client()), polling_interval=0)
    image = registrar.register(ImageSpec(name="from-vhdx", resource_group=RG, location="westeurope",
                                         os_disk=result.disk_id, os_type="linux"))
    body = [r for r in managed_disk_double.puts() if "/images/" in r.path][0].body
    assert body["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"].lower() == result.disk_id.lower()
    assert body["properties"]["hyperVGeneration"] == "V2"
    assert image.as_dict()["properties"]["provisioningState"] == "Succeeded"
