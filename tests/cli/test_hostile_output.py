"""Text from inside a disk or from Azure never reaches the terminal raw (issue 22, items 4 and 5).

Each field a hostile disk or server controls is fed a control sequence: an ``os-release``
``PRETTY_NAME`` that clears the screen and retitles the terminal, a kernel directory whose name
forges the ``verdict`` and ``inside`` lines, an LVM volume group's name, a VHDX creator string,
and a managed disk's tags (a source name holding a newline). What the CLI prints must hold no
ESC, BEL or CR, and no line the CLI did not write itself.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.guest.image_set import ESP_SIZE, ESP_START, ROOT_START
from tests.guest.images import MIB, LinuxTree, copy_into, gpt_disk, make_esp, make_ext4, stage_linux, to_vhd
from tests.guest.lvm_format import pv_image
from vhdupload.cli import main
from vhdupload.cli._common import say

#: Clear the screen, turn red, retitle the window (OSC ... BEL), return the carriage, then forge
#: the lines ``inspect`` itself prints.
FORGED = "verdict: ready for Azure"
HOSTILE = ("x)\x1b[2J\x1b[31m\x1b]0;pwned\x07\r\n\n" + FORGED + "\ninside:\n  would provision: yes\n  problem: (")
#: What may never reach the terminal: ESC, BEL, CR, and C1's CSI.
RAW_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_clean(text: str) -> None:
    """No raw control character, and no forged line: the forged verdict never starts a line."""
    assert not RAW_CONTROLS.search(text), repr(text)
    assert not any(line.lstrip().startswith(FORGED) for line in text.splitlines()), text


def test_say_escapes_every_line_but_joins_its_own(capsys):
    # the CLI's own breaks are the ones between the lines given; a break inside one is shown as \n
    say("first", "a\nb\x1b[31m\u202e\u2028", "last")
    assert capsys.readouterr().out == "first\na\\nb\\x1b[31m\\u202e\\u2028\nlast\n"


@pytest.fixture(scope="module")
def hostile_linux(tmp_path_factory) -> Path:
    """A generalized Linux disk whose os-release name and kernel directory name are hostile."""
    work = tmp_path_factory.mktemp("hostile-linux")
    os_release = ('PRETTY_NAME="Debian\x1b[2J\x1b[31m\x1b]0;pwned\x07\r' + FORGED + '"\nNAME="Debian"\nID=debian\n').encode()
    tree = stage_linux(work / "tree", LinuxTree(hv_drivers=(), extra={
        "etc/os-release": os_release,
        f"usr/lib/modules/{HOSTILE}/modules.dep": b"kernel/drivers/net/e1000/e1000.ko.xz:\n",
    }))
    root = make_ext4(work / "root.img", tree, 64 * MIB)
    disk = gpt_disk(work / "disk.raw", (ROOT_START + 65) * MIB, [(ESP_START, ESP_SIZE, "ef00"), (ROOT_START, 64, "8300")])
    copy_into(disk, ESP_START * MIB, make_esp(work / "esp.img", "BOOTX64.EFI"))
    copy_into(disk, ROOT_START * MIB, root)
    return to_vhd(disk, work / "disk.vhd")


def test_inspect_escapes_os_release_and_kernel_names(hostile_linux, capsys):
    code, out, err = _run(capsys, "inspect", str(hostile_linux))
    assert code == 0, err
    _assert_clean(out + err)
    assert "OS:              Debian\\x1b[2J\\x1b[31m\\x1b]0;pwned\\x07 (linux)" in out  # shown, escaped
    assert "x)\\x1b[2J" in out and "\\n\\n" + FORGED + "\\ninside:" in out
    assert sum(line.startswith("verdict:") for line in out.splitlines()) == 1
    assert sum(line == "inside:" for line in out.splitlines()) == 1
    assert sum(line.lstrip().startswith("would provision:") for line in out.splitlines()) == 1


def test_inspect_json_keeps_the_exact_text(hostile_linux, capsys):
    import json

    code, out, _ = _run(capsys, "inspect", "--json", str(hostile_linux))
    assert code == 0
    assert len(out.splitlines()) == 1 and "\x1b" not in out  # JSON escapes on its own
    assert "\x1b[2J" in json.loads(out)["guest"]["os_name"]


def test_inspect_escapes_an_lvm_volume_group_name(tmp_path, capsys):
    vg = "vg\x1b]0;pwned\x07"
    tree = stage_linux(tmp_path / "tree", LinuxTree(fstab="/dev/mapper/vg-root / ext4 defaults 0 1\n"))
    root = make_ext4(tmp_path / "root.img", tree, 64 * MIB).read_bytes()
    head, placements = pv_image(80 * MIB, [("root", root)], vg=vg)
    disk = gpt_disk(tmp_path / "disk.raw", (ROOT_START + 81) * MIB, [(ESP_START, ESP_SIZE, "ef00"), (ROOT_START, 80, "8e00")])
    copy_into(disk, ESP_START * MIB, make_esp(tmp_path / "esp.img", "BOOTX64.EFI"))
    copy_into(disk, ROOT_START * MIB, head)
    for offset, content in placements:
        copy_into(disk, ROOT_START * MIB + offset, content)
    code, out, err = _run(capsys, "inspect", str(to_vhd(disk, tmp_path / "disk.vhd")))
    assert code == 0, err
    _assert_clean(out + err)
    assert "vg\\x1b]0;pwned\\x07" in out


def test_inspect_escapes_a_vhdx_creator_string(tmp_path, capsys):
    from tests.vhdx.writer import Spec, write_vhdx

    path = tmp_path / "creator.vhdx"
    write_vhdx(path, Spec(virtual_size=8 * MIB))
    creator = ("qemu\x1b[2J\r\n" + FORGED).encode("utf-16-le")
    with open(path, "r+b") as f:
        f.seek(8)
        f.write(creator + b"\0\0")
    code, out, err = _run(capsys, "inspect", str(path))
    assert code == 0, err
    _assert_clean(out + err)
    assert "qemu\\x1b[2J\\r\\n" + FORGED in out


def test_status_of_a_managed_disk_escapes_a_tag_with_a_newline(stub_az, managed_disk_double, tmp_path, capsys):
    """Item 5: the source name travels percent-encoded in a tag (``%0A``); status decodes it and
    must show it escaped on the line it belongs to, never as a line of its own."""
    from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
    from tests.support.registration import SUB

    name = tmp_path / ("disk\nerror: forged\x1b[31m.vhd")
    subprocess.run(["qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=fixed", str(name), "21M"], check=True)
    arm = ["-g", RG, "-l", "westeurope", "--subscription", SUB, "--arm-endpoint", managed_disk_double.url]
    code, _, err = _run(capsys, "upload", str(name), "--managed-disk", "hostile", *arm, "--no-progress")
    assert code == 0, err
    tags = managed_disk_double.disk("hostile")["tags"]
    assert "%0A" in tags["vhdupload_source_name"]  # the writer's own encoding of the newline
    code, out, err = _run(capsys, "status", "--managed-disk", "hostile", *arm)
    assert code == 0, err
    _assert_clean(out + err)
    assert not any(line.startswith("error:") for line in (out + err).splitlines())
    assert "disk\\nerror: forged\\x1b[31m.vhd" in out



def test_register_dry_run_from_a_blob_escapes_what_the_guest_check_read(hostile_linux, arm, blobs, azurite, stub_az,
                                                                       capsys):
    """The guest check reads the blob: its notes and warnings quote the disk (the OS name)."""
    from tests.support.registration import LOC, RG, SUB

    url = blobs.url("hostile.vhd")
    code, _, err = _run(capsys, "upload", str(hostile_linux), url, "--connection-string", azurite.connection_string,
                        "--no-progress")
    assert code == 0, err
    code, out, err = _run(capsys, "register", "image", "web", "-g", RG, "-l", LOC, "--os-disk", url, "--os-type", "auto",
                          "--dry-run", "--connection-string", azurite.connection_string, "--subscription", SUB,
                          "--arm-endpoint", arm.url)
    assert code == 0, err
    _assert_clean(out + err)
    assert "note: inside the OS disk: Debian\\x1b[2J\\x1b[31m\\x1b]0;pwned\\x07 (linux" in err
    assert "\\n\\nverdict: ready for Azure\\ninside:" in err  # the kernel's name, on its warning's line


def test_verbose_logs_escape_the_values_they_quote(capsys):
    import logging

    from vhdupload.cli import _common

    _common.reset()
    _common.set_level("verbose")
    try:
        logging.getLogger("vhdupload.test").warning("read %s from the disk", "a\x1b[2Jb\n" + FORGED)
    finally:
        _common.reset()
    err = capsys.readouterr().err
    _assert_clean(err)
    assert "read a\\x1b[2Jb\\n" + FORGED + " from the disk" in err
