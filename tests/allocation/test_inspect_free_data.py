"""``inspect`` says, per volume, how much deleted data its free blocks hold."""

from __future__ import annotations

import json
import re
import subprocess

from tests.guest.images import MIB
from tests.support.uploads import cli_command
from vhdupload import convert_image, inspect_disk


def test_inspect_reports_the_deleted_data_of_each_volume(disk, tmp_path):
    vhd = tmp_path / "disk.vhd"
    convert_image(disk.path, vhd)
    report = inspect_disk(vhd)
    assert report.guest is not None
    found = {v.where: v.free_bytes_with_data for v in report.guest.volumes}
    for where in ("partition 1", "partition 2", "partition 3"):  # three deleted 1 MiB files each
        assert 3 * MIB <= found[where] <= 3 * MIB + 64 * 1024, where
    assert found["partition 4"] == MIB  # swapped-out pages

    done = subprocess.run(cli_command("inspect", str(vhd), "--json"), capture_output=True, text=True)
    volumes = json.loads(done.stdout)["guest"]["volumes"]
    assert [v["free_bytes_with_data"] for v in volumes] == [found[v["where"]] for v in volumes]
    text = subprocess.run(cli_command("inspect", str(vhd)), capture_output=True, text=True).stdout
    assert re.search(r"partition 1: deleted data that an upload would carry: [^;]*\(3(\.\d+)? MiB\); --skip-free sends none of it", text)


def test_a_volume_whose_map_is_not_read_says_nothing(tmp_path):
    from tests.guest.images import sparse_file

    raw = sparse_file(tmp_path / "zeros.img", 8 * MIB)
    vhd = tmp_path / "zeros.vhd"
    convert_image(raw, vhd, raw=True)  # all zeros: no partition table to tell it is a disk
    report = inspect_disk(vhd)
    assert report.guest is not None
    assert all(v.free_bytes_with_data is None for v in report.guest.volumes)
