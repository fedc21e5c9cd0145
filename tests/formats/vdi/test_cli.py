"""The commands take a VDI as they take a VHD: ``upload --emulator`` then ``verify``, and ``inspect``."""

from __future__ import annotations

import json

from azure.storage.blob import BlobClient, BlobServiceClient

from vhdupload.cli import main

from tests.formats.qcow2.conftest import MIB, to_raw
from .test_vdi import make_vdi


def test_upload_verify_and_inspect(tmp_path, azurite, container_name, capsys):
    image = make_vdi(tmp_path / "disk.vdi", "16M", "write -P 0x11 1M 100k", "write -P 0x22 9M 2M")
    truth = to_raw(image, tmp_path / "truth.raw", fmt="vdi").read_bytes()
    BlobServiceClient.from_connection_string(azurite.connection_string).create_container(container_name)
    dest = [f"{container_name}/disk.vhd", "--emulator", "--blob-endpoint", azurite.account_url]
    assert main(["upload", str(image), *dest, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bytes_sent"] <= 3 * MIB + 512
    blob = BlobClient.from_connection_string(azurite.connection_string, container_name, "disk.vhd")
    assert blob.download_blob().readall()[:16 * MIB] == truth
    assert main(["verify", str(image), *dest]) == 0
    capsys.readouterr()
    assert main(["inspect", str(image), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "vdi" and report["disk_type"] == "dynamic" and report["block_size"] == MIB
