"""Publish fixtures: three small disks (a GPT OS disk, a dynamic data disk, a data disk whose size
is not a whole MiB) in sparse files, a manifest writer, and Azurite + the ARM double wired up."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from tests.support.registration import LOC, RG, SUB
from tests.support.uploads import write_random
from vhdupload.vhd import make_fixed_footer

MIB = 1024 * 1024


def fixed_vhd(raw: Path, vhd: Path) -> None:
    """``raw`` with a fixed footer appended (a fixed VHD; sparse where ``raw`` is)."""
    size = raw.stat().st_size
    subprocess.run(["cp", "--sparse=always", str(raw), str(vhd)], check=True)
    with open(vhd, "ab") as f:
        f.write(make_fixed_footer(virtual_size=size).to_bytes())


@dataclass
class Disks:
    folder: Path
    content: dict[str, bytes]  # file name -> the disk's data as Azure must hold it (without the footer)

    def path(self, name: str) -> Path:
        return self.folder / name


def make_disks(folder: Path, *, seed: int = 1, data_mib: int = 1) -> Disks:
    """os.vhd (32 MiB GPT: an EFI system partition and a Linux one, fixed), data0.vhd (24 MiB,
    dynamic, made by qemu-img), data1.vhd (22 MiB + 12 KiB, fixed: not a whole MiB)."""
    folder.mkdir(parents=True, exist_ok=True)
    sgdisk = shutil.which("sgdisk") or "/usr/sbin/sgdisk"
    os_raw = folder / "os.raw"
    with open(os_raw, "wb") as f:
        f.truncate(32 * MIB)
    subprocess.run([sgdisk, "-n", "1:2048:+8M", "-t", "1:ef00", "-n", "2:0:0", "-t", "2:8300", str(os_raw)],
                   check=True, capture_output=True)
    os_content = bytearray(os_raw.read_bytes())
    extra = write_random(folder / "os.extra", 32 * MIB, runs=[(2 * MIB, data_mib * MIB), (20 * MIB, 64 * 1024)], seed=seed)
    (folder / "os.extra").unlink()
    with open(os_raw, "r+b") as f:
        for lo, hi in ((2 * MIB, 2 * MIB + data_mib * MIB), (20 * MIB, 20 * MIB + 64 * 1024)):
            f.seek(lo)
            f.write(extra[lo:hi])
            os_content[lo:hi] = extra[lo:hi]
    fixed_vhd(os_raw, folder / "os.vhd")
    os_raw.unlink()
    data0_raw = folder / "data0.raw"
    data0 = write_random(data0_raw, 24 * MIB, runs=[(0, 4096), (5 * MIB, data_mib * MIB), (23 * MIB, 8192)], seed=seed + 1)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic,force_size=on",
                    str(data0_raw), str(folder / "data0.vhd")], check=True, capture_output=True)
    data0_raw.unlink()
    data1_raw = folder / "data1.raw"
    size1 = 22 * MIB + 12 * 1024
    data1 = write_random(data1_raw, size1, runs=[(MIB, 512 * 1024), (size1 - 4096, 4096)], seed=seed + 2)
    fixed_vhd(data1_raw, folder / "data1.vhd")
    data1_raw.unlink()
    return Disks(folder, {"os.vhd": bytes(os_content), "data0.vhd": data0, "data1.vhd": data1})


MANIFEST = """\
[image]
name = "app-image"
resource_group = "{rg}"
location = "{loc}"
kind = "{kind}"
os_type = "linux"
{image_extra}
[storage]
{storage}

[[disk]]
path = "os.vhd"
role = "os"

[[disk]]
path = "data0.vhd"
lun = 0
caching = "ReadOnly"

[[disk]]
path = "data1.vhd"
lun = 3
{disk_extra}"""


def write_manifest(folder: Path, *, storage: str, kind: str = "managed-image", image_extra: str = "",
                   disk_extra: str = "", name: str = "publish.toml") -> Path:
    path = folder / name
    path.write_text(MANIFEST.format(rg=RG, loc=LOC, kind=kind, storage=storage, image_extra=image_extra,
                                    disk_extra=disk_extra))
    return path


def assert_holds(data: bytes, content: bytes) -> None:
    """A blob or disk holds ``content``, zeros up to a whole MiB, then a fixed VHD footer for that."""
    data_size = len(data) - 512
    assert data_size % MIB == 0 and data_size >= len(content)
    assert data[: len(content)] == content
    assert data[len(content): data_size].count(0) == data_size - len(content)
    assert data[data_size:][:8] == b"conectix"
    assert int.from_bytes(data[data_size + 48: data_size + 56], "big") == data_size


@pytest.fixture(scope="session")
def disk_set(tmp_path_factory) -> Disks:
    """The three disks, made once (tests that change them copy them)."""
    return make_disks(tmp_path_factory.mktemp("disks"))


@pytest.fixture
def disks(disk_set, tmp_path) -> Disks:
    """A private copy of the disks (sparse), so a test may add a manifest or damage a file."""
    folder = tmp_path / "img"
    folder.mkdir()
    for name in disk_set.content:
        subprocess.run(["cp", "--sparse=always", str(disk_set.path(name)), str(folder / name)], check=True)
    return Disks(folder, dict(disk_set.content))


@pytest.fixture
def double(managed_disk_double, azurite):
    """The ARM double (managed disks served) knowing the Azurite account as a storage account."""
    managed_disk_double.storage_account_id = managed_disk_double.add_storage_account(
        subscription=SUB, resource_group="storage-rg", name="devstoreaccount1", blob_endpoint=azurite.account_url
    )
    return managed_disk_double


@pytest.fixture
def service(azurite) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azurite.connection_string)


@pytest.fixture
def container_url(azurite, container_name) -> str:
    return f"{azurite.account_url}/{container_name}"
