"""When the file-system readers are missing anyway (they are dependencies, but a broken install
or a platform without wheels can lack them): the report says "could not check" (``read`` False),
distinct from a "can't tell" from what was read, and registration and publish refuse it unless
the guest check is skipped."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support.registration import LOC, RG, SUB
from vhdupload import open_disk
from vhdupload.cli import main
from vhdupload.errors import InputError, PublishCheckError
from vhdupload.guest import examine, readers_missing, require_generalized
from vhdupload.publish import DiskSource, ImageTarget, PublishPlan, StorageTarget
from vhdupload.publish.check import check_disks
from vhdupload.registration import GalleryVersionSpec, PlanContext, plan_gallery_version

from .test_registration import put_fixed_vhd

READERS = ("pyfsext", "pyfsxfs", "pyfsfat", "pyfsntfs", "pyvslvm", "pyregf")


@pytest.fixture
def no_readers(monkeypatch):
    for name in READERS:
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` raise ImportError


def test_partitions_and_signatures_still_read(images, no_readers):
    with open_disk(images.get("ext4-generalized")) as disk:
        report = examine(disk)
    assert report.read is False
    assert report.os_type is None and report.generalized is None
    assert [v.content for v in report.volumes] == ["fat", "ext"]
    assert any(w.startswith("could not check the OS: the FAT, ext4 file systems were not read, because the "
                            "file-system readers are not installed; install them with `pip install libfsext-python")
               for w in report.warnings), report.warnings
    assert require_generalized(report, os_state="generalized") == [
        "could not check whether the OS disk was generalized: the file-system readers are not installed"
    ]
    assert readers_missing(report).startswith("could not check: the file-system readers are not installed; install")


def test_lvm_without_its_reader(images, no_readers):
    with open_disk(images.get("lvm-root")) as disk:
        report = examine(disk)
    assert report.read is False
    assert any("LVM2 physical volume, not read: its reader (libvslvm-python) is missing" in w for w in report.warnings)


def test_inspect_says_could_not_check(images, no_readers, capsys):
    assert main(["inspect", str(images.get("ext4-not-generalized"))]) == 0
    out = capsys.readouterr().out
    assert "verdict:        the file is ready; the OS inside could not be checked (the file-system readers are not installed) — see below\n" in out
    assert "  OS:              could not be checked\n" in out
    assert main(["inspect", "--json", str(images.get("ext4-not-generalized"))]) == 0
    assert json.loads(capsys.readouterr().out)["guest"]["read"] is False


def test_registration_refuses_unless_skipped(images, blobs, arm, compute, no_readers):
    url = put_fixed_vhd(blobs, "dirty.vhd", images.get("ext4-not-generalized"))

    def plan(**extra):
        spec = GalleryVersionSpec(gallery="gal", image_definition="def", version="1.0.0", resource_group=RG,
                                  location=LOC, os_disk=url, publisher="p", offer="o", sku="s", os_type="linux",
                                  hyper_v_generation="V1", **extra)
        return plan_gallery_version(spec, context=PlanContext(subscription_id=SUB, compute_client=compute,
                                                              blob_client_factory=blobs.factory()))

    with pytest.raises(InputError) as caught:
        plan()
    message = str(caught.value)
    assert "could not check: the file-system readers are not installed; install them" in message
    assert message.endswith("or skip the guest check (--skip-guest-check)")
    assert arm.requests == []
    assert plan(skip_guest_check=True).requests  # skipped: planned (the disk was not judged)


def test_publish_refuses_unless_skipped(images, no_readers, tmp_path):
    disk = Path(images.get("ext4-not-generalized"))
    plan = PublishPlan(
        image=ImageTarget(name="img", resource_group=RG, location=LOC, os_type="linux", hyper_v_generation="V1"),
        storage=StorageTarget(container_url="https://acct.blob.core.windows.net/vhds"),
        disks=(DiskSource(path=disk, role="os"),),
    ).validated()
    with pytest.raises(PublishCheckError) as caught:
        check_disks(plan)
    (problem,) = caught.value.problems
    assert "could not check: the file-system readers are not installed" in problem
    assert problem.endswith("or skip the guest check (--skip-guest-check)")
    assert check_disks(plan, skip_guest_check=True)[0].os_name is None
