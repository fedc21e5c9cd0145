"""Which sector size a disk's partition table was laid out for.

A GPT header sits in LBA 1: at byte 512 on a 512-byte-sector disk, at byte 4096 on a
4096-byte-sector one. Azure disks have 512-byte sectors, so a disk partitioned for 4 KiB
sectors (typical of a VHDX with 4096-byte logical sectors) has no partition table Azure's
firmware can find.
"""

from __future__ import annotations

from collections.abc import Callable

GPT_SIGNATURE = b"EFI PART"


def partition_sector_size(read_at: Callable[[int, int], bytes]) -> int | None:
    """512 or 4096 when a GPT header says which, else None (MBR, no table, unreadable)."""
    if read_at(512, 8)[:8] == GPT_SIGNATURE:
        return 512
    if read_at(4096, 8)[:8] == GPT_SIGNATURE:
        return 4096
    return None
