"""Write fixed, dynamic and differencing VHDs for tests, independently of ``vhdupload.vhd``.

The writers use ``struct`` straight from the VHD specification, so a reader bug cannot hide
behind a matching writer bug. Sector bitmaps are written most-significant-bit first (the
highest bit of byte 0 is the block's first sector). Layout of dynamic/differencing files::

    0     footer copy (512)
    512   dynamic header (1024)            HEADER_OFFSET
    1536  BAT, padded to 512               BAT_OFFSET
    ...   parent locator data, 512 each
    ...   blocks: bitmap (padded to 512) + data, in block order
    end   footer (512)

``writes`` maps a disk offset to the bytes written there (later entries win where they
overlap). A differencing disk's writes must be whole sectors, since a partly written sector
would need its parent's bytes.
"""

from __future__ import annotations

import os
import pathlib
import struct
import uuid as uuid_module
from collections.abc import Iterable, Mapping

SECTOR = 512
MIB = 1024 * 1024
HEADER_OFFSET = 512
BAT_OFFSET = 1536
UNALLOCATED = 0xFFFFFFFF
FIXED, DYNAMIC, DIFFERENCING = 2, 3, 4
MAX_GEOMETRY = (65535, 16, 255)


def checksum(data: bytes) -> int:
    return ~sum(data) & 0xFFFFFFFF


def footer_bytes(
    *, disk_type: int, current_size: int, data_offset: int = 0xFFFFFFFFFFFFFFFF,
    uuid: uuid_module.UUID | None = None, timestamp: int = 0x30000000, creator: bytes = b"vhdu",
    geometry: tuple[int, int, int] = MAX_GEOMETRY, original_size: int | None = None,
) -> bytes:
    """A 512-byte footer with a valid checksum (max geometry, so qemu 7.2 trusts current size)."""
    uuid = uuid or uuid_module.uuid4()
    c, h, s = geometry

    def pack(check: int) -> bytes:
        return struct.pack(
            ">8sIIQI4sI4sQQHBBII16sB427s", b"conectix", 2, 0x00010000, data_offset, timestamp,
            creator, 0x00010000, b"Wi2k", original_size if original_size is not None else current_size,
            current_size, c, h, s, disk_type, check, uuid.bytes, 0, bytes(427),
        )

    return pack(checksum(pack(0)))


def _apply_writes(size: int, writes: Mapping[int, bytes] | None) -> dict[int, tuple[int, bytes]]:
    """Normalise writes: {offset: data}, each inside [0, size)."""
    result = {}
    for offset, data in (writes or {}).items():
        if offset < 0 or offset + len(data) > size:
            raise ValueError(f"write of {len(data)} bytes at {offset} is outside {size} bytes")
        result[offset] = bytes(data)
    return result


def build_fixed(
    path, *, virtual_size: int, writes: Mapping[int, bytes] | None = None,
    uuid: uuid_module.UUID | None = None, creator: bytes = b"vhdu", short_footer: bool = False,
) -> pathlib.Path:
    """A sparse fixed VHD: ``virtual_size`` bytes (holes except ``writes``), then the footer.

    ``short_footer`` writes the old 511-byte footer of early Virtual PC.
    """
    path = pathlib.Path(path)
    footer = footer_bytes(disk_type=FIXED, current_size=virtual_size, uuid=uuid, creator=creator)
    if short_footer:
        footer = footer[:511]
    with open(path, "wb") as f:
        f.truncate(virtual_size)
        for offset, data in _apply_writes(virtual_size, writes).items():
            f.seek(offset)
            f.write(data)
        f.seek(virtual_size)
        f.write(footer)
    return path


def build_dynamic(
    path, *, virtual_size: int, block_size: int = 2 * MIB, writes: Mapping[int, bytes] | None = None,
    uuid: uuid_module.UUID | None = None,
) -> pathlib.Path:
    """A dynamic VHD holding ``writes`` (every touched sector marked in its block's bitmap)."""
    return _build_sparse(path, disk_type=DYNAMIC, virtual_size=virtual_size, block_size=block_size,
                         writes=writes, uuid=uuid)


