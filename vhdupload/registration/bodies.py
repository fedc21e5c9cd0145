"""The ARM request bodies (REST camelCase, exactly what is sent) and the values that go in them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, TypeAlias

from ..errors import InputError
from ..keywords import refuse_unknown_keywords
from .disk_sources import is_disk_id
from ..guest.generation import normalize_generation
from ..redact import redact, strip_query

MAX_LUN = 63
CACHING = {"none": "None", "readonly": "ReadOnly", "readwrite": "ReadWrite"}
OS_TYPES = {"linux": "Linux", "windows": "Windows"}
OS_STATES = {"generalized": "Generalized", "specialized": "Specialized"}
STORAGE_SKUS = {
    s.lower(): s
    for s in (
        "Standard_LRS", "Premium_LRS", "StandardSSD_LRS", "UltraSSD_LRS",
        "Premium_ZRS", "StandardSSD_ZRS", "PremiumV2_LRS",
    )
}
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")

#: A JSON object as ARM takes it: the values are strings, numbers, lists and nested objects,
#: a recursive shape that a static type would only restate.
Body: TypeAlias = dict[str, Any]


def _pick(table: dict[str, str], value: str | None, option: str) -> str | None:
    if value is None:
        return None
    try:
        return table[value.strip().lower()]
    except KeyError:
        raise InputError(f"{option} {value!r} is not one of {', '.join(table.values())}") from None


def os_type(value: str | None) -> str | None:
    return _pick(OS_TYPES, value, "--os-type")


def os_state(value: str | None) -> str | None:
    return _pick(OS_STATES, value, "--os-state")


def caching(value: str | None) -> str | None:
    return _pick(CACHING, value, "caching")


def storage_sku(value: str | None, option: str = "--storage-sku") -> str | None:
    return _pick(STORAGE_SKUS, value, option)


def gallery_version(value: str) -> str:
    if not _VERSION.match(value):
        raise InputError(f"--version {value!r} is not MAJOR.MINOR.PATCH (for example 1.0.0)")
    return value


@refuse_unknown_keywords
@dataclass(frozen=True)
class DataDisk:
    """One data disk of a VM image: a blob, its LUN (None: the lowest free one) and caching."""

    url: str
    lun: int | None = None
    caching: str | None = None


def parse_data_disk(text: str) -> DataDisk:
    """``BLOB_URL[,lun=N][,caching=None|ReadOnly|ReadWrite]`` → :class:`DataDisk`."""
    pieces = text.split(",")
    options: dict[str, str] = {}
    while len(pieces) > 1 and re.match(r"^\s*(lun|caching)\s*=", pieces[-1], re.I):
        key, _, value = pieces.pop().partition("=")
        key = key.strip().lower()
        if key in options:
            raise InputError(f"--data-disk {redact(text)!r} gives {key} twice")
        options[key] = value.strip()
    url = ",".join(pieces).strip()
    if not url:
        raise InputError(f"--data-disk {redact(text)!r} has no blob URL")
    lun = None
    if "lun" in options:
        if not options["lun"].isdigit() or int(options["lun"]) > MAX_LUN:
            raise InputError(f"--data-disk lun={options['lun']!r} is not a number from 0 to {MAX_LUN}")
        lun = int(options["lun"])
    return DataDisk(url=url, lun=lun, caching=caching(options.get("caching")))


def assign_luns(disks: Iterable[DataDisk], *, os_disk: str | None = None) -> list[DataDisk]:
    """Give every disk a LUN: explicit ones kept, the rest the lowest free, in order.

    Refuses a LUN given twice and a blob given twice (or also given as the OS disk).
    """
    disks = list(disks)
    seen_urls = {strip_query(os_disk)} if os_disk else set()
    for disk in disks:
        url = strip_query(disk.url)
        if url in seen_urls:
            raise InputError(f"{url} is given twice: each disk needs its own blob")
        seen_urls.add(url)
    taken: set[int] = set()
    for disk in disks:
        if disk.lun is not None:
            if disk.lun in taken:
                raise InputError(f"LUN {disk.lun} is given to two data disks: give each disk its own lun=N")
            taken.add(disk.lun)
    if len(disks) > MAX_LUN + 1:
        raise InputError(f"{len(disks)} data disks given; Azure allows at most {MAX_LUN + 1}")
    free = (n for n in range(MAX_LUN + 1) if n not in taken)
    return [d if d.lun is not None else DataDisk(url=d.url, lun=next(free), caching=d.caching) for d in disks]


def parse_tags(items: Iterable[str] | dict[str, str] | None) -> dict[str, str]:
    if items is None:
        return {}
    if isinstance(items, dict):
        return dict(items)
    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--tag {item!r} is not KEY=VALUE")
        tags[key.strip()] = value
    return tags


def _with_tags(body: Body, tags: dict[str, str]) -> Body:
    if tags:
        body["tags"] = dict(tags)
    return body


def _lun_order(disk: DataDisk) -> int:
    """Sort key: the disk's LUN (the body builders get disks from assign_luns, which gave each one)."""
    return -1 if disk.lun is None else disk.lun


def _drop_none(mapping: Body) -> Body:
    return {k: v for k, v in mapping.items() if v is not None}


