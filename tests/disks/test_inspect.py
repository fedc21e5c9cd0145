"""``inspect_disk`` on VHDs: the report, and its warnings."""

from __future__ import annotations

from tests.vhd.builders import FIXED, build_dynamic, footer_bytes
from vhdupload import inspect_disk
from vhdupload.azure_rules import MIB


def test_inspect_disk_report(tmp_path):
    path = build_dynamic(tmp_path / "d.vhd", virtual_size=30 * MIB, writes={MIB: b"x" * 4096})
    report = inspect_disk(path)
    data = report.to_dict()
    assert data["disk_type"] == "dynamic" and data["allocated_bytes"] == 4096
    assert data["creator_application"] == "vhdu" and data["block_size"] == 2 * MIB
    assert data["geometry"] == (65535, 16, 255) and data["spec_geometry"] == (903, 4, 17)
    assert not data["azure_ready"] and len(data["problems"]) == 1


def test_inspect_warns_when_chs_and_current_size_disagree(tmp_path):
    path = tmp_path / "chs.vhd"
    with open(path, "wb") as f:
        f.truncate(11 * MIB)
        f.seek(11 * MIB)
        f.write(footer_bytes(disk_type=FIXED, current_size=11 * MIB, creator=b"qemu", geometry=(302, 4, 17)))
    report = inspect_disk(path)
    assert report.azure_ready and report.virtual_size == 11 * MIB  # the current size is what counts
    assert any("CHS geometry 302/4/17" in w and "current size" in w for w in report.warnings)
