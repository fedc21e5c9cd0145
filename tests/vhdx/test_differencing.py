"""Differencing VHDX chains (and .avhdx checkpoints), built with tests/vhdx/writer.py: qemu-img
cannot write a differencing VHDX ("Backing file not supported for file format 'vhdx'")."""

from __future__ import annotations

import os
import random
import uuid

import pytest

from vhdupload.errors import OtherFormatError, ParentChainError
from vhdupload import open_disk

from .conftest import qemu_img
from .writer import MIB, Spec, write_vhdx

SIZE = 8 * MIB
rng = random.Random(5)
P = [rng.randbytes(MIB) for _ in range(8)]
C = [rng.randbytes(MIB) for _ in range(8)]


def _parent(path, *, dwg=None, logical=512):
    spec = Spec(virtual_size=SIZE, blocks={b: (6, P[b]) for b in range(4)}, logical_sector_size=logical)
    if dwg is not None:
        spec.data_write_guid = dwg
    write_vhdx(path, spec)
    return spec.data_write_guid


def _mixed_bitmap(sectors: int, *, sector_size: int) -> tuple[bytes, list[bool]]:
    """Bits for a block: runs, single sectors and partial bytes; returns (bitmap, per-sector)."""
    present = [False] * sectors
    for i in range(0, 40):
        present[i] = True  # 5 whole bytes
    for i in (45, 47, 48, 63, 64, 65):
        present[i] = True  # bits inside bytes (least significant bit first)
    for i in range(sectors // 2, sectors // 2 + sectors // 8):
        present[i] = True
    bits = bytearray(sectors // 8)
    for i, p in enumerate(present):
        if p:
            bits[i // 8] |= 1 << (i % 8)
    return bytes(bits), present


def _expected(child_present, parent_blocks, *, sector_size=512) -> bytes:
    out = bytearray(SIZE)
    for b, data in parent_blocks.items():
        out[b * MIB:(b + 1) * MIB] = data
    out[0:MIB] = C[0]  # fully present
    for i, p in enumerate(child_present):
        if p:
            out[MIB + i * sector_size:MIB + (i + 1) * sector_size] = C[1][i * sector_size:(i + 1) * sector_size]
    out[2 * MIB:3 * MIB] = bytes(MIB)  # ZERO hides the parent
    out[4 * MIB:5 * MIB] = bytes(MIB)  # UNMAPPED hides it too
    return bytes(out)


def _child(path, linkage, *, paths=None, logical=512):
    sectors = MIB // logical
    bits, present = _mixed_bitmap(sectors, sector_size=logical)
    spec = Spec(
        virtual_size=SIZE, logical_sector_size=logical, parent_linkage=linkage,
        parent_paths=paths if paths is not None else {"relative_path": ".\\parent.vhdx",
                                                      "absolute_win32_path": "\\\\?\\C:\\vms\\parent.vhdx"},
        blocks={0: (6, C[0]), 1: (7, C[1]), 2: (2, None), 3: (0, None), 4: (3, None)},
        bitmaps={1: bits},
    )
    write_vhdx(path, spec)
    return spec, present


@pytest.mark.parametrize("logical", [512, 4096])
def test_child_over_parent(tmp_path, logical):
    dwg = _parent(tmp_path / "parent.vhdx", logical=logical)
    _, present = _child(tmp_path / "child.vhdx", dwg, logical=logical)
    expected = _expected(present, {b: P[b] for b in range(4)}, sector_size=logical)
    with open_disk(tmp_path / "child.vhdx") as disk:
        assert disk.disk_type == "differencing"
        assert disk.parents == [tmp_path / "parent.vhdx"]
        assert disk.read(0, SIZE) == expected
        for a, b in [(MIB - 700, 5000), (MIB + 40 * logical - 3, 10), (2 * MIB - 1, 2)]:
            assert disk.read(a, b) == expected[a:a + b]
        extents = list(disk.extents())
        covered = bytearray(SIZE)
        for a, b in extents:
            covered[a:b] = expected[a:b]
        assert bytes(covered) == expected  # nothing nonzero outside the extents
        assert all(a < b for a, b in extents) and extents == sorted(extents)
        assert not any(a <= 2 * MIB < b for a, b in extents)  # the zeroed block is no extent


def test_libvhdi_agrees_on_whole_byte_bitmaps(tmp_path):
    pyvhdi = pytest.importorskip("pyvhdi")
    dwg = _parent(tmp_path / "parent.vhdx")
    bits = b"\xff" * 16 + b"\x00" * 16 + b"\xff" * 8 + b"\x00" * (MIB // 512 // 8 - 40)
    spec = Spec(virtual_size=SIZE, parent_linkage=dwg, parent_paths={"relative_path": "parent.vhdx"},
                blocks={0: (6, C[0]), 1: (7, C[1]), 3: (0, None)}, bitmaps={1: bits})
    write_vhdx(tmp_path / "child.vhdx", spec)
    handles = []
    try:
        for name in ("child.vhdx", "parent.vhdx"):
            h = pyvhdi.file()
            h.open(str(tmp_path / name))
            handles.append(h)
        handles[0].set_parent(handles[1])
        theirs = handles[0].read_buffer_at_offset(SIZE, 0)
    finally:
        for h in handles:
            h.close()
    with open_disk(tmp_path / "child.vhdx") as disk:
        assert disk.read(0, SIZE) == theirs


def test_avhdx_chain_three_deep_in_other_directories(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "snaps").mkdir()
    dwg = _parent(tmp_path / "base" / "disk.vhdx")
    mid = Spec(virtual_size=SIZE, parent_linkage=dwg, parent_paths={"relative_path": "..\\base\\disk.vhdx"},
               blocks={5: (6, C[5])})
    write_vhdx(tmp_path / "snaps" / "disk_A.avhdx", mid)
    top = Spec(virtual_size=SIZE, parent_linkage=mid.data_write_guid,
               parent_paths={"relative_path": "disk_A.avhdx"}, blocks={6: (6, C[6]), 0: (2, None)})
    write_vhdx(tmp_path / "snaps" / "disk_B.avhdx", top)
    with open_disk(tmp_path / "snaps" / "disk_B.avhdx") as disk:
        assert len(disk.parents) == 2
        assert disk.read(0, MIB) == bytes(MIB)
        assert disk.read(MIB, MIB) == P[1]
        assert disk.read(5 * MIB, MIB) == C[5] and disk.read(6 * MIB, MIB) == C[6]
        assert list(disk.extents()) == [(MIB, 4 * MIB), (5 * MIB, 7 * MIB)]
        assert len(disk.fingerprint_files()) == 3


def test_parent_found_by_name_next_to_child(tmp_path):
    dwg = _parent(tmp_path / "parent.vhdx")
    _child(tmp_path / "child.vhdx", dwg, paths={"absolute_win32_path": "\\\\?\\D:\\gone\\parent.vhdx"})
    with open_disk(tmp_path / "child.vhdx") as disk:
        assert disk.read(3 * MIB, 10) == P[3][:10]


def test_missing_parent(tmp_path):
    _child(tmp_path / "child.vhdx", uuid.uuid4())
    with pytest.raises(ParentChainError, match="parent is missing .*parent.vhdx"):
        open_disk(tmp_path / "child.vhdx")


def test_parent_with_other_data_write_guid(tmp_path):
    _parent(tmp_path / "parent.vhdx")
    _child(tmp_path / "child.vhdx", uuid.uuid4())
    with pytest.raises(ParentChainError, match="expected DataWriteGuid .*modified or replaced"):
        open_disk(tmp_path / "child.vhdx")


def test_parent_cycle_is_refused_quickly(tmp_path):
    a_guid, b_guid = uuid.uuid4(), uuid.uuid4()
    for name, own, other in (("a.vhdx", a_guid, "b.vhdx"), ("b.vhdx", b_guid, "a.vhdx")):
        spec = Spec(virtual_size=SIZE, parent_linkage=b_guid if name == "a.vhdx" else a_guid,
                    parent_paths={"relative_path": other}, data_write_guid=own)
        write_vhdx(tmp_path / name, spec)
    with pytest.raises(ParentChainError, match="cycle"):
        open_disk(tmp_path / "a.vhdx")
    # a child naming itself as its parent
    spec = Spec(virtual_size=SIZE, parent_linkage=a_guid, parent_paths={"relative_path": "self.vhdx"},
                data_write_guid=a_guid)
    write_vhdx(tmp_path / "self.vhdx", spec)
    with pytest.raises(ParentChainError, match="cycle"):
        open_disk(tmp_path / "self.vhdx")


def test_vhd_parent_is_refused_with_a_clear_line(tmp_path):
    qemu_img("create", "-f", "vpc", "-o", "subformat=dynamic,force_size=on", tmp_path / "parent.vhd", "8M")
    _child(tmp_path / "child.vhdx", uuid.uuid4(), paths={"relative_path": "parent.vhd"})
    with pytest.raises(ParentChainError, match="is a dynamic VHD, and a VHDX differencing disk over a VHD"):
        open_disk(tmp_path / "child.vhdx")


def test_sector_size_mismatch_is_refused(tmp_path):
    dwg = _parent(tmp_path / "parent.vhdx", logical=4096)
    _child(tmp_path / "child.vhdx", dwg)
    with pytest.raises(ParentChainError, match="4096-byte sectors"):
        open_disk(tmp_path / "child.vhdx")


def test_vhd_set_is_refused(tmp_path):
    path = tmp_path / "shared.vhds"
    _parent(path)
    with pytest.raises(OtherFormatError, match="VHD Set"):
        open_disk(path)
    other = tmp_path / "odd.VHDS"
    other.write_bytes(os.urandom(4096))
    with pytest.raises(OtherFormatError, match="VHD Set"):
        open_disk(other)
