"""ext2/3/4: the free blocks of the block bitmaps (clusters with bigalloc).

Layout (the kernel's ``Documentation/filesystems/ext4``): the superblock at byte 1024; group
descriptors in the block after it (or, with ``meta_bg``, at the start of each meta group);
each descriptor names its group's block bitmap. A group flagged ``BLOCK_UNINIT`` has no bitmap
on disk: its used blocks are only the fixed metadata, which is reserved here for every group
anyway (superblock and descriptor backups, reserved GDT blocks, every group's bitmaps and inode
table, wherever ``flex_bg`` put them). The journal, the resize inode and the MMP block are
blocks of inodes and are set in the bitmaps like any file's.

Refused (kept whole, and said): a file system that was not cleanly unmounted or needs its
journal replayed (replaying could allocate blocks the bitmaps still call free), one with errors,
an external journal device, unknown incompatible features, and bitmaps whose free counts
disagree with their group descriptors.
"""

from __future__ import annotations

import struct

from .bitmap import Range, ReadAt, Unreadable, coalesce, free_runs, read_exact, scale, subtract

_MAGIC = 0xEF53
_INCOMPAT_RECOVER = 0x4
_INCOMPAT_JOURNAL_DEV = 0x8
_INCOMPAT_META_BG = 0x10
_INCOMPAT_64BIT = 0x80
#: Every incompatible feature whose on-disk meaning for allocation is understood here
#: (compression 0x1 and the unused 0x20/0x100-style bits are refused).
_INCOMPAT_KNOWN = 0x2 | 0x4 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000 | _INCOMPAT_META_BG
_RO_SPARSE_SUPER = 0x1
_RO_GDT_CSUM = 0x10
_RO_BIGALLOC = 0x200
_RO_METADATA_CSUM = 0x400
_COMPAT_SPARSE_SUPER2 = 0x200
_BLOCK_UNINIT = 0x2
_STATE_VALID, _STATE_ERRORS = 0x1, 0x2


