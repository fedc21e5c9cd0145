"""A minimal Windows registry hive (regf) written per the format, for the SOFTWARE-hive test.

No tool here writes a hive from nothing (hivex edits existing ones), so this writes the
format's few structures: the 4 KiB base block ("regf", equal sequence numbers, XOR-32
checksum), one hive bin ("hbin"), and cells -- key nodes ("nk", ASCII names), subkey lists
("lf" with 4-character hints), value lists and value keys ("vk") with REG_SZ data in their own
cells. libregf reading it back is the independent check.
"""

from __future__ import annotations

import struct

_BIN = 4096
_NONE = 0xFFFFFFFF


class _Cells:
    def __init__(self) -> None:
        self.data = bytearray()

    def add(self, payload: bytes) -> int:
        """Append an allocated cell; its offset relative to the first hive bin."""
        size = -(-(len(payload) + 4) // 8) * 8
        offset = 32 + len(self.data)  # after the 32-byte hbin header
        self.data += struct.pack("<i", -size) + payload + bytes(size - 4 - len(payload))
        return offset

    def patch(self, offset: int, field: int, fmt: str, *values) -> None:
        struct.pack_into(fmt, self.data, offset - 32 + 4 + field, *values)


def _nk(name: str, parent: int, flags: int) -> bytes:
    encoded = name.encode("ascii")
    head = struct.pack("<2sHQIIIIIIIIIIIIIIIHH", b"nk", flags, 0, 0, parent, 0, 0, _NONE, _NONE, 0, _NONE,
                       _NONE, _NONE, 0, 0, 0, 0, 0, len(encoded), 0)
    return head + encoded


def hive(path: list[str], values: dict[str, str]) -> bytes:
    """A hive whose root has the key chain ``path`` (e.g. Microsoft, Windows NT, CurrentVersion)
    and REG_SZ ``values`` in its last key."""
    cells = _Cells()
    root = cells.add(_nk("ROOT", _NONE, 0x2C))  # KEY_HIVE_ENTRY | KEY_NO_DELETE | KEY_COMP_NAME
    parent = root
    for name in path:
        key = cells.add(_nk(name, parent, 0x20))  # KEY_COMP_NAME
        subkeys = cells.add(b"lf" + struct.pack("<H", 1) + struct.pack("<I", key) + name.encode("ascii")[:4].ljust(4, b"\0"))
        cells.patch(parent, 20, "<I", 1)  # number of subkeys
        cells.patch(parent, 28, "<I", subkeys)
        cells.patch(parent, 52, "<I", len(name) * 2)  # largest subkey name (UTF-16 bytes)
        parent = key
    offsets = []
    for name, text in values.items():
        data = (text + "\0").encode("utf-16-le")
        data_cell = cells.add(data)
        encoded = name.encode("ascii")
        offsets.append(cells.add(struct.pack("<2sHIIIHH", b"vk", len(encoded), len(data), data_cell, 1, 1, 0) + encoded))
    if offsets:
        value_list = cells.add(struct.pack(f"<{len(offsets)}I", *offsets))
        cells.patch(parent, 36, "<I", len(offsets))
        cells.patch(parent, 40, "<I", value_list)
        cells.patch(parent, 60, "<I", max(len(n) for n in values) * 2)
        cells.patch(parent, 64, "<I", max(len(v) + 1 for v in values.values()) * 2)
    body = bytes(cells.data)
    bin_size = -(-(len(body) + 32) // _BIN) * _BIN
    free = bin_size - 32 - len(body)
    body += struct.pack("<i", free) + bytes(free - 4) if free else b""
    hbin = b"hbin" + struct.pack("<IIQQI", 0, bin_size, 0, 0, 0) + body
    base = bytearray(_BIN)
    struct.pack_into("<4sIIQIIIIIII", base, 0, b"regf", 1, 1, 0, 1, 5, 0, 1, root, bin_size, 1)
    checksum = 0
    for (word,) in struct.iter_unpack("<I", bytes(base[:508])):
        checksum ^= word
    struct.pack_into("<I", base, 508, checksum)
    return bytes(base) + hbin
