"""LVM2: a physical volume's extents that no logical volume uses, and the file systems inside
its logical volumes.

Layout (LVM2's ``lib/format_text``): the label (``LABELONE``, ``LVM2 001``) in one of the first
four sectors points at the PV header (its UUID, data area = where extents start, metadata
areas); a metadata area starts with a header (`` LVM2 x[5A%r0N*>``) whose first location is the
current volume group text (a circular buffer). The text says each PV's ``pe_start`` and
``pe_count``, the extent size, and each LV's segments; a ``striped`` segment's ``stripes`` list
``"pvN", first extent`` pairs, and every other kind (mirror, raid, thin, cache, snapshot) is
built from hidden LVs that are themselves striped -- so the union of all stripes is every extent
in use.

A logical volume's file system is read only when the LV is one stripe on this PV throughout and
the group has no snapshot, thin or cache volume (whose data depends on blocks an origin's file
system may call free); otherwise it is kept, and said.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Union

from .bitmap import Range, ReadAt, Unreadable, coalesce, read_exact

Value = Union[str, int, list["Value"], dict[str, "Value"]]

_SECTOR = 512
_MDA_MAGIC = b" LVM2 x[5A%r0N*>"
_MAX_TEXT = 16 * 1024 * 1024
_SIMPLE = ("striped", "linear")
_TOKENS = re.compile(r'\s+|#[^\n]*|"(?:[^"\\]|\\.)*"|[{}\[\]=,]|[^\s{}\[\]=,"#]+')


@dataclass
class LogicalVolume:
    name: str
    extents: list[tuple[int, int, int]] = field(default_factory=list)  # (LV extent, count, PV extent) on this PV
    readable: str | None = None  # why its file system is not read, or None


@dataclass
class PhysicalVolume:
    group: str
    pe_start: int  # bytes from the PV's start
    extent: int  # bytes
    pe_count: int
    free: list[Range]  # in extents
    volumes: list[LogicalVolume]


def read_physical_volume(read: ReadAt, size: int) -> PhysicalVolume:
    head = read_exact(read, 0, 4 * _SECTOR, what="label")
    for sector in range(4):
        label = head[sector * _SECTOR : (sector + 1) * _SECTOR]
        if label[:8] == b"LABELONE" and label[24:32] == b"LVM2 001":
            break
    else:
        raise Unreadable("no LVM2 label")
    offset = struct.unpack_from("<I", label, 20)[0]
    header = head[sector * _SECTOR + offset :] + read(4 * _SECTOR, _SECTOR)
    pv_uuid = header[:32].decode("ascii", "replace")
    areas, pos = [], 40
    while pos + 16 <= len(header) and any(header[pos : pos + 16]):  # data areas
        pos += 16
    pos += 16
    while pos + 16 <= len(header):
        at, length = struct.unpack_from("<QQ", header, pos)
        if not at:
            break
        areas.append((at, length))
        pos += 16
    if not areas:
        raise Unreadable("its metadata area is not on this disk")
    text = _metadata_text(read, *areas[0])
    group_name, group = _parse_group(text)
    return _layout(group_name, group, pv_uuid, size)


def _metadata_text(read: ReadAt, at: int, length: int) -> str:
    header = read_exact(read, at, _SECTOR, what="metadata area header")
    if header[4:20] != _MDA_MAGIC:
        raise Unreadable("its metadata area header is damaged")
    offset, text_size = struct.unpack_from("<QQ", header, 40)
    if not 0 < text_size <= _MAX_TEXT or offset >= length:
        raise Unreadable("its metadata area holds no volume group")
    first = min(text_size, length - offset)
    data = read_exact(read, at + offset, first, what="metadata")
    if first < text_size:  # the circular buffer wrapped: the rest follows the area header
        data += read_exact(read, at + _SECTOR, text_size - first, what="metadata")
    return data.rstrip(b"\0").decode("utf-8", "replace")


def _parse_group(text: str) -> tuple[str, dict[str, Value]]:
    tokens = [t for t in _TOKENS.findall(text) if t.strip() and not t.startswith("#")]
    parsed, end = _section(tokens, 0)
    groups = [(k, v) for k, v in parsed.items() if isinstance(v, dict)]
    if len(groups) != 1:
        raise Unreadable("its metadata holds no single volume group")
    return groups[0]


def _section(tokens: list[str], i: int) -> tuple[dict[str, Value], int]:
    out: dict[str, Value] = {}
    while i < len(tokens) and tokens[i] != "}":
        key = tokens[i]
        if i + 1 >= len(tokens):
            raise Unreadable("its metadata text is truncated")
        if tokens[i + 1] == "{":
            out[key], i = _section(tokens, i + 2)
            if i >= len(tokens):
                raise Unreadable("its metadata text is truncated")
            i += 1
        elif tokens[i + 1] == "=":
            out[key], i = _value(tokens, i + 2)
        else:
            raise Unreadable("its metadata text does not parse")
    return out, i


def _value(tokens: list[str], i: int) -> tuple[Value, int]:
    if i >= len(tokens):
        raise Unreadable("its metadata text is truncated")
    token = tokens[i]
    if token == "[":
        items: list[Value] = []
        i += 1
        while i < len(tokens) and tokens[i] != "]":
            if tokens[i] == ",":
                i += 1
                continue
            item, i = _value(tokens, i)
            items.append(item)
        return items, i + 1
    if token.startswith('"'):
        return token[1:-1], i + 1
    try:
        return int(token), i + 1
    except ValueError:
        return token, i + 1


def _int(table: dict[str, Value], key: str) -> int:
    value = table.get(key)
    if not isinstance(value, int) or value < 0:
        raise Unreadable(f"its metadata has no valid {key}")
    return value


def _layout(group_name: str, group: dict[str, Value], pv_uuid: str, size: int) -> PhysicalVolume:
    extent = _int(group, "extent_size") * _SECTOR
    pvs = group.get("physical_volumes")
    if not isinstance(pvs, dict) or not extent:
        raise Unreadable("its metadata has no physical volumes")
    ours = [name for name, pv in pvs.items() if isinstance(pv, dict)
            and str(pv.get("id", "")).replace("-", "") == pv_uuid.replace("-", "")]
    if len(ours) != 1:
        raise Unreadable("this physical volume is not in its own metadata")
    me = ours[0]
    pv = pvs[me]
    assert isinstance(pv, dict)
    pe_start, pe_count = _int(pv, "pe_start") * _SECTOR, _int(pv, "pe_count")
    if pe_start + pe_count * extent > size:
        raise Unreadable("its extents lie past the end of the partition")
    lvs = group.get("logical_volumes", {})
    if not isinstance(lvs, dict):
        raise Unreadable("its logical volumes do not parse")
    used: list[Range] = []
    volumes: list[LogicalVolume] = []
    dependent = False
    for name, lv in lvs.items():
        if not isinstance(lv, dict):
            continue
        volume = LogicalVolume(name)
        for key, segment in lv.items():
            if not key.startswith("segment") or not isinstance(segment, dict):
                continue
            kind = segment.get("type")
            if kind not in _SIMPLE:
                dependent = dependent or kind in ("snapshot", "thin", "thin-pool", "cache", "cache-pool", "writecache")
                volume.readable = volume.readable or f"it is a {kind} volume"
            _used_by(segment, me, volume, used, extent_count=_int(segment, "extent_count"),
                     start=_int(segment, "start_extent"))
        status = lv.get("status", [])
        if isinstance(status, list) and "VISIBLE" in status:
            volumes.append(volume)
    if dependent:
        for volume in volumes:
            volume.readable = volume.readable or "its group holds snapshot, thin or cache volumes"
    taken = coalesce((lo, hi) for lo, hi in used)
    free: list[Range] = []
    cursor = 0
    for lo, hi in taken:
        if lo > cursor:
            free.append((cursor, min(lo, pe_count)))
        cursor = max(cursor, hi)
    if cursor < pe_count:
        free.append((cursor, pe_count))
    return PhysicalVolume(group_name, pe_start, extent, pe_count, [r for r in free if r[0] < r[1]], volumes)


def _used_by(segment: dict[str, Value], me: str, volume: LogicalVolume, used: list[Range], *, extent_count: int,
             start: int) -> None:
    """Record the extents of this PV that ``segment`` uses (any list naming a PV counts)."""
    stripe_count = segment.get("stripe_count", 1)
    for key, value in segment.items():
        if not isinstance(value, list):
            continue
        pairs: list[tuple[str, int]] = []
        for i in range(0, len(value) - 1, 2):
            name, first = value[i], value[i + 1]
            if isinstance(name, str) and isinstance(first, int):
                pairs.append((name, first))
        if key != "stripes":
            if any(pv == me for pv, _ in pairs):
                raise Unreadable(f"a {segment.get('type')} segment names this PV in {key!r} (not read here)")
            continue
        if not isinstance(stripe_count, int) or stripe_count < 1 or len(pairs) != stripe_count:
            raise Unreadable("a striped segment's stripes do not match its stripe count")
        per_stripe = -(-extent_count // stripe_count)
        for pv, first in pairs:
            if pv == me:
                used.append((first, first + per_stripe))
        if stripe_count == 1 and pairs[0][0] == me:
            volume.extents.append((start, extent_count, pairs[0][1]))
        else:
            volume.readable = volume.readable or ("it is striped" if stripe_count > 1 else "it spans other disks")


def lv_reader(read: ReadAt, pv: PhysicalVolume, volume: LogicalVolume) -> tuple[ReadAt, int, Callable[[Range], list[Range]]]:
    """``(read, size, to_pv)``: reads of the LV, its size, and a map from LV byte ranges to the PV's."""
    pieces = sorted(volume.extents)
    size = sum(count for _, count, _ in pieces) * pv.extent
    cursor = 0
    for start, count, _ in pieces:
        if start != cursor:
            raise Unreadable("its segments leave a hole")
        cursor = start + count

    def locate(offset: int) -> tuple[int, int]:
        """PV offset of LV ``offset`` and the bytes up to its segment's end."""
        index = offset // pv.extent
        for start, count, first in pieces:
            if start <= index < start + count:
                at = pv.pe_start + (first + index - start) * pv.extent + offset % pv.extent
                return at, (start + count) * pv.extent - offset
        raise Unreadable("a read past the logical volume")

    def read_lv(offset: int, length: int) -> bytes:
        length = max(0, min(length, size - offset))
        out = []
        while length > 0:
            at, room = locate(offset)
            n = min(length, room)
            out.append(read(at, n))
            offset += n
            length -= n
        return b"".join(out)

    def to_pv(span: Range) -> list[Range]:
        lo, hi = span
        out = []
        while lo < hi:
            at, room = locate(lo)
            n = min(hi - lo, room)
            out.append((at, at + n))
            lo += n
        return out

    return read_lv, size, to_pv
