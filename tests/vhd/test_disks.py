"""The VHD disks as the VirtualDisk view: extents, reads, the footer's own bytes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from vhdupload import open_disk
from vhdupload.azure_rules import MIB
from vhdupload.errors import InputError

from .builders import build_dynamic, build_fixed


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


def test_concurrent_reads_of_a_dynamic_disk(tmp_path):
    writes = {i * MIB + 512 * i: bytes([i]) * 70000 for i in range(1, 30)}
    path = build_dynamic(tmp_path / "d.vhd", virtual_size=32 * MIB, block_size=512 * 1024, writes=writes)
    expected = bytearray(32 * MIB)
    for offset, data in writes.items():
        expected[offset:offset + len(data)] = data
    with open_disk(path) as disk, ThreadPoolExecutor(8) as pool:
        pieces = list(pool.map(lambda o: disk.read(o, 1_000_000), range(0, 31 * MIB, 1_000_000)))
    assert b"".join(pieces) == bytes(expected[: len(pieces) * 1_000_000])


def test_footer_bytes_are_the_files_own(tmp_path):
    path = build_fixed(tmp_path / "f.vhd", virtual_size=MIB)
    with open_disk(path) as disk:
        assert disk.footer_bytes == path.read_bytes()[-512:]
        assert disk.footer.to_bytes() == disk.footer_bytes
