"""``inspect`` and ``convert`` through the CLI, with every hostile input from the issue:
exit 1 and one ``error:`` line naming the problem and the fix, never a traceback."""

from __future__ import annotations

import json
import os
import struct

import pytest

from vhdupload.cli import main

from .builders import BAT_OFFSET, HEADER_OFFSET, MIB, build_differencing, build_dynamic, build_fixed
from .qemu import needs_qemu, qemu_img


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- inspect ---------------------------------------------------------------------------------

def test_inspect_ready_fixed_disk(tmp_path, capsys):
    path = build_fixed(tmp_path / "ok.vhd", virtual_size=32 * MIB, writes={MIB: b"x" * 4096})
    code, out, err = run(capsys, "inspect", str(path))
    assert code == 0 and err == ""
    assert "ready for Azure" in out and "NOT" not in out and "fixed" in out
    code, out, _ = run(capsys, "inspect", "--strict", str(path))
    assert code == 0


def test_inspect_json_is_one_object(tmp_path, capsys):
    parent = build_dynamic(tmp_path / "p.vhd", virtual_size=24 * MIB + 512, writes={0: b"a" * 4096})
    child = build_differencing(tmp_path / "c.vhd", parent=parent, writes={MIB: b"b" * 4096})
    code, out, err = run(capsys, "inspect", "--json", str(child))
    assert code == 0 and err == ""
    report = json.loads(out)
    assert report["disk_type"] == "differencing"
    assert report["virtual_size"] == 24 * MIB + 512
    assert report["allocated_bytes"] == 8192
    assert report["azure_ready"] is False
    assert [os.path.basename(p) for p in report["parents"]] == ["p.vhd"]
    assert any("differencing VHD" in p and "vhdupload convert" in p for p in report["problems"])
    assert any("whole number of MiB" in p for p in report["problems"])
    assert isinstance(report["warnings"], list) and report["block_size"] == 2 * MIB


def test_inspect_strict_exit_3_when_not_ready(tmp_path, capsys):
    path = build_dynamic(tmp_path / "d.vhd", virtual_size=32 * MIB)
    code, out, _ = run(capsys, "inspect", "--strict", str(path))
    assert code == 3 and "NOT ready for Azure" in out and "Azure needs a fixed VHD" in out
    assert run(capsys, "inspect", str(path))[0] == 0


def test_inspect_warns_on_chs_mismatch_and_old_footer(tmp_path, capsys):
    path = build_fixed(tmp_path / "old.vhd", virtual_size=MIB, short_footer=True)
    code, out, _ = run(capsys, "inspect", "--json", str(path))
    report = json.loads(out)
    assert code == 0 and not report["azure_ready"]
    assert any("511-byte" in w for w in report["warnings"])
    assert any("file length" in p for p in report["problems"])


