"""The Registrar client: built once, one typed spec per resource kind."""

from __future__ import annotations

import pytest

from tests.support.registration import LOC, RG, SUB
from vhdupload import ArmConnection
from vhdupload.errors import InputError, PreflightError
from vhdupload.registration import DiskImportSpec, GalleryVersionSpec, ImageSpec, Registrar

from .disk_images import ESP, LINUX, gpt


def _os_blob(blobs, tmp_path):
    data = gpt(tmp_path / "os.vhd", (2048, 4095, ESP), (4096, 6143, LINUX)).read_bytes()
    return blobs.page_blob("os.vhd", data[: 8 * 512], size=len(data))


def test_plan_then_register_an_image(blobs, arm, compute, tmp_path):
    registrar = Registrar(ArmConnection.from_client(compute), blob_client_factory=blobs.factory(), polling_interval=0)
    spec = ImageSpec(name="web", resource_group=RG, location=LOC, os_disk=_os_blob(blobs, tmp_path), os_type="linux",
                     data_disks=[blobs.page_blob("data0.vhd")])
    plan = registrar.plan(spec)
    assert not arm.puts() and plan.body["properties"]["hyperVGeneration"] == "V2"
    image = registrar.register(spec)
    assert arm.puts()[0].body == plan.body
    assert image.as_dict()["id"].endswith("/images/web")


def test_gallery_version_and_disk_import_specs(blobs, arm, compute, tmp_path):
    registrar = Registrar(ArmConnection.from_client(compute), blob_client_factory=blobs.factory(), polling_interval=0)
    os_url = _os_blob(blobs, tmp_path)
    version = registrar.plan(GalleryVersionSpec(
        gallery="gal", image_definition="def", version="1.0.0", resource_group=RG, location=LOC, os_disk=os_url,
        os_type="linux", publisher="p", offer="o", sku="s", storage_account_id="/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/z",
    ))
    assert version.body["properties"]["storageProfile"]["osDiskImage"]["source"]["uri"] == os_url
    disk = registrar.plan(DiskImportSpec(name="d", resource_group=RG, location=LOC, source=os_url,
                                         storage_account_id="/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/z"))
    assert disk.body["properties"]["creationData"]["createOption"] == "Import"


def test_a_wrong_spec_or_connection_is_an_input_error(compute, blobs):
    with pytest.raises(InputError, match="a Registrar needs an ArmConnection"):
        Registrar(None)  # type: ignore[arg-type]
    registrar = Registrar(ArmConnection.from_client(compute))
    with pytest.raises(InputError, match="ImageSpec"):
        registrar.plan({"name": "x"})  # type: ignore[arg-type]
    with pytest.raises(InputError, match="give blob_client_factory"):
        registrar.plan(ImageSpec(name="w", resource_group=RG, location=LOC, os_disk=blobs.url("missing.vhd"),
                                 os_type="linux"))
    registrar = Registrar(ArmConnection.from_client(compute), blob_client_factory=blobs.factory())
    with pytest.raises(PreflightError):
        registrar.plan(ImageSpec(name="w", resource_group=RG, location=LOC, os_disk=blobs.url("missing.vhd"),
                                 os_type="linux"))


def test_the_old_connection_keywords_are_refused_naming_what_it_takes(compute):
    """The connection is one ArmConnection now: the keywords that used to name it are an
    InputError (not a TypeError) that says what the Registrar takes."""
    with pytest.raises(InputError, match="Registrar has no option 'compute_client'.*arm"):
        Registrar(compute_client=compute, subscription_id=SUB)  # type: ignore[call-arg]
    with pytest.raises(InputError, match="did you mean 'polling_interval'"):
        Registrar(ArmConnection.from_client(compute), poling_interval=0)  # type: ignore[call-arg]
    registrar = Registrar(ArmConnection(SUB, compute_client=compute))
    assert registrar.subscription_id == SUB and registrar.compute_client is compute
