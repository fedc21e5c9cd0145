"""``inspect_disk``: everything a person (or a CI gate) needs to know about a disk, as data.

It composes the layers below it: the factory (:func:`vhdupload.open_disk`) and what each format
records, Azure's rules (:mod:`vhdupload.azure_rules`) and the guest layer (:mod:`vhdupload.guest`).
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace
from typing import Any, cast

from .allocation import data_in_free_space, free_space_of
from .azure_rules import azure_readiness, format_size
from .disks import open_disk
from .ova import OvaDisk, list_disks
from .guest import GuestReport, examine
from .vhd.dynamic import DynamicDisk
from .vhd.footer import FOOTER_SIZE
from .vhd.geometry import Geometry, chs_for_size
from .vhdx import VhdxDisk, partition_sector_size
from .vmdk import VmdkDisk
from .virtual_disk import VirtualDisk


@dataclass(frozen=True)
class DiskReport:
    """What :func:`inspect_disk` found. ``to_dict()`` is the ``inspect --json`` object."""

    path: str
    disk_type: str  # "fixed" | "dynamic" | "differencing"
    virtual_size: int
    file_size: int
    allocated_bytes: int
    creator_application: str
    creator_version: str
    creator_host_os: str
    uuid: str
    created: str  # ISO 8601, from the footer's timestamp
    original_size: int
    geometry: tuple[int, int, int]  # as stored in the footer: cylinders, heads, sectors/track
    geometry_size: int  # bytes the stored geometry describes
    spec_geometry: tuple[int, int, int]  # what the VHD spec computes for the current size
    saved_state: bool
    block_size: int | None
    parents: list[str]
    azure_ready: bool
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: What is inside (OS, architecture, generalized...): a :class:`vhdupload.guest.GuestReport`,
    #: None when not asked for.
    guest: GuestReport | None = None
    format: str = "vhd"  # "vhd" | "vhdx" | "vmdk" | "qcow2" | "vdi" | "raw"
    logical_sector_size: int = 512
    physical_sector_size: int | None = None  # VHDX only (a VHD does not record it)
    log_state: str | None = None  # VHDX only: "no log", "empty" or "replayed N log entries ..."
    data_write_guid: str | None = None  # VHDX only: what a differencing child's parent_linkage names
    subformat: str | None = None  # VMDK only: its createType (streamOptimized, monolithicSparse, ...)
    adapter_type: str | None = None  # VMDK only: the disk database's adapterType (ide, lsilogic, ...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _triple(geometry: Geometry) -> tuple[int, int, int]:
    """The geometry as the plain (cylinders, heads, sectors/track) tuple the report holds."""
    return (geometry.cylinders, geometry.heads, geometry.sectors_per_track)


def _text(code: bytes) -> str:
    return code.decode("latin-1").rstrip("\0 ") or repr(code)


def inspect_disk(path: str | os.PathLike[str], *, guest: bool = True, raw: bool = False) -> DiskReport:
    """Open the disk at ``path`` and report on it; with ``guest`` also look inside its file
    systems (see :func:`vhdupload.guest.examine`).

    :param raw: take the file as a raw image whatever its bytes (``open_disk(raw=True)``).
        Without it, a file no format recognises (no signature, no VHD footer at all) is
        reported as a raw image, as ``convert`` takes it; a damaged footer is still an error.
    """
    with open_disk(path, format="raw" if raw else "detect") as disk:
        inside: GuestReport | None = None
        if guest:
            inside = examine(disk)
            _free_data(disk, inside)
        if isinstance(disk, VhdxDisk):
            return _inspect_vhdx(disk, guest=inside)
        if disk.footer is None:  # VMDK, qcow2, VDI, raw: no VHD footer; upload and convert make one
            return _inspect_converted(disk, guest=inside)
        footer = disk.footer
        assert footer is not None  # open_disk without raw=True only returns VHDs
        readiness = azure_readiness(disk)
        warnings = list(readiness.warnings)
        geometry = footer.geometry
        if geometry.size != disk.virtual_size and not geometry.is_maximum:
            warnings.append(
                f"the footer's CHS geometry {geometry} describes {format_size(geometry.size)}, not "
                f"the current size {disk.virtual_size}: Azure and vhdupload use the current size, "
                "but some tools (qemu-img before version 10, for most creators) use the CHS size"
            )
        if footer.saved_state:
            warnings.append("the footer's saved-state flag is set: the disk was saved while a VM was running")
        if len(disk.footer_bytes or b"") != FOOTER_SIZE:
            warnings.append("the footer is the old 511-byte kind written by early Virtual PC")
        major, minor = footer.creator_version >> 16, footer.creator_version & 0xFFFF
        return DiskReport(
            path=str(disk.path),
            disk_type=disk.disk_type,
            virtual_size=disk.virtual_size,
            file_size=disk.file_size,
            allocated_bytes=disk.allocated_bytes(),
            creator_application=_text(footer.creator_application),
            creator_version=f"{major}.{minor}",
            creator_host_os=_text(footer.creator_host_os),
            uuid=str(footer.uuid),
            created=footer.created.isoformat(),
            original_size=footer.original_size,
            geometry=_triple(geometry),
            geometry_size=geometry.size,
            spec_geometry=_triple(chs_for_size(disk.virtual_size)),
            saved_state=bool(footer.saved_state),
            block_size=disk.block_size if isinstance(disk, DynamicDisk) else None,
            parents=[str(p) for p in disk.parents],
            azure_ready=readiness.ready,
            problems=list(readiness.problems),
            warnings=warnings,
            guest=inside,
        )


def _free_data(disk: VirtualDisk, report: GuestReport) -> None:
    """Each volume's deleted data: bytes of its free blocks that hold data (only the parts the
    disk stores at all are read)."""
    found = {v.where: v for v in free_space_of(disk).volumes if v.kept is None}
    for volume in report.volumes:
        space = found.get(volume.where)
        if space is not None:
            volume.free_bytes_with_data = data_in_free_space(disk, space.free)


def _inspect_vhdx(disk: VhdxDisk, *, guest: GuestReport | None) -> DiskReport:
    """The same verdict for a VHDX: never Azure-ready as it is (upload converts it on the fly)."""
    name = str(disk.path)
    # Azure's size limits, judged as for the fixed VHD the upload makes of it
    as_fixed = SimpleNamespace(path=disk.path, virtual_size=disk.virtual_size, disk_type="fixed",
                               file_size=disk.virtual_size + FOOTER_SIZE)
    # azure_readiness reads only these four attributes (it checks them itself)
    readiness = azure_readiness(cast("VirtualDisk", as_fixed))
    problems = [
        f"{name} is a {disk.disk_type} VHDX: Azure needs a fixed VHD; upload it with `vhdupload upload`, "
        f"which converts on the fly, or run `vhdupload convert {name} OUT.vhd`",
        *readiness.problems,
    ]
    warnings = list(readiness.warnings)
    layout = partition_sector_size(lambda o, n: disk.read(o, min(n, max(disk.virtual_size - o, 0))))
    if disk.logical_sector_size == 4096 or layout == 4096:
        where = " (its GPT header is at byte 4096)" if layout == 4096 else ""
        warnings.append(
            f"the disk has {disk.logical_sector_size}-byte logical sectors{where}: its blob is a 512-byte-sector "
            "fixed VHD of the same size, and a partition table laid out for 4 KiB sectors is not found by Azure's "
            "512-byte-sector disks; it cannot be an OS disk, and data disks need their partitions recreated"
        )
    if disk.replay.state == "replayed":
        warnings.append(
            f"the VHDX log held writes not yet applied (it was not closed cleanly); they were {disk.log_state}, "
            "and the file was not changed"
        )
    geometry = _triple(chs_for_size(disk.virtual_size))
    return DiskReport(
        path=name,
        disk_type=disk.disk_type,
        virtual_size=disk.virtual_size,
        file_size=disk.file_size,
        allocated_bytes=disk.allocated_bytes(),
        creator_application=disk.creator,
        creator_version="",
        creator_host_os="",
        uuid=str(disk.disk_id),
        created="",
        original_size=disk.virtual_size,
        geometry=geometry,  # VHDX has no CHS: the geometry the uploaded fixed VHD's footer gets
        geometry_size=geometry[0] * geometry[1] * geometry[2] * 512,
        spec_geometry=geometry,
        saved_state=False,
        block_size=disk.block_size,
        parents=[str(p) for p in disk.parents],
        azure_ready=False,
        problems=problems,
        warnings=warnings,
        guest=guest,
        format="vhdx",
        logical_sector_size=disk.logical_sector_size,
        physical_sector_size=disk.physical_sector_size,
        log_state=disk.log_state,
        data_write_guid=str(disk.data_write_guid),
    )


def _inspect_converted(disk: VirtualDisk, *, guest: GuestReport | None) -> DiskReport:
    """A VMDK, qcow2, VDI or raw image: never Azure-ready as it is; upload and convert make its fixed
    VHD. What the reader noted (a qcow2's or VDI's ``notes``: snapshots ignored, a dirty image) are warnings."""
    name = str(disk.path)
    is_vmdk = isinstance(disk, VmdkDisk)
    fmt = "vmdk" if is_vmdk else str(getattr(disk, "format", "raw"))
    as_fixed = SimpleNamespace(path=disk.path, virtual_size=disk.virtual_size, disk_type="fixed",
                               file_size=disk.virtual_size + FOOTER_SIZE)
    readiness = azure_readiness(cast("VirtualDisk", as_fixed))
    what = (f"a {disk.disk_type} VMDK ({disk.create_type})" if isinstance(disk, VmdkDisk)
            else "a raw image" if fmt == "raw" else f"a {disk.disk_type} {fmt} image")
    # a qcow2's clusters, a VDI's blocks, and its UUID (the VMDK's facts are its subformat and adapter)
    block_size = None if is_vmdk else getattr(disk, "cluster_size", None) or getattr(disk, "block_size", None)
    disk_id = None if is_vmdk else getattr(disk, "disk_id", None)
    problems = [
        f"{name} is {what}: Azure needs a fixed VHD; upload it with `vhdupload upload{' --raw' if fmt == 'raw' else ''}`, "
        f"which converts on the fly, or run `vhdupload convert {name} OUT.vhd`",
        *readiness.problems,
    ]
    geometry = _triple(chs_for_size(disk.virtual_size))
    return DiskReport(
        path=name, disk_type=disk.disk_type, virtual_size=disk.virtual_size, file_size=disk.file_size,
        allocated_bytes=disk.allocated_bytes(), creator_application="", creator_version="", creator_host_os="",
        uuid=str(disk_id or ""), created="", original_size=disk.virtual_size, geometry=geometry,
        geometry_size=geometry[0] * geometry[1] * geometry[2] * 512, spec_geometry=geometry, saved_state=False,
        block_size=block_size if isinstance(block_size, int) else None, parents=[str(p) for p in disk.parents],
        azure_ready=False, problems=problems,
        warnings=[*readiness.warnings, *(str(n) for n in getattr(disk, "notes", ()))], guest=guest, format=fmt,
        subformat=disk.create_type if isinstance(disk, VmdkDisk) else None,
        adapter_type=disk.adapter_type if isinstance(disk, VmdkDisk) else None,
    )


@dataclass(frozen=True)
class ArchiveDiskReport:
    """One disk of an OVA: its place in the VM (``role`` "os" or "data" at ``lun``) and its report."""

    path: str  # archive/member: what every command takes
    role: str
    lun: int | None
    address: str  # where the OVF's hardware attaches it
    ovf_format: str
    report: DiskReport

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def inspect_archive(path: str | os.PathLike[str], *, guest: bool = True) -> list[ArchiveDiskReport]:
    """Every disk of the OVA at ``path``, in the VM's order (the first is the OS disk), each inspected."""
    found: list[OvaDisk] = list_disks(pathlib.Path(path))
    return [ArchiveDiskReport(path=str(d.path), role=d.role, lun=d.lun, address=d.address, ovf_format=d.format,
                              report=inspect_disk(d.path, guest=guest)) for d in found]
