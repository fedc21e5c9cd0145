"""The Azure CLI line equivalent to a request body, shown by ``--dry-run``.

Each line is derived from the very body that would be sent, so the two cannot drift apart.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from .bodies import Body


def _line(words: Sequence[str | None]) -> str:
    return " ".join(shlex.quote(w) for w in words if w is not None)


def _opt(flag: str, value: object) -> list[str]:
    if value is None or value == [] or value == {}:
        return []
    if isinstance(value, (list, tuple)):
        return [flag, *map(str, value)]
    return [flag, str(value)]


def _common(subscription: str | None, resource_group: str, body: Body) -> list[str]:
    return [*_opt("--subscription", subscription), "--resource-group", resource_group, "--location", body["location"]]


def _tags(body: Body) -> list[str]:
    return _opt("--tags", [f"{k}={v}" for k, v in (body.get("tags") or {}).items()])


def _image_source(disk: Body) -> str:
    """What ``az image create`` takes as a source: a blob URI or a managed disk ID alike."""
    source: str = disk["blobUri"] if "blobUri" in disk else disk["managedDisk"]["id"]
    return source


def az_image_create(*, name: str, resource_group: str, body: Body, subscription: str | None = None) -> str:
    """``az image create`` for a managed image body (from blobs or captured from a VM)."""
    props = body["properties"]
    words = ["az", "image", "create", *_common(subscription, resource_group, body), "--name", name]
    if "sourceVirtualMachine" in props:
        words += ["--source", props["sourceVirtualMachine"]["id"]]
    else:
        os_disk = props["storageProfile"]["osDisk"]
        data = props["storageProfile"].get("dataDisks") or []
        words += ["--source", _image_source(os_disk), "--os-type", os_disk["osType"]]
        words += _opt("--os-disk-caching", os_disk.get("caching"))
        words += _opt("--data-disk-sources", [_image_source(d) for d in data])
        cachings = {d.get("caching") for d in data}
        if len(cachings) == 1 and None not in cachings:  # az has one caching for all data disks
            words += ["--data-disk-caching", cachings.pop()]
        words += _opt("--storage-sku", os_disk.get("storageAccountType"))
    words += _opt("--hyper-v-generation", props.get("hyperVGeneration"))
    if (props.get("storageProfile") or {}).get("zoneResilient"):
        words += ["--zone-resilient", "true"]
    return _line(words + _tags(body))


def az_image_note(body: Body) -> str | None:
    """What ``az image create`` cannot express for this body, or None."""
    data = ((body.get("properties") or {}).get("storageProfile") or {}).get("dataDisks") or []
    if [d["lun"] for d in data] != list(range(len(data))) or len({d.get("caching") for d in data}) > 1:
        return "az gives the data disks LUNs 0, 1, ... in this order and one caching; the ARM body sets each disk's own"
    return None


def az_sig_create(*, gallery: str, resource_group: str, body: Body, subscription: str | None = None) -> str:
    return _line(["az", "sig", "create", *_common(subscription, resource_group, body), "--gallery-name", gallery, *_tags(body)])


def az_sig_image_definition_create(
    *, gallery: str, definition: str, resource_group: str, body: Body, subscription: str | None = None
) -> str:
    props = body["properties"]
    ident = props["identifier"]
    words = [
        "az", "sig", "image-definition", "create", *_common(subscription, resource_group, body),
        "--gallery-name", gallery, "--gallery-image-definition", definition,
        "--publisher", ident["publisher"], "--offer", ident["offer"], "--sku", ident["sku"],
        "--os-type", props["osType"], "--os-state", props["osState"],
        *_opt("--hyper-v-generation", props.get("hyperVGeneration")),
        *_opt("--architecture", props.get("architecture")),
        # az's --features takes NAME=VALUE words, a list value without spaces (DiskControllerTypes=SCSI,NVMe)
        *_opt("--features", [f"{f['name']}={str(f['value']).replace(' ', '')}" for f in props.get("features") or []]),
    ]
    return _line(words + _tags(body))


def az_sig_image_version_create(
    *, gallery: str, definition: str, version: str, resource_group: str, body: Body, subscription: str | None = None
) -> str:
    props = body["properties"]
    storage = props["storageProfile"]
    os_source = storage["osDiskImage"]["source"]
    data = storage.get("dataDiskImages") or []
    profile = props["publishingProfile"]
    # az's --target-regions value syntax: REGION[=REPLICAS][=STORAGE_TYPE]
    regions = ["=".join([r["name"], str(r.get("regionalReplicaCount") or profile.get("replicaCount") or 1),
                         *([r["storageAccountType"]] if r.get("storageAccountType") else [])])
               for r in profile["targetRegions"]]
    words = [
        "az", "sig", "image-version", "create", *_common(subscription, resource_group, body),
        "--gallery-name", gallery, "--gallery-image-definition", definition, "--gallery-image-version", version,
    ]
    if "id" in os_source:  # managed disks: az takes them where it takes snapshots
        words += ["--os-snapshot", os_source["id"]]
    else:
        words += ["--os-vhd-uri", os_source["uri"], "--os-vhd-storage-account", os_source["storageAccountId"]]
    blob_data = [d for d in data if "uri" in d["source"]]
    disk_data = [d for d in data if "id" in d["source"]]
    words += [
        *_opt("--data-vhds-uris", [d["source"]["uri"] for d in blob_data]),
        *_opt("--data-vhds-storage-accounts", [d["source"]["storageAccountId"] for d in blob_data]),
        *_opt("--data-vhds-luns", [d["lun"] for d in blob_data]),
        *_opt("--data-snapshots", [d["source"]["id"] for d in disk_data]),
        *_opt("--data-snapshot-luns", [d["lun"] for d in disk_data]),
        "--target-regions", *regions,
        *_opt("--replica-count", profile.get("replicaCount")),
        *_opt("--storage-account-type", profile.get("storageAccountType")),
        *_opt("--replication-mode", profile.get("replicationMode")),
        *_opt("--exclude-from-latest", "true" if profile.get("excludeFromLatest") else None),
        *_opt("--end-of-life-date", profile.get("endOfLifeDate")),
    ]
    return _line(words + _tags(body))


def az_disk_create(*, name: str, resource_group: str, body: Body, subscription: str | None = None) -> str:
    props = body["properties"]
    creation = props["creationData"]
    words = [
        "az", "disk", "create", *_common(subscription, resource_group, body), "--name", name,
        "--source", creation["sourceUri"], "--source-storage-account-id", creation["storageAccountId"],
        *_opt("--sku", (body.get("sku") or {}).get("name")),
        *_opt("--os-type", props.get("osType")),
        *_opt("--hyper-v-generation", props.get("hyperVGeneration")),
    ]
    return _line(words + _tags(body))
