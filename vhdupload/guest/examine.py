"""``examine``: read a disk's partitions and file systems and say what OS it holds.

Partitions (GPT/MBR) and LVM2 volumes are walked, each volume's signature is probed, and the
file systems the libyal readers know are opened: the EFI System Partition gives the
architecture, the root file system the OS, whether it was generalized and whether it is ready
for Azure. Everything goes through one :class:`~.source.Budget`, so a 2 TiB disk with little
data is judged by the few megabytes its file systems' metadata take.
"""

from __future__ import annotations

import time
from typing import Any

from .filesystems import FsError, GuestFs, ReaderMissing, install_hint, missing_readers
from .linux import examine_linux, is_linux_root
from .lvm import open_volume_group
from .partitions import read_partitions
from .probe import KINDS, probe
from .report import GuestReport, Volume
from .source import DEFAULT_MAX_BYTES, DEFAULT_SECONDS, Budget, CachedDisk, ReadAt, Window
from .windows import examine_windows, is_windows

_READABLE = ("ext", "xfs", "fat", "ntfs")
_FS_NAMES = {"ext": "ext4", "xfs": "XFS", "fat": "FAT", "ntfs": "NTFS"}
_SWAP_FIX = "remove it and let waagent (ResourceDisk.EnableSwap) or cloud-init put swap on the resource disk"
VHD_FOOTER = 512


def examine(disk: Any, *, max_bytes: int = DEFAULT_MAX_BYTES, seconds: float = DEFAULT_SECONDS) -> GuestReport:
    """Examine a :class:`~vhdupload.vhd.VirtualDisk` (any VHD, or a raw image) read-only."""
    return examine_reader(disk.read, disk.virtual_size, max_bytes=max_bytes, seconds=seconds)


def examine_blob(reader: Any, *, max_bytes: int = DEFAULT_MAX_BYTES, seconds: float = DEFAULT_SECONDS) -> GuestReport:
    """Examine a fixed-VHD page blob through ranged reads (``reader.read(offset, n)``, ``reader.size``).

    Blocks are 1 MiB here: each is one HTTP request, so fewer, larger ones are faster.
    """
    return examine_reader(reader.read, max(0, reader.size - VHD_FOOTER), max_bytes=max_bytes, seconds=seconds,
                          block_size=1024 * 1024, cache_blocks=128)


def examine_reader(read_at: ReadAt, size: int, *, max_bytes: int = DEFAULT_MAX_BYTES,
                   seconds: float = DEFAULT_SECONDS, block_size: int = 64 * 1024, cache_blocks: int = 512) -> GuestReport:
    """Examine the disk of ``size`` bytes that ``read_at(offset, n)`` reads."""
    started = time.monotonic()
    budget = Budget(max_bytes=max_bytes, seconds=seconds)
    disk = CachedDisk(read_at, size, budget=budget, block_size=block_size, cache_blocks=cache_blocks)
    report = GuestReport()
    try:
        _examine(disk, report)
    except Exception as exc:  # hostile input must end in a warning, whatever it triggers
        report.warn(f"the examination stopped early ({budget.exceeded or _text(exc)}): the results are incomplete")
    if budget.exceeded:
        unchecked = f"; not checked: {', '.join(report.unchecked)}" if report.unchecked else ""
        report.warn(f"can't tell: {budget.exceeded}; the examination stopped there{unchecked}")
    report.bytes_read = budget.used
    report.seconds = round(time.monotonic() - started, 3)
    _conclude(report, complete=budget.exceeded is None)
    return report


def _examine(disk: CachedDisk, report: GuestReport) -> None:
    table = read_partitions(disk.read, disk.size)
    report.partition_table = table.scheme
    for warning in table.warnings:
        report.warn(warning)
    candidates: list[tuple[Volume, Any]] = []
    for part in table.partitions:
        where = "whole disk" if table.scheme == "none" else f"partition {part.number}"
        window = Window(disk, part.start, part.size)
        kind = _probe(window, where, report)
        volume = Volume(where, part.start, part.size, None if part.type == "none" else part.type, part.type_name, kind)
        report.volumes.append(volume)
        if part.is_swap_type or kind == "swap":
            volume.role = "swap"
            report.sign(f"{where} is a swap partition")
            report.warn(f"{where} is swap on the OS disk: {_SWAP_FIX}")
        if kind == "lvm2":
            candidates += _logical_volumes(window, where, report)
        elif kind in _READABLE:
            candidates.append((volume, window))
        elif kind in ("luks", "bitlocker"):
            report.warn(f"{where} is encrypted ({KINDS[kind]}): its contents were not read")
    if table.scheme == "none" and report.volumes and report.volumes[0].content in ("empty", "unknown"):
        report.warn("the disk has no partition table and no file system vhdupload knows: nothing inside was read")
    _read_file_systems(candidates, report, disk.budget)


