"""CRC-32C (Castagnoli), the checksum of every VHDX structure that has one.

``google-crc32c`` computes it in C (about 5 GB/s here); VHDX structures are small (4 KiB
headers, 64 KiB region tables, log entries), so speed matters only for large logs.
"""

from __future__ import annotations

import struct

import google_crc32c


def crc32c(data: bytes) -> int:
    value: int = google_crc32c.value(bytes(data))
    return value


def checksum_ok(data: bytes, *, at: int) -> bool:
    """Whether the little-endian CRC-32C stored at ``at`` matches ``data`` with that field zeroed
    (the rule for the header, region table and log entry)."""
    stored: int = struct.unpack_from("<I", data, at)[0]
    return crc32c(data[:at] + b"\0\0\0\0" + data[at + 4:]) == stored


def with_checksum(data: bytes, *, at: int) -> bytes:
    """``data`` with its CRC-32C written at ``at`` (used by tests that build VHDX files)."""
    zeroed = data[:at] + b"\0\0\0\0" + data[at + 4:]
    return zeroed[:at] + struct.pack("<I", crc32c(zeroed)) + zeroed[at + 4:]
