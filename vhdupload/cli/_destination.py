"""The one place the CLI turns its options into a destination value: DEST and the storage
options into a :class:`~vhdupload.PageBlob`, or ``--managed-disk`` and the ARM and disk options
into a :class:`~vhdupload.ManagedDisk`. ``upload``, ``verify`` and ``status`` all come here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import typer

from ..destinations import Destination, ManagedDisk, PageBlob
from ._arm_options import arm_connection
from ._storage_options import StorageOptions


@dataclass(frozen=True)
class ArmOptions:
    subscription: str | None = None
    arm_endpoint: str | None = None
    cloud: str | None = None
    audience: str | None = None
    arm_timeout: float | None = None  # --arm-timeout: every long-running operation's deadline


@dataclass(frozen=True)
class DiskOptions:
    """``--managed-disk NAME`` and what goes with it (only ``upload`` uses the disk's details)."""

    name: str
    resource_group: str | None = None
    location: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # sku, zone, os_type... as ManagedDisk takes them


def destination(dest: str | None, *, disk: DiskOptions | None, storage: StorageOptions, arm: ArmOptions,
                blob: dict[str, Any] | None = None, disk_only: list[str] | None = None) -> Destination:
    """The destination the options name. ``blob``: PageBlob's upload options (content_md5,
    lease_seconds). ``disk_only``: the managed-disk options given (``--resource-group``...):
    without ``--managed-disk`` they are a usage error, not silently a blob upload."""
    if disk is None and disk_only:
        flag = disk_only[0]
        raise typer.BadParameter(
            f"{flag} applies to a managed disk: add --managed-disk NAME (or drop {flag} to use the blob DEST)",
            param_hint=flag,
        )
    if disk is not None:
        if dest is not None:
            raise typer.BadParameter("give either DEST or --managed-disk, not both", param_hint="DEST")
        used = storage.given()
        if used:
            raise typer.BadParameter("storage options do not apply to --managed-disk (ARM grants the access)",
                                     param_hint="--" + used[0].replace("_", "-"))
        resource_group = _required(disk.resource_group, "--resource-group")  # before signing in
        connection = arm_connection(arm.subscription, arm.arm_endpoint, arm.cloud, arm.audience, arm_timeout=arm.arm_timeout)
        return ManagedDisk(disk.name, resource_group=resource_group, arm=connection, location=disk.location,
                           **disk.details)
    if dest is None:
        raise typer.BadParameter("give DEST (a blob URL or CONTAINER/NAME), or --managed-disk NAME", param_hint="DEST")

    return PageBlob.from_client_factory(lambda options: storage.resolving(dest, options), name=dest, **(blob or {}))


def _required(value: str | None, flag: str) -> str:
    if not value:
        raise typer.BadParameter(f"{flag} is needed with --managed-disk", param_hint=flag)
    return value


def given(**flags: Any) -> list[str]:
    """The flags among ``flags`` (``resource_group=value``...) that were given, as ``--resource-group``."""
    return ["--" + name.replace("_", "-") for name, value in flags.items() if value not in (None, False, [], "")]
