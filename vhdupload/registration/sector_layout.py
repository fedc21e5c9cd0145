"""Refusing an OS disk partitioned for 4096-byte sectors.

A VHDX with 4 KiB logical sectors uploads as a 512-byte-sector fixed VHD of the same size (that
is all a page blob can be), but its partition table keeps its 4 KiB layout: the GPT header sits
at byte 4096 instead of 512, and Azure's 512-byte-sector disks would not find it, so the VM
would not boot. Read through the same reader that detects the generation (two 8-byte reads).
"""

from __future__ import annotations

from ..errors import PreflightError
from ..vhdx.sector_layout import partition_sector_size
from .blobs import BlobReader


def refuse_4k_sector_layout(reader: BlobReader) -> None:
    if partition_sector_size(reader.read) == 4096:
        raise PreflightError(
            f"{reader.url} holds a disk partitioned for 4096-byte sectors (its GPT header is at byte 4096, as "
            "on a VHDX with 4 KiB logical sectors), but Azure disks have 512-byte sectors, so it would not boot "
            "as an OS disk: rebuild it on 512-byte sectors (Hyper-V: New-VHD -LogicalSectorSizeBytes 512), or "
            "register it as a data disk"
        )