def ext_free(read: ReadAt, size: int) -> list[Range]:
    """Free byte ranges of the ext2/3/4 file system at the start of the volume ``read`` reads."""
    sb = read_exact(read, 1024, 1024, what="superblock")
    blocks_lo, _r_blocks, _free, _inodes_free, first_data_block, log_block, log_cluster = struct.unpack_from("<7I", sb, 4)
    blocks_per_group, clusters_per_group = struct.unpack_from("<II", sb, 32)
    magic, state = struct.unpack_from("<HH", sb, 56)
    compat, incompat, ro_compat = struct.unpack_from("<III", sb, 92)
    if magic != _MAGIC:
        raise Unreadable("no ext2/3/4 superblock")
    if incompat & _INCOMPAT_RECOVER:
        raise Unreadable("its journal needs to be replayed (it was not cleanly unmounted)")
    if not state & _STATE_VALID or state & _STATE_ERRORS:
        raise Unreadable("it was not cleanly unmounted or has errors (run e2fsck)")
    if incompat & _INCOMPAT_JOURNAL_DEV:
        raise Unreadable("it is an external journal")
    if incompat & ~_INCOMPAT_KNOWN:
        raise Unreadable(f"it has incompatible features not read here (0x{incompat & ~_INCOMPAT_KNOWN:x})")
    if log_block > 6 or log_cluster > 16:
        raise Unreadable("its block size is invalid")
    block = 1024 << log_block
    blocks = blocks_lo | ((struct.unpack_from("<I", sb, 0x150)[0] << 32) if incompat & _INCOMPAT_64BIT else 0)
    bigalloc = bool(ro_compat & _RO_BIGALLOC)
    cluster = (1024 << log_cluster) if bigalloc else block
    per_group = clusters_per_group if bigalloc else blocks_per_group
    if not blocks or not blocks_per_group or not per_group or per_group > 8 * block or cluster < block:
        raise Unreadable("its superblock gives impossible sizes")
    if blocks * block > size:
        raise Unreadable(f"it claims {blocks * block} bytes, more than its volume's {size}")
    blocks_per_cluster = cluster // block
    groups = -(-(blocks - first_data_block) // blocks_per_group)
    desc_size = struct.unpack_from("<H", sb, 0xFE)[0] if incompat & _INCOMPAT_64BIT else 32
    if desc_size < 32 or desc_size > block or desc_size & (desc_size - 1):
        raise Unreadable(f"its group descriptor size {desc_size} is invalid")
    meta_bg = struct.unpack_from("<I", sb, 0x104)[0] if incompat & _INCOMPAT_META_BG else None
    layout = _Layout(block=block, first_data_block=first_data_block, blocks_per_group=blocks_per_group,
                     groups=groups, sparse_super=bool(ro_compat & _RO_SPARSE_SUPER),
                     sparse_super2=struct.unpack_from("<II", sb, 0x24C) if compat & _COMPAT_SPARSE_SUPER2 else None)
    per_block = block // desc_size
    descriptors = _descriptors(read, layout, desc_size=desc_size, per_block=per_block, meta_bg=meta_bg)
    # BLOCK_UNINIT means something only with group descriptor checksums (the kernel's rule).
    checked = bool(ro_compat & (_RO_GDT_CSUM | _RO_METADATA_CSUM))
    table_blocks = _inode_table_blocks(sb, block)
    reserved_gdt = struct.unpack_from("<H", sb, 0xCE)[0]
    desc_blocks = -(-groups // per_block)

    reserved: list[Range] = [(0, layout.sb_block + 1)]  # in blocks: used whatever a bitmap says
    bitmaps: list[tuple[int, int, int]] = []  # (group, bitmap block, free clusters)
    free: list[Range] = []  # in blocks
    for group, raw in enumerate(descriptors):
        bitmap_block, inode_bitmap, table, free_count, flags = _descriptor(raw, wide=desc_size >= 64)
        reserved += [(bitmap_block, bitmap_block + 1), (inode_bitmap, inode_bitmap + 1), (table, table + table_blocks)]
        reserved += layout.base_metadata(group, desc_blocks=desc_blocks, reserved_gdt=reserved_gdt, meta_bg=meta_bg,
                                         per_block=per_block)
        if checked and flags & _BLOCK_UNINIT and group != 0:
            free.append(layout.group_span(group, blocks))  # no bitmap: all but the fixed metadata is free
            continue
        if not first_data_block <= bitmap_block < blocks:
            raise Unreadable(f"group {group}'s block bitmap lies outside the file system")
        bitmaps.append((group, bitmap_block, free_count))

    for group, expected, data in _read_bitmaps(read, bitmaps, block=block, per_group=per_group):
        start, stop = layout.group_span(group, blocks)
        units = -(-(stop - start) // blocks_per_cluster)
        found = _count_clear(data, units)
        if found != expected:
            raise Unreadable(f"group {group}'s bitmap has {found} free clusters, its descriptor {expected} (run e2fsck)")
        free += [(start + lo * blocks_per_cluster, min(stop, start + hi * blocks_per_cluster))
                 for lo, hi in free_runs(data, count=units)]
    kept = subtract(coalesce(free), reserved)
    return scale(kept, unit=block, base=0)


def _descriptor(raw: bytes, *, wide: bool) -> tuple[int, int, int, int, int]:
    """(block bitmap, inode bitmap, inode table, free clusters, flags) of one group descriptor."""
    bitmap_lo, inode_bitmap_lo, table_lo, free_lo, _free_inodes, _dirs, flags = struct.unpack_from("<IIIHHHH", raw, 0)
    bitmap_hi, inode_bitmap_hi, table_hi, free_hi = struct.unpack_from("<IIIH", raw, 0x20) if wide else (0, 0, 0, 0)
    return (bitmap_lo | bitmap_hi << 32, inode_bitmap_lo | inode_bitmap_hi << 32, table_lo | table_hi << 32,
            free_lo | free_hi << 16, flags)


def _count_clear(bitmap: bytes, count: int) -> int:
    whole = count // 8
    used = int.from_bytes(bitmap[:whole], "little").bit_count()
    if count % 8:
        used += (bitmap[whole] & ((1 << count % 8) - 1)).bit_count()
    return count - used


def _inode_table_blocks(sb: bytes, block: int) -> int:
    inodes_per_group: int = struct.unpack_from("<I", sb, 40)[0]
    inode_size: int = struct.unpack_from("<H", sb, 88)[0] if struct.unpack_from("<I", sb, 76)[0] >= 1 else 128
    return -(-inodes_per_group * max(inode_size, 128) // block)


class _Layout:
    def __init__(self, *, block: int, first_data_block: int, blocks_per_group: int, groups: int, sparse_super: bool,
                 sparse_super2: tuple[int, int] | None) -> None:
        self.block = block
        self.first_data_block = first_data_block
        self.blocks_per_group = blocks_per_group
        self.groups = groups
        self.sparse_super = sparse_super
        self.sparse_super2 = sparse_super2
        self.sb_block = 1024 // block  # the block holding the superblock (1 with 1 KiB blocks)

    def group_span(self, group: int, blocks: int) -> Range:
        start = self.first_data_block + group * self.blocks_per_group
        return start, min(start + self.blocks_per_group, blocks)

    def has_super(self, group: int) -> bool:
        if group == 0:
            return True
        if self.sparse_super2 is not None:
            return group in self.sparse_super2
        if not self.sparse_super or group == 1:
            return True
        return any(_is_power(group, base) for base in (3, 5, 7))

    def base_metadata(self, group: int, *, desc_blocks: int, reserved_gdt: int, meta_bg: int | None,
                      per_block: int) -> list[Range]:
        """The superblock copy, descriptor blocks and reserved GDT blocks in ``group`` (in blocks)."""
        start = self.first_data_block + group * self.blocks_per_group
        out: list[Range] = []
        if group == 0:
            start = self.sb_block  # the descriptors follow the superblock's own block
        has_super = self.has_super(group)
        if meta_bg is None or meta_bg > 0:
            if has_super:
                old_style = desc_blocks if meta_bg is None else min(desc_blocks, meta_bg)
                out.append((start, start + 1 + old_style + reserved_gdt))
        elif has_super:
            out.append((start, start + 1))
        if meta_bg is not None:
            index = group % per_block
            meta = group // per_block
            if meta >= meta_bg and index in (0, 1, per_block - 1):
                at = start + (1 if has_super else 0)
                out.append((at, at + 1))
        return out


def _is_power(n: int, base: int) -> bool:
    while n > 1 and n % base == 0:
        n //= base
    return n == 1


def _descriptors(read: ReadAt, layout: _Layout, *, desc_size: int, per_block: int, meta_bg: int | None) -> list[bytes]:
    block = layout.block
    count = -(-layout.groups // per_block)
    out: list[bytes] = []
    for index in range(count):
        if meta_bg is None or index < meta_bg:
            where = layout.sb_block + 1 + index
        else:
            group = index * per_block
            where = layout.first_data_block + group * layout.blocks_per_group + (1 if layout.has_super(group) else 0)
        data = read_exact(read, where * block, block, what="group descriptors")
        for slot in range(per_block):
            if len(out) == layout.groups:
                break
            out.append(data[slot * desc_size : (slot + 1) * desc_size])
    return out


def _read_bitmaps(read: ReadAt, bitmaps: list[tuple[int, int, int]], *, block: int,
                  per_group: int) -> list[tuple[int, int, bytes]]:
    """Each group's bitmap; neighbouring bitmaps (flex_bg packs them) are read in one go."""
    need = per_group // 8 if per_group % 8 == 0 else per_group // 8 + 1
    order = sorted(bitmaps, key=lambda item: item[1])
    out = []
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and order[j][1] == order[j - 1][1] + 1 and j - i < 256:
            j += 1
        first = order[i][1]
        data = read_exact(read, first * block, (j - i) * block, what="block bitmaps")
        for k in range(i, j):
            offset = (order[k][1] - first) * block
            out.append((order[k][0], order[k][2], data[offset : offset + need]))
        i = j
    return out
