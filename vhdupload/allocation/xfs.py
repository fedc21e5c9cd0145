"""XFS: the free extents of each allocation group's by-block free-space B+tree (bnobt).

Layout (xfsprogs ``libxfs/xfs_format.h``): the superblock at byte 0 gives the block size, the
AG size and count, and the internal log's place; each AG's AGF (its second sector) names the
bnobt root and height; its blocks (``ABTB``, or ``AB3B`` with CRCs) hold ``(startblock,
blockcount)`` records, AG-relative. The AGFL's blocks are not in the tree, so they stay used.
Every AG's free count must equal its AGF's ``freeblks``.

Refused (kept whole, and said): a log that does not end with a clean unmount record (replaying
it could allocate blocks the trees call free) -- found as the kernel's ``xlog_find_head``
does, by the cycle numbers stamped in each 512-byte log block, then the last record before the
head must be a single unmount operation that ends exactly there, with no block of the head's
cycle in the 2 MiB after it (a torn write) --, an external log, ``inprogress`` or
``needsrepair``, and any tree that does not parse.
"""

from __future__ import annotations

import struct

from .bitmap import Range, ReadAt, Unreadable, coalesce, read_exact

_BB = 512
_LOG_MAGIC = 0xFEEDBABE
_UNMOUNT_TRANS = 0x20
_LOG_CLIENT = 0xAA
_NEEDSREPAIR = 1 << 4
_SCAN_AFTER_HEAD = 4096  # 2 MiB of log: more than the kernel's in-flight log buffers
_MAX_LEVELS = 10


