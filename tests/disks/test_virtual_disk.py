"""The shared disk interface's helpers (``virtual_disk``)."""

from __future__ import annotations

import os

from tests.vhd.builders import build_fixed
from vhdupload import open_disk
from vhdupload import virtual_disk as disk_module
from vhdupload.azure_rules import MIB


def test_extents_fall_back_to_one_extent_without_seek_data(tmp_path, monkeypatch):
    path = build_fixed(tmp_path / "f.vhd", virtual_size=4 * MIB, writes={0: b"x"})
    monkeypatch.delattr(os, "SEEK_DATA")
    with open_disk(path) as disk:
        assert list(disk_module.sparse_extents(disk._fd, 0, disk.virtual_size)) == [(0, 4 * MIB)]
