"""The VMDK descriptor: ``key=value`` lines, extent lines, the disk database (``ddb.*``).

It is text from the file, so it is hostile input: its size is capped, unknown lines are
ignored (VMware adds keys over time), and an extent line that cannot be parsed is an error
naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import CorruptVhdError, OtherFormatError

SIGNATURE = b"# Disk DescriptorFile"
#: A separate descriptor file is a few hundred bytes; more than this is not one.
MAX_DESCRIPTOR_FILE = 1024 * 1024
MAX_EXTENTS = 4096
NO_PARENT_CID = 0xFFFFFFFF
#: 2^63 bytes: no disk is larger (VMware's limit is 62 TiB)
MAX_SECTORS = (1 << 63) // 512

#: Extent types read here, and those refused with what to do.
READ_TYPES = ("SPARSE", "FLAT", "ZERO", "VMFS")
_SNAPSHOT_FIX = ("consolidate or clone it into a standalone disk first: on ESXi `vmkfstools -i DISK.vmdk OUT.vmdk`, "
                 "or `qemu-img convert -O vmdk DISK.vmdk OUT.vmdk`")
REFUSED_TYPES = {
    "SESPARSE": f"an ESXi seSparse snapshot delta: {_SNAPSHOT_FIX}",
    "VMFSSPARSE": f"an ESXi vmfsSparse snapshot delta: {_SNAPSHOT_FIX}",
    "VMFSRDM": "a raw device mapping (its data is on a SAN LUN, not in a file): clone it with `vmkfstools -i`",
    "VMFSRAW": "a raw device mapping (its data is on a SAN LUN, not in a file): clone it with `vmkfstools -i`",
    "VMFSRAWDEVICEMAP": "a raw device mapping: clone it with `vmkfstools -i`",
}
REFUSED_CREATE_TYPES = {
    "sesparse": REFUSED_TYPES["SESPARSE"],
    "vmfssparse": REFUSED_TYPES["VMFSSPARSE"],
    "vmfsrdm": REFUSED_TYPES["VMFSRDM"],
    "vmfsraw": REFUSED_TYPES["VMFSRAW"],
    "vmfsrawdevicemap": REFUSED_TYPES["VMFSRAW"],
    "vmfspassthroughrawdevicemap": REFUSED_TYPES["VMFSRAW"],
}

# ASCII: \d would take '²', which int() refuses
_EXTENT = re.compile(r'^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Za-z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$', re.ASCII)
_PAIR = re.compile(r'^([A-Za-z0-9_.]+)\s*=\s*"?([^"]*)"?\s*$')


@dataclass(frozen=True)
class ExtentLine:
    access: str
    sectors: int
    kind: str  # SPARSE, FLAT, ZERO, VMFS
    file_name: str | None
    offset: int  # sectors into the file (flat extents)


@dataclass(frozen=True)
class Descriptor:
    create_type: str
    cid: int | None
    parent_cid: int
    parent_hint: str | None
    extents: tuple[ExtentLine, ...]
    ddb: dict[str, str] = field(default_factory=dict)

    @property
    def has_parent(self) -> bool:
        return self.parent_cid != NO_PARENT_CID and bool(self.parent_hint)

    @property
    def adapter_type(self) -> str | None:
        return self.ddb.get("ddb.adapterType")


def parse_descriptor(raw: bytes) -> Descriptor:
    """The descriptor in ``raw`` (NULs after it, as in an embedded one, are ignored)."""
    if len(raw) > MAX_DESCRIPTOR_FILE:
        raise CorruptVhdError(f"VMDK descriptor of {len(raw)} bytes (over 1 MiB): not a descriptor")
    text = raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")
    pairs: dict[str, str] = {}
    ddb: dict[str, str] = {}
    extents: list[ExtentLine] = []
    total = 0
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _EXTENT.match(line)
        if match:
            if len(extents) >= MAX_EXTENTS:
                raise CorruptVhdError(f"VMDK descriptor names more than {MAX_EXTENTS} extents")
            access, sectors, kind, name, offset = match.groups()
            kind = kind.upper()
            if len(sectors) > 19 or int(sectors) > MAX_SECTORS or len(offset or "") > 19:
                raise CorruptVhdError(f"VMDK descriptor line {number}: an extent of {sectors[:24]} sectors is absurd")
            if kind in REFUSED_TYPES:
                raise OtherFormatError(f"the VMDK's extent {name or ''} is {REFUSED_TYPES[kind]}", format_name="VMDK")
            if kind not in READ_TYPES:
                raise CorruptVhdError(f"VMDK descriptor line {number}: unknown extent type {kind!r}")
            if kind != "ZERO" and not name:
                raise CorruptVhdError(f"VMDK descriptor line {number}: a {kind} extent names no file")
            total += int(sectors)
            if total > MAX_SECTORS:
                raise CorruptVhdError("VMDK descriptor's extents add up to more than 2^63 bytes: damage")
            extents.append(ExtentLine(access=access, sectors=int(sectors), kind=kind,
                                      file_name=name if kind != "ZERO" else None, offset=int(offset or 0)))
            continue
        match = _PAIR.match(line)
        if match:
            key, value = match.groups()
            (ddb if key.startswith("ddb.") else pairs)[key] = value
    create_type = pairs.get("createType", "")
    refused = REFUSED_CREATE_TYPES.get(create_type.lower())
    if refused:
        raise OtherFormatError(f"the VMDK (createType {create_type}) is {refused}", format_name="VMDK")
    return Descriptor(create_type=create_type, cid=_cid(pairs.get("CID")),
                      parent_cid=_cid(pairs.get("parentCID", "ffffffff")) or 0,
                      parent_hint=pairs.get("parentFileNameHint") or None, extents=tuple(extents), ddb=ddb)


def _cid(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip(), 16) & 0xFFFFFFFF
    except ValueError:
        raise CorruptVhdError(f"VMDK descriptor CID {text[:20]!r} is not hexadecimal") from None


def is_descriptor(head: bytes) -> bool:
    return head.lstrip().startswith(SIGNATURE)
