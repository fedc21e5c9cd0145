"""The VirtualDisk view: extents, reads, readiness, raw images."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from vhdupload.errors import CorruptVhdError, InputError, NotAVhdError
from vhdupload.vhd import (
    MANAGED_DISK_MAX_UPLOAD_SIZE,
    MANAGED_DISK_MIN_UPLOAD_SIZE,
    MIB,
    OS_DISK_MAX_VIRTUAL_SIZE,
    PAGE_BLOB_MAX_SIZE,
    PAGE_BLOB_MAX_VIRTUAL_SIZE,
    azure_readiness,
    inspect_disk,
    open_disk,
    round_up_to_mib,
)
from vhdupload.vhd import disk as disk_module

from .builders import FIXED, build_dynamic, build_fixed, footer_bytes


def test_constants():
    assert MANAGED_DISK_MIN_UPLOAD_SIZE == 20_972_032
    assert MANAGED_DISK_MAX_UPLOAD_SIZE == 35_183_298_347_520
    assert PAGE_BLOB_MAX_VIRTUAL_SIZE + MIB == PAGE_BLOB_MAX_SIZE == 8 * 1024**4
    assert OS_DISK_MAX_VIRTUAL_SIZE == 4095 * 1024**3
    assert [round_up_to_mib(n) for n in (0, 1, MIB, MIB + 1)] == [0, MIB, MIB, 2 * MIB]


def test_fixed_extents_skip_holes_clip_and_never_include_the_footer(tmp_path):
    size = 64 * MIB
    path = build_fixed(tmp_path / "f.vhd", virtual_size=size, writes={8 * MIB: b"a" * MIB, size - 4096: b"z" * 4096})
    with open_disk(path) as disk:
        extents = list(disk.extents())
        assert all(b <= size for _, b in extents)
        assert sum(b - a for a, b in extents) < 4 * MIB  # holes skipped (file-system block granularity)
        assert any(a <= 8 * MIB < b for a, b in extents) and extents[-1][1] == size
        assert list(disk.extents(8 * MIB + 10, 8 * MIB + 20)) == [(8 * MIB + 10, 8 * MIB + 20)]
        assert list(disk.extents(20 * MIB, 30 * MIB)) == []
        assert disk.read(size - 4096, 4096) == b"z" * 4096
        assert disk.read(0, 10) == bytes(10)
        with pytest.raises(InputError):
            disk.read(size - 10, 11)  # the footer is not part of the disk


def test_extents_fall_back_to_one_extent_without_seek_data(tmp_path, monkeypatch):
    path = build_fixed(tmp_path / "f.vhd", virtual_size=4 * MIB, writes={0: b"x"})
    monkeypatch.delattr(os, "SEEK_DATA")
    with open_disk(path) as disk:
        assert list(disk_module.sparse_extents(disk._fd, 0, disk.virtual_size)) == [(0, 4 * MIB)]


def test_concurrent_reads_of_a_dynamic_disk(tmp_path):
    writes = {i * MIB + 512 * i: bytes([i]) * 70000 for i in range(1, 30)}
    path = build_dynamic(tmp_path / "d.vhd", virtual_size=32 * MIB, block_size=512 * 1024, writes=writes)
    expected = bytearray(32 * MIB)
    for offset, data in writes.items():
        expected[offset:offset + len(data)] = data
    with open_disk(path) as disk, ThreadPoolExecutor(8) as pool:
        pieces = list(pool.map(lambda o: disk.read(o, 1_000_000), range(0, 31 * MIB, 1_000_000)))
    assert b"".join(pieces) == bytes(expected[: len(pieces) * 1_000_000])


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


def test_footer_bytes_are_the_files_own(tmp_path):
    path = build_fixed(tmp_path / "f.vhd", virtual_size=MIB)
    with open_disk(path) as disk:
        assert disk.footer_bytes == path.read_bytes()[-512:]
        assert disk.footer.to_bytes() == disk.footer_bytes


def test_readiness_of_sizes(tmp_path):
    big = build_fixed(tmp_path / "big.vhd", virtual_size=5000 * 1024**3)  # sparse
    with open_disk(big) as disk:
        readiness = azure_readiness(disk)
    assert readiness.ready
    assert any("OS disk" in w for w in readiness.warnings)
    huge = build_fixed(tmp_path / "huge.vhd", virtual_size=PAGE_BLOB_MAX_SIZE)
    with open_disk(huge) as disk:
        readiness = azure_readiness(disk)
    assert not readiness.ready and any("page-blob limit" in p for p in readiness.problems)
    # past the managed-disk maximum (too big to create as a real file here: a stand-in disk)
    stand_in = SimpleNamespace(path="x.vhd", disk_type="fixed", virtual_size=33 * 1024**4,
                               file_size=33 * 1024**4 + 512)
    readiness = azure_readiness(stand_in)
    assert any("too big for a managed-disk upload" in w for w in readiness.warnings)
    small = SimpleNamespace(path="x.vhd", disk_type="fixed", virtual_size=20 * MIB, file_size=20 * MIB + 512)
    readiness = azure_readiness(small)
    assert readiness.ready and readiness.warnings == []  # 20 MiB + 512 is the managed-disk minimum
    smaller = SimpleNamespace(path="x.vhd", disk_type="fixed", virtual_size=19 * MIB, file_size=19 * MIB + 512)
    assert any("too small for a managed-disk upload" in w for w in azure_readiness(smaller).warnings)
    longer = build_fixed(tmp_path / "long.vhd", virtual_size=MIB)
    with open(longer, "ab") as f:
        f.write(bytes(512))  # trailing junk after the footer: footer no longer at the end
    with pytest.raises(NotAVhdError):
        open_disk(longer)


def test_inspect_disk_report(tmp_path):
    path = build_dynamic(tmp_path / "d.vhd", virtual_size=30 * MIB, writes={MIB: b"x" * 4096})
    report = inspect_disk(path)
    data = report.to_dict()
    assert data["disk_type"] == "dynamic" and data["allocated_bytes"] == 4096
    assert data["creator_application"] == "vhdu" and data["block_size"] == 2 * MIB
    assert data["geometry"] == (65535, 16, 255) and data["spec_geometry"] == (903, 4, 17)
    assert not data["azure_ready"] and len(data["problems"]) == 1


def test_inspect_warns_when_chs_and_current_size_disagree(tmp_path):
    path = tmp_path / "chs.vhd"
    with open(path, "wb") as f:
        f.truncate(11 * MIB)
        f.seek(11 * MIB)
        f.write(footer_bytes(disk_type=FIXED, current_size=11 * MIB, creator=b"qemu", geometry=(302, 4, 17)))
    report = inspect_disk(path)
    assert report.azure_ready and report.virtual_size == 11 * MIB  # the current size is what counts
    assert any("CHS geometry 302/4/17" in w and "current size" in w for w in report.warnings)
