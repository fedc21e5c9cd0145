"""What no partition covers, and what is kept whatever a file system says: MBR logical
partitions' boot records, overlapping partitions, RAID members, a dynamic-disk (LDM) table."""

from __future__ import annotations

import struct
import subprocess

from tests.guest.images import MIB, copy_into, sparse_file, tool
from vhdupload.allocation import free_space_of
from vhdupload.disks import open_disk

from .filesystems import DELETED, deleted_files, kept_files, make_ext4


def _free(path):
    with open_disk(path, raw=True) as disk:
        return free_space_of(disk)


def _covers(ranges, lo, hi) -> bool:
    return any(a <= lo and hi <= b for a, b in ranges)


def _touches(ranges, lo, hi) -> bool:
    return any(a < hi and lo < b for a, b in ranges)


def _mbr(path, script: str):
    subprocess.run([tool("sfdisk"), "-q", str(path)], input=script.encode(), check=True, capture_output=True)


def test_an_mbr_disk_keeps_its_extended_boot_records_and_frees_what_follows(tmp_path):
    path = sparse_file(tmp_path / "mbr.img", 64 * MIB)
    # a primary partition, then an extended one holding a logical partition 1 MiB into it
    _mbr(path, "label: dos\n2048,8192,83\n20480,40960,5\n22528,20480,83\n")
    volume = make_ext4(tmp_path / "v.ext4", 10 * MIB, kept_files(1, 1, MIB), deleted_files(1, MIB))
    copy_into(path, 11 * MIB, volume)  # the logical partition: sector 22528
    with open(path, "r+b") as f:
        f.seek(25 * MIB)
        f.write(DELETED * 1000)  # past the logical partition, inside the extended one
        f.seek(60 * MIB)
        f.write(DELETED * 1000)  # past every partition
    found = _free(path)
    where = {v.where: v for v in found.volumes}
    assert where["partition 5"].content == "ext" and where["partition 5"].free_bytes > 8 * MIB
    assert not _touches(found.ranges, 10 * MIB, 11 * MIB)  # the extended partition's first EBR
    assert not _touches(found.ranges, 21 * MIB, 30 * MIB)  # inside the extended partition: kept
    assert _covers(found.ranges, 60 * MIB, 60 * MIB + len(DELETED) * 1000)
    assert not _touches(found.ranges, 0, MIB)  # the MBR and the gap before the first partition


def test_overlapping_partitions_free_nothing_of_each_other(tmp_path):
    path = sparse_file(tmp_path / "gpt.img", 40 * MIB)
    subprocess.run([tool("sgdisk"), "-n1:2048:+16M", "-t1:8300", str(path)], check=True, capture_output=True)
    volume = make_ext4(tmp_path / "v.ext4", 16 * MIB, kept_files(2, 1, MIB), deleted_files(1, MIB))
    copy_into(path, MIB, volume)
    # a second entry that overlaps the first's second half (written by hand: sgdisk refuses it)
    with open(path, "r+b") as f:
        f.seek(1024 + 128)
        entry = bytearray(128)
        entry[:16] = bytes.fromhex("af3dc60f838472478e793d69d8477de4")  # Linux filesystem
        entry[16:32] = b"\x11" * 16
        struct.pack_into("<QQ", entry, 32, (MIB + 8 * MIB) // 512, (MIB + 24 * MIB) // 512 - 1)
        f.write(entry)
    found = _free(path)
    assert not _touches(found.ranges, 9 * MIB, 25 * MIB)  # partition 2's span: nothing of it free
    assert found.free_bytes > 0


def test_a_raid_member_is_kept(tmp_path):
    path = sparse_file(tmp_path / "raid.img", 40 * MIB)
    subprocess.run([tool("sgdisk"), "-n1:2048:+32M", "-t1:fd00", str(path)], check=True, capture_output=True)
    copy_into(path, MIB, make_ext4(tmp_path / "v.ext4", 32 * MIB, kept_files(3, 1, MIB), deleted_files(1, MIB)))
    found = _free(path)
    assert found.volumes[0].kept == "it is a Linux RAID (md) member"
    # the same volume in a plain Linux partition, with an md 1.0 superblock at its end
    path2 = sparse_file(tmp_path / "raid2.img", 40 * MIB)
    subprocess.run([tool("sgdisk"), "-n1:2048:+32M", "-t1:8300", str(path2)], check=True, capture_output=True)
    copy_into(path2, MIB, tmp_path / "v.ext4")
    with open(path2, "r+b") as f:
        f.seek(MIB + ((32 * MIB - 8192) & ~4095))
        f.write(struct.pack("<I", 0xA92B4EFC))
    assert _free(path2).volumes[0].kept == "it is a Linux RAID (md) member"


def test_a_dynamic_disk_keeps_everything_outside_its_partitions(tmp_path):
    path = sparse_file(tmp_path / "ldm.img", 32 * MIB)
    _mbr(path, "label: dos\n2048,20480,42\n")
    found = _free(path)
    gaps = [v for v in found.volumes if v.content == "gaps"][0]
    assert gaps.free == () and "LDM" in (gaps.kept or "")


def test_a_partition_past_the_end_of_the_disk_makes_no_gap_free(tmp_path):
    """A table the reader had to cut (an entry past the disk's end, as in a truncated image):
    the dropped partition's bytes must not pass for unpartitioned space."""
    path = sparse_file(tmp_path / "cut.img", 64 * MIB)
    subprocess.run([tool("sgdisk"), "-n1:2048:+16M", "-t1:8300", "-n2:0:+40M", "-t2:8300", str(path)],
                   check=True, capture_output=True)
    with open(path, "r+b") as f:
        f.seek(24 * MIB)
        f.write(DELETED * 1000)  # partition 2's data
    with open(path, "r+b") as f:
        f.truncate(40 * MIB)  # partition 2 now ends past the disk
    found = _free(path)
    assert not _touches(found.ranges, 17 * MIB, 40 * MIB)
    gaps = [v for v in found.volumes if v.content == "gaps"][0]
    assert "partition table has problems" in (gaps.kept or "")
