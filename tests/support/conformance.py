"""Every ARM body the tool sends uses only fields that ``azure-mgmt-compute``'s own models know,
for the API versions the installed client speaks (docs/registration.md lists them).

The models are the SDK's typed classes; each field's REST name and type come from the class
itself (its rest fields and annotations), so a body is walked the way the service's schema
would read it: an unknown key anywhere (``properties.publishingProfile.replicaCont``) is
reported with its path.
"""

from __future__ import annotations

import re
import sys
import typing
from typing import Any

from azure.mgmt.compute import models

#: (method, resource path pattern) → the model of its body.
BODY_MODELS = [
    ("PUT", r"/providers/Microsoft\.Compute/images/[^/]+$", "Image"),
    ("PUT", r"/providers/Microsoft\.Compute/galleries/[^/]+$", "Gallery"),
    ("PUT", r"/providers/Microsoft\.Compute/galleries/[^/]+/images/[^/]+$", "GalleryImage"),
    ("PUT", r"/providers/Microsoft\.Compute/galleries/[^/]+/images/[^/]+/versions/[^/]+$", "GalleryImageVersion"),
    ("PUT", r"/providers/Microsoft\.Compute/disks/[^/]+$", "Disk"),
    ("PATCH", r"/providers/Microsoft\.Compute/disks/[^/]+$", "DiskUpdate"),
    ("POST", r"/providers/Microsoft\.Compute/disks/[^/]+/beginGetAccess$", "GrantAccessData"),
]


def model_for(method: str, path: str) -> type | None:
    for wanted, pattern, name in BODY_MODELS:
        if method == wanted and re.search(pattern, path, re.I):
            return getattr(models, name)
    return None


def _fields(model: type) -> dict[str, Any]:
    """REST name → annotated type of ``model``'s fields (flattened ``properties`` included)."""
    model()  # the SDK computes its field table on first use
    module = sys.modules[model.__module__]
    hints = typing.get_type_hints(model, globalns=vars(module), localns={"_models": models})
    table = getattr(model, "_attr_to_rest_field")
    return {rf._rest_name: hints.get(attr, Any) for attr, rf in table.items()}


def _model_in(hint: Any) -> tuple[str, Any]:
    """("model"|"list"|"dict"|"scalar", inner) of a field's annotation."""
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if origin is typing.Union:
        for arg in args:
            kind, inner = _model_in(arg)
            if kind != "scalar":
                return kind, inner
        return "scalar", None
    if origin in (list, typing.List):  # noqa: UP006
        return "list", args[0] if args else Any
    if origin in (dict, typing.Dict):  # noqa: UP006
        return "dict", args[1] if len(args) > 1 else Any
    if isinstance(hint, type) and hint.__module__ == models._models.__name__:
        return "model", hint
    return "scalar", None


def unknown_fields(model: type, body: Any, path: str = "") -> list[str]:
    """The JSON paths of ``body``'s keys that ``model`` does not have."""
    if not isinstance(body, dict):
        return []
    fields = _fields(model)
    problems = []
    for key, value in body.items():
        where = f"{path}.{key}" if path else key
        if key not in fields:
            problems.append(f"{where} (not a field of {model.__name__})")
            continue
        kind, inner = _model_in(fields[key])
        if kind == "model":
            problems += unknown_fields(inner, value, where)
        elif kind == "list" and isinstance(value, list):
            item_kind, item = _model_in(inner)
            if item_kind == "model":
                for index, entry in enumerate(value):
                    problems += unknown_fields(item, entry, f"{where}[{index}]")
    return problems


def body_problems(requests: list[Any]) -> list[str]:
    """Every unknown field in the bodies of ``requests`` (the ARM double's recorded requests)."""
    found = []
    for request in requests:
        if not isinstance(request.body, dict):
            continue
        model = model_for(request.method, request.path)
        if model is None:
            continue
        found += [f"{request.method} {request.path}: {p}" for p in unknown_fields(model, request.body)]
    return found


#: The Compute API versions the tool relies on (azure-mgmt-compute 39.x), by resource kind;
#: docs/registration.md says the same. A new client version that moves one is a change to review.
API_VERSIONS = {
    "images": "2026-04-01",
    "virtualMachines": "2026-04-01",
    "galleries": "2026-03-03",
    "disks": "2026-03-02",
}


def api_version_problems(requests: list[Any]) -> list[str]:
    """Requests to a Compute resource sent with another API version than :data:`API_VERSIONS`."""
    found = []
    for request in requests:
        match = re.search(r"/providers/Microsoft\.Compute/(?P<kind>[^/]+)/", request.path + "/", re.I)
        if not match or match["kind"] not in API_VERSIONS:
            continue
        sent = (request.query.get("api-version") or [None])[0]
        if sent != API_VERSIONS[match["kind"]]:
            found.append(f"{request.method} {request.path}: api-version {sent}, expected {API_VERSIONS[match['kind']]}")
    return found