def build_differencing(
    path, *, parent, writes: Mapping[int, bytes] | None = None, block_size: int = 2 * MIB,
    locators: Iterable[str] | Mapping[str, str] = ("W2ru", "W2ku"), parent_name: str | None = None,
    parent_uuid: uuid_module.UUID | None = None, uuid: uuid_module.UUID | None = None,
) -> pathlib.Path:
    """A differencing VHD on top of the VHD at ``parent``.

    ``locators`` lists platform codes (``W2ru`` gets the path relative to the child, ``W2ku``
    the absolute one), or maps a code to the exact path text to store. ``parent_uuid``
    overrides the identity recorded (for wrong-parent tests); by default it is read from the
    parent's footer, as is the virtual size.
    """
    path, parent = pathlib.Path(path), pathlib.Path(parent)
    with open(parent, "rb") as f:
        f.seek(-512, os.SEEK_END)
        pf = f.read(512)
    size = struct.unpack_from(">Q", pf, 48)[0]
    p_uuid = parent_uuid or uuid_module.UUID(bytes=pf[68:84])
    p_stamp = struct.unpack_from(">I", pf, 24)[0]
    if isinstance(locators, Mapping):
        texts = dict(locators)
    else:
        texts = {}
        for code in locators:
            if code == "W2ru":
                rel = os.path.relpath(parent.resolve(), path.resolve().parent).replace("/", "\\")
                texts[code] = rel if rel.startswith(".") else ".\\" + rel
            elif code == "W2ku":
                texts[code] = str(parent.resolve())
            else:
                raise ValueError(f"unknown locator code {code!r}")
    for offset, data in (writes or {}).items():
        if offset % SECTOR or len(data) % SECTOR:
            raise ValueError("differencing writes must be whole sectors")
    return _build_sparse(
        path, disk_type=DIFFERENCING, virtual_size=size, block_size=block_size, writes=writes,
        uuid=uuid, parent=(p_uuid, p_stamp, parent_name if parent_name is not None else parent.name, texts),
    )


def _build_sparse(path, *, disk_type, virtual_size, block_size, writes, uuid, parent=None) -> pathlib.Path:
    path = pathlib.Path(path)
    writes = _apply_writes(virtual_size, writes)
    entries = -(-virtual_size // block_size)
    bat_bytes = -(-entries * 4 // SECTOR) * SECTOR
    bitmap_len = -(-(block_size // SECTOR) // (8 * SECTOR)) * SECTOR
    pos = BAT_OFFSET + bat_bytes

    locator_entries = b""
    locator_data = []
    parent_uuid, parent_stamp, parent_name_raw = uuid_module.UUID(int=0), 0, bytes(512)
    if parent is not None:
        parent_uuid, parent_stamp, name, texts = parent
        parent_name_raw = name.encode("utf-16-be")[:512].ljust(512, b"\0")
        for code, text in texts.items():
            data = text.encode("utf-16-le")
            space = -(-len(data) // SECTOR) * SECTOR or SECTOR
            locator_entries += struct.pack(">4sIIIQ", code.encode(), space, len(data), 0, pos)
            locator_data.append((pos, data))
            pos += space
    locator_entries = locator_entries.ljust(8 * 24, b"\0")

    # Which sectors each block holds, and the block's data.
    blocks: dict[int, tuple[bytearray, bytearray]] = {}
    for offset, data in writes.items():
        for sector in range(offset // SECTOR, -(-(offset + len(data)) // SECTOR)):
            index = sector * SECTOR // block_size
            if index not in blocks:
                blocks[index] = (bytearray(bitmap_len), bytearray(block_size))
            in_block = sector - index * block_size // SECTOR
            blocks[index][0][in_block >> 3] |= 0x80 >> (in_block & 7)  # MSB = lowest sector
        cursor = offset
        while cursor < offset + len(data):
            index = cursor // block_size
            base = index * block_size
            end = min(base + block_size, offset + len(data))
            blocks[index][1][cursor - base:end - base] = data[cursor - offset:end - offset]
            cursor = end

    bat = [UNALLOCATED] * entries
    block_pos = {}
    for index in sorted(blocks):
        bat[index] = pos // SECTOR
        block_pos[index] = pos
        pos += bitmap_len + block_size

    uuid = uuid or uuid_module.uuid4()
    footer = footer_bytes(disk_type=disk_type, current_size=virtual_size, data_offset=HEADER_OFFSET, uuid=uuid)

    def header(check: int) -> bytes:
        return struct.pack(
            ">8sQQIIII16sII512s", b"cxsparse", 0xFFFFFFFFFFFFFFFF, BAT_OFFSET, 0x00010000, entries,
            block_size, check, parent_uuid.bytes, parent_stamp, 0, parent_name_raw,
        ) + locator_entries + bytes(256)

    with open(path, "wb") as f:
        f.write(footer)
        f.write(header(checksum(header(0))))
        f.write(struct.pack(f">{entries}I", *bat).ljust(bat_bytes, b"\xff"))
        for offset, data in locator_data:
            f.seek(offset)
            f.write(data)
        for index, (bitmap, data) in blocks.items():
            f.seek(block_pos[index])
            f.write(bitmap)
            f.write(data)
        f.seek(pos)
        f.write(footer)
    return path
