"""Without the ``vhdupload[inspect]`` readers: what was not checked is said, nothing crashes."""

from __future__ import annotations

import sys

import pytest

from vhdupload import open_disk
from vhdupload.guest import examine, require_generalized

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
    assert any("not read: the optional readers are missing" in w and "vhdupload[inspect]" in w for w in report.warnings)
    assert require_generalized(report, os_state="generalized") == [
        "no OS was recognised on the OS disk, so whether it was generalized was not checked "
        "(the file-system readers are not installed: vhdupload[inspect])"
    ]


def test_lvm_without_its_reader(images, no_readers):
    with open_disk(images.get("lvm-root")) as disk:
        report = examine(disk)
    assert report.read is False
    assert any("LVM2 physical volume, not read: its reader (pyvslvm) is missing" in w for w in report.warnings)