def _damage(path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _hostile(tmp_path) -> dict[str, tuple[object, tuple[str, ...]]]:
    """name -> (path, words the error line must contain)."""
    cases: dict[str, tuple[object, tuple[str, ...]]] = {}
    cases["missing"] = (tmp_path / "nope.vhd", ("no such file",))
    cases["directory"] = (tmp_path, ("is a directory",))
    empty = tmp_path / "empty.vhd"
    empty.write_bytes(b"")
    cases["empty"] = (empty, ("is empty",))
    raw = tmp_path / "disk.raw"
    raw.write_bytes(b"\x33" * MIB)
    cases["raw"] = (raw, ("no VHD footer", "vhdupload convert"))
    trunc = build_fixed(tmp_path / "trunc.vhd", virtual_size=4 * MIB)
    data = trunc.read_bytes()
    trunc.write_bytes(data[:MIB] + data[-512:])  # data cut short, footer still at the end
    cases["truncated fixed"] = (trunc, ("truncated",))
    dyn_cut = build_dynamic(tmp_path / "cut.vhd", virtual_size=4 * MIB, writes={0: b"x" * 4096})
    dyn_cut.write_bytes(dyn_cut.read_bytes()[:-5000])
    cases["truncated dynamic"] = (dyn_cut, ("truncated",))
    bad_sum = build_fixed(tmp_path / "sum.vhd", virtual_size=MIB)
    _damage(bad_sum, MIB + 48, b"\x7f")
    cases["bad footer checksum"] = (bad_sum, ("checksum", "damaged"))
    bad_header = build_dynamic(tmp_path / "hdr.vhd", virtual_size=4 * MIB)
    _damage(bad_header, HEADER_OFFSET + 32, b"\x00\x10")
    cases["bad header checksum"] = (bad_header, ("dynamic header checksum",))
    no_cookie = build_dynamic(tmp_path / "cookie.vhd", virtual_size=4 * MIB)
    _damage(no_cookie, HEADER_OFFSET, b"xxsparse")
    cases["header cookie"] = (no_cookie, ("cxsparse",))
    bat_eof = build_dynamic(tmp_path / "bat.vhd", virtual_size=4 * MIB, writes={0: b"x"})
    _damage(bat_eof, BAT_OFFSET, struct.pack(">I", 0x00FFFFFF))
    cases["BAT past EOF"] = (bat_eof, ("BAT entry 0", "past"))
    parent = build_dynamic(tmp_path / "parent.vhd", virtual_size=4 * MIB)
    orphan = build_differencing(tmp_path / "orphan.vhd", parent=parent)
    os.rename(parent, tmp_path / "moved-away.bin")
    cases["missing parent"] = (orphan, ("parent is missing",))
    parent2 = build_dynamic(tmp_path / "parent2.vhd", virtual_size=4 * MIB)
    wrong = build_differencing(tmp_path / "wrong.vhd", parent=parent2)
    build_dynamic(tmp_path / "parent2.vhd", virtual_size=4 * MIB)
    cases["wrong parent"] = (wrong, ("UUID", "restore the original parent"))
    return cases


# "raw" is not hostile any more: inspect reports a raw image (tests/formats/vmdk/test_cli.py)
HOSTILE = ["missing", "directory", "empty", "truncated fixed", "truncated dynamic",
           "bad footer checksum", "bad header checksum", "header cookie", "BAT past EOF",
           "missing parent", "wrong parent"]


@pytest.mark.parametrize("name", HOSTILE)
def test_inspect_refuses_hostile_input(tmp_path, capsys, name):
    path, needles = _hostile(tmp_path)[name]
    code, out, err = run(capsys, "inspect", str(path))
    assert code == 1 and out == ""
    assert_one_line_error(err, *needles)
    code, out, err = run(capsys, "inspect", "--json", "--strict", str(path))
    assert code == 1 and out == ""


@needs_qemu
@pytest.mark.parametrize(
    "fmt, options, name",
    # VHDX and VMDK are read now (tests/vhdx, tests/formats/vmdk); the others are still explained and refused.
    [("qcow2", "", "qcow2"), ("vdi", "", "VDI")],
)
def test_other_formats_are_named_and_explained(tmp_path, capsys, fmt, options, name):
    path = tmp_path / f"disk.{fmt}"
    qemu_img("create", "-q", "-f", fmt, *(["-o", options] if options else []), str(path), "8M")
    for command in (["inspect", str(path)], ["convert", str(path), str(tmp_path / "out.vhd")]):
        code, out, err = run(capsys, *command)
        assert code == 1
        assert_one_line_error(err, f"is a {name}", f"qemu-img convert -f {fmt} -O raw", "vhdupload convert")
    assert not (tmp_path / "out.vhd").exists()


def test_missing_path_is_not_a_usage_error(capsys):
    code, _, err = run(capsys, "inspect", "/nonexistent/dir/x.vhd")
    assert code == 1 and err.startswith("error:")
    code, _, err = run(capsys, "inspect")
    assert code == 2


# -- convert ---------------------------------------------------------------------------------

def test_convert_raw_then_inspect_ready(tmp_path, capsys):
    raw = tmp_path / "disk.raw"
    with open(raw, "wb") as f:
        f.truncate(21 * MIB + 4096)
        f.write(b"boot" * 128)
    dst = tmp_path / "disk.vhd"
    code, out, err = run(capsys, "convert", str(raw), str(dst))
    assert code == 0 and err == "" and "22 MiB" in out and "raw" in out
    code, out, _ = run(capsys, "inspect", "--strict", "--json", str(dst))
    report = json.loads(out)
    assert code == 0 and report["azure_ready"] and report["virtual_size"] == 22 * MIB
    assert report["warnings"] == []


def test_convert_refuses_existing_destination_without_force(tmp_path, capsys):
    src = build_dynamic(tmp_path / "d.vhd", virtual_size=2 * MIB, writes={0: b"new"})
    dst = tmp_path / "out.vhd"
    dst.write_bytes(b"precious")
    code, _, err = run(capsys, "convert", str(src), str(dst))
    assert code == 1 and dst.read_bytes() == b"precious"
    assert_one_line_error(err, "already exists", "--force")
    code, _, _ = run(capsys, "convert", "--force", str(src), str(dst))
    assert code == 0 and dst.read_bytes()[:3] == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.vhd", "out.vhd"]


@pytest.mark.parametrize("name", ["missing", "directory", "empty", "truncated fixed", "bad footer checksum",
                                  "bad header checksum", "missing parent", "wrong parent"])
def test_convert_refuses_damage_and_leaves_nothing_behind(tmp_path, capsys, name):
    path, needles = _hostile(tmp_path)[name]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, _, err = run(capsys, "convert", str(path), str(out_dir / "x.vhd"))
    assert code == 1
    assert_one_line_error(err, *needles)
    assert list(out_dir.iterdir()) == []


def test_convert_leaves_no_temporary_file_on_error(tmp_path, monkeypatch):
    from vhdupload import convert_image

    src = build_dynamic(tmp_path / "d.vhd", virtual_size=8 * MIB, writes={0: b"x" * 4096, 5 * MIB: b"y"})

    def boom(done, total):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        convert_image(src, tmp_path / "out.vhd", progress=boom)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.vhd"]


def test_convert_fixed_not_whole_mib_keeps_uuid(tmp_path, capsys):
    src = build_fixed(tmp_path / "odd.vhd", virtual_size=3 * MIB + 512, writes={3 * MIB: b"z" * 512})
    dst = tmp_path / "even.vhd"
    assert run(capsys, "convert", str(src), str(dst))[0] == 0
    code, out, _ = run(capsys, "inspect", "--json", str(src))
    src_report = json.loads(out)
    code, out, _ = run(capsys, "inspect", "--json", str(dst))
    dst_report = json.loads(out)
    assert dst_report["uuid"] == src_report["uuid"] and dst_report["virtual_size"] == 4 * MIB
    assert dst_report["creator_application"] == "vhdu"
    assert dst.read_bytes()[3 * MIB:3 * MIB + 512] == b"z" * 512


def test_convert_refuses_bad_destinations(tmp_path, capsys):
    src = build_fixed(tmp_path / "s.vhd", virtual_size=MIB)
    code, _, err = run(capsys, "convert", "--force", str(src), str(src))
    assert code == 1
    assert_one_line_error(err, "is the source itself")
    code, _, err = run(capsys, "convert", str(src), str(tmp_path / "no" / "such" / "dir.vhd"))
    assert code == 1
    assert_one_line_error(err, "does not exist")
    code, _, err = run(capsys, "convert", str(src), str(tmp_path))
    assert code == 1
    assert_one_line_error(err, "is a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.vhd"]


# -- convert failures after the temporary file exists: nothing may be left behind --------------

def test_convert_into_an_unwritable_directory_is_one_clear_line(tmp_path, capsys, monkeypatch):
    # Root ignores directory permissions, so make the kernel's answer explicit.
    src = build_dynamic(tmp_path / "d.vhd", virtual_size=2 * MIB, writes={0: b"x" * 4096})
    out_dir = tmp_path / "ro"
    out_dir.mkdir()
    real_open = os.open

    def refusing_open(path, flags, *args, **kwargs):
        if str(path).endswith(".tmp"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    code, out, err = run(capsys, "convert", str(src), str(out_dir / "x.vhd"))
    assert code == 1 and out == ""
    assert_one_line_error(err, f"cannot create a file in {out_dir}", "Permission denied", "directory you can write to")
    assert ".tmp" not in err and list(out_dir.iterdir()) == []


def test_convert_that_runs_out_of_room_leaves_nothing(tmp_path):
    """A real write error from the kernel (EFBIG under RLIMIT_FSIZE) after the temporary file exists."""
    import subprocess
    import sys

    src = build_dynamic(tmp_path / "d.vhd", virtual_size=8 * MIB, writes={0: b"x" * 4096, 6 * MIB: b"y" * 4096})
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    script = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20)); "
        "from vhdupload.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run([sys.executable, "-c", script, "convert", str(src), str(out_dir / "x.vhd")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert_one_line_error(proc.stderr, f"cannot write {out_dir / 'x.vhd'}", "nothing was written")
    assert list(out_dir.iterdir()) == []


