"""The publish manifest: a TOML file read with the standard library's ``tomllib``.

Exactly the keys of ``docs/publish.md``: an unknown key is a problem naming it and its table
(``[[disk]] #2: unknown key 'lum'``), so a typo never silently drops a setting. Every problem
in the file is reported at once, one line each. Paths are relative to the manifest's folder.
"""

from __future__ import annotations

import tomllib
from os import PathLike
from pathlib import Path
from typing import Any

from ..errors import PublishCheckError, VhdUploadError
from ..ova import is_ova_path, list_disks
from .plan import DiskSource, ImageTarget, PublishPlan, StorageTarget

TOP_KEYS = ("image", "storage", "disk", "verify")
IMAGE_KEYS = ("name", "resource_group", "location", "kind", "os_type", "os_state", "hyper_v_generation",
              "gallery", "definition", "version", "publisher", "offer", "sku", "tags", "security_type",
              "target_regions", "replica_count", "storage_account_type", "replication_mode", "exclude_from_latest",
              "end_of_life")
STORAGE_KEYS = ("container_url", "managed_disks", "disk_sku", "disk_prefix")
DISK_KEYS = ("path", "role", "lun", "caching", "blob", "vm_guest_state", "security_metadata", "security_type", "skip_free")


def _unknown(table: dict[str, Any], allowed: tuple[str, ...], where: str, problems: list[str]) -> None:
    for key in table:
        if key not in allowed:
            close = [k for k in allowed if k.replace("_", "") == str(key).lower().replace("_", "").replace("-", "")]
            hint = f" (did you mean {close[0]!r}?)" if close else f"; the keys are {', '.join(allowed)}"
            problems.append(f"{where}: unknown key {key!r}{hint}")


def _table(data: dict[str, Any], key: str, problems: list[str]) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        problems.append(f"[{key}] is missing")
        return {}
    if not isinstance(value, dict):
        problems.append(f"{key} must be a table [{key}], not {type(value).__name__}")
        return {}
    return value


def parse_manifest(data: dict[str, Any], *, base: Path | None = None, name: str = "the manifest") -> PublishPlan:
    """A validated :class:`PublishPlan` from already-parsed TOML ``data``."""
    problems: list[str] = []
    _unknown(data, TOP_KEYS, "the top level", problems)
    image = _table(data, "image", problems)
    storage = _table(data, "storage", problems)
    _unknown(image, IMAGE_KEYS, "[image]", problems)
    _unknown(storage, STORAGE_KEYS, "[storage]", problems)
    raw_disks = data.get("disk")
    if raw_disks is None:
        raw_disks = []
    elif not isinstance(raw_disks, list) or not all(isinstance(d, dict) for d in raw_disks):
        problems.append("disk must be an array of tables: write each disk as [[disk]]")
        raw_disks = []
    disks = []
    for index, table in enumerate(raw_disks):
        _unknown(table, DISK_KEYS, f"[[disk]] #{index + 1}", problems)
        path = table.get("path")
        if path is not None and not isinstance(path, str):
            problems.append(f"[[disk]] #{index + 1}: path must be a string, not {path!r}")
            path = None
        disks.append(DiskSource(path=Path(path) if path else "", role=table.get("role"), lun=table.get("lun"),
                                caching=table.get("caching"), blob=table.get("blob"), skip_free=table.get("skip_free"),
                                **{k: table[k] for k in ("vm_guest_state", "security_metadata", "security_type") if k in table}))
    disks = _expand_archives(disks, raw_disks, base=base, problems=problems)
    image_fields: dict[str, Any] = {k: image.get(k) for k in IMAGE_KEYS if k in image} | _required(image)
    plan = PublishPlan(
        image=ImageTarget(**image_fields),
        storage=StorageTarget(**{k: storage[k] for k in STORAGE_KEYS if k in storage}),
        disks=tuple(disks),
        base=base,
        verify=data.get("verify"),
    )
    try:
        plan = plan.validated()
    except PublishCheckError as exc:
        problems += exc.problems
    if problems:
        raise PublishCheckError([f"{name}: {p}" for p in _unique(problems)])
    return plan


def _expand_archives(disks: list[DiskSource], tables: list[Any], *, base: Path | None,
                     problems: list[str]) -> list[DiskSource]:
    """Each ``path = "app.ova"`` entry becomes the OVA's disks in the VM's order: the first the
    OS disk, the others data disks at LUN 0, 1, ... A manifest that names members
    (``app.ova/app-disk1.vmdk``) gets exactly those instead."""
    out: list[DiskSource] = []
    for index, disk in enumerate(disks):
        path = Path(disk.path) if disk.path else None
        where = base / path if path is not None and base is not None and not path.is_absolute() else path
        if path is None or where is None or not is_ova_path(path) or not where.is_file():
            out.append(disk)
            continue
        given = [k for k in ("role", "lun", "blob") if tables[index].get(k) is not None]
        if given:
            problems.append(f"[[disk]] #{index + 1}: {path.name} is an OVA, which stands for all its disks; "
                            f"{', '.join(given)} applies to one disk: give each as its own [[disk]] with "
                            f"path = \"{path}/MEMBER\"")
            continue
        try:
            found = list_disks(where)
        except VhdUploadError as exc:
            problems.append(f"[[disk]] #{index + 1}: {exc}")
            continue
        out += [DiskSource(path=path / d.member, role=d.role, lun=d.lun, caching=disk.caching, skip_free=disk.skip_free)
                for d in found]
    return out


def _required(image: dict[str, Any]) -> dict[str, Any]:
    """The dataclass's required fields, None when absent (validation then names them)."""
    return {k: image.get(k) for k in ("name", "resource_group", "location", "os_type")}


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def load_manifest(path: str | PathLike[str]) -> PublishPlan:
    """Read and validate the manifest at ``path``; raises :class:`PublishCheckError`."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise PublishCheckError([f"{path}: no such manifest file"]) from None
    except IsADirectoryError:
        raise PublishCheckError([f"{path} is a folder: give the manifest file (e.g. publish.toml)"]) from None
    except OSError as exc:
        raise PublishCheckError([f"cannot read {path}: {exc.strerror or exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise PublishCheckError([f"{path.name} is not valid TOML: {exc}"]) from None
    except RecursionError:  # tomllib reads nested arrays and inline tables recursively
        raise PublishCheckError([
            f"{path.name} nests arrays or inline tables deeper than can be read: a manifest needs only a few "
            "levels (see docs/publish.md)"
        ]) from None
    return parse_manifest(data, base=path.resolve().parent, name=path.name)
