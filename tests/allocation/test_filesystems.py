"""Free space read from real file systems: every kept file survives a ``skip_free`` copy byte
for byte, each file system's own checker passes on the copy, and no deleted byte is left."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.guest.images import MIB, sparse_file
from vhdupload import convert_image
from vhdupload.allocation import data_in_free_space, free_space_of, without_free_space
from vhdupload.disks import open_disk

from .disks import BOOT_GAP, BOOT_GAP_AT
from .filesystems import (DELETED, check, deleted_files, kept_files, make_ext4, make_fat, read_ext4_file,
                          read_fat_file, read_ntfs_file)

READERS = {"ext": read_ext4_file, "fat": read_fat_file, "ntfs": read_ntfs_file}


def extract(image, start: int, size: int, out):
    with open(image, "rb") as f:
        f.seek(start)
        out.write_bytes(f.read(size))
    return out


def check_copy(copy, disk, tmp_path) -> None:
    """The copy holds every kept file and passes each checker; no deleted byte is in it."""
    data = copy.read_bytes()
    assert DELETED not in data
    assert data[BOOT_GAP_AT : BOOT_GAP_AT + len(BOOT_GAP)] == BOOT_GAP
    for volume in disk.volumes:
        if volume.kind == "swap":
            page = data[volume.start : volume.start + 4096]
            assert page[-10:] == b"SWAPSPACE2"
            continue
        part = extract(copy, volume.start, volume.size, tmp_path / f"{volume.kind}.copy")
        check(volume.kind, part)
        for name, content in volume.kept.items():
            assert READERS[volume.kind](part, name, tmp_path / f"{volume.kind}-{name}") == content, (volume.kind, name)


def test_the_source_holds_the_deleted_data(disk):
    assert disk.path.read_bytes().count(DELETED) > 1000


def test_every_volume_is_read_and_the_deleted_data_lies_in_free_space(disk):
    with open_disk(disk.path, raw=True) as source:
        found = free_space_of(source)
        kinds = {v.where: (v.content, v.kept) for v in found.volumes}
        assert kinds == {
            "partition 1": ("ext", None), "partition 2": ("fat", None), "partition 3": ("ntfs", None),
            "partition 4": ("swap", None), "unpartitioned space": ("gaps", None),
        }
        with_data = {v.where: data_in_free_space(source, v.free) for v in found.volumes}
    # three deleted 1 MiB files per file system, 1 MiB of swapped-out pages, 1 MiB in the gap
    for where in ("partition 1", "partition 2", "partition 3"):
        assert 3 * MIB <= with_data[where] <= 3 * MIB + 64 * 1024, where
    assert with_data["partition 4"] == MIB
    assert with_data["unpartitioned space"] == MIB
    # the start of the disk (tables, boot loader gap) and the backup GPT are never free
    assert found.ranges[0][0] >= MIB
    assert found.ranges[-1][1] <= disk.size - 33 * 512


def test_a_skip_free_conversion_keeps_every_file_and_passes_every_checker(disk, tmp_path):
    result = convert_image(disk.path, tmp_path / "copy.vhd", skip_free=True)
    assert result.free_bytes_skipped and result.free_bytes_skipped > 90 * MIB
    assert result.notes == ()
    check_copy(tmp_path / "copy.vhd", disk, tmp_path)


def test_without_free_space_reads_zeros_there_and_leaves_it_out_of_its_extents(disk):
    with open_disk(disk.path, raw=True) as source:
        view, found = without_free_space(open_disk(disk.path, raw=True))
        with view:
            assert view.virtual_size == source.virtual_size
            for lo, hi in found.ranges[:20]:
                assert view.read(lo, hi - lo) == bytes(hi - lo)
                # only the partial 4 KiB pages at its ends are left in the extents (1 KiB blocks)
                assert sum(b - a for a, b in view.extents(lo, hi)) < 8192
            # a read across a boundary: the used side is the source's
            lo, hi = found.ranges[0]
            assert view.read(lo - 4096, 8192) == source.read(lo - 4096, 4096) + bytes(4096)


@pytest.mark.parametrize("bits,size", [(12, 4 * MIB), (16, 24 * MIB)])
def test_fat12_and_fat16(bits, size, tmp_path):
    largest = 512 * 1024 if bits == 12 else 3 * MIB
    image = make_fat(tmp_path / "fat.img", size, kept_files(bits, 3, largest),
                     deleted_files(2, 256 * 1024 if bits == 12 else MIB), bits=bits)
    out = subprocess.run(["file", str(image)], capture_output=True, text=True).stdout
    assert f"FAT ({bits} bit)" in out
    copy = tmp_path / "copy.vhd"
    convert_image(image, copy, skip_free=True)
    assert DELETED not in copy.read_bytes()
    raw = extract(copy, 0, size, tmp_path / "copy.fat")
    check("fat", raw)
    for name, content in kept_files(bits, 3, largest).items():
        assert read_fat_file(raw, name, tmp_path / name) == content


@pytest.mark.parametrize("options", [(), ("-b", "1024", "-O", "^flex_bg"), ("-O", "meta_bg,^resize_inode"),
                                     ("-O", "^has_journal,^metadata_csum,^uninit_bg"), ("-O", "64bit", "-b", "2048")])
def test_ext_variants_agree_with_dumpe2fs(options, tmp_path):
    image = make_ext4(tmp_path / "e.img", 72 * MIB, kept_files(3, 3), deleted_files(2), options=options)
    with open_disk(image, raw=True) as source:
        found = free_space_of(source)
    assert found.volumes[0].kept is None
    free = _dumpe2fs_free(image)
    # every range found is free for e2fsprogs too; what is missed are runs of fewer than eight
    # blocks between used ones (a bitmap byte's worth: they are sent, and cost next to nothing)
    for lo, hi in found.ranges:
        assert any(a <= lo and hi <= b for a, b in free), (lo, hi)
    missed = sum(hi - lo for lo, hi in free) - sum(hi - lo for lo, hi in found.ranges)
    assert 0 <= missed <= 64 * 1024
    copy = tmp_path / "copy.vhd"
    convert_image(image, copy, skip_free=True)
    assert DELETED not in copy.read_bytes()
    raw = extract(copy, 0, 72 * MIB, tmp_path / "copy.ext")
    check("ext", raw)
    for name, content in kept_files(3, 3).items():
        assert read_ext4_file(raw, name, tmp_path / name) == content
    _overwrite_free_and_check(image, found.ranges, kept_files(3, 3), tmp_path)


def _overwrite_free_and_check(image, ranges, kept, tmp_path) -> None:
    """Garbage over every free range of the source itself: e2fsck and every file still agree."""
    with open(image, "r+b") as f:
        for lo, hi in ranges:
            f.seek(lo)
            f.write((DELETED * ((hi - lo) // len(DELETED) + 1))[: hi - lo])
    check("ext", image)
    for name, content in kept.items():
        assert read_ext4_file(image, name, tmp_path / f"o-{name}") == content


def test_ext4_bigalloc(tmp_path):
    kept = kept_files(4, 3)
    image = make_ext4(tmp_path / "e.img", 96 * MIB, kept, deleted_files(2), options=("-O", "bigalloc", "-C", "16384"))
    with open_disk(image, raw=True) as source:
        found = free_space_of(source)
    assert found.volumes[0].kept is None and found.free_bytes > 40 * MIB
    _overwrite_free_and_check(image, found.ranges, kept, tmp_path)


def _dumpe2fs_free(image) -> list[tuple[int, int]]:
    out = subprocess.run(["dumpe2fs", str(image)], capture_output=True, text=True, check=True).stdout
    block = int(re.search(r"Block size:\s+(\d+)", out).group(1))
    ranges: list[tuple[int, int]] = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Free blocks: "):
            for part in filter(None, line[len("Free blocks: "):].split(", ")):
                first, _, last = part.partition("-")
                lo, hi = int(first) * block, (int(last or first) + 1) * block
                if ranges and ranges[-1][1] == lo:
                    ranges[-1] = (ranges[-1][0], hi)
                else:
                    ranges.append((lo, hi))
    return ranges


def test_an_unclean_ext4_is_kept_and_said(tmp_path):
    image = make_ext4(tmp_path / "e.img", 32 * MIB, kept_files(1, 1), deleted_files(1))
    with open(image, "r+b") as f:  # s_state: not cleanly unmounted
        f.seek(1024 + 58)
        f.write(b"\0\0")
    with open_disk(image, raw=True) as source:
        found = free_space_of(source)
    assert found.ranges == ()
    assert "not cleanly unmounted" in found.kept()[0]


def test_a_disk_of_zeros_has_no_free_space_and_says_why(tmp_path):
    image = sparse_file(tmp_path / "zeros.img", 8 * MIB)
    with open_disk(image, raw=True) as source:
        found = free_space_of(source)
    assert found.ranges == ()
    assert found.kept() == ["whole disk (nothing (all zeros)) is sent as it is: no file system was recognised"]


def test_the_maps_of_a_2_tib_disk_are_read_in_seconds(tmp_path):
    """Every block bitmap of a 2 TiB ext4 read (no BLOCK_UNINIT groups: 16,384 bitmaps, 64 MiB)."""
    import time

    from tests.guest.images import run, tool

    image = sparse_file(tmp_path / "big.img", 2 * 1024**4)
    run(tool("mkfs.ext4"), "-q", "-F", "-O", "^metadata_csum,^uninit_bg", "-E", "lazy_itable_init=1,lazy_journal_init=1",
        str(image))
    with open_disk(image, raw=True) as source:
        started = time.monotonic()
        found = free_space_of(source)
        seconds = time.monotonic() - started
    assert found.volumes[0].kept is None
    assert found.free_bytes > 1.9 * 1024**4
    assert seconds < 15, seconds


def test_overwriting_every_free_range_harms_no_file_system_and_no_file(disk, tmp_path):
    """The sharpest test of the maps: garbage over all that was found free, and each checker and
    every kept file still agree (were one used block among it, they would not)."""
    import shutil

    copy = tmp_path / "filled.img"
    shutil.copyfile(disk.path, copy)
    with open_disk(copy, raw=True) as source:
        found = free_space_of(source)
    with open(copy, "r+b") as f:
        for lo, hi in found.ranges:
            f.seek(lo)
            f.write((DELETED * ((hi - lo) // len(DELETED) + 1))[: hi - lo])
    data = copy.read_bytes()
    assert data[BOOT_GAP_AT : BOOT_GAP_AT + len(BOOT_GAP)] == BOOT_GAP
    for volume in disk.volumes:
        if volume.kind == "swap":
            assert data[volume.start + 4096 - 10 : volume.start + 4096] == b"SWAPSPACE2"
            continue
        part = extract(copy, volume.start, volume.size, tmp_path / f"{volume.kind}.filled")
        check(volume.kind, part)
        for name, content in volume.kept.items():
            assert READERS[volume.kind](part, name, tmp_path / f"f-{volume.kind}-{name}") == content


def _ntfs_logfile_offset(image) -> int:
    """Where $LogFile (MFT record 2) starts, from the boot sector and the record's data runs."""
    import struct

    from vhdupload.allocation.ntfs import _data_runs, _fixed_up

    data = image.read_bytes()
    sector, per_cluster = struct.unpack_from("<HB", data, 11)
    cluster = sector * per_cluster
    mft = struct.unpack_from("<Q", data, 48)[0] * cluster
    record = _fixed_up(data[mft + 2 * 1024 : mft + 3 * 1024], sector=sector, number=2)
    runs, _ = _data_runs(record, what="$LogFile")
    return runs[0][0] * cluster


