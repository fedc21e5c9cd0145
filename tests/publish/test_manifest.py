"""The manifest: exact keys, every problem named with its table, relative paths, normalised values."""

from __future__ import annotations

from pathlib import Path

import pytest

from vhdupload.errors import PublishCheckError
from vhdupload.publish import DiskSource, ImageTarget, PublishPlan, StorageTarget
from vhdupload.publish import load_manifest

GOOD = """\
[image]
name = "app"
resource_group = "rg"
location = "westeurope"
os_type = "Linux"
hyper_v_generation = "v2"
tags = { team = "x" }

[storage]
managed_disks = true
disk_sku = "premium_lrs"

[[disk]]
path = "disks/os.vhd"
role = "os"

[[disk]]
path = "data.vhd"
lun = 1
caching = "readonly"
"""


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(PublishCheckError) as info:
        load_manifest(path)
    assert all("\n" not in p for p in info.value.problems)
    return info.value.problems


def test_a_good_manifest_is_normalised_and_paths_start_at_its_folder(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(GOOD)
    plan = load_manifest(path)
    assert plan.image.os_type == "Linux" and plan.image.hyper_v_generation == "V2" and plan.image.kind == "managed-image"
    assert plan.image.os_state == "Generalized" and plan.image.tags == {"team": "x"}
    assert plan.storage.managed_disks and plan.storage.disk_sku == "Premium_LRS"
    assert plan.resolved(plan.disks[0]) == tmp_path / "disks" / "os.vhd"
    assert plan.disks[1].caching == "ReadOnly" and plan.disks[1].lun == 1
    assert [plan.disk_name(d) for d in plan.disks] == ["app-os", "app-data"]
    assert plan == load_manifest(str(path))  # a path as text reads the same (publish takes either)


@pytest.mark.parametrize("edit, expected", [
    (lambda t: t.replace('role = "os"\n', ""), ['m.toml: no [[disk]] has role = "os": exactly one disk must be the OS disk (add role = "os" to [[disk]] #1?)']),
    (lambda t: t.replace('path = "disks/os.vhd"\nrole = "os"', 'path = "disks/os.vhd"\nrole = "os"\nlun = 1'),
     ["m.toml: [[disk]] #1: the OS disk takes no lun"]),
    (lambda t: t + '\n[[disk]]\npath = "d2.vhd"\nlun = 1\n',
     ["m.toml: [[disk]] #3: lun 1 is also [[disk]] #2's: give each data disk its own lun"]),
    (lambda t: t.replace("lun = 1", "lum = 1"),
     ["m.toml: [[disk]] #2: unknown key 'lum'; the keys are path, role, lun, caching, blob, vm_guest_state, security_metadata, security_type, skip_free",
      "m.toml: [[disk]] #2: lun is missing (every data disk needs its own lun, 0 to 63)"]),
    (lambda t: t.replace('location = "westeurope"', 'location = "westeurope"\nresourcegroup = "x"'),
     ["m.toml: [image]: unknown key 'resourcegroup' (did you mean 'resource_group'?)"]),
    (lambda t: t.replace("managed_disks = true", 'managed_disks = true\ncontainer_url = "https://a.blob.core.windows.net/c"'),
     ["m.toml: [storage]: give either container_url or managed_disks = true, not both"]),
    (lambda t: t.replace('os_type = "Linux"', 'os_type = "Linux"\ngallery = "g"'),
     ['m.toml: [image]: gallery applies to kind = "gallery-version" only']),
    (lambda t: t.replace('os_type = "Linux"', 'os_type = "Linux"\nkind = "gallery-version"'),
     ['m.toml: [image]: gallery is missing (kind = "gallery-version" needs gallery, definition and version)',
      'm.toml: [image]: definition is missing (kind = "gallery-version" needs gallery, definition and version)',
      'm.toml: [image]: version is missing (kind = "gallery-version" needs gallery, definition and version)']),
    (lambda t: t.replace('os_type = "Linux"', 'os_type = "Linux"\nos_state = "specialized"'),
     ['m.toml: [image]: os_state = "specialized" is for kind = "gallery-version" only (a managed image is generalized)']),
    (lambda t: t.replace('caching = "readonly"', 'caching = "always"'),
     ["m.toml: [[disk]] #2: caching = 'always' is not one of 'None', 'ReadOnly', 'ReadWrite'"]),
    (lambda t: t.replace('name = "app"\n', ""), ["m.toml: [image]: name is missing"]),
    (lambda t: t + "\n[extra]\n", ["m.toml: the top level: unknown key 'extra'; the keys are image, storage, disk, verify"]),
    (lambda t: t.replace("lun = 1", "lun = 64"), ["m.toml: [[disk]] #2: lun = 64 is not a number from 0 to 63"]),
    (lambda t: t.replace('path = "data.vhd"', 'path = "disks/os.vhd"'),
     ["m.toml: [[disk]] #2: its managed disk name 'app-os' is also [[disk]] #1's: rename a file"]),
])
def test_each_problem_is_one_line_naming_table_and_key(tmp_path, edit, expected):
    assert _problems(tmp_path, edit(GOOD)) == expected


def test_several_problems_are_all_reported(tmp_path):
    text = GOOD.replace('role = "os"\n', "").replace("lun = 1", "lum = 1").replace('name = "app"\n', "")
    assert len(_problems(tmp_path, text)) == 3


def test_not_toml_and_missing_file(tmp_path):
    assert _problems(tmp_path, "[image\n")[0].startswith("m.toml is not valid TOML: ")
    with pytest.raises(PublishCheckError, match="no such manifest file"):
        load_manifest(tmp_path / "absent.toml")


def test_a_plan_from_python_objects_is_validated_the_same_way():
    plan = PublishPlan(
        image=ImageTarget(name="a", resource_group="rg", location="l", os_type="windows"),
        storage=StorageTarget(container_url="https://acct.blob.core.windows.net/vhds"),
        disks=(DiskSource(path=Path("os.vhd"), role="os"), DiskSource(path=Path("d.vhd"), lun=0, blob="x/d.vhd")),
    ).validated()
    assert plan.image.os_type == "Windows" and plan.blob_name(plan.disks[1]) == "x/d.vhd"
    with pytest.raises(PublishCheckError, match="lun is missing"):
        PublishPlan(image=plan.image, storage=plan.storage,
                    disks=(DiskSource(path=Path("os.vhd"), role="os"), DiskSource(path=Path("d.vhd")))).validated()
