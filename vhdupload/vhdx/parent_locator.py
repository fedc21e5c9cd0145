"""The parent locator metadata item (2.6.2.6): the parent's identity and where to find it.

A 20-byte header (locator type GUID, reserved, key/value count), then 12-byte entries giving
the offset and length of each UTF-16LE key and value inside the item.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from ..errors import CorruptVhdError, OtherFormatError
from . import guids

# header: locator type 0 (16), reserved 16 (2), key/value count 18 (2)
_HEADER = struct.Struct("<16s2xH")
# entry: key offset 0 (4), value offset 4 (4), key length 8 (2), value length 10 (2)
_ENTRY = struct.Struct("<IIHH")
assert _HEADER.size == 20 and _ENTRY.size == 12


@dataclass(frozen=True)
class ParentLocator:
    entries: dict[str, str]

    @property
    def linkages(self) -> list[uuid.UUID]:
        """The parent DataWriteGuids this child accepts (``parent_linkage``, ``parent_linkage2``)."""
        found = []
        for key in ("parent_linkage", "parent_linkage2"):
            text = self.entries.get(key)
            if text is None:
                continue
            try:
                found.append(uuid.UUID(text.strip().strip("{}")))
            except ValueError:
                raise CorruptVhdError(f"VHDX parent locator's {key} is not a GUID: {text!r}") from None
        return found

    @property
    def paths(self) -> list[tuple[str, str]]:
        """``(key, path)`` in the spec's search order."""
        return [(k, self.entries[k]) for k in ("relative_path", "volume_path", "absolute_win32_path") if self.entries.get(k)]


def parse_parent_locator(data: bytes) -> ParentLocator:
    if len(data) < _HEADER.size:
        raise CorruptVhdError("VHDX parent locator is shorter than its header")
    raw_type, count = _HEADER.unpack_from(data)
    kind = guids.from_le(raw_type)
    if kind != guids.VHDX_PARENT_LOCATOR:
        raise OtherFormatError(
            f"the differencing VHDX's parent is of a kind this reader does not know (locator type {kind}): "
            "merge the disk into its parent with the tool that made it",
            format_name="VHDX",
        )
    if _HEADER.size + count * _ENTRY.size > len(data):
        raise CorruptVhdError(f"VHDX parent locator claims {count} entries, more than its {len(data)} bytes hold")
    entries: dict[str, str] = {}
    for i in range(count):
        ko, vo, kl, vl = _ENTRY.unpack_from(data, _HEADER.size + i * _ENTRY.size)
        key, value = _text(data, ko, kl, "key"), _text(data, vo, vl, "value")
        if key in entries:
            raise CorruptVhdError(f"VHDX parent locator lists the key {key!r} twice")
        entries[key] = value
    if "parent_linkage" not in entries:
        raise CorruptVhdError("VHDX parent locator has no parent_linkage (the parent's identity)")
    return ParentLocator(entries)


def _text(data: bytes, offset: int, length: int, what: str) -> str:
    if offset == 0 or length == 0 or length % 2 or offset + length > len(data):
        raise CorruptVhdError(f"VHDX parent locator {what} ({length} bytes at {offset}) is not inside the item")
    try:
        return data[offset:offset + length].decode("utf-16-le")
    except UnicodeDecodeError:
        raise CorruptVhdError(f"VHDX parent locator {what} at {offset} is not valid UTF-16LE") from None
