"""convert refuses what other readers would misread (found by the hostile-input fuzz)."""

from __future__ import annotations

from vhdupload.cli import main

from tests.vhd.builders import build_fixed, footer_bytes


def test_convert_refuses_a_disk_whose_first_sector_is_a_vhd_footer(tmp_path, capsys):
    """A VHD stored inside a disk: qemu (and other readers that look at offset 0 first) would
    take the output for a dynamic VHD, so the output would not open; found by the fuzz."""
    inner = footer_bytes(disk_type=2, current_size=1536)
    src = build_fixed(tmp_path / "wrapped.vhd", virtual_size=4096, writes={0: inner})
    assert main(["convert", str(src), str(tmp_path / "out.vhd")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "first sector starts with a VHD footer" in err
    assert not (tmp_path / "out.vhd").exists()
