"""What a gallery image definition promises (its ``features`` and ``architecture``) and whether
the OS disk can keep the promise.

A definition's features cannot be changed once it exists, and a VM is refused at creation when
its size or security type asks for what the definition does not promise. So a new definition
says what the disk can do (read from inside it: :class:`vhdupload.guest.Capabilities`), and an
existing one that promises more than the disk can do is refused before anything is sent.

The feature names and values are the ones the az CLI's ``sig image-definition create
--features`` writes (``SecurityType=TrustedLaunchSupported``, ``DiskControllerTypes=SCSI,NVMe``,
``IsAcceleratedNetworkSupported=True``). A Generation 2 definition defaults to
``TrustedLaunchSupported``, the default the portal, PowerShell and the az CLI moved to
(Azure/azure-cli#28557, "Make Gen2 + TrustedLaunchSupported as Default options for SIG image
definition").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError
from ..guest import Capabilities
from .bodies import Body

#: ``SecurityType`` values a gallery image definition takes (GalleryImageFeature in the Compute API).
SECURITY_TYPES = {
    s.lower(): s
    for s in (
        "Standard", "TrustedLaunch", "TrustedLaunchSupported", "ConfidentialVM", "ConfidentialVmSupported",
        "TrustedLaunchAndConfidentialVmSupported",
    )
}
#: Security types only a Generation 2 (UEFI) disk can give: Trusted Launch is secure boot + vTPM,
#: Confidential VMs are Generation 2 only.
NEEDS_GENERATION_2 = frozenset(v for v in SECURITY_TYPES.values() if v != "Standard")
#: Confidential VMs run on AMD SEV-SNP / Intel TDX hosts: x64 only.
CONFIDENTIAL = frozenset(("ConfidentialVM", "ConfidentialVmSupported", "TrustedLaunchAndConfidentialVmSupported"))

SECURITY_TYPE = "SecurityType"
DISK_CONTROLLER_TYPES = "DiskControllerTypes"
ACCELERATED_NETWORK = "IsAcceleratedNetworkSupported"


def security_type(value: str | None) -> str | None:
    """A definition's security type as ARM spells it, or None when not given."""
    if value is None or not value.strip():
        return None
    found = SECURITY_TYPES.get(value.strip().lower())
    if found is None:
        raise InputError(f"security type {value!r} is not one of {', '.join(SECURITY_TYPES.values())}")
    return found


def default_security_type(generation: str | None) -> str | None:
    """What a new definition says when nobody chose: Trusted Launch supported on Generation 2
    (what Azure gives a new VM by default), nothing on Generation 1 (which cannot give it)."""
    return "TrustedLaunchSupported" if generation == "V2" else None


def check_security(security: str | None, *, generation: str | None, architecture: str | None) -> None:
    """Refuse a security type that the disk's generation or architecture cannot give."""
    if security in NEEDS_GENERATION_2 and generation == "V1":
        raise InputError(
            f"security type {security} needs a Generation 2 (UEFI) OS disk, but this disk is Generation 1: "
            "choose security type Standard, or build the image for UEFI boot (Generation 2)"
        )
    if security in CONFIDENTIAL and (architecture or "").lower() == "arm64":
        raise InputError(
            f"security type {security} is for Confidential VMs, which are x64 only, but the OS disk is Arm64: "
            "choose TrustedLaunchSupported or Standard"
        )


@dataclass
class DefinitionPromises:
    """The features of an image definition (names case-insensitive), read or to be written."""

    features: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, properties: Body) -> "DefinitionPromises":
        found: dict[str, str] = {}
        for item in properties.get("features") or []:
            if isinstance(item, dict) and item.get("name"):
                found[str(item["name"]).lower()] = str(item.get("value") or "")
        return cls(found)

    def get(self, name: str) -> str | None:
        return self.features.get(name.lower())

    @property
    def security_type(self) -> str:
        """``Standard`` for a definition that says nothing (ARM's meaning of no SecurityType)."""
        return self.get(SECURITY_TYPE) or "Standard"

    @property
    def nvme(self) -> bool:
        return "nvme" in (self.get(DISK_CONTROLLER_TYPES) or "").lower()

    @property
    def accelerated_network(self) -> bool:
        return (self.get(ACCELERATED_NETWORK) or "").strip().lower() == "true"


def new_definition_features(*, security: str | None, capabilities: Capabilities | None) -> list[Body]:
    """The ``features`` of a definition created for this disk: its security type and what was
    found inside (a capability that could not be read is left out: Azure then assumes SCSI and
    no accelerated networking, the safe side)."""
    features: list[Body] = []
    if security is not None:
        features.append({"name": SECURITY_TYPE, "value": security})
    if capabilities is not None and capabilities.disk_controller_types:
        features.append({"name": DISK_CONTROLLER_TYPES, "value": ", ".join(capabilities.disk_controller_types)})
    if capabilities is not None and capabilities.accelerated_network is not None:
        features.append({"name": ACCELERATED_NETWORK, "value": str(capabilities.accelerated_network)})
    return features


def check_existing_definition(
    name: str, properties: Body, *, capabilities: Capabilities | None, generation: str | None,
    security_wanted: str | None,
) -> list[str]:
    """Refuse an existing definition that promises what the disk cannot do; return warnings for
    promises that only cost performance."""
    promises = DefinitionPromises.read(properties)
    if security_wanted is not None and security_wanted != promises.security_type:
        raise InputError(
            f"the image definition {name} has security type {promises.security_type}, not {security_wanted} "
            "(a definition's features cannot change): use it as it is, or another definition name to create one"
        )
    if promises.security_type in NEEDS_GENERATION_2 and generation == "V1":
        raise InputError(
            f"the image definition {name} promises security type {promises.security_type}, which needs a "
            "Generation 2 OS disk, but this disk is Generation 1: use a definition with security type Standard"
        )
    controllers = capabilities.disk_controller_types if capabilities is not None else None
    if promises.nvme and controllers is not None and "NVMe" not in controllers:
        raise InputError(
            f"the image definition {name} promises NVMe ({DISK_CONTROLLER_TYPES}={promises.get(DISK_CONTROLLER_TYPES)}), "
            "but the OS disk has no NVMe driver: a VM size with an NVMe controller would not boot; add the nvme "
            "driver to the image (Linux: the nvme module in the initramfs; Windows: stornvme), or use a definition "
            "without NVMe"
        )
    warnings = []
    accelerated = capabilities.accelerated_network if capabilities is not None else None
    if promises.accelerated_network and accelerated is False:
        warnings.append(
            f"the image definition {name} says accelerated networking is supported, but the OS disk has no "
            "Mellanox (mlx4/mlx5) or MANA driver: VMs made from it will have no network on an accelerated NIC"
        )
    return warnings
