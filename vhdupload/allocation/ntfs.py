"""NTFS: the clear bits of ``$Bitmap`` (MFT record 6), one per cluster.

Layout (the Linux kernel's ``fs/ntfs3`` and ntfs-3g's ``layout.h``): the boot sector gives the
bytes per sector, sectors per cluster, total sectors and the MFT's first cluster; MFT records
(1 KiB as a rule, the boot sector says) start with ``FILE``, carry an update sequence array
whose entries are put back at the end of each sector before anything is read, and hold
attributes; ``$Bitmap``'s unnamed ``$DATA`` is non-resident and its data runs say where the
bitmap lies. The first 16 records sit together at the MFT's start, so record 6 is found
without reading ``$MFT``'s own runs.

Refused (kept whole, and said): a volume marked dirty in ``$Volume`` (or wanting chkdsk), one
whose ``$LogFile`` holds work to redo (fast startup, hibernation, a crash: replaying it could
allocate clusters the bitmap calls free), a ``$Bitmap`` spread over an attribute list, and any
record that does not parse.
"""

from __future__ import annotations

import struct

from .bitmap import Range, ReadAt, Unreadable, free_runs, read_exact, scale

_DATA, _ATTRIBUTE_LIST, _VOLUME_INFORMATION, _END = 0x80, 0x20, 0x70, 0xFFFFFFFF
_VOLUME_DIRTY = 0x0001
_MAX_BITMAP = 1 << 32  # 32 Ti clusters: beyond any volume a VHD can hold
_LOG_PAGE_MAX = 65536
_NO_CLIENT = 0xFFFF  # LOGFILE_NO_CLIENT
_RESTART_CLEAN = 0x0002  # RESTART_VOLUME_IS_CLEAN


