"""A managed disk as the destination (Azure's direct upload): the value that names it.

Lifecycle of an upload: create (``createOption: Upload``, or ``UploadPreparedSecure`` with a VM
guest state: :mod:`.disk_security`) -> ``ReadyToUpload``; grant Write -> ``ActiveUpload``; the
footer page last (then the guest state); tags marked complete; revoke -> ``Unattached``.
Revoking checks the footer, so a failed upload is never revoked: the disk stays
``ActiveUpload`` and a rerun continues it. How: :mod:`.disk_session`.
"""

from __future__ import annotations

import threading
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

from ..azure.arm import ArmConnection
from ..azure.state import PREFIX
from ..azure.resource_names import check_names
from ..errors import InputError
from ..keywords import refuse_unknown_keywords
from ..transfer.settings import TransferSettings
from .disk_arm import az_delete_command
from .disk_security import SecurityData, check_security, security_type
from .disk_session import ManagedDiskSession

SKUS = ("Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "StandardSSD_ZRS", "Premium_ZRS", "PremiumV2_LRS", "UltraSSD_LRS")

__all__ = ["SKUS", "ManagedDisk", "az_delete_command"]


@refuse_unknown_keywords
@dataclass(frozen=True)
class ManagedDisk:
    """A managed disk: the destination of an upload straight into a disk (made, or continued).

    :param name: the disk's name.
    :param resource_group: its resource group.
    :param arm: how to reach Azure Resource Manager (:class:`vhdupload.ArmConnection`); its
        credential also signs the data requests of an Entra-ID-only disk.
    :param location: its Azure region, e.g. ``westeurope``; needed only to create it.
    :param sku: its storage type (``Standard_LRS``, ``Premium_LRS``...); Azure's default when None.
    :param zone: an availability zone (``"1"``), or None.
    :param os_type: ``linux`` or ``windows`` for an OS disk, or ``auto`` to take what the disk
        holds; None for a data disk.
    :param hyper_v_generation: ``V1`` or ``V2`` (OS disks only), or ``auto`` to read it from the
        partition table (GPT with an EFI system partition means V2).
    :param security_type: ``TrustedLaunch`` or a ``ConfidentialVM_*`` type (Generation 2 only;
        a Confidential VM type needs ``vm_guest_state``), or None.
    :param vm_guest_state: the VM guest state file (VMGS, a VHD) to upload with the OS disk: the
        disk is then created ``UploadPreparedSecure`` and the file sent to its guest-state URL;
        None for a plain upload.
    :param security_metadata: a Confidential VM disk's security metadata file (a VHD), sent beside
        the guest state where the disk takes one; None otherwise.
    :param data_access_auth_mode: ``AzureActiveDirectory`` to require an Entra ID token for
        data access (the upload then sends one with each request), or None.
    :param tags: the user's own tags (the upload adds its ``vhdupload_*`` tags beside them).
    :param delete_on_failure: delete the disk when an upload fails, if that very upload created
        it (never on a cancel: a rerun continues it).
    """

    name: str
    _: KW_ONLY
    resource_group: str
    arm: ArmConnection
    location: str | None = None
    sku: str | None = None
    zone: str | None = None
    os_type: str | None = None
    hyper_v_generation: str = "auto"
    security_type: str | None = None
    vm_guest_state: Path | None = None
    security_metadata: Path | None = None
    data_access_auth_mode: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    delete_on_failure: bool = False

    def __post_init__(self) -> None:
        if not self.name or not self.resource_group:
            raise InputError("a managed disk needs a name and a resource group")
        check_names(("managed disk", self.name), ("resource group", self.resource_group))  # before any request
        if not isinstance(self.arm, ArmConnection):
            raise InputError("a managed disk's arm must be a vhdupload.ArmConnection")
        normal = {
            "sku": _sku(self.sku),
            "os_type": _os_type(self.os_type),
            "hyper_v_generation": _generation(self.hyper_v_generation),
            "security_type": security_type(self.security_type),
            "data_access_auth_mode": _auth_mode(self.data_access_auth_mode),
            "tags": dict(self.tags),
        }
        for key, value in normal.items():
            object.__setattr__(self, key, value)  # frozen: normalised once, here
        for key in self.tags:
            if key.lower().startswith(PREFIX):
                raise InputError(f"tag {key!r}: names starting with {PREFIX} are vhdupload's own")
        security_data = SecurityData.of(self.vm_guest_state, self.security_metadata)
        if security_data is not None:
            object.__setattr__(self, "vm_guest_state", security_data.vm_guest_state)
            object.__setattr__(self, "security_metadata", security_data.metadata)
        check_security(self.security_type, security_data)
        if self.security_type and not self.os_type:
            raise InputError(f"a {self.security_type} disk is an OS disk: give its os type (linux or windows)")
        if self.security_type and self.hyper_v_generation == "V1":
            raise InputError(f"{self.security_type} needs a Generation 2 (UEFI) disk, not V1: give V2 (or auto)")
        if self.data_access_auth_mode and self.arm.credential is None:
            raise InputError("a disk with Entra-ID-only data access needs a credential to sign the upload")

    @property
    def security_data(self) -> SecurityData | None:
        """The guest state (and metadata) to upload with the disk, or None."""
        return SecurityData.of(self.vm_guest_state, self.security_metadata)

    @property
    def entra_only(self) -> bool:
        return self.data_access_auth_mode is not None

    def describe(self) -> str:
        return f"managed disk {self.name} (resource group {self.resource_group})"

    def open(self, *, settings: TransferSettings, cancel: threading.Event) -> ManagedDiskSession:
        return ManagedDiskSession(self, compute=self.arm.compute(), settings=settings, cancel=cancel)


def _sku(sku: str | None) -> str | None:
    if sku is None:
        return None
    match = [s for s in SKUS if s.lower() == sku.lower()]
    if not match:
        raise InputError(f"disk SKU {sku!r} is not one of {', '.join(SKUS)}")
    return match[0]


def _os_type(os_type: str | None) -> str | None:
    value = os_type.lower() if os_type else None
    if value not in (None, "linux", "windows", "auto"):
        raise InputError(f"os type {os_type!r} must be linux, windows or auto")
    return value


def _generation(generation: str | None) -> str:
    value = (generation or "auto").upper()
    if value not in ("AUTO", "V1", "V2"):
        raise InputError(f"Hyper-V generation {generation!r} must be auto, V1 or V2")
    return "auto" if value == "AUTO" else value


def _auth_mode(mode: str | None) -> str | None:
    if mode is None or mode.lower() == "none":
        return None
    if mode.lower() == "azureactivedirectory":
        return "AzureActiveDirectory"
    raise InputError(f"data access auth mode {mode!r} must be AzureActiveDirectory or None")
