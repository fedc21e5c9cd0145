"""The commands take a qcow2 as they take a VHD: ``upload`` to Azurite through ``--emulator`` then
``verify``, ``inspect`` (its format shown, and in ``--json``), ``convert`` to the fixed VHD qemu reads."""

from __future__ import annotations

import json
import time

from azure.storage.blob import BlobClient, BlobServiceClient

from vhdupload.cli import main
from vhdupload.vhd import Footer

from .conftest import MIB, qemu_img, qemu_io, to_raw


def _image(tmp_path):
    raw = tmp_path / "src.raw"
    with open(raw, "wb") as f:
        f.truncate(20 * MIB + 4096)  # not a whole MiB: the blob rounds up
        f.seek(MIB)
        f.write(b"compressible data " * 50000)
    image = tmp_path / "disk.qcow2"
    qemu_img("convert", "-c", "-f", "raw", "-O", "qcow2", raw, image)  # compressed clusters
    qemu_io(image, "write -P 0x5a 10M 64k", "write -z 2M 64k")
    return image, to_raw(image, tmp_path / "truth.raw", fmt="qcow2").read_bytes()


def test_upload_then_verify_through_the_emulator(tmp_path, azurite, container_name, capsys):
    image, truth = _image(tmp_path)
    BlobServiceClient.from_connection_string(azurite.connection_string).create_container(container_name)
    dest = [f"{container_name}/disk.vhd", "--emulator", "--blob-endpoint", azurite.account_url]
    assert main(["upload", str(image), *dest, "--json"]) == 0
    sent = json.loads(capsys.readouterr().out)["bytes_sent"]
    assert sent < 3 * MIB  # the data only, not the 21 MiB disk
    blob = BlobClient.from_connection_string(azurite.connection_string, container_name, "disk.vhd")
    content = blob.download_blob().readall()
    assert len(content) == 21 * MIB + 512 and content[:len(truth)] == truth and not any(content[len(truth):21 * MIB])
    assert Footer.parse(content[-512:]).disk_type_name == "fixed"
    assert main(["verify", str(image), *dest]) == 0
    assert capsys.readouterr().out.startswith("identical: ")


def test_inspect_shows_the_format(tmp_path, capsys):
    image, _ = _image(tmp_path)
    assert main(["inspect", str(image)]) == 0
    out = capsys.readouterr().out
    assert "format:" in out and "qcow2" in out.split("format:")[1].splitlines()[0]
    assert "NOT ready for Azure" in out and "vhdupload upload" in out
    assert main(["inspect", str(image), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "qcow2" and report["virtual_size"] == 20 * MIB + 4096
    assert report["block_size"] == 65536


def test_convert_writes_the_fixed_vhd_qemu_reads(tmp_path, capsys):
    image, truth = _image(tmp_path)
    out = tmp_path / "out.vhd"
    assert main(["convert", str(image), str(out)]) == 0
    back = to_raw(out, tmp_path / "back.raw", fmt="vpc").read_bytes()
    assert back[:len(truth)] == truth and not any(back[len(truth):])


def test_a_256_gib_qcow2_uploads_only_its_data(tmp_path, azurite, container_name, capsys):
    image = tmp_path / "big.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", image, "256G")
    qemu_io(image, "write -P 0x11 1G 4M", "write -P 0x22 200G 4M")
    BlobServiceClient.from_connection_string(azurite.connection_string).create_container(container_name)
    dest = [f"{container_name}/big.vhd", "--emulator", "--blob-endpoint", azurite.account_url]
    started = time.monotonic()
    assert main(["upload", str(image), *dest, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bytes_sent"] == 8 * MIB + 512  # the data and the footer
    assert main(["verify", str(image), *dest]) == 0
    assert time.monotonic() - started < 30
    blob = BlobClient.from_connection_string(azurite.connection_string, container_name, "big.vhd")
    assert blob.download_blob(offset=200 << 30, length=4).readall() == b"\x22" * 4
