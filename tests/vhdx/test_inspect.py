"""``inspect`` on a VHDX: its own facts, the same verdict and exit codes, a ``format`` key."""

from __future__ import annotations

import json
import subprocess
import sys

from vhdupload import inspect_disk

from .conftest import qemu_img
from .test_log import _pending
from .writer import MIB, Spec, write_vhdx


def _cli(*args):
    code = "import sys; from vhdupload.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)


def test_inspect_reports_vhdx_facts(tmp_path):
    image = tmp_path / "d.vhdx"
    qemu_img("create", "-f", "vhdx", "-o", "block_size=8M", image, "64M")
    report = inspect_disk(image, guest=False)
    assert report.format == "vhdx" and report.disk_type == "dynamic"
    assert (report.block_size, report.logical_sector_size, report.physical_sector_size) == (8 * MIB, 512, 512)
    assert report.log_state == "no log" and report.virtual_size == 64 * MIB and report.azure_ready is False
    assert "is a dynamic VHDX: Azure needs a fixed VHD" in report.problems[0]
    assert not any("4096" in w for w in report.warnings)


def test_inspect_of_a_vhd_says_vhd(tmp_path):
    image = tmp_path / "d.vhd"
    qemu_img("create", "-f", "vpc", "-o", "subformat=fixed,force_size=on", image, "32M")
    assert inspect_disk(image, guest=False).format == "vhd"


def test_4k_sector_vhdx_is_warned_about(tmp_path):
    block = bytearray(MIB)
    block[510:512] = b"\x55\xaa"
    block[4096:4104] = b"EFI PART"
    path = tmp_path / "4k.vhdx"
    write_vhdx(path, Spec(virtual_size=32 * MIB, logical_sector_size=4096, blocks={0: (6, bytes(block))}))
    report = inspect_disk(path, guest=False)
    assert report.logical_sector_size == 4096
    assert any("4096-byte logical sectors (its GPT header is at byte 4096)" in w and "cannot be an OS disk" in w
               for w in report.warnings)


def test_pending_log_is_reported(tmp_path):
    path, _ = _pending(tmp_path)
    report = inspect_disk(path, guest=False)
    assert report.log_state.startswith("replayed 1 log entries")
    assert any("not closed cleanly" in w for w in report.warnings)


def test_cli_inspect_json_and_strict_exit(tmp_path):
    image = tmp_path / "d.vhdx"
    qemu_img("create", "-f", "vhdx", image, "64M")
    done = _cli("inspect", "--json", image)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["format"] == "vhdx" and data["azure_ready"] is False and data["log_state"] == "no log"
    assert _cli("inspect", "--strict", image).returncode == 3
    human = _cli("inspect", image).stdout
    assert "format:" in human and "VHDX" in human and "sector size:" in human and "log:" in human


def test_cli_vhd_set_is_one_line(tmp_path):
    path = tmp_path / "s.vhds"
    path.write_bytes(b"vhdxfile" + bytes(4096))
    done = _cli("inspect", path)
    assert done.returncode == 1
    assert "VHD Set" in done.stderr and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
