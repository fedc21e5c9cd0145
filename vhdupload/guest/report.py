""":class:`GuestReport`: what was found inside a disk's file systems, as data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Volume:
    """One partition or logical volume and what it holds."""

    where: str  # "partition 2", "partition 3 / LVM rootvg/root", "whole disk"
    start: int | None  # byte offset on the disk (None for a logical volume)
    size: int
    type: str | None  # GPT type GUID, MBR "0xNN", "lvm" or None
    type_name: str | None
    content: str  # probe kind: "ext", "xfs", "fat", "ntfs", "swap", "lvm2", "empty", "unknown", ...
    role: str | None = None  # "linux root", "windows", "efi system", "swap"
    #: Bytes of its free blocks that hold data (deleted files): what a plain upload carries and
    #: ``skip_free`` leaves home; None where the allocation map was not read (vhdupload.allocation).
    free_bytes_with_data: int | None = None


@dataclass
class Capabilities:
    """What the OS inside can drive, read from its kernel modules or Windows drivers.

    ``disk_controller_types`` is ``["SCSI", "NVMe"]`` when an NVMe driver was found, ``["SCSI"]``
    when the drivers were read and none was, None when they could not be read;
    ``accelerated_network`` likewise for a Mellanox (``mlx4_en``/``mlx5_core``) or Microsoft
    (``mana``) network driver; ``signs`` are where each was found.
    """

    disk_controller_types: list[str] | None = None
    accelerated_network: bool | None = None
    signs: list[str] = field(default_factory=list)


@dataclass
class GuestReport:
    """The ``guest`` object of ``inspect --json``.

    ``os_type`` is ``"linux"``, ``"windows"`` or None; ``architecture`` ``"x64"``, ``"Arm64"`` or
    None; ``generalized`` True, False or None (can't tell: ``warnings`` say why);
    ``would_provision`` False when ``problems`` (each with its fix) say VMs made from the disk
    would not provision; ``signs`` are the short facts found; ``read`` says whether the file
    systems could be read at all (False when a reader they need is not installed: "could not check",
    which registration and publish refuse unless the guest check is skipped); ``unchecked`` what
    could not be checked because its files could not be read; ``capabilities`` the disk controllers
    and accelerated networking the OS can drive.
    """

    os_type: str | None = None
    os_name: str | None = None
    architecture: str | None = None
    generalized: bool | None = None
    would_provision: bool | None = None
    signs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    partition_table: str | None = None  # "gpt" | "mbr" | "none"
    volumes: list[Volume] = field(default_factory=list)
    read: bool = True
    #: What could not be checked because its files could not be read (each with a warning);
    #: a disk with anything here is never said to provision.
    unchecked: list[str] = field(default_factory=list)
    capabilities: Capabilities = field(default_factory=Capabilities)
    bytes_read: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sign(self, text: str) -> None:
        if text not in self.signs:
            self.signs.append(text)

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)
