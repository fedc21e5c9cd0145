"""A GPT disk with one volume of each kind, deleted data in each, and bytes that must stay."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.guest.images import MIB, copy_into, gpt_disk, run, sparse_file, tool

from .filesystems import DELETED, deleted_files, kept_files, make_ext4, make_fat, make_ntfs_volume

#: Bytes a BIOS boot loader keeps in the gap before the first partition: never dropped.
BOOT_GAP = b"GRUB-CORE-IN-THE-MBR-GAP/" * 1000
BOOT_GAP_AT = 40 * 512


@dataclass
class Volume:
    kind: str
    start: int
    size: int
    kept: dict[str, bytes] = field(default_factory=dict)


@dataclass
class TestDisk:
    path: Path
    size: int
    volumes: list[Volume]


def _pattern(size: int) -> bytes:
    return (DELETED * (size // len(DELETED) + 1))[:size]


def build(tmp: Path) -> TestDisk:
    """ext4, FAT32, NTFS and swap partitions, each with deleted data; more in a gap after them."""
    layout = [("ext", 1, 48, "8300"), ("fat", 49, 40, "0700"), ("ntfs", 89, 32, "0700"), ("swap", 121, 8, "8200")]
    size = 136 * MIB
    path = gpt_disk(tmp / "disk.img", size, [(start, length, code) for _, start, length, code in layout])
    volumes = []
    for seed, (kind, start, length, _) in enumerate(layout):
        image = tmp / f"{kind}.vol"
        kept, gone = kept_files(seed, 4, MIB), deleted_files(3, MIB)
        if kind == "ext":
            make_ext4(image, length * MIB, kept, gone)
        elif kind == "fat":
            make_fat(image, length * MIB, kept, gone)
        elif kind == "ntfs":
            make_ntfs_volume(image, length * MIB, kept, gone)
        else:
            sparse_file(image, length * MIB)
            run(tool("mkswap"), str(image))
            with open(image, "r+b") as f:  # what a running system swapped out
                f.seek(MIB)
                f.write(_pattern(MIB))
            kept = {}
        copy_into(path, start * MIB, image)
        volumes.append(Volume(kind, start * MIB, length * MIB, kept))
    with open(path, "r+b") as f:
        f.seek(BOOT_GAP_AT)
        f.write(BOOT_GAP)
        f.seek(130 * MIB)  # unpartitioned: a deleted partition's leftovers
        f.write(_pattern(MIB))
    return TestDisk(path, size, volumes)
