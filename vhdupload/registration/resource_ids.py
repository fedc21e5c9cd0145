"""ARM resource IDs of what registration creates, and taking a VM ID apart."""

from __future__ import annotations

import re

from ..errors import InputError

_COMPUTE = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute"


def image_id(sub: str, rg: str, name: str) -> str:
    return f"{_COMPUTE.format(sub=sub, rg=rg)}/images/{name}"


def gallery_id(sub: str, rg: str, gallery: str) -> str:
    return f"{_COMPUTE.format(sub=sub, rg=rg)}/galleries/{gallery}"


def image_definition_id(sub: str, rg: str, gallery: str, definition: str) -> str:
    return f"{gallery_id(sub, rg, gallery)}/images/{definition}"


def image_version_id(sub: str, rg: str, gallery: str, definition: str, version: str) -> str:
    return f"{image_definition_id(sub, rg, gallery, definition)}/versions/{version}"


def disk_id(sub: str, rg: str, name: str) -> str:
    return f"{_COMPUTE.format(sub=sub, rg=rg)}/disks/{name}"


def vm_id(sub: str, rg: str, name: str) -> str:
    return f"{_COMPUTE.format(sub=sub, rg=rg)}/virtualMachines/{name}"


_VM_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/virtualMachines/(?P<name>[^/]+)/?$",
    re.I,
)


def split_vm(source_vm: str, *, subscription_id: str, resource_group: str) -> tuple[str, str, str]:
    """``(subscription, resource group, name)`` of a VM given by name (in ``resource_group``) or by ID."""
    if "/" not in source_vm:
        return subscription_id, resource_group, source_vm
    match = _VM_ID.match(source_vm)
    if not match:
        raise InputError(
            f"--source-vm {source_vm!r} is neither a VM name nor an ID like "
            "/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/NAME"
        )
    return match["sub"], match["rg"], match["name"]
