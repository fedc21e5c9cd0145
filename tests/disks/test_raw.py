"""The raw reader: ``open_disk(path, raw=True)`` takes the file's bytes as the disk."""

from __future__ import annotations

import pytest

from tests.vhd.builders import build_fixed
from vhdupload import open_disk
from vhdupload.azure_rules import MIB, azure_readiness
from vhdupload.errors import CorruptVhdError, NotAVhdError


def test_raw_disk(tmp_path):
    raw = tmp_path / "disk.img"
    raw.write_bytes(b"\x07" * 5000)
    with pytest.raises(NotAVhdError, match="vhdupload convert"):
        open_disk(raw)
    with open_disk(raw, raw=True) as disk:
        assert (disk.disk_type, disk.virtual_size, disk.footer, disk.footer_bytes) == ("raw", 5000, None, None)
        assert disk.read(4990, 10) == b"\x07" * 10
        readiness = azure_readiness(disk)
        assert not readiness.ready and "raw image" in readiness.problems[0]


def test_raw_means_raw_even_when_the_last_sector_looks_like_a_footer(tmp_path):
    # A raw image whose last sector happens to start with the cookie (here: a whole valid fixed
    # footer) is still raw when the caller says so: the file's bytes are the disk.
    vhd = build_fixed(tmp_path / "f.vhd", virtual_size=MIB)
    with open_disk(vhd, raw=True) as disk:
        assert (disk.disk_type, disk.virtual_size, disk.footer) == ("raw", MIB + 512, None)
        assert disk.read(MIB, 8) == b"conectix"
    odd = tmp_path / "odd.img"
    odd.write_bytes(bytes(4096) + b"conectix" + bytes(504))  # a cookie with a bad checksum
    with pytest.raises(CorruptVhdError):
        open_disk(odd)
    with open_disk(odd, raw=True) as disk:
        assert disk.virtual_size == 4608
    qcow_looking = tmp_path / "q.img"
    qcow_looking.write_bytes(b"QFI\xfb" + bytes(8188))
    with open_disk(qcow_looking, raw=True) as disk:
        assert disk.read(0, 4) == b"QFI\xfb"


# -- one rule for telling a raw disk image from any file (#19) ------------------------------------

@pytest.mark.parametrize("mark, offset, expected", [
    (b"\x55\xaa", 510, "an MBR partition table"),
    (b"EFI PART", 512, "a GPT partition table"),
    (b"EFI PART", 4096, "a GPT partition table"),
    (b"\x53\xef", 1080, "an ext2/3/4 file system"),
    (b"XFSB", 0, "an XFS file system"),
    (b"NTFS    ", 3, "an NTFS file system"),
    (b"LUKS\xba\xbe", 0, "a LUKS encrypted volume"),
])
def test_a_raw_disk_is_told_by_its_partition_table_or_file_system(tmp_path, mark, offset, expected):
    from vhdupload.disks import open_disk
    from vhdupload.sniff import SNIFF_SIZE, raw_disk_mark

    head = bytearray(SNIFF_SIZE)
    head[offset:offset + len(mark)] = mark
    assert raw_disk_mark(bytes(head)) == expected
    path = tmp_path / "disk.img"
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(4 * 1024 * 1024)
    with open_disk(path, format="detect") as disk:
        assert disk.virtual_size == 4 * 1024 * 1024


def test_any_other_file_is_refused_not_guessed(tmp_path):
    from vhdupload.disks import open_disk
    from vhdupload.errors import NotAVhdError

    path = tmp_path / "notes.txt"
    path.write_bytes(b"just some text\n" * 1000)
    with pytest.raises(NotAVhdError, match="its first bytes hold no partition table or file system"):
        open_disk(path, format="detect")
    with open_disk(path, format="raw") as disk:  # said to be raw: taken as it is
        assert disk.virtual_size == 15000


def test_upload_takes_a_partitioned_raw_image_without_raw(tmp_path, conn, container_name, capsys):
    import json

    from vhdupload.cli import main

    path = tmp_path / "disk.img"
    with open(path, "wb") as f:
        f.truncate(3 * 1024 * 1024)
        f.seek(510)
        f.write(b"\x55\xaa")
    assert main(["upload", str(path), f"{container_name}/d.vhd", "--connection-string", conn, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["virtual_size"] == 3 * 1024 * 1024
