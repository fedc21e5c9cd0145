"""The VDI header (VirtualBox's format, version 1.1) and its block map.

Layout (little-endian): a 64-byte text banner, the signature 0xBEDA107F at 64, the version,
the header size, the image type (1 normal/dynamic, 2 fixed/static, 4 differencing), flags, a
256-byte description, the offsets of the block map and of the data, the legacy geometry, the
sector size, the disk size, the block size and the bytes of extra data before each block, the
counts of blocks, then four UUIDs: this image, its last modification, the parent it was made
from (``uuid_link``) and that parent's modification (``uuid_parent``).
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from ..errors import CorruptVhdError, OtherFormatError

SIGNATURE = b"\x7f\x10\xda\xbe"
SIGNATURE_OFFSET = 64
VERSION_1_1 = 0x00010001
HEADER_END = 0x1C0  # the banner and a version 1.1 header
NORMAL, FIXED, UNDO, DIFF = 1, 2, 3, 4
UNALLOCATED, ZERO = 0xFFFFFFFF, 0xFFFFFFFE
#: Bound on memory and time: 2^26 blocks is 64 TiB at VirtualBox's 1 MiB blocks.
MAX_BLOCKS = 1 << 26
_NIL = bytes(16)


@dataclass(frozen=True)
class Header:
    image_type: int
    offset_bmap: int
    offset_data: int
    sector_size: int
    disk_size: int
    block_size: int
    block_extra: int
    blocks_in_image: int
    uuid_image: bytes
    uuid_last_snap: bytes
    uuid_link: bytes
    uuid_parent: bytes

    @property
    def has_parent(self) -> bool:
        return self.uuid_link != _NIL

    @property
    def image_uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes_le=self.uuid_image)

    @property
    def parent_uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes_le=self.uuid_link)


def is_vdi(head: bytes) -> bool:
    return head[SIGNATURE_OFFSET:SIGNATURE_OFFSET + 4] == SIGNATURE


def parse_header(head: bytes, *, file_size: int) -> Header:
    if len(head) < HEADER_END:
        raise CorruptVhdError(f"VDI header is cut short: the file has only {len(head)} bytes")
    version, _header_size, image_type, _flags = struct.unpack_from("<IIII", head, 68)
    if version != VERSION_1_1:
        raise OtherFormatError(
            f"VDI version {version >> 16}.{version & 0xFFFF} is not 1.1, the one VirtualBox writes since 2008: "
            "clone it with `VBoxManage clonemedium IN OUT.vdi` to get a current one", format_name="VDI")
    (offset_bmap, offset_data, _cyl, _heads, _sectors, sector_size, _unused, disk_size, block_size, block_extra,
     blocks_in_image, _allocated) = struct.unpack_from("<IIIIIIIQIIII", head, 340)
    uuids = [head[392 + 16 * i:408 + 16 * i] for i in range(4)]
    if image_type not in (NORMAL, FIXED, DIFF):
        what = "an undo image" if image_type == UNDO else f"of image type {image_type}"
        raise OtherFormatError(
            f"VDI image is {what}, which VirtualBox keeps only while a VM runs: clone the disk with "
            "`VBoxManage clonemedium`", format_name="VDI")
    if sector_size != 512:
        raise CorruptVhdError(f"VDI sector size is {sector_size}, not 512")
    if block_size < 512 or block_size > 256 << 20 or block_size & (block_size - 1):
        raise CorruptVhdError(f"VDI block size {block_size} is not a power of two from 512 bytes to 256 MiB")
    if block_extra % 512 or block_extra > block_size:
        raise CorruptVhdError(f"VDI extra block data of {block_extra} bytes is not a multiple of 512 up to a block")
    if blocks_in_image > MAX_BLOCKS:
        raise CorruptVhdError(f"VDI block map of {blocks_in_image} blocks exceeds the {MAX_BLOCKS} this reader takes")
    if blocks_in_image * block_size < disk_size:
        raise CorruptVhdError(
            f"VDI has {blocks_in_image} blocks of {block_size} bytes, fewer than its size of {disk_size} bytes needs")
    if offset_bmap < HEADER_END or offset_bmap + 4 * blocks_in_image > file_size:
        raise CorruptVhdError(
            f"VDI block map ({blocks_in_image} entries at offset {offset_bmap}) overlaps the header or lies beyond "
            f"the end of the file ({file_size} bytes): the file is truncated")
    if offset_data < offset_bmap + 4 * blocks_in_image:
        raise CorruptVhdError(f"VDI data offset {offset_data} overlaps the block map")
    if image_type == DIFF and uuids[2] == _NIL:
        raise CorruptVhdError("VDI is a differencing image with no parent UUID")
    return Header(image_type=image_type, offset_bmap=offset_bmap, offset_data=offset_data, sector_size=sector_size,
                  disk_size=disk_size, block_size=block_size, block_extra=block_extra,
                  blocks_in_image=blocks_in_image, uuid_image=uuids[0], uuid_last_snap=uuids[1],
                  uuid_link=uuids[2], uuid_parent=uuids[3])
