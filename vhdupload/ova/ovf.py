"""The OVF descriptor of an OVA: which disks the VM has, in which order, and how big.

The OVF is XML from the archive, so hostile: a DOCTYPE (the door to entity expansion and
external entities) is refused before parsing, and its size is capped. Disks are ordered as the
VM's hardware lists its disk drives (ResourceType 17): by controller, in the order the
controllers appear, then by ``AddressOnParent``; disks the hardware does not list come after,
in DiskSection order. The first is the OS disk, the others data disks.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

from ..errors import CorruptVhdError

MAX_OVF_BYTES = 16 * 1024 * 1024
_DISK_DRIVE = "17"
_UNITS = re.compile(r"^\s*byte\s*(?:\*\s*([0-9]+)\s*\^\s*([0-9]+)\s*)?$", re.ASCII)
_DIGITS = re.compile(r"[0-9]{1,30}")  # ASCII digits only: str.isdigit() takes '²', which int() refuses


@dataclass(frozen=True)
class OvfDisk:
    disk_id: str
    file_name: str | None  # the archive member holding it (None: a blank disk the VM creates)
    capacity: int  # bytes
    format: str  # the ovf:format URI
    address: str  # "controller N address M", or "" when the hardware does not place it
    packing: str = ""  # "gzip"/"chunked": the file is stored compressed or split (ovf:compression, ovf:chunkSize)


def parse_ovf(raw: bytes, *, where: str) -> list[OvfDisk]:
    """The disks ``raw`` (an OVF document) describes, in the VM's order."""
    if len(raw) > MAX_OVF_BYTES:
        raise CorruptVhdError(f"{where}: the OVF is {len(raw)} bytes (over 16 MiB): not an OVF")
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise CorruptVhdError(f"{where}: the OVF has a DOCTYPE or entity declaration, which OVF never needs "
                              "and which could expand without bound: refused")
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as exc:
        raise CorruptVhdError(f"{where}: the OVF is not well-formed XML ({exc})") from None
    files = {_attr(f, "id"): _attr(f, "href") for f in _all(root, "File")}
    packing = {_attr(f, "id"): _packing(f) for f in _all(root, "File")}
    disks: dict[str, OvfDisk] = {}
    for element in _all(root, "Disk"):
        disk_id = _attr(element, "diskId")
        if not disk_id:
            continue
        file_ref = _attr(element, "fileRef")
        disks[disk_id] = OvfDisk(
            disk_id=disk_id,
            file_name=files.get(file_ref) if file_ref else None,
            capacity=_capacity(_attr(element, "capacity"), _attr(element, "capacityAllocationUnits"),
                               where=f"{where}: disk {disk_id}"),
            format=_attr(element, "format") or "",
            address="",
            packing=packing.get(file_ref, "") if file_ref else "",
        )
    ordered: list[tuple[tuple[int, int, int], OvfDisk]] = []
    items = [i for i in _all(root, "Item") + _all(root, "StorageItem")]
    # the controllers disk drives hang on, in the order the hardware lists them
    used = {_child_text(i, "Parent") for i in items if _child_text(i, "ResourceType") == _DISK_DRIVE}
    controllers = [_child_text(i, "InstanceID") for i in items if _child_text(i, "InstanceID") in used]
    for position, item in enumerate(items):
        if _child_text(item, "ResourceType") != _DISK_DRIVE:
            continue
        resource = _child_text(item, "HostResource")
        disk_id = resource.rsplit("/", 1)[-1] if resource else ""
        disk = disks.pop(disk_id, None)
        if disk is None:
            continue
        parent = _child_text(item, "Parent")
        controller = controllers.index(parent) if parent in controllers else len(controllers)
        address_text = _child_text(item, "AddressOnParent")
        address = int(address_text) if _DIGITS.fullmatch(address_text) else position
        placed = f"controller {controller}, address {address_text or '?'}"
        ordered.append(((controller, address, position), OvfDisk(disk.disk_id, disk.file_name, disk.capacity,
                                                                 disk.format, placed, disk.packing)))
    ordered.sort(key=lambda pair: pair[0])
    return [disk for _, disk in ordered] + list(disks.values())


def _packing(file: ElementTree.Element) -> str:
    compression = (_attr(file, "compression") or "identity").strip().lower()
    if compression != "identity":
        return compression
    return "chunked" if _attr(file, "chunkSize") else ""


def _capacity(value: str | None, units: str | None, *, where: str) -> int:
    if value is None or not _DIGITS.fullmatch(value.strip()):
        raise CorruptVhdError(f"{where}: ovf:capacity {value!r} is not a whole number")
    match = _UNITS.match(units or "byte")
    if match is None:
        raise CorruptVhdError(f"{where}: ovf:capacityAllocationUnits {units!r} is not 'byte * B^E'")
    base, exponent = match.groups()
    if base is not None and (int(exponent) > 64 or int(base) > 1024):
        raise CorruptVhdError(f"{where}: ovf:capacityAllocationUnits {units!r} is absurd")
    return int(value) * (int(base) ** int(exponent) if base is not None else 1)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _all(root: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [e for e in root.iter() if isinstance(e.tag, str) and _local(e.tag) == name]


def _attr(element: ElementTree.Element, name: str) -> str | None:
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value
    return None


def _child_text(element: ElementTree.Element, name: str) -> str:
    for child in element:
        if isinstance(child.tag, str) and _local(child.tag) == name:
            return (child.text or "").strip()
    return ""
