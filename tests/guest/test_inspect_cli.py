"""``vhdupload inspect``: the "inside" section, the ``guest`` JSON object and ``--strict``."""

from __future__ import annotations

import json

from vhdupload.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_the_guest_object(images, capsys):
    code, out, err = run(capsys, "inspect", "--json", str(images.get("lvm-root")))
    assert code == 0, err
    guest = json.loads(out)["guest"]
    assert {k: guest[k] for k in ("os_type", "os_name", "architecture", "generalized", "would_provision")} == {
        "os_type": "linux", "os_name": "Debian GNU/Linux 12 (bookworm)", "architecture": "x64",
        "generalized": True, "would_provision": True,
    }
    assert isinstance(guest["signs"], list) and isinstance(guest["warnings"], list)
    assert [v["content"] for v in guest["volumes"]] == ["fat", "lvm2", "ext", "swap"]


def test_human_output_has_an_inside_section(images, capsys):
    code, out, err = run(capsys, "inspect", str(images.get("windows-not-generalized")))
    assert code == 0, err
    inside = out.split("inside:\n", 1)[1]
    assert "  OS:              Windows (windows)\n" in inside
    assert "  architecture:    x64\n" in inside
    assert "  generalized:     no\n" in inside
    assert "  would provision: NO\n" in inside
    assert "  sign: State.ini ImageState=IMAGE_STATE_COMPLETE" in inside
    assert "  problem: Windows has been set up and was not generalized with Sysprep" in inside


def test_strict_exits_3_when_the_os_would_not_provision(images, capsys):
    assert run(capsys, "inspect", "--strict", str(images.get("ext4-not-generalized")))[0] == 3
    assert run(capsys, "inspect", "--strict", str(images.get("no-agent-no-drivers")))[0] == 3
    assert run(capsys, "inspect", "--strict", str(images.get("ext4-generalized")))[0] == 0
    # can't tell (nothing readable) is not a finding
    assert run(capsys, "inspect", "--strict", str(images.get("no-fs")))[0] == 0


def test_an_os_without_a_name_is_unknown_not_none():
    from vhdupload.cli.format_commands import _inside
    from vhdupload.guest import GuestReport

    lines = _inside(GuestReport(os_type="linux"))
    assert "  OS:              unknown (linux)" in lines
    assert "  capabilities:    disk controllers can't tell; accelerated networking: can't tell" in lines