def ntfs_free(read: ReadAt, size: int) -> list[Range]:
    """Free byte ranges of the NTFS volume at the start of the volume ``read`` reads."""
    boot = read_exact(read, 0, 512, what="boot sector")
    if boot[3:11] != b"NTFS    ":
        raise Unreadable("no NTFS boot sector")
    sector, per_cluster_raw = struct.unpack_from("<HB", boot, 11)
    total_sectors, mft_lcn = struct.unpack_from("<QQ", boot, 40)
    per_cluster = 1 << (256 - per_cluster_raw) if per_cluster_raw > 0x80 else per_cluster_raw
    if sector not in (512, 1024, 2048, 4096) or not per_cluster or per_cluster & (per_cluster - 1):
        raise Unreadable("its boot sector gives an invalid sector or cluster size")
    cluster = sector * per_cluster
    record_raw = struct.unpack_from("<b", boot, 64)[0]
    record_size = 1 << -record_raw if record_raw < 0 else record_raw * cluster
    if record_size < 512 or record_size > 65536 or record_size % sector:
        raise Unreadable(f"its MFT record size {record_size} is invalid")
    if total_sectors * sector > size:
        raise Unreadable(f"it claims {total_sectors * sector} bytes, more than its volume's {size}")
    clusters = total_sectors // per_cluster
    mft = mft_lcn * cluster

    def record(number: int) -> bytes:
        raw = read_exact(read, mft + number * record_size, record_size, what=f"MFT record {number}")
        return _fixed_up(raw, sector=sector, number=number)

    if _volume_flags(record(3)) & _VOLUME_DIRTY:
        raise Unreadable("it is marked dirty (Windows did not shut down cleanly or wants chkdsk)")
    log_runs, log_size = _data_runs(record(2), what="$LogFile")
    _require_clean_log(_read_runs(read, log_runs, cluster=cluster, length=min(log_size, 2 * _LOG_PAGE_MAX)))
    runs, data_size = _data_runs(record(6))
    if data_size * 8 < clusters or data_size > _MAX_BITMAP:
        raise Unreadable(f"its $Bitmap ({data_size} bytes) does not cover its {clusters} clusters")
    bitmap = _read_runs(read, runs, cluster=cluster, length=-(-clusters // 8))
    return scale(free_runs(bitmap, count=clusters), unit=cluster, base=0)


def _fixed_up(raw: bytes, *, sector: int, number: int) -> bytes:
    """The record with its update sequence array applied (and checked)."""
    if raw[:4] != b"FILE":
        raise Unreadable(f"MFT record {number} is not a FILE record")
    usa_offset, usa_count = struct.unpack_from("<HH", raw, 4)
    if usa_count != len(raw) // sector + 1 or usa_offset + 2 * usa_count > len(raw):
        raise Unreadable(f"MFT record {number}'s update sequence is invalid")
    data = bytearray(raw)
    check = raw[usa_offset : usa_offset + 2]
    for index in range(1, usa_count):
        end = index * sector
        if data[end - 2 : end] != check:
            raise Unreadable(f"MFT record {number} is torn (its update sequence does not match)")
        data[end - 2 : end] = raw[usa_offset + 2 * index : usa_offset + 2 * index + 2]
    return bytes(data)


def _attributes(rec: bytes) -> list[tuple[int, bytes]]:
    """(type, attribute bytes) of each attribute of a fixed-up record."""
    offset = struct.unpack_from("<H", rec, 20)[0]
    out: list[tuple[int, bytes]] = []
    while offset + 16 <= len(rec):
        kind, length = struct.unpack_from("<II", rec, offset)
        if kind == _END:
            return out
        if length < 16 or offset + length > len(rec):
            break
        out.append((kind, rec[offset : offset + length]))
        offset += length
    raise Unreadable("an MFT record's attributes run past its end")


def _volume_flags(rec: bytes) -> int:
    for kind, attr in _attributes(rec):
        if kind == _VOLUME_INFORMATION and not attr[8]:
            value_offset = struct.unpack_from("<H", attr, 20)[0]
            return int(struct.unpack_from("<H", attr, value_offset + 10)[0])
    raise Unreadable("$Volume has no volume information")


def _data_runs(rec: bytes, *, what: str = "$Bitmap") -> tuple[list[tuple[int | None, int]], int]:
    """A system file's data runs ((first cluster or None for sparse, cluster count)) and data size."""
    attributes = _attributes(rec)
    if any(kind == _ATTRIBUTE_LIST for kind, _ in attributes):
        raise Unreadable(f"its {what} is spread over an attribute list (not read here)")
    for kind, attr in attributes:
        if kind != _DATA or attr[9] != 0:  # the unnamed $DATA only
            continue
        if not attr[8]:
            raise Unreadable(f"its {what} is resident (impossible on a real volume)")
        start_vcn, _last_vcn, runs_offset = struct.unpack_from("<QQH", attr, 16)
        data_size = struct.unpack_from("<Q", attr, 48)[0]
        if start_vcn != 0:
            raise Unreadable(f"its {what}'s runs do not start at its first cluster")
        return _decode_runs(attr[runs_offset:]), data_size
    raise Unreadable(f"{what} has no data attribute")


def _require_clean_log(head: bytes) -> None:
    """The newer of ``$LogFile``'s two restart pages says no client has work to redo.

    ntfs-3g's rule (``ntfs_is_logfile_clean``): clean when no log client is in use or the
    restart area is flagged clean; a log reset to all 0xFF (as ntfs-3g leaves it) is clean too.
    A log Windows left by fast startup, hibernation or a crash is not: replaying it could
    allocate clusters ``$Bitmap`` still calls free."""
    if not head.strip(b"\xff"):
        return
    newest: tuple[int, int, int] | None = None
    page = struct.unpack_from("<I", head, 0x10)[0] if head[:4] == b"RSTR" else 4096
    if page not in (4096, 8192, 16384, 32768, 65536):
        raise Unreadable("its $LogFile's restart page is damaged")
    for at in (0, page):
        block = head[at : at + page]
        if block[:4] == b"CHKD":
            raise Unreadable("its $LogFile says chkdsk ran and did not finish")
        if block[:4] != b"RSTR" or len(block) < 0x40:
            continue
        area = struct.unpack_from("<H", block, 0x18)[0]
        if area + 16 > len(block):
            raise Unreadable("its $LogFile's restart area is damaged")
        lsn, _clients, _free_list, in_use, flags = struct.unpack_from("<QHHHH", block, area)
        if newest is None or lsn > newest[0]:
            newest = (lsn, in_use, flags)
    if newest is None:
        raise Unreadable("its $LogFile has no restart page")
    if newest[1] != _NO_CLIENT and not newest[2] & _RESTART_CLEAN:
        raise Unreadable("its $LogFile holds work to redo (Windows was not shut down fully: fast startup, "
                         "hibernation or a crash; shut it down with `shutdown /s /t 0`)")


def _decode_runs(raw: bytes) -> list[tuple[int | None, int]]:
    runs: list[tuple[int | None, int]] = []
    lcn = 0
    pos = 0
    while pos < len(raw) and raw[pos]:
        header = raw[pos]
        length_size, offset_size = header & 0x0F, header >> 4
        if not length_size or length_size > 8 or offset_size > 8 or pos + 1 + length_size + offset_size > len(raw):
            raise Unreadable("its $Bitmap's data runs are damaged")
        count = int.from_bytes(raw[pos + 1 : pos + 1 + length_size], "little")
        if offset_size:
            lcn += int.from_bytes(raw[pos + 1 + length_size : pos + 1 + length_size + offset_size], "little", signed=True)
            runs.append((lcn, count))
        else:
            runs.append((None, count))
        pos += 1 + length_size + offset_size
    return runs


def _read_runs(read: ReadAt, runs: list[tuple[int | None, int]], *, cluster: int, length: int) -> bytes:
    pieces = []
    have = 0
    for lcn, count in runs:
        if have >= length:
            break
        n = min(count * cluster, length - have)
        if lcn is None:
            raise Unreadable("its $Bitmap has a sparse run (never seen on a real volume)")
        else:
            if lcn < 0:
                raise Unreadable("its $Bitmap's data runs point before the volume")
            pieces.append(read_exact(read, lcn * cluster, n, what="$Bitmap"))
        have += n
    if have < length:
        raise Unreadable("its $Bitmap's data runs are shorter than the bitmap")
    return b"".join(pieces)