def _image_source(source: str) -> Body:
    """A managed image disk's source: ``managedDisk.id`` for a managed disk ID, else ``blobUri``."""
    return {"managedDisk": {"id": source.strip()}} if is_disk_id(source) else {"blobUri": strip_query(source)}


def image_body(
    *,
    location: str,
    os_disk: str,
    os_type: str,
    os_state: str = "Generalized",
    data_disks: Iterable[DataDisk] = (),
    hyper_v_generation: str | None = None,
    zone_resilient: bool = False,
    storage_sku: str | None = None,
    os_caching: str | None = None,
    tags: dict[str, str] | None = None,
) -> Body:
    """A managed image (``Microsoft.Compute/images``) made from blobs or managed disks (by ID)."""
    storage_profile: Body = {
        "osDisk": _drop_none(
            {
                "osType": os_type,
                "osState": os_state,
                **_image_source(os_disk),
                "caching": os_caching,
                "storageAccountType": storage_sku,
            }
        ),
        "dataDisks": [
            _drop_none(
                {"lun": d.lun, **_image_source(d.url), "caching": d.caching, "storageAccountType": storage_sku}
            )
            for d in sorted(data_disks, key=_lun_order)
        ],
    }
    if zone_resilient:
        storage_profile["zoneResilient"] = True
    properties = _drop_none({"storageProfile": storage_profile, "hyperVGeneration": hyper_v_generation})
    return _with_tags({"location": location, "properties": properties}, tags or {})


def capture_body(
    *, location: str, vm_id: str, hyper_v_generation: str | None, zone_resilient: bool = False,
    tags: dict[str, str] | None = None,
) -> Body:
    """A managed image captured from a generalized, deallocated VM."""
    properties: Body = {"sourceVirtualMachine": {"id": vm_id}}
    if hyper_v_generation:
        properties["hyperVGeneration"] = hyper_v_generation
    if zone_resilient:
        properties["storageProfile"] = {"zoneResilient": True}
    return _with_tags({"location": location, "properties": properties}, tags or {})


def gallery_body(*, location: str, tags: dict[str, str] | None = None) -> Body:
    return _with_tags({"location": location, "properties": {}}, tags or {})


def image_definition_body(
    *,
    location: str,
    os_type: str,
    os_state: str,
    hyper_v_generation: str | None,
    publisher: str,
    offer: str,
    sku: str,
    tags: dict[str, str] | None = None,
    architecture: str | None = None,
    features: list[Body] | None = None,
) -> Body:
    properties = _drop_none(
        {
            "osType": os_type,
            "osState": os_state,
            "hyperVGeneration": hyper_v_generation,
            "architecture": architecture,
            "features": list(features) if features else None,
            "identifier": {"publisher": publisher, "offer": offer, "sku": sku},
        }
    )
    return _with_tags({"location": location, "properties": properties}, tags or {})


def gallery_version_body(
    *,
    location: str,
    os_disk: str,
    storage_account_ids: dict[str, str],
    data_disks: Iterable[DataDisk] = (),
    publishing_profile: Body | None = None,
    tags: dict[str, str] | None = None,
) -> Body:
    """A gallery image version made from VHD blobs or managed disks; ``storage_account_ids`` maps
    each blob URL → its account ID (managed disk IDs need none); ``publishing_profile`` from
    :meth:`~.replication.Distribution.publishing_profile` (default: one replica in ``location``)."""

    def source(url: str) -> Body:
        if is_disk_id(url):  # a managed disk: ``source.id``
            return {"id": url.strip()}
        return {"storageAccountId": storage_account_ids[strip_query(url)], "uri": strip_query(url)}

    storage_profile: Body = {
        "osDiskImage": {"hostCaching": "ReadWrite", "source": source(os_disk)},
        "dataDiskImages": [
            {"lun": d.lun, "hostCaching": d.caching or "None", "source": source(d.url)}
            for d in sorted(data_disks, key=_lun_order)
        ],
    }
    profile = publishing_profile or {"targetRegions": [{"name": location, "regionalReplicaCount": 1}]}
    properties: Body = {"publishingProfile": profile, "storageProfile": storage_profile}
    return _with_tags({"location": location, "properties": properties}, tags or {})


def disk_import_body(
    *,
    location: str,
    source: str,
    storage_account_id: str,
    sku: str | None = None,
    os_type: str | None = None,
    hyper_v_generation: str | None = None,
    tags: dict[str, str] | None = None,
) -> Body:
    """A managed disk imported from a blob (``createOption: Import``)."""
    properties = _drop_none(
        {
            "osType": os_type,
            "hyperVGeneration": hyper_v_generation,
            "creationData": {
                "createOption": "Import",
                "sourceUri": strip_query(source),
                "storageAccountId": storage_account_id,
            },
        }
    )
    body: Body = {"location": location}
    if sku:
        body["sku"] = {"name": sku}
    body["properties"] = properties
    return _with_tags(body, tags or {})


def generation_or_none(value: str | None) -> str | None:
    """An explicit V1/V2, or None for ``auto``/nothing (where the disk cannot be read)."""
    value = normalize_generation(value)
    return None if value in (None, "auto") else value