def test_convert_of_a_source_that_turns_out_corrupt_midway(tmp_path):
    """The source is cut short while it is converted: a FormatError, and no file left behind."""
    from vhdupload import convert_image
    from vhdupload.errors import CorruptVhdError

    src = build_dynamic(tmp_path / "d.vhd", virtual_size=16 * MIB,
                        writes={0: b"a" * 4096, 9 * MIB: b"b" * 4096, 14 * MIB: b"c" * 4096})
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    calls = []

    def cut_source(done, total):
        calls.append(done)
        if len(calls) == 1:
            os.truncate(src, 3 * MIB)

    with pytest.raises(CorruptVhdError, match="unexpected end of file"):
        convert_image(src, out_dir / "x.vhd", progress=cut_source)
    assert calls and list(out_dir.iterdir()) == []


def test_corrupt_inputs_say_how_to_fix_them(tmp_path, capsys):
    cases = _hostile(tmp_path)
    for name in ("truncated fixed", "bad footer checksum", "bad header checksum", "header cookie", "BAT past EOF"):
        code, _, err = run(capsys, "inspect", str(cases[name][0]))
        assert code == 1
        assert_one_line_error(err, "get an intact copy")


def test_parent_tried_once_when_both_locators_name_it(tmp_path, capsys):
    parent = build_dynamic(tmp_path / "parent.vhd", virtual_size=4 * MIB)
    child = build_differencing(tmp_path / "child.vhd", parent=parent)  # W2ru and W2ku: the same file
    build_dynamic(tmp_path / "parent.vhd", virtual_size=4 * MIB)  # replaced: another UUID
    code, _, err = run(capsys, "inspect", str(child))
    assert code == 1
    assert_one_line_error(err, "restore the original parent")
    assert err.count("has UUID") == 1, err


def test_inspect_says_when_chs_and_current_size_disagree(tmp_path, capsys):
    """A Hyper-V style footer: the spec's CHS for 32 MiB describes 33,527,808 bytes, not 33,554,432."""
    from vhdupload.vhd import chs_for_size

    from .builders import FIXED, footer_bytes

    size = 32 * MIB
    chs = tuple(chs_for_size(size))
    path = tmp_path / "hyperv.vhd"
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(size)
        f.write(footer_bytes(disk_type=FIXED, current_size=size, creator=b"win ", geometry=chs))
    code, out, err = run(capsys, "inspect", "--json", str(path))
    report = json.loads(out)
    assert code == 0 and err == "" and report["azure_ready"] and report["virtual_size"] == size
    assert [w for w in report["warnings"] if "CHS geometry 963/4/17 describes 33527808 bytes" in w
            and f"not the current size {size}" in w]
    code, out, _ = run(capsys, "inspect", str(path))
    assert "warning: the footer's CHS geometry 963/4/17" in out
    # the maximum geometry means "use the current size": no warning then
    build_fixed(path, virtual_size=size)
    assert not [w for w in json.loads(run(capsys, "inspect", "--json", str(path))[1])["warnings"] if "CHS" in w]
