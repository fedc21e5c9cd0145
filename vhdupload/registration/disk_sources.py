"""Managed disks as registration sources: recognising their resource IDs, and their pre-flight.

A source given as ``/subscriptions/…/resourceGroups/…/providers/Microsoft.Compute/disks/NAME``
is a managed disk: an image references it as ``managedDisk.id``, a gallery version as
``source.id``. Its pre-flight reads the disk resource through ARM (one GET, nothing granted):
it must exist and be ``Unattached`` (``ReadyToUpload``/``ActiveUpload`` is an unfinished
upload), and its recorded ``osType``/``hyperVGeneration`` must agree with what is asked.

The guest check of an OS disk (:func:`source_guest`) takes the verdict vhdupload recorded in the
disk's ``vhdupload_guest`` tag at upload; a disk uploaded by another tool (or whose tag is
corrupt: "unknown") is read through a Read grant, the few MB the file systems' metadata take, and
the grant is revoked after, whatever happens.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobClient

from ..errors import InputError, PreflightError, VhdUploadError
from ..azure.arm import arm_errors
from ..azure.credentials import client_options
from ..destinations.disk_arm import DiskArm
from ..destinations.disk_verdict import KEY_GUEST, Verdict
from ..guest import GuestReport, examine_blob
from ..guest.generation import GenerationChoice, normalize_generation
from ..guest.report import Capabilities
from .blobs import BlobReader
from .guest_check import GuestCheck, check_guest, judge_guest

log = logging.getLogger("vhdupload.registration")

#: How long the Read grant of a guest check lasts (it is revoked as soon as the check ends).
_READ_GRANT_SECONDS = 600

_DISK_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/disks/(?P<name>[^/?#]+)/?$",
    re.I,
)


def is_disk_id(text: str | None) -> bool:
    """Whether ``text`` is a managed disk's resource ID (not a blob URL)."""
    return text is not None and _DISK_ID.match(text.strip()) is not None


def split_disk_id(disk_id: str) -> tuple[str, str, str]:
    """``(subscription, resource group, name)`` of a managed disk ID."""
    match = _DISK_ID.match(disk_id.strip())
    if not match:
        raise InputError(
            f"{disk_id!r} is not a managed disk ID like "
            "/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Compute/disks/NAME"
        )
    return match["sub"], match["rg"], match["name"]


@dataclass(frozen=True)
class DiskCheck:
    """What pre-flight learnt about one managed disk that passed."""

    id: str
    role: str  # "os" | "data"
    disk_state: str
    size_bytes: int | None
    os_type: str | None  # "Linux" | "Windows" as the disk records it, or None
    hyper_v_generation: str | None  # "V1" | "V2" as the disk records it, or None
    guest_tag: str | None = None  # the vhdupload_guest tag, verbatim (parsed strictly when used)
    entra_only: bool = False  # dataAccessAuthMode AzureActiveDirectory: reading it needs a token

    @property
    def name(self) -> str:
        return split_disk_id(self.id)[2]


def _field(model: Any, name: str) -> Any:
    value = getattr(model, name, None)
    return getattr(value, "value", value)  # an enum member, or the plain string


def check_managed_disk(compute_client: Any, disk_id: str, *, role: str, subscription_id: str | None = None) -> DiskCheck:
    """Read the managed disk ``disk_id`` through ARM; raise :class:`PreflightError` when Azure
    could not make an image from it, saying what to do."""
    sub, rg, name = split_disk_id(disk_id)
    if compute_client is None:
        raise InputError(f"pre-flight of the managed disk {name} reads it through ARM: give a compute client, or skip the pre-flight")
    if subscription_id and sub.lower() != subscription_id.lower():
        raise PreflightError(
            f"the managed disk {name} is in subscription {sub}, not {subscription_id}: register from the "
            "disk's own subscription, or skip the pre-flight"
        )
    with arm_errors(f"read the managed disk {name}"):
        try:
            disk = compute_client.disks.get(rg, name)
        except ResourceNotFoundError:
            raise PreflightError(
                f"the managed disk {name} does not exist in resource group {rg}: upload it first "
                "(`vhdupload upload --managed-disk`), or check the ID"
            ) from None
    state = str(_field(disk, "disk_state") or "")
    if state in ("ReadyToUpload", "ActiveUpload"):
        raise PreflightError(
            f"the managed disk {name} is {state}: its upload is not finished; run the same upload again "
            "to finish it, then register"
        )
    if state.lower() != "unattached":
        raise PreflightError(
            f"the managed disk {name} is {state or 'in an unknown state'}, and an image is made from an "
            "Unattached disk only: detach it (or delete the VM that holds it) first"
        )
    os_type = _field(disk, "os_type")
    generation = _field(disk, "hyper_v_generation")
    tags = getattr(disk, "tags", None) or {}
    tag = next((str(v) for k, v in tags.items() if str(k).lower() == KEY_GUEST), None)
    mode = str(_field(disk, "data_access_auth_mode") or "")
    return DiskCheck(
        id=disk_id.strip(), role=role, disk_state=state, size_bytes=getattr(disk, "disk_size_bytes", None),
        os_type=str(os_type).capitalize() if os_type else None,
        hyper_v_generation=str(generation).upper() if generation else None,
        guest_tag=tag, entra_only=mode.lower() == "azureactivedirectory",
    )


