"""Disks inside an OVA: listed from its OVF, opened in place as VMDKs (a member is a byte
range of the archive), addressed as ``app.ova/app-disk1.vmdk``.
"""

from __future__ import annotations

import os
import pathlib
import stat
from dataclasses import dataclass

from ..errors import CorruptVhdError, InputError
from ..vmdk import Span, VmdkDisk, open_vmdk_span
from .archive import Member, is_ova_path, read_index
from .ovf import OvfDisk, parse_ovf


@dataclass(frozen=True)
class OvaDisk:
    """One disk of an OVA, in the VM's order: ``role`` "os" for the first, "data" (at ``lun``) for the others."""

    path: pathlib.Path  # archive/member: what open_disk takes
    member: str
    capacity: int  # bytes, from the OVF
    format: str  # the OVF's format URI
    address: str  # where the VM's hardware attaches it
    role: str
    lun: int | None


def split_member_path(path: pathlib.Path) -> tuple[pathlib.Path, str] | None:
    """``(archive, member name)`` when ``path`` does not exist and one of its parents is an .ova file."""
    if os.path.lexists(path):
        return None
    for parent in path.parents:
        if is_ova_path(parent) and parent.is_file():
            return parent, path.relative_to(parent).as_posix()
    return None


def list_disks(archive: pathlib.Path) -> list[OvaDisk]:
    """The OVA's disks from its OVF, in the VM's order (the first is the OS disk)."""
    fd = _open(archive)
    try:
        index = read_index(fd, archive)
        found = _ovf_disks(fd, archive, index)
    finally:
        os.close(fd)
    disks: list[OvaDisk] = []
    for position, disk in enumerate(d for d in found if d.file_name):
        assert disk.file_name is not None
        if disk.file_name not in index:
            raise CorruptVhdError(f"{archive}: its OVF names the disk file {disk.file_name}, which the archive "
                                  "does not hold; export the OVA again")
        disks.append(OvaDisk(path=archive / disk.file_name, member=disk.file_name, capacity=disk.capacity,
                             format=disk.format, address=disk.address, role="os" if position == 0 else "data",
                             lun=None if position == 0 else position - 1))
    if not disks:
        raise InputError(f"{archive}: its OVF names no disk files: nothing to read")
    return disks


def open_member(archive: pathlib.Path, name: str) -> VmdkDisk:
    """The disk held in member ``name`` of ``archive``; its size must be what the OVF says."""
    fd = _open(archive)
    try:
        index = read_index(fd, archive)
        member = index.get(name)
        if member is None:
            held = ", ".join(sorted(n for n in index if not n.lower().endswith((".ovf", ".mf", ".cert")))) or "none"
            raise InputError(f"{archive} holds no member {name!r} (its disks: {held})")
        expected = next((d for d in _ovf_disks(fd, archive, index) if d.file_name == name), None)
        if expected is not None and expected.packing:
            raise InputError(
                f"{archive}/{name}: the OVF says the file is stored {expected.packing} (ovf:compression or "
                "ovf:chunkSize), which cannot be read in place: export the OVA without compression, or unpack it "
                "(`tar xf`, then gunzip or join the chunks) and give the VMDK"
            )
        if expected is not None and "vmdk" not in expected.format.lower() and expected.format:
            raise InputError(f"{archive}/{name}: the OVF says its format is {expected.format}; only VMDK disks "
                             "inside an OVA are read: extract it and give the file itself")
        span = Span(fd=fd, path=archive / name, base=member.offset, size=member.size)
        disk = open_vmdk_span(span, name=archive / name, stat_paths=[archive])
    except BaseException:
        os.close(fd)
        raise
    if expected is not None and expected.capacity != disk.virtual_size:
        disk.close()
        raise CorruptVhdError(
            f"{archive}/{name}: the OVF says the disk holds {expected.capacity} bytes (ovf:capacity), but the "
            f"VMDK holds {disk.virtual_size}: the OVA is inconsistent"
        )
    return disk


def open_ova(archive: pathlib.Path) -> VmdkDisk:
    """The OVA's only disk; an OVA with several disks is refused with the paths of each."""
    disks = list_disks(archive)
    if len(disks) > 1:
        names = ", ".join(str(d.path) for d in disks)
        raise InputError(f"{archive} holds {len(disks)} disks: give one of them ({names})")
    return open_member(archive, disks[0].member)


def _ovf_disks(fd: int, archive: pathlib.Path, index: dict[str, Member]) -> list[OvfDisk]:
    ovf = next((m for n, m in index.items() if n.lower().endswith(".ovf") and "/" not in n), None)
    if ovf is None:
        raise CorruptVhdError(f"{archive} holds no .ovf descriptor: not an OVA")
    raw = Span(fd=fd, path=archive / ovf.name, base=ovf.offset, size=ovf.size)
    from_ovf = raw.read(0, min(ovf.size, 16 * 1024 * 1024 + 1), what="OVF")
    return parse_ovf(from_ovf, where=f"{archive}/{ovf.name}")


def _open(archive: pathlib.Path) -> int:
    try:
        st = os.stat(archive)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{archive} is not a regular file")
        return os.open(archive, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(f"{archive}: no such file") from None
    except OSError as exc:
        raise InputError(f"{archive}: cannot read it ({exc.strerror or exc})") from None
