"""The commands take a VMDK, an OVA's disk and a raw image as they are: upload to Azurite and
verify through the CLI; inspect lists an OVA and reports a raw image; --format raw everywhere."""

from __future__ import annotations

import json

import pytest

from tests.vhdx.conftest import qemu_img, to_raw, write_runs
from vhdupload.cli import main

from ..ova.build import make_ova, ovf_text

MIB = 1024 * 1024


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def sources(tmp_path):
    raw = tmp_path / "disk.raw"
    write_runs(raw, 6 * MIB, [(0, 70000), (4 * MIB, 300000)])
    vmdk = tmp_path / "disk.vmdk"
    qemu_img("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, vmdk)
    ova = make_ova(tmp_path / "app.ova", ovf_text([("disk1.vmdk", 6 * MIB, 0)]), [("disk1.vmdk", vmdk)])
    return raw, vmdk, ova


def test_upload_then_verify_a_vmdk_and_an_ova_member(capsys, azurite, container_name, sources):
    raw, vmdk, ova = sources
    for source, blob in ((vmdk, "vmdk.vhd"), (ova / "disk1.vmdk", "ova.vhd")):
        dest = f"{container_name}/{blob}"
        code, out, err = run(capsys, "upload", str(source), dest, "--connection-string", azurite.connection_string,
                             "--json", "--no-progress")
        assert code == 0, err
        assert json.loads(out)["bytes_sent"] <= 2 * MIB  # the data, not the disk
        code, out, err = run(capsys, "verify", str(source), dest, "--connection-string", azurite.connection_string,
                             "--no-progress")
        assert code == 0, err
    code, out, err = run(capsys, "verify", str(raw), f"{container_name}/vmdk.vhd", "--format", "raw",
                         "--connection-string", azurite.connection_string, "--no-progress")
    assert code == 0, err  # the raw image the VMDK was made from is the same disk


def test_inspect_lists_an_ova_and_reports_a_raw_image(capsys, sources):
    raw, _, ova = sources
    code, out, err = run(capsys, "inspect", "--json", str(ova))
    assert code == 0, err
    report = json.loads(out)
    assert report["format"] == "ova"
    [disk] = report["disks"]
    assert (disk["path"], disk["role"], disk["report"]["format"], disk["report"]["subformat"]) == (
        f"{ova}/disk1.vmdk", "os", "vmdk", "streamOptimized")
    code, out, err = run(capsys, "inspect", "--json", str(raw))
    assert code == 0, err
    assert json.loads(out)["format"] == "raw"
    code, out, err = run(capsys, "inspect", str(ova / "disk1.vmdk"))
    assert code == 0 and "VMDK (streamOptimized" in out


def test_format_raw_reads_a_vmdk_as_bytes_and_a_bad_format_is_a_usage_error(capsys, tmp_path, sources):
    _, vmdk, _ = sources
    code, out, err = run(capsys, "inspect", "--json", "--format", "raw", str(vmdk))
    assert code == 0 and json.loads(out)["virtual_size"] == vmdk.stat().st_size
    code, out, err = run(capsys, "convert", "--raw", str(vmdk), str(tmp_path / "bytes.vhd"))
    assert code == 0, err
    code, out, err = run(capsys, "convert", "--format", "qcow9", str(vmdk), str(tmp_path / "x.vhd"))
    assert code == 2 and "--format" in err


def test_convert_an_ova_member_equals_qemu(capsys, tmp_path, sources):
    raw, _, ova = sources
    code, out, err = run(capsys, "convert", str(ova / "disk1.vmdk"), str(tmp_path / "out.vhd"))
    assert code == 0, err
    back = to_raw(tmp_path / "out.vhd", tmp_path / "back.raw", fmt="vpc")
    assert back.read_bytes()[:6 * MIB] == raw.read_bytes()


@pytest.mark.parametrize("command", ["upload", "verify"])
def test_a_bad_format_is_a_usage_error_before_any_sign_in(capsys, sources, command):
    _, vmdk, _ = sources
    code, out, err = run(capsys, command, str(vmdk), "c/x.vhd", "--format", "vmdk4", "--account-name", "nosuch")
    assert code == 2 and "--format" in err and "auto, raw" in err
