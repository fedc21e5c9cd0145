"""LVM2: the extents no logical volume uses are free, and so is the free space of the file
systems inside the logical volumes (mapped back through their segments)."""

from __future__ import annotations

from tests.guest.images import MIB, copy_into, gpt_disk, run, sparse_file, tool
from tests.guest.lvm_format import pv_image
from vhdupload import convert_image
from vhdupload.allocation import data_in_free_space, free_space_of
from vhdupload.disks import open_disk

from .filesystems import DELETED, check, deleted_files, kept_files, make_ext4, read_ext4_file

PV_START = 2 * MIB


def _disk(tmp_path):
    kept = kept_files(31, 3, MIB)
    root = make_ext4(tmp_path / "root.ext4", 40 * MIB, kept, deleted_files(2, MIB)).read_bytes()
    swap = sparse_file(tmp_path / "swap.img", 8 * MIB)
    run(tool("mkswap"), str(swap))
    head, placements = pv_image(96 * MIB, [("root", root), ("swap", swap.read_bytes())])
    disk = gpt_disk(tmp_path / "disk.raw", PV_START + 96 * MIB + MIB, [(2, 96, "8e00")])
    copy_into(disk, PV_START, head)
    for offset, content in placements:
        copy_into(disk, PV_START + offset, content)
    # what an LV removed earlier left in extents no LV uses now (past the two LVs: 40 + 8 MiB)
    with open(disk, "r+b") as f:
        f.seek(PV_START + MIB + 60 * MIB)
        f.write(DELETED * 20000)
    return disk, kept, placements[0][0]


def test_free_extents_and_the_logical_volumes_file_systems(tmp_path):
    disk, kept, root_at = _disk(tmp_path)
    with open_disk(disk, raw=True) as source:
        found = free_space_of(source)
        where = {v.where: v for v in found.volumes}
        assert where["partition 1"].content == "lvm2" and where["partition 1"].kept is None
        assert where["LVM rootvg/root"].content == "ext" and where["LVM rootvg/root"].kept is None
        assert where["LVM rootvg/swap"].content == "swap"
        assert data_in_free_space(source, where["partition 1"].free) == len(DELETED) * 20000 // 4096 * 4096 + 4096
        assert 2 * MIB <= data_in_free_space(source, where["LVM rootvg/root"].free) <= 2 * MIB + 64 * 1024
        # the PV's label and metadata (its first MiB) are never free
        assert not any(lo < PV_START + MIB and PV_START < hi for lo, hi in found.ranges)
    copy = tmp_path / "copy.vhd"
    convert_image(disk, copy, skip_free=True)
    data = copy.read_bytes()
    assert DELETED not in data
    root = tmp_path / "root.copy"
    root.write_bytes(data[PV_START + root_at : PV_START + root_at + 40 * MIB])
    check("ext", root)
    for name, content in kept.items():
        assert read_ext4_file(root, name, tmp_path / name) == content


def test_a_group_with_a_thin_volume_keeps_its_logical_volumes(tmp_path):
    disk, _, _ = _disk(tmp_path)
    raw = bytearray(disk.read_bytes())
    at = raw.find(b'"striped"')
    raw[at : at + 9] = b'"thin"   '  # the first LV is now a thin volume (its CRC is not checked here)
    disk.write_bytes(bytes(raw))
    with open_disk(disk, raw=True) as source:
        found = free_space_of(source)
    lvs = [v for v in found.volumes if v.where.startswith("LVM")]
    assert lvs and all(v.kept for v in lvs) and not any(v.free for v in lvs)
    pv = [v for v in found.volumes if v.where == "partition 1"][0]
    assert pv.kept is None and pv.free  # its unused extents are still free: the stripes say what is used
