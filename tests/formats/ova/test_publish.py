"""A publish manifest's ``path = "app.ova"`` stands for the OVA's disks in the VM's order."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vhdx.conftest import qemu_img, write_runs
from vhdupload.errors import PublishCheckError
from vhdupload.publish import load_manifest
from vhdupload.publish.check import check_disks

from .build import make_ova, ovf_text

MIB = 1024 * 1024
HEAD = """\
[image]
name = "app"
resource_group = "rg"
location = "westeurope"
os_type = "Linux"
hyper_v_generation = "V2"

[storage]
managed_disks = true
"""


@pytest.fixture
def ova(tmp_path) -> Path:
    members = []
    for name, size in (("app-disk1.vmdk", 4 * MIB), ("app-disk2.vmdk", 2 * MIB), ("app-disk3.vmdk", MIB)):
        raw = tmp_path / f"{name}.raw"
        write_runs(raw, size, [(0, 4096)])
        image = tmp_path / name
        qemu_img("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, image)
        members.append((name, image, size))
    # DiskSection order differs from the hardware's: the hardware (AddressOnParent) decides
    ovf = ovf_text([("app-disk3.vmdk", MIB, 2), ("app-disk1.vmdk", 4 * MIB, 0), ("app-disk2.vmdk", 2 * MIB, 1)])
    return make_ova(tmp_path / "app.ova", ovf, [(n, p) for n, p, _ in members])


def _manifest(tmp_path: Path, disks: str) -> Path:
    path = tmp_path / "publish.toml"
    path.write_text(HEAD + disks)
    return path


def test_an_ova_entry_expands_to_its_disks(tmp_path, ova):
    plan = load_manifest(_manifest(tmp_path, '[[disk]]\npath = "app.ova"\ncaching = "readonly"\n'))
    assert [(str(d.path), d.role, d.lun, d.caching) for d in plan.disks] == [
        ("app.ova/app-disk1.vmdk", "os", None, "ReadOnly"),
        ("app.ova/app-disk2.vmdk", "data", 0, "ReadOnly"),
        ("app.ova/app-disk3.vmdk", "data", 1, "ReadOnly"),
    ]
    assert [plan.disk_name(d) for d in plan.disks] == ["app-app-disk1", "app-app-disk2", "app-app-disk3"]
    checked = check_disks(plan, skip_guest_check=True)  # each member opens, in place
    assert [c.virtual_size for c in checked] == [4 * MIB, 2 * MIB, MIB]


def test_named_members_are_taken_as_given(tmp_path, ova):
    plan = load_manifest(_manifest(tmp_path, '[[disk]]\npath = "app.ova/app-disk2.vmdk"\nrole = "os"\n'
                                             '[[disk]]\npath = "app.ova/app-disk1.vmdk"\nlun = 3\n'))
    assert [(str(d.path), d.role, d.lun) for d in plan.disks] == [
        ("app.ova/app-disk2.vmdk", "os", None), ("app.ova/app-disk1.vmdk", "data", 3)]


def test_role_on_an_ova_entry_is_a_problem(tmp_path, ova):
    with pytest.raises(PublishCheckError, match="is an OVA.*role applies to one disk"):
        load_manifest(_manifest(tmp_path, '[[disk]]\npath = "app.ova"\nrole = "os"\n'))