def _probe(window: Any, where: str, report: GuestReport) -> str:
    try:
        return probe(window)
    except Exception as exc:
        report.warn(f"{where}: its signature cannot be read ({_text(exc)})")
        return "unknown"


def _logical_volumes(window: Window, where: str, report: GuestReport) -> list[tuple[Volume, Any]]:
    try:
        group = open_volume_group(window, where=where)
    except ReaderMissing as exc:
        report.read = False
        report.warn(str(exc))
        return []
    except FsError as exc:
        report.warn(str(exc))
        return []
    found = []
    report.sign(f"{where} is an LVM2 physical volume of volume group {group.name} ({len(group.volumes)} logical volumes)")
    for lv in group.volumes:
        lv_where = f"LVM {group.name}/{lv.name}"
        kind = _probe(lv, lv_where, report)
        volume = Volume(lv_where, None, lv.size, "lvm", "LVM2 logical volume", kind)
        report.volumes.append(volume)
        if kind == "swap":
            volume.role = "swap"
            report.warn(f"{lv_where} is swap on the OS disk: {_SWAP_FIX}")
        elif kind in _READABLE:
            found.append((volume, lv))
    return found


def _read_file_systems(candidates: list[tuple[Volume, Any]], report: GuestReport, budget: Budget) -> None:
    missing = set()
    roots: list[tuple[Volume, GuestFs, str]] = []
    for volume, source in candidates:
        where = f"{volume.where} ({_FS_NAMES[volume.content]})"
        try:
            fs = GuestFs(volume.content, source, where=where, budget=budget)
            if volume.content == "fat" and _esp(fs, volume, report):
                continue
            if is_linux_root(fs):
                roots.append((volume, fs, "linux"))
            elif is_windows(fs):
                roots.append((volume, fs, "windows"))
        except ReaderMissing:
            missing.add(_FS_NAMES[volume.content])
        except (FsError, OSError) as exc:
            report.warn(f"{exc}" if isinstance(exc, FsError) else f"{where} cannot be read ({_text(exc)})")
    if missing:
        report.read = False
        report.warn(
            f"could not check the OS: the {', '.join(sorted(missing))} file system{'s were' if len(missing) > 1 else ' was'} "
            f"not read, because the file-system readers are not installed; {install_hint(missing_readers())}"
        )
    if not roots:
        return
    if len(roots) > 1:
        others = ", ".join(v.where for v, _, _ in roots[1:])
        report.warn(f"more than one OS on the disk ({roots[0][0].where} and {others}): only {roots[0][0].where} was checked")
    volume, fs, os_type = roots[0]
    volume.role = f"{os_type} root" if os_type == "linux" else "windows"
    report.sign(f"{os_type.capitalize()} on {fs.where}")
    try:
        (examine_linux if os_type == "linux" else examine_windows)(fs, report)
    except (FsError, OSError) as exc:
        report.warn(f"{exc}" if isinstance(exc, FsError) else f"{fs.where} cannot be read ({_text(exc)})")


def _esp(fs: GuestFs, volume: Volume, report: GuestReport) -> bool:
    """If this FAT volume is an EFI System Partition, note its boot loader's architecture."""
    names = {n.upper(): n for n in (fs.listdir("EFI/BOOT") or [])}
    if not names and fs.listdir("EFI") is None:
        return False
    volume.role = "efi system"
    loaders = [(name, arch) for name, arch in (("BOOTX64.EFI", "x64"), ("BOOTAA64.EFI", "Arm64")) if name in names]
    for name, _ in loaders:
        report.sign(f"EFI boot loader EFI/BOOT/{names[name]} on {volume.where}")
    if len(loaders) == 1 and report.architecture is None:
        report.architecture = loaders[0][1]
    elif len(loaders) > 1:
        report.warn(f"{volume.where} has boot loaders for both x64 and Arm64: the architecture is taken from the OS")
    return True


def _conclude(report: GuestReport, *, complete: bool) -> None:
    if report.os_type is None:
        if report.read:
            report.warn("no Linux or Windows system found on the disk (a data disk?): nothing about an OS was checked")
        report.would_provision = False if report.problems else None
        return
    if report.problems:
        report.would_provision = False
    elif report.generalized and complete and not report.unchecked:
        report.would_provision = True


def _text(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
