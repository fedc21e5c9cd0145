"""The one's-complement byte-sum checksum shared by the footer and the dynamic header."""

from __future__ import annotations


def vhd_checksum(data: bytes, *, field_offset: int) -> int:
    """One's complement of the byte sum of ``data`` with its 4-byte checksum field read as zero."""
    total = sum(data) - sum(data[field_offset : field_offset + 4])
    return ~total & 0xFFFFFFFF