def test_an_ntfs_whose_log_holds_work_to_redo_is_kept(tmp_path):
    """What Windows leaves after fast startup, hibernation or a crash: a restart area with a log
    client in use and not flagged clean. ntfs-3g refuses to mount such a volume too."""
    import struct

    from .filesystems import make_ntfs_volume

    image = make_ntfs_volume(tmp_path / "n.img", 32 * MIB, kept_files(5, 1, MIB), deleted_files(1, MIB))
    with open_disk(image, raw=True) as source:
        assert free_space_of(source).volumes[0].kept is None
    page = bytearray(4096)
    page[:4] = b"RSTR"
    struct.pack_into("<IIH", page, 0x10, 4096, 4096, 0x30)  # system and log page size, restart area offset
    struct.pack_into("<QHHHH", page, 0x30, 5000, 1, 0xFFFF, 0, 0)  # an LSN, one client, in use, not clean
    with open(image, "r+b") as f:
        f.seek(_ntfs_logfile_offset(image))
        f.write(page)
    with open_disk(image, raw=True) as source:
        found = free_space_of(source)
    assert found.ranges == ()
    assert "holds work to redo" in found.kept()[0]
    page[0x3E] = 0x02  # the same restart area flagged clean: read again
    with open(image, "r+b") as f:
        f.seek(_ntfs_logfile_offset(image))
        f.write(page)
    with open_disk(image, raw=True) as source:
        assert free_space_of(source).volumes[0].kept is None
