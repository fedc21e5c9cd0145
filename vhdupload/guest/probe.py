"""What a volume holds, from its signatures alone (no optional reader needed): a few sectors."""

from __future__ import annotations

from .source import Window

#: Human names of what :func:`probe` returns.
KINDS = {
    "ext": "ext2/3/4", "xfs": "XFS", "fat": "FAT", "ntfs": "NTFS", "swap": "Linux swap",
    "lvm2": "LVM2 physical volume", "luks": "LUKS (encrypted)", "bitlocker": "BitLocker (encrypted)",
    "btrfs": "Btrfs", "empty": "nothing (all zeros)", "unknown": "no known file system",
}


def probe(volume: Window) -> str:
    """One of :data:`KINDS`' keys."""
    head = volume.read_at(0, 4096)
    if len(head) < 512:
        return "unknown"
    if volume.read_at(1024 + 56, 2) == b"\x53\xef":
        return "ext"
    if head[:4] == b"XFSB":
        return "xfs"
    if head[3:11] == b"NTFS    ":
        return "ntfs"
    if head[3:11] == b"-FVE-FS-":
        return "bitlocker"
    if head[:6] == b"LUKS\xba\xbe":
        return "luks"
    for sector in range(4):  # the LVM2 label may be in any of the first four sectors
        label = head[sector * 512 : sector * 512 + 32]
        if label[:8] == b"LABELONE" and label[24:32] == b"LVM2 001":
            return "lvm2"
    if head[510:512] == b"\x55\xaa" and (head[82:87] == b"FAT32" or head[54:59] in (b"FAT12", b"FAT16", b"FAT  ")):
        return "fat"
    for page in (4096, 8192, 16384, 65536):  # the swap signature ends the first page
        if volume.read_at(page - 10, 10) in (b"SWAPSPACE2", b"SWAP-SPACE"):
            return "swap"
    if volume.read_at(65536 + 64, 8) == b"_BHRfS_M":
        return "btrfs"
    if not any(head) and not any(volume.read_at(4096, 65536 - 4096)):
        return "empty"
    return "unknown"