def source_guest(reader: BlobReader | None, checks: list[Any], compute_client: Any, *, os_state: str | None,
                 skip: bool) -> GuestCheck:
    """The guest check of the OS disk: its blob read now (``reader``), or a managed disk's
    verdict recorded at upload, or (another tool's disk) the disk read through a Read grant."""
    if reader is not None:
        return check_guest(reader, os_state=os_state, skip=skip)
    check = next((c for c in checks if isinstance(c, DiskCheck) and c.role == "os"), None)
    if check is None:
        return GuestCheck()
    verdict = Verdict.from_tag(check.guest_tag)
    warnings: list[str] = []
    if check.guest_tag is not None and verdict is None:
        warnings.append(f"the managed disk {check.name}'s {KEY_GUEST} tag is not one vhdupload wrote: taken as unknown")
    if verdict is not None:
        report = _recorded_report(verdict)
        where = f"the managed disk {check.name} (as vhdupload's guest check found it at upload)"
    elif skip:
        return GuestCheck(warnings=warnings)
    else:
        found = _read_guest(compute_client, check, warnings)
        if found is None:
            return GuestCheck(warnings=warnings)
        report, where = found, f"the managed disk {check.name}"
    guest = judge_guest(report, where=where, os_state=os_state, skip=skip)
    guest.warnings[:0] = warnings
    return guest


def _recorded_report(verdict: Verdict) -> GuestReport:
    report = GuestReport(
        os_type=verdict.os_type, architecture=verdict.architecture, generalized=verdict.generalized,
        os_name={"linux": "Linux", "windows": "Windows"}.get(verdict.os_type or "", None),
        capabilities=Capabilities(
            disk_controller_types=list(verdict.disk_controller_types) if verdict.disk_controller_types else None,
            accelerated_network=verdict.accelerated_network),
    )
    report.sign(f"recorded by vhdupload at upload ({KEY_GUEST}: {verdict.describe()})")
    if verdict.generalized is False:
        report.problem("vhdupload's guest check found it not generalized when it was uploaded: generalize the "
                       "system (waagent -deprovision+user, or Sysprep) and upload it again")
    return report


def _read_guest(compute_client: Any, check: DiskCheck, warnings: list[str]) -> GuestReport | None:
    """Examine another tool's OS disk through a Read grant, revoked after; None (with a warning)
    when it cannot be read."""
    if check.entra_only:
        warnings.append(f"the managed disk {check.name} allows data access with an Entra ID token only: the guest "
                        "check did not read it")
        return None
    _, resource_group, name = split_disk_id(check.id)
    arm = DiskArm(compute_client, resource_group=resource_group, name=name)
    try:
        granted = arm.grant("Read", _READ_GRANT_SECONDS)
    except VhdUploadError as exc:
        if getattr(exc, "code", None) == "DryRun":
            warnings.append(f"a dry run grants no access, so the guest check did not read the managed disk {name} "
                            "(the run without --dry-run reads it)")
        else:
            warnings.append(f"the guest check could not read the managed disk {name} ({exc})")
        return None
    try:
        client = BlobClient.from_blob_url(granted.disk, **client_options())
        return examine_blob(BlobReader(client, url=granted.disk))
    finally:
        try:
            arm.revoke()
        except VhdUploadError as exc:
            warnings.append(f"the Read grant of the managed disk {name} could not be revoked ({exc}): revoke it "
                            f"with `az disk revoke-access --resource-group {resource_group} --name {name}`")


def check_os_type(check: DiskCheck, wanted: str | None) -> str | None:
    """The OS type to register: ``wanted`` ("Linux"/"Windows"), refused if the disk records
    another; the disk's own when nothing is wanted."""
    if wanted and check.os_type and wanted.lower() != check.os_type.lower():
        raise PreflightError(
            f"the managed disk {check.name} is a {check.os_type} OS disk, not {wanted}: "
            f"pass --os-type {check.os_type.lower()}, or use the right disk"
        )
    return wanted or check.os_type


def disk_generation(requested: str | None, check: DiskCheck) -> GenerationChoice:
    """The Hyper-V generation for an image of this OS disk: ``auto`` takes the disk's own; an
    explicit one must agree with it."""
    requested = normalize_generation(requested)
    recorded = check.hyper_v_generation
    if requested is None:
        return GenerationChoice(None)
    if requested == "auto":
        if recorded:
            return GenerationChoice(recorded, notes=[f"Hyper-V generation {recorded}: the managed disk {check.name} records it"])
        return GenerationChoice(None, notes=[
            f"the managed disk {check.name} records no Hyper-V generation: Azure's default (V1) applies; "
            "pass --hyper-v-generation V2 for a UEFI disk"
        ])
    if recorded and recorded != requested:
        raise PreflightError(
            f"the managed disk {check.name} is Hyper-V generation {recorded}, not {requested} as asked: "
            f"pass --hyper-v-generation {recorded} (or auto)"
        )
    return GenerationChoice(requested)
