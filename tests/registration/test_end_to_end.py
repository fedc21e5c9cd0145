"""From a disk image on this machine to a registered image: ``upload`` to a ``PageBlob``, then the ``Registrar``."""

from __future__ import annotations

import subprocess

from tests.support.registration import LOC, RG
from vhdupload import ArmConnection, PageBlob, upload
from tests.support.registration import register_disk, register_image

from .disk_images import ESP, LINUX, gpt


def test_dynamic_vhd_uploaded_then_registered(tmp_path, azurite, blobs, arm, compute, qemu_img):
    raw = gpt(tmp_path / "disk.raw", (2048, 4095, ESP), (4096, 6143, LINUX))
    with open(raw, "r+b") as f:
        f.seek(4096 * 512)
        f.write(b"root filesystem" * 100)
    dynamic = tmp_path / "disk.vhd"
    subprocess.run([qemu_img, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic", str(raw), str(dynamic)], check=True)
    url = blobs.url("uploaded.vhd")
    upload(dynamic, PageBlob.from_connection_string(azurite.connection_string, blobs.container, "uploaded.vhd"))
    assert any(k.startswith("vhdupload_") for k in blobs.client("uploaded.vhd").get_blob_properties().metadata)

    image = register_image(
        name="from-upload", resource_group=RG, location=LOC, os_disk=url, os_type="linux",
        arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory(),
    )
    assert image["properties"]["hyperVGeneration"] == "V2"
    disk = register_disk(
        name="from-upload", resource_group=RG, location=LOC, source=url, os_type="linux",
        arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory(),
    )
    assert disk["properties"]["creationData"]["sourceUri"] == url
    assert [p.path.rsplit("/", 2)[-2] for p in arm.puts()] == ["images", "disks"]
