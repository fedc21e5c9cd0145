"""The file type identifier at offset 0 (2.2.1): ``vhdxfile`` and a UTF-16 creator string."""

from __future__ import annotations

SIGNATURE = b"vhdxfile"
#: The header section: identifier, two headers, two region tables, each in 64 KiB.
HEADER_SECTION_SIZE = 1024 * 1024
_CREATOR_AT, _CREATOR_SIZE = 8, 512


def is_vhdx(head: bytes) -> bool:
    return head.startswith(SIGNATURE)


def creator(identifier: bytes) -> str:
    """The creator string, for diagnostics only (the spec forbids acting on it)."""
    raw = identifier[_CREATOR_AT:_CREATOR_AT + _CREATOR_SIZE]
    return raw.decode("utf-16-le", errors="replace").split("\0", 1)[0].strip()
