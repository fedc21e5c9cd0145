"""``--skip-free``: its help and the line the summaries print (upload, convert, verify)."""

from __future__ import annotations

from ..azure_rules import format_size

SKIP_FREE_HELP = (
    "Send only what the disk's file systems use (ext2/3/4, XFS, FAT, NTFS, LVM2, swap, unpartitioned space): their free "
    "blocks, deleted files' data included, are neither read nor sent and read as zeros at the destination. "
    "Volumes that cannot be read are sent as they are (a note says which)."
)
VERIFY_SKIP_FREE_HELP = (
    "Compare as an upload with --skip-free left it: the used blocks, and the free ones must read as zeros. "
    "Default: as the upload recorded on the destination (--no-skip-free: bit for bit)."
)


def free_space_line(skipped: int, how: str = "neither read nor sent") -> str:
    return f"  free space:    {format_size(skipped)} {how} (--skip-free)"