def xfs_free(read: ReadAt, size: int) -> list[Range]:
    """Free byte ranges of the XFS file system at the start of the volume ``read`` reads."""
    sb = read_exact(read, 0, 512, what="superblock")
    if sb[:4] != b"XFSB":
        raise Unreadable("no XFS superblock")
    block, dblocks = struct.unpack_from(">IQ", sb, 4)
    logstart = struct.unpack_from(">Q", sb, 48)[0]
    agblocks, agcount = struct.unpack_from(">II", sb, 84)
    logblocks = struct.unpack_from(">I", sb, 96)[0]
    version, sectsize = struct.unpack_from(">HH", sb, 100)
    agblklog, inprogress = sb[124], sb[126]
    if block < 512 or block > 65536 or block & (block - 1) or sectsize < 512 or sectsize > block:
        raise Unreadable("its superblock gives an invalid block or sector size")
    if not agblocks or not agcount or dblocks > agblocks * agcount or dblocks * block > size:
        raise Unreadable("its superblock gives impossible sizes")
    if inprogress:
        raise Unreadable("mkfs did not finish it")
    v5 = version & 0xF == 5
    if v5 and struct.unpack_from(">I", sb, 216)[0] & _NEEDSREPAIR:
        raise Unreadable("it is marked as needing xfs_repair")
    if not logstart:
        raise Unreadable("its log is on another device (its state cannot be checked)")
    log_at = ((logstart >> agblklog) * agblocks + (logstart & ((1 << agblklog) - 1))) * block
    _require_clean_log(read, log_at, logblocks * block // _BB)

    header = 56 if v5 else 16
    magic = b"AB3B" if v5 else b"ABTB"
    free: list[Range] = []  # in blocks, of the whole file system
    for ag in range(agcount):
        agf = read_exact(read, ag * agblocks * block + sectsize, 64, what=f"AG {ag}'s AGF")
        if agf[:4] != b"XAGF":
            raise Unreadable(f"AG {ag}'s AGF is damaged")
        length, root = struct.unpack_from(">II", agf, 12)  # agf_length, agf_roots[0] (the bnobt)
        levels = struct.unpack_from(">I", agf, 28)[0]  # agf_levels[0]
        freeblks = struct.unpack_from(">I", agf, 52)[0]
        if not 0 < levels <= _MAX_LEVELS or not 0 < root < length <= agblocks:
            raise Unreadable(f"AG {ag}'s free-space tree root is invalid")
        base = ag * agblocks
        records = _walk(read, ag_base=base * block, root=root, levels=levels, block=block, length=length,
                        magic=magic, header=header, ag=ag)
        if sum(count for _, count in records) != freeblks:
            raise Unreadable(f"AG {ag}'s free-space tree disagrees with its AGF (run xfs_repair)")
        for start, count in records:
            if start + count > length:
                raise Unreadable(f"AG {ag}'s free-space tree points past the AG")
            free.append((base + start, base + start + count))
    return [(lo * block, hi * block) for lo, hi in coalesce(free)]


def _walk(read: ReadAt, *, ag_base: int, root: int, levels: int, block: int, length: int, magic: bytes,
          header: int, ag: int) -> list[tuple[int, int]]:
    """The leaf records of the tree under ``root``, level by level (each block visited once)."""
    node_max = (block - header) // 12
    current = [root]
    seen: set[int] = set()
    for level in range(levels - 1, -1, -1):
        following: list[int] = []
        records: list[tuple[int, int]] = []
        for number in current:
            if number in seen or not 0 < number < length:
                raise Unreadable(f"AG {ag}'s free-space tree is damaged (block {number})")
            seen.add(number)
            data = read_exact(read, ag_base + number * block, block, what=f"AG {ag}'s free-space tree")
            if data[:4] != magic or struct.unpack_from(">H", data, 4)[0] != level:
                raise Unreadable(f"AG {ag}'s free-space tree is damaged (block {number})")
            count = struct.unpack_from(">H", data, 6)[0]
            if level:
                if count > node_max:
                    raise Unreadable(f"AG {ag}'s free-space tree is damaged (block {number})")
                pointers = header + node_max * 8
                following += struct.unpack_from(f">{count}I", data, pointers)
            else:
                if header + count * 8 > block:
                    raise Unreadable(f"AG {ag}'s free-space tree is damaged (block {number})")
                flat = struct.unpack_from(f">{2 * count}I", data, header)
                records += zip(flat[::2], flat[1::2])
        if not level:
            return records
        current = following
    return []


def _require_clean_log(read: ReadAt, at: int, blocks: int) -> None:
    if blocks < 64:
        raise Unreadable("its log is too small to be real")

    def cycle(index: int) -> int:
        word, stamp = struct.unpack_from(">II", read_exact(read, at + index * _BB, 8, what="log"), 0)
        return int(stamp if word == _LOG_MAGIC else word)

    first, last = cycle(0), cycle(blocks - 1)
    if first == 0:
        raise Unreadable("its log was never written (no unmount record)")
    if last == first:
        head = blocks  # the log is full of one cycle: the head is where it wraps
    elif last == 0 or last == first - 1:
        lo, hi = 0, blocks - 1  # cycle(lo) == first, cycle(hi) != first: find the first such block
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if cycle(mid) == first:
                lo = mid
            else:
                hi = mid
        head = hi
        for index in range(head, min(blocks, head + _SCAN_AFTER_HEAD)):
            if cycle(index) == first:
                raise Unreadable("its log was not cleanly closed (torn writes past its head)")
    else:
        raise Unreadable("its log's cycle numbers are inconsistent")
    _require_unmount_record(read, at, head, first)


def _require_unmount_record(read: ReadAt, at: int, head: int, cycle_number: int) -> None:
    """The last record before ``head`` is one unmount operation that ends exactly at ``head``."""
    for index in range(head - 1, max(-1, head - 1 - _SCAN_AFTER_HEAD), -1):
        raw = read_exact(read, at + index * _BB, _BB, what="log")
        magic, stamp, version, length = struct.unpack_from(">IIII", raw, 0)
        if magic != _LOG_MAGIC:
            continue
        if stamp != cycle_number:
            break
        operations = struct.unpack_from(">I", raw, 40)[0]
        header_size = struct.unpack_from(">I", raw, 320)[0]
        header_blocks = max(1, -(-header_size // 32768)) if version & 2 and header_size > 32768 else 1
        end = index + header_blocks + -(-length // _BB)
        if operations != 1 or end != head:
            break
        op = read_exact(read, at + (index + header_blocks) * _BB, 12, what="log")
        if op[8] == _LOG_CLIENT and op[9] & _UNMOUNT_TRANS:
            return
        break
    raise Unreadable("its log does not end with a clean unmount (mount it once, or run xfs_repair)")
