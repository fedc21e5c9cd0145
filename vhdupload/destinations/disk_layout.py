"""What a managed disk receives: its size rules, and for an OS disk what the system inside says
(the OS type when ``auto``, whether it was generalized, the Hyper-V generation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..azure.state import UploadState
from ..blob_image import BlobImage, blob_image
from ..errors import InputError
from ..guest import choose_os_type, examine
from ..guest.generation import detect_generation
from ..guest.report import GuestReport
from .disk_arm import compute_models
from .disk_verdict import Verdict
from ..virtual_disk import VirtualDisk
from ..vhd.footer import FOOTER_SIZE
from ..azure_rules import MANAGED_DISK_MAX_UPLOAD_SIZE, MANAGED_DISK_MIN_UPLOAD_SIZE

if TYPE_CHECKING:
    from .managed_disk import ManagedDisk

MIN_DATA = MANAGED_DISK_MIN_UPLOAD_SIZE - FOOTER_SIZE
MAX_DATA = MANAGED_DISK_MAX_UPLOAD_SIZE - FOOTER_SIZE


def managed_disk_image(disk: VirtualDisk, *, resize: bool) -> BlobImage:
    """The image a managed disk takes: a whole MiB, at least 20 MiB, at most 32,767 GiB."""
    return blob_image(disk, resize=resize, minimum_size=MIN_DATA, maximum_size=MAX_DATA,
                      destination_kind="a managed disk")


@dataclass(frozen=True)
class DiskLayout:
    image: BlobImage
    os_type: str | None = None  # linux or windows for an OS disk ("auto" resolved)
    generation: str | None = None  # V1 or V2 for an OS disk
    notes: list[str] = field(default_factory=list)
    capabilities: Any = None  # azure-mgmt-compute SupportedCapabilities, from the guest report
    verdict: Verdict | None = None  # what the guest check found (recorded in a tag)


def disk_image(spec: ManagedDisk, disk: VirtualDisk, *, resize: bool, state: UploadState | None = None) -> DiskLayout:
    """What uploading ``disk`` into ``spec`` makes: a whole MiB, at least 20 MiB, at most
    32,767 GiB; raises before anything remote happens. With ``state`` (a verify), a raw disk's
    footer is the recorded one and the system inside is not examined again."""
    image = managed_disk_image(disk, resize=resize)
    if state is not None and disk.footer is None:
        image = image.with_footer(footer_uuid=state.footer_uuid_value, footer_timestamp=state.footer_timestamp)
    if state is not None:
        return DiskLayout(image)
    os_type, notes, report = _look_inside(spec, disk)
    generation, generation_notes = _generation(spec, os_type, image)
    notes += generation_notes
    if image.resized and image.data_size == MIN_DATA and disk.virtual_size < MIN_DATA:
        notes.append("padded with zeros to 20 MiB, the smallest managed disk Azure takes")
    verdict = Verdict.of(report, os_type=os_type) if report is not None else None
    return DiskLayout(image, os_type=os_type, generation=generation, notes=notes,
                      capabilities=supported_capabilities(report), verdict=verdict)


def supported_capabilities(report: GuestReport | None) -> Any:
    """The disk's ``supportedCapabilities`` (azure-mgmt-compute's model) from what the guest
    check found, or None when it found none of them: ``architecture`` (x64/Arm64),
    ``diskControllerTypes`` ("SCSI, NVMe" or "SCSI", the comma-and-space list Azure and the az
    CLI's ``--disk-controller-types`` write) and ``acceleratedNetwork``."""
    if report is None:
        return None
    found: dict[str, Any] = {}
    if report.architecture in ("x64", "Arm64"):
        found["architecture"] = report.architecture
    controllers = report.capabilities.disk_controller_types
    if controllers:
        found["disk_controller_types"] = ", ".join(controllers)
    if report.capabilities.accelerated_network is not None:
        found["accelerated_network"] = report.capabilities.accelerated_network
    return compute_models().SupportedCapabilities(**found) if found else None


def _look_inside(spec: ManagedDisk, disk: VirtualDisk) -> tuple[str | None, list[str], GuestReport | None]:
    """For an OS disk, read its file systems (a few MB): the OS type when ``auto``, a conflict
    with the one given, and whether it was generalized (warned of, not refused: an uploaded disk
    may be meant to stay specialized)."""
    if not spec.os_type:
        return None, [], None
    report = examine(disk)
    os_type, notes = choose_os_type(spec.os_type, report)
    if os_type is None:
        raise InputError(
            "the OS inside the disk could not be told (no Linux or Windows system found): give the os type "
            "(linux or windows)"
        )
    if report.generalized is False:
        # The problems name the signs that decided it (a provisioned marker, Sysprep's state...),
        # not the first facts found (an EFI loader, os-release).
        why = "; ".join(report.problems[:2]) or "; ".join(report.signs[:3])
        notes.append(
            f"warning: the {os_type} system inside is not generalized: {why}. Fine for a specialized disk "
            "(attach it, or make a specialized gallery version); generalize it first to make a generalized image"
        )
    return os_type.lower(), notes, report


def _generation(spec: ManagedDisk, os_type: str | None, image: BlobImage) -> tuple[str | None, list[str]]:
    """The Hyper-V generation to record (OS disks only), and a note on how it was chosen."""
    if not os_type:
        return None, []
    if spec.hyper_v_generation != "auto":
        generation = spec.hyper_v_generation
        notes: list[str] = []
    else:
        detected = detect_generation(lambda offset, n: image.read(offset, max(0, min(n, image.data_size - offset))))
        generation = detected.generation or "V1"
        notes = [f"Hyper-V generation {generation}: {detected.reason}" if detected.generation
                 else f"Hyper-V generation V1 (Azure's default): {detected.reason}"]
    if spec.security_type and generation != "V2":
        guest = " with a VM guest state" if spec.security_data is not None else ""
        raise InputError(
            f"{spec.security_type}{guest} needs a Generation 2 (UEFI) disk, but this one is {generation}: "
            "upload without a security type (and guest state), or give a GPT disk with an EFI system partition"
        )
    return generation, notes

