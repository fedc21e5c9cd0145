"""Hand-made dynamic VHDs with whatever BAT a test wants, written with ``struct`` (not with
``vhdupload.vhd``), for the hostile-layout tests. Unwritten bytes are holes."""

from __future__ import annotations

import pathlib
import struct
import uuid as uuid_module
from array import array

from .builders import BAT_OFFSET, DYNAMIC, HEADER_OFFSET, checksum, footer_bytes

SECTOR = 512


def dynamic_header(*, entries: int, block_size: int, table_offset: int = BAT_OFFSET) -> bytes:
    def pack(check: int) -> bytes:
        return struct.pack(
            ">8sQQIIII16sII512s", b"cxsparse", 0xFFFFFFFFFFFFFFFF, table_offset, 0x00010000, entries,
            block_size, check, bytes(16), 0, 0, bytes(512),
        ) + bytes(8 * 24) + bytes(256)

    return pack(checksum(pack(0)))


def build_with_bat(
    path, *, bat, block_size: int, virtual_size: int | None = None, data_end: int,
    fill: dict[int, bytes] | None = None,
) -> pathlib.Path:
    """A dynamic VHD whose BAT is exactly ``bat`` (a sequence of u32 sector offsets) and whose
    footer begins at ``data_end``; ``fill`` writes raw bytes at file offsets (bitmaps, data)."""
    path = pathlib.Path(path)
    entries = len(bat)
    if virtual_size is None:
        virtual_size = entries * block_size
    footer = footer_bytes(disk_type=DYNAMIC, current_size=virtual_size, data_offset=HEADER_OFFSET,
                          uuid=uuid_module.uuid4())
    table = array("I", bat)
    table.byteswap()  # big-endian on disk (the test machines are little-endian)
    with open(path, "wb") as f:
        f.write(footer)
        f.write(dynamic_header(entries=entries, block_size=block_size))
        f.write(table.tobytes())
        for offset, data in (fill or {}).items():
            f.seek(offset)
            f.write(data)
        f.truncate(data_end)
        f.seek(data_end)
        f.write(footer)
    return path
