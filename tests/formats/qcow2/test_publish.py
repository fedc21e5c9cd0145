"""``publish`` takes a qcow2 OS disk and a VDI data disk as it takes VHDs: uploaded (only their data),
verified and registered as one image, the blobs byte for byte the disks qemu reads."""

from __future__ import annotations

from tests.publish.conftest import (  # noqa: F401 (fixtures)
    MIB, assert_holds, container_url, disk_set, disks, double, service, write_manifest,
)
from vhdupload import ArmConnection
from vhdupload.publish import publish

from .conftest import qemu_img


def test_a_qcow2_and_a_vdi_published_as_one_image(disks, double, compute_client, azurite, service,  # noqa: F811
                                                   container_url):  # noqa: F811
    folder = disks.folder
    for name, fmt, options in (("os", "qcow2", "compression_type=zlib"), ("data0", "vdi", "static=off")):
        raw = folder / f"{name}.raw"
        raw.write_bytes(disks.content[f"{name}.vhd"])
        qemu_img("convert", *(["-c"] if fmt == "qcow2" else []), "-f", "raw", "-O", fmt, "-o", options, raw,
                 folder / f"{name}.{fmt}")
        raw.unlink()
    manifest = write_manifest(folder, storage=f'container_url = "{container_url}"')
    manifest.write_text(manifest.read_text().replace('"os.vhd"', '"os.qcow2"').replace('"data0.vhd"', '"data0.vdi"'))
    result = publish(manifest, arm=ArmConnection.from_client(compute_client()),
                     connection_string=azurite.connection_string)
    assert result.created
    sources = [d["destination"] for d in result.to_dict()["disks"]]
    container = container_url.rsplit("/", 1)[1]
    for destination, name in zip(sources, ("os.vhd", "data0.vhd", "data1.vhd")):
        blob = service.get_blob_client(container, destination.rsplit("/", 1)[1]).download_blob().readall()
        assert_holds(blob, disks.content[name])
    assert all(d["verified"] for d in result.to_dict()["disks"])
    assert result.bytes_sent < 8 * MIB  # only the data of 78 MiB of disks
