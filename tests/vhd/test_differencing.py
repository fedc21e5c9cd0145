"""Differencing disks built by the tests, read against libvhdi (4 KiB-aligned writes) and
against the MSB-first bit order (writes below 4 KiB, which libvhdi misreads)."""

from __future__ import annotations

import os
import struct
import uuid

import pytest

from vhdupload.errors import ParentChainError
from vhdupload import convert_image, open_disk

from tests.support.libvhdi import read_chain

from .builders import BAT_OFFSET, MIB, build_differencing, build_dynamic, build_fixed

pyvhdi = pytest.importorskip("pyvhdi")

SIZE = 8 * MIB


def _expected(size: int, *layers: dict) -> bytes:
    """What a chain holds: the parent's writes, then each child's on top (parent first)."""
    out = bytearray(size)
    for writes in layers:
        for offset, data in writes.items():
            out[offset:offset + len(data)] = data
    return bytes(out)


BASE = {0: b"\x01" * 8192, 2 * MIB - 4096: b"\x02" * 8192, 6 * MIB: b"\x03" * 4096}
MIDDLE = {4096: b"\x04" * 4096, 2 * MIB: b"\x05" * 4096 * 3}
TOP = {0: b"\x06" * 4096, 6 * MIB + 4096: b"\x07" * 4096}


@pytest.fixture
def chain(tmp_path):
    base = build_dynamic(tmp_path / "base.vhd", virtual_size=SIZE, writes=BASE)
    middle = build_differencing(tmp_path / "middle.vhd", parent=base, writes=MIDDLE)
    top = build_differencing(tmp_path / "top.vhd", parent=middle, writes=TOP, block_size=512 * 1024)
    return top, middle, base


def test_three_level_chain_reads_as_libvhdi_does(chain):
    top, middle, base = chain
    expected = _expected(SIZE, BASE, MIDDLE, TOP)
    assert read_chain([top, middle, base]) == expected
    with open_disk(top) as disk:
        assert disk.disk_type == "differencing"
        assert [p.name for p in disk.parents] == ["middle.vhd", "base.vhd"]
        assert disk.read(0, SIZE) == expected
        assert disk.read(2 * MIB - 5000, 10000) == expected[2 * MIB - 5000:2 * MIB + 5000]
        covered = bytearray(SIZE)
        for start, stop in disk.extents():
            covered[start:stop] = expected[start:stop]
        assert bytes(covered) == expected
        assert len(disk.fingerprint_files()) == 3


def test_sub_4k_writes_follow_msb_first_bit_order(tmp_path):
    parent = build_dynamic(tmp_path / "p.vhd", virtual_size=SIZE, writes={0: b"\xaa" * 16384})
    # sectors 1, 3 and 8 of the child; the parent shows through sectors 0, 2, 4-7, 9...
    child_writes = {512: b"\x01" * 512, 1536: b"\x03" * 512, 4096: b"\x08" * 512}
    child = build_differencing(tmp_path / "c.vhd", parent=parent, writes=child_writes)
    expected = _expected(SIZE, {0: b"\xaa" * 16384}, child_writes)
    with open_disk(child) as disk:
        assert disk.read(0, 16384) == expected[:16384]
        assert disk.read(1000, 4000) == expected[1000:5000]
    # the builder set bits for sectors 1, 3 and 8 most significant first: 0b0101_0000, 0b1000_0000
    raw = child.read_bytes()
    bitmap_at = struct.unpack_from(">I", raw, BAT_OFFSET)[0] * 512
    assert raw[bitmap_at:bitmap_at + 3] == b"\x50\x80\x00"


def test_locators_each_find_the_parent(tmp_path):
    sub = tmp_path / "parents"
    sub.mkdir()
    parent = build_fixed(sub / "p.vhd", virtual_size=SIZE, writes={0: b"P" * 4096})
    for name, locators in [("ru", ("W2ru",)), ("ku", ("W2ku",)),
                           ("win", {"W2ku": "C:\\Images\\parents\\p.vhd"})]:
        child = build_differencing(sub / f"{name}.vhd", parent=parent, locators=locators, writes={4096: b"c" * 512})
        with open_disk(child) as disk:
            assert disk.parents[0].resolve() == parent.resolve()
            assert disk.read(0, 4608) == b"P" * 4096 + b"c" * 512
    # no locator at all: the UTF-16BE parent name, next to the child
    child = build_differencing(sub / "name.vhd", parent=parent, locators=())
    with open_disk(child) as disk:
        assert disk.parents[0].name == "p.vhd"


def test_relative_locator_into_another_directory(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "work").mkdir()
    parent = build_dynamic(tmp_path / "base" / "p.vhd", virtual_size=SIZE, writes={0: b"P"})
    child = build_differencing(tmp_path / "work" / "c.vhd", parent=parent, locators=("W2ru",))
    with open_disk(child) as disk:
        assert disk.parents[0].resolve() == parent.resolve()
        assert disk.read(0, 1) == b"P"


def test_missing_parent(tmp_path):
    parent = build_dynamic(tmp_path / "p.vhd", virtual_size=SIZE)
    child = build_differencing(tmp_path / "c.vhd", parent=parent)
    os.unlink(parent)
    with pytest.raises(ParentChainError, match="parent is missing"):
        open_disk(child)


def test_wrong_parent_identity(tmp_path):
    parent = build_dynamic(tmp_path / "p.vhd", virtual_size=SIZE)
    child = build_differencing(tmp_path / "c.vhd", parent=parent)
    build_dynamic(tmp_path / "p.vhd", virtual_size=SIZE)  # replaced: same name, new UUID
    with pytest.raises(ParentChainError, match="expected parent UUID"):
        open_disk(child)


def test_cycles_are_refused(tmp_path):
    seed = build_dynamic(tmp_path / "seed.vhd", virtual_size=SIZE)
    b_uuid = uuid.uuid4()
    a = build_differencing(tmp_path / "a.vhd", parent=seed, parent_uuid=b_uuid, locators={"W2ru": "b.vhd"})
    build_differencing(tmp_path / "b.vhd", parent=a, uuid=b_uuid, locators={"W2ru": "a.vhd"})
    with pytest.raises(ParentChainError, match="cycle"):
        open_disk(a)
    self_uuid = uuid.uuid4()
    me = build_differencing(tmp_path / "me.vhd", parent=seed, uuid=self_uuid, parent_uuid=self_uuid,
                            locators={"W2ru": "me.vhd"})
    with pytest.raises(ParentChainError, match="cycle"):
        open_disk(me)


def test_converted_chain_reads_the_same_in_libvhdi(chain, tmp_path):
    top, _, _ = chain
    out = tmp_path / "flat.vhd"
    result = convert_image(top, out)
    assert result.virtual_size == SIZE
    data = read_chain([out])
    assert len(data) == SIZE and data == _expected(SIZE, BASE, MIDDLE, TOP)
