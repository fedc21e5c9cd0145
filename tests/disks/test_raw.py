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
