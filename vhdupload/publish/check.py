"""Step 1 of a publish: open and check every disk locally, before anything remote happens.

Each disk gets the layout its destination takes (what ``upload`` would refuse is refused here),
the OS disk its Hyper-V generation (from its partition table unless the manifest pins it) and,
for a generalized image, a look inside (:mod:`vhdupload.guest`). Every problem of every disk is
collected, so one run names them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..blob_image import BlobImage, blob_image
from ..destinations.disk_layout import managed_disk_image
from ..destinations.disk_security import SecurityData, check_security, companions, security_type
from ..endpoints import open_source
from ..virtual_disk import VirtualDisk
from ..guest import GuestReport, choose_os_type, examine, readers_missing, require_generalized
from ..registration.prepare import refuse_arm64_image
from ..errors import NotGeneralizedError, PublishCheckError, VhdUploadError
from ..guest.generation import detect_generation
from ..azure_rules import OS_DISK_MAX_VIRTUAL_SIZE, format_size
from .plan import DiskSource, PublishPlan


@dataclass
class CheckedDisk:
    """A disk that passed: what it makes and what is known of it."""

    index: int
    source: DiskSource
    path: Path  # resolved
    virtual_size: int
    upload_size: int  # the blob or managed disk, footer included
    allocated: int  # bytes the source may hold data in (an upper bound of what is sent)
    generation: str | None = None  # the OS disk's
    os_name: str | None = None
    report: GuestReport | None = None  # what the guest check read inside the OS disk
    os_type: str | None = None  # the OS disk's, as found inside ("Linux", "Windows"), None if unknown
    as_is: bool = False  # the file is what Azure takes (a fixed VHD of a whole MiB): az can send it unconverted
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_disks(plan: PublishPlan, *, skip_guest_check: bool = False) -> list[CheckedDisk]:
    """Check every disk of ``plan``; raises :class:`PublishCheckError` listing every problem."""
    problems: list[str] = []
    checked: list[CheckedDisk] = []
    for index, disk in enumerate(plan.disks):
        label = plan.label(index)
        try:
            checked.append(_check(plan, index, disk, skip_guest_check=skip_guest_check))
        except VhdUploadError as exc:
            problems.append(f"{label}: {exc}")
    if problems:
        raise PublishCheckError(problems)
    return checked


def _check(plan: PublishPlan, index: int, disk: DiskSource, *, skip_guest_check: bool) -> CheckedDisk:
    path = plan.resolved(disk)
    source = open_source(path)
    try:
        image = (managed_disk_image(source, resize=True) if plan.storage.managed_disks
                 else blob_image(source, resize=True))
        result = CheckedDisk(index=index, source=disk, path=path, virtual_size=source.virtual_size,
                             upload_size=image.size, allocated=source.allocated_bytes(),
                             as_is=source.disk_type == "fixed" and path.stat().st_size == image.size)
        if image.resized:
            result.notes.append(f"its size is rounded up to {format_size(image.data_size)}, as Azure wants")
        if disk.role != "os":
            return result
        if image.data_size > OS_DISK_MAX_VIRTUAL_SIZE:
            raise PublishCheckError([
                f"{format_size(image.data_size)} is over the {OS_DISK_MAX_VIRTUAL_SIZE // 1024**3} GiB an OS disk may "
                "have: shrink it, or make it a data disk"
            ])
        result.generation = _generation(plan, image, result)
        _secure(plan, disk, result.generation)
        if not skip_guest_check:
            _guest(plan, source, result)
        elif plan.image.os_type.lower() == "auto":  # not checked, but still read for the OS type
            result.os_type, _ = choose_os_type(None, examine(source))
        return result
    finally:
        source.close()


def _secure(plan: PublishPlan, disk: DiskSource, generation: str) -> None:
    """A guest state (and metadata) is read, and Azure's rules applied, before anything remote."""
    options = plan.security(disk)
    data = SecurityData.of(options.get("vm_guest_state"), options.get("security_metadata"))
    kind = security_type(options.get("security_type"))
    check_security(kind, data)
    if kind and generation != "V2":
        raise PublishCheckError([f"security_type = \"{kind}\" needs a Generation 2 (UEFI) OS disk, but it is "
                                 f"{generation}: drop the security type (and guest state), or give a UEFI disk"])
    for companion in companions(data) if data is not None else []:
        companion.image.disk.close()


def _generation(plan: PublishPlan, image: BlobImage, result: CheckedDisk) -> str:
    requested = plan.image.hyper_v_generation
    detected = detect_generation(lambda offset, n: image.read(offset, max(0, min(n, image.data_size - offset))))
    if requested != "auto":
        if detected.generation and detected.generation != requested:
            result.warnings.append(
                f"hyper_v_generation = \"{requested}\" is set, but the OS disk has {detected.reason}, which means "
                f"{detected.generation}; VMs may not boot"
            )
        return requested
    if detected.generation is None:
        raise PublishCheckError([
            f"cannot tell the Hyper-V generation: the disk has {detected.reason}; set hyper_v_generation = "
            "\"V1\" (BIOS) or \"V2\" (UEFI) in [image]"
        ])
    result.notes.append(f"Hyper-V generation {detected.generation}: the disk has {detected.reason}")
    if detected.note:
        result.notes.append(detected.note)
    return detected.generation


def _guest(plan: PublishPlan, source: VirtualDisk, result: CheckedDisk) -> None:
    """Refuse an OS disk to be published as generalized that clearly is not (issue 13's check)."""
    report = examine(source)
    missing = readers_missing(report)
    if missing:  # nothing was judged: not the same as a "can't tell" from what was read
        raise PublishCheckError([f"{missing}; or skip the guest check (--skip-guest-check)"])
    try:
        result.warnings += require_generalized(report, os_state=plan.image.os_state)
    except NotGeneralizedError as exc:
        raise NotGeneralizedError(f"{exc}; or, if you are sure, skip this check (--skip-guest-check)",
                                  problems=exc.problems) from None
    found, _ = choose_os_type(None, report)
    result.os_type = found
    if found and plan.image.os_type.lower() not in ("auto", found.lower()):
        raise PublishCheckError([f"os_type = \"{plan.image.os_type.lower()}\" is set in [image], but the disk holds "
                                 f"{report.os_name or found} ({found}): set os_type = \"{found.lower()}\""])
    result.os_name = report.os_name
    result.report = report
    if plan.image.kind == "managed-image":
        refuse_arm64_image(report.architecture)  # before anything is uploaded
    if report.os_type:
        result.notes.append(f"inside: {report.os_name or report.os_type} ({report.architecture or 'architecture unknown'}), "
                            f"generalized: {'yes' if report.generalized else 'no' if report.generalized is False else 'cannot tell'}")
