"""Whether an existing ARM resource already has the body a registration would send.

"Same body": every field we would send has that value in the existing resource; fields Azure
adds (``id``, ``provisioningState``, ``diskSizeGB``...) are ignored. Enumerations and resource
IDs are compared without case (ARM answers ``linux`` for ``Linux`` and lower-cases resource
group names in IDs as it likes), locations also without spaces (``West Europe``). Lists must
have the same length and agree item by item (data disks are sent sorted by LUN, and compared
sorted by LUN).
"""

from __future__ import annotations

from typing import Any

#: Keys whose values are enumerations or resource IDs: compared without case.
_CASELESS = {
    "id", "osType", "osState", "caching", "hostCaching", "hyperVGeneration", "storageAccountType",
    "storageAccountId", "location", "name",
}
_SPACELESS = {"location", "name"}  # region names: "westeurope" and "West Europe" are one


def first_difference(wanted: Any, existing: Any, path: str = "") -> str | None:
    """The first field of ``wanted`` that ``existing`` does not have with that value (its JSON
    path and both values, in words), or None when ``existing`` has every one."""
    if isinstance(wanted, dict):
        if not isinstance(existing, dict):
            return f"{path or 'the body'} is {_show(existing)}, not an object"
        for key, value in wanted.items():
            where = f"{path}.{key}" if path else key
            if key not in existing or existing[key] is None:
                if value in (None, [], {}):
                    continue
                return f"{where} is missing (we send {_show(value)})"
            found = _sorted_by_lun(existing[key]) if key in ("dataDisks", "dataDiskImages") else existing[key]
            problem = first_difference(value, found, where) if isinstance(value, (dict, list)) else _scalar(key, value, found, where)
            if problem:
                return problem
        return None
    if isinstance(wanted, list):
        if not isinstance(existing, list) or len(existing) != len(wanted):
            return f"{path} has {_count(existing)}, we send {len(wanted)}"
        for index, (a, b) in enumerate(zip(wanted, existing)):
            where = f"{path}[{index}]"
            problem = first_difference(a, b, where) if isinstance(a, (dict, list)) else _scalar(path.rsplit(".", 1)[-1], a, b, where)
            if problem:
                return problem
        return None
    return _scalar(path.rsplit(".", 1)[-1], wanted, existing, path)


def _scalar(key: str, wanted: Any, existing: Any, where: str) -> str | None:
    if isinstance(wanted, str) and isinstance(existing, str):
        a, b = wanted, existing
        if key in _CASELESS or where.endswith(".id"):
            a, b = a.lower(), b.lower()
        if key in _SPACELESS:
            a, b = a.replace(" ", ""), b.replace(" ", "")
        same = a == b
    else:
        same = wanted == existing
    return None if same else f"{where} is {_show(existing)}, we send {_show(wanted)}"


def _sorted_by_lun(items: Any) -> Any:
    if isinstance(items, list) and all(isinstance(i, dict) and isinstance(i.get("lun"), int) for i in items):
        return sorted(items, key=lambda i: i["lun"])
    return items


def _count(items: Any) -> str:
    return f"{len(items)} items" if isinstance(items, list) else _show(items)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
