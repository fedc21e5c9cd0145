"""XFS: the free extents of every AG's bnobt, only behind a cleanly closed log.

mkfs.xfs cannot delete a file, so the deleted data is written here: the pattern over every
range found free. That is also the sharpest test of the map: were one used block among them,
``xfs_repair -n`` or a kept file would show it."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.guest.images import MIB, tool
from vhdupload import convert_image
from vhdupload.allocation import free_space_of
from vhdupload.disks import open_disk

from .filesystems import DELETED, check, kept_files, make_xfs, read_xfs_file

pytest.importorskip("pyfsxfs")


def _fill(path, ranges) -> None:
    with open(path, "r+b") as f:
        for lo, hi in ranges:
            f.seek(lo)
            f.write((DELETED * ((hi - lo) // len(DELETED) + 1))[: hi - lo])


def _xfs_db_free_blocks(image) -> int:
    out = subprocess.run([tool("xfs_db"), "-r", "-c", "freesp -s", str(image)], capture_output=True, text=True,
                         check=True).stdout
    return int(re.search(r"total free blocks (\d+)", out).group(1))


@pytest.mark.parametrize("options", [(), ("-m", "crc=0,finobt=0", "-i", "sparse=0", "-b", "size=1024")])
def test_xfs_free_space_holds_nothing_used_and_a_skip_free_copy_is_sound(options, tmp_path):
    kept = kept_files(21, 4, 2 * MIB)
    image = make_xfs(tmp_path / "x.img", 300 * MIB, kept, options=options)
    with open_disk(image, raw=True) as source:
        found = free_space_of(source)
    assert found.volumes[0].content == "xfs" and found.volumes[0].kept is None
    # xfs_db counts the AG free lists' few blocks too; they stay used here
    block = 1024 if "size=1024" in options else 4096
    assert 0 <= _xfs_db_free_blocks(image) * block - found.free_bytes <= 64 * block
    _fill(image, found.ranges)  # "deleted data" in every block found free
    check("xfs", image)
    for name, content in kept.items():
        assert read_xfs_file(image, name, tmp_path / name) == content
    copy = tmp_path / "copy.vhd"
    convert_image(image, copy, skip_free=True)
    assert DELETED not in copy.read_bytes()
    raw = tmp_path / "copy.xfs"
    with open(copy, "rb") as f:
        raw.write_bytes(f.read(300 * MIB))
    check("xfs", raw)
    for name, content in kept.items():
        assert read_xfs_file(raw, name, tmp_path / name) == content


def test_an_xfs_whose_log_was_not_cleanly_closed_is_kept(tmp_path):
    image = make_xfs(tmp_path / "x.img", 300 * MIB, kept_files(22, 1, MIB))
    with open_disk(image, raw=True) as source:
        clean = free_space_of(source)
    assert clean.volumes[0].kept is None
    # find the unmount record's operation header and clear its flag: a transaction, not an unmount
    data = bytearray(image.read_bytes())
    at = data.find(b"\xfe\xed\xba\xbe")
    while at >= 0 and at % 512:
        at = data.find(b"\xfe\xed\xba\xbe", at + 1)
    assert at >= 0
    assert data[at + 512 + 8] == 0xAA and data[at + 512 + 9] & 0x20
    with open(image, "r+b") as f:
        f.seek(at + 512 + 9)
        f.write(bytes([data[at + 512 + 9] & ~0x20]))
    with open_disk(image, raw=True) as source:
        dirty = free_space_of(source)
    assert dirty.ranges == ()
    assert "clean unmount" in (dirty.volumes[0].kept or "")
