"""``publish`` of a generalized image: its OS disk goes without its free space by default (the
deleted data stays home), the verify step agrees, and the result says how much was left."""

from __future__ import annotations

from tests.publish.conftest import double, service  # noqa: F401 - fixtures of the publish tests
from tests.support.registration import LOC, RG
from vhdupload import ArmConnection, convert_image
from vhdupload.publish import publish

from .filesystems import DELETED
from .test_upload_skip_free import read_back

MANIFEST = f"""\
[image]
name = "free-image"
resource_group = "{RG}"
location = "{LOC}"
os_type = "linux"
hyper_v_generation = "V2"

[storage]
container_url = "{{container_url}}"

[[disk]]
path = "os.vhd"
role = "os"
"""


def test_a_generalized_images_disk_leaves_its_free_space_home(disk, double, compute_client, azurite,  # noqa: F811
                                                               service, container_name, tmp_path):  # noqa: F811
    convert_image(disk.path, tmp_path / "os.vhd")
    container_url = f"{azurite.account_url}/{container_name}"
    manifest = tmp_path / "publish.toml"
    manifest.write_text(MANIFEST.format(container_url=container_url))
    result = publish(manifest, arm=ArmConnection.from_client(compute_client()),
                     connection_string=azurite.connection_string)
    assert result.created
    (only,) = result.disks
    assert only.verified and only.free_bytes_skipped and only.free_bytes_skipped > 90 * 1024 * 1024
    assert result.to_dict()["disks"][0]["free_bytes_skipped"] == only.free_bytes_skipped
    assert DELETED not in read_back(azurite.connection_string, f"{container_name}/os.vhd", tmp_path / "blob")
    assert DELETED in (tmp_path / "os.vhd").read_bytes()


def test_a_finished_disk_sent_the_other_way_is_refused_in_the_manifests_words(disk, double, compute_client,  # noqa: F811
                                                                               azurite, container_name, tmp_path):
    # The blob was sent whole (a plain upload, or a manifest that said skip_free = false) and the
    # image was not registered; the rerun's manifest leaves free space home: the refusal names
    # the manifest's key, not upload's --skip-free flag.
    import pytest

    from vhdupload import PageBlob, upload
    from vhdupload.errors import DestinationConflictError

    convert_image(disk.path, tmp_path / "os.vhd")
    upload(tmp_path / "os.vhd", PageBlob.from_connection_string(azurite.connection_string, container_name, "os.vhd"))
    manifest = tmp_path / "publish.toml"
    manifest.write_text(MANIFEST.format(container_url=f"{azurite.account_url}/{container_name}"))
    with pytest.raises(DestinationConflictError) as info:
        publish(manifest, arm=ArmConnection.from_client(compute_client()), connection_string=azurite.connection_string)
    message = str(info.value)
    assert "skip_free = false" in message and "set skip_free = false on this [[disk]]" in message
    assert "--skip-free" not in message and "--overwrite" in message
