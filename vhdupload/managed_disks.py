"""Managed disks by direct upload: ``upload_to_managed_disk``, ``verify_managed_disk`` and
``managed_disk_status`` (the page-blob entries' counterparts; see
:mod:`vhdupload.destinations.managed_disk` for how the disk endpoint differs from a blob)."""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import asdict, dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any

from .status import canonical_uuid
from .azure.lease import DEFAULT_WAIT_TIMEOUT
from .azure.state import UploadState, source_identity, stat_token
from .blob_image import BlobImage, blob_image
from .destinations.managed_disk import ManagedDiskDestination, ManagedDiskSpec, az_delete_command
from .endpoints import open_source, package_errors
from .errors import InputError, StorageError
from .guest import choose_os_type, examine
from .registration.arm import make_compute_client
from .registration.generation import detect_generation
from .transfer import TransferSettings
from .transfer.progress import ProgressCallback
from .transfer.settings import DEFAULT_MAX_RETRIES, DEFAULT_THREADS
from .upload import UploadResult, _Session
from .verify import VerifyResult, _compare
from .vhd.limits import MANAGED_DISK_MAX_UPLOAD_SIZE, MANAGED_DISK_MIN_UPLOAD_SIZE
from .vhd.footer import FOOTER_SIZE

if TYPE_CHECKING:
    from azure.mgmt.compute import ComputeManagementClient

_MIN_DATA = MANAGED_DISK_MIN_UPLOAD_SIZE - FOOTER_SIZE
_MAX_DATA = MANAGED_DISK_MAX_UPLOAD_SIZE - FOOTER_SIZE


def managed_disk_image(disk: Any, *, resize: bool, state: UploadState | None = None) -> BlobImage:
    """The layout a managed disk takes: a whole MiB, at least 20 MiB, at most 32,767 GiB."""
    image = blob_image(disk, resize=resize, minimum_size=_MIN_DATA, maximum_size=_MAX_DATA,
                       destination_kind="a managed disk")
    if state is not None and disk.footer is None:
        image = image.with_footer(footer_uuid=state.footer_uuid_value, footer_timestamp=state.footer_timestamp)
    return image


def compute_client_for(
    compute_client: Any, *, credential: Any, subscription_id: str | None, arm_endpoint: str | None,
    cloud: str | None, audience: str | None,
) -> Any:
    if compute_client is not None:
        return compute_client
    if credential is None:
        raise InputError("give a compute_client, or a credential and a subscription_id to build one")
    return make_compute_client(credential=credential, subscription_id=subscription_id or "",
                               arm_endpoint=arm_endpoint, cloud=cloud, audience=audience)


def _look_inside(spec: ManagedDiskSpec, disk: Any) -> tuple[ManagedDiskSpec, list[str]]:
    """For an OS disk, read its file systems (a few MB): the OS type when ``auto``, a conflict
    with the one given, and whether it was generalized (told, not refused: an uploaded disk may
    be meant to stay specialized)."""
    if not spec.os_type:
        return spec, []
    report = examine(disk)
    os_type, notes = choose_os_type(spec.os_type, report)
    if os_type is None:
        raise InputError(
            "the OS inside the disk could not be told (no Linux or Windows system found): give the os type "
            "(linux or windows)"
        )
    if report.generalized is False:
        signs = "; ".join(report.signs[:3])
        notes.append(
            f"the {os_type} system inside is not generalized ({signs}): fine for a specialized disk; generalize "
            "it first to make an image from it"
        )
    return dataclasses.replace(spec, os_type=os_type.lower()), notes


def _generation(spec: ManagedDiskSpec, image: BlobImage) -> tuple[str | None, list[str]]:
    """The Hyper-V generation to record (OS disks only), and a note on how it was chosen."""
    if not spec.os_type:
        if spec.security_type:
            raise InputError("a TrustedLaunch disk is an OS disk: give its os type (linux or windows)")
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
        raise InputError(
            f"TrustedLaunch needs a Generation 2 (UEFI) disk, but this one is {generation}: "
            "upload without a security type, or give a GPT disk with an EFI system partition"
        )
    return generation, notes


@package_errors("the upload")
def upload_to_managed_disk(
    source: "str | PathLike[str]",
    disk: ManagedDiskSpec,
    *,
    compute_client: "ComputeManagementClient | None" = None,
    credential: Any = None,
    subscription_id: str | None = None,
    arm_endpoint: str | None = None,
    cloud: str | None = None,
    audience: str | None = None,
    raw: bool = False,
    resize: bool = True,
    overwrite: bool = False,
    wait: bool = False,
    delete_on_failure: bool = False,
    settings: TransferSettings | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    trust_stat: bool = False,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
) -> UploadResult:
    """Upload ``source`` straight into the managed disk ``disk`` (created, or continued).

    :param source: the VHD (fixed, dynamic, differencing) or, with ``raw``, raw image.
    :param disk: what disk to make (:class:`ManagedDiskSpec`).
    :param compute_client: a ready ``azure.mgmt.compute.ComputeManagementClient``; else one is
        built from ``credential``, ``subscription_id`` and ``arm_endpoint``/``cloud``/``audience``.
    :param credential: an Entra ID ``TokenCredential``; also signs each Put Page (audience
        ``https://disk.azure.com``) when the disk's data access is Entra-ID-only.
    :param raw: ``source`` is a raw image.
    :param resize: round a size that is not a whole MiB (or below 20 MiB) up with zeros; with
        False such a size is refused.
    :param overwrite: replace a disk of that name that holds something else (only an
        unattached one is ever replaced).
    :param wait: wait for another upload writing to the disk instead of refusing.
    :param delete_on_failure: delete the disk on failure, if this call created it.
    :param settings: how the data travels (:class:`vhdupload.TransferSettings`: threads,
        retries, timeout, bandwidth cap, zero-gap merging); its defaults when None.
    :param progress: called with :class:`vhdupload.Progress` snapshots from worker threads.
    :param cancel: set it to stop; the disk is left for a later call to continue.
    :param wait_timeout: seconds ``wait`` waits for another writer before giving up.
    :param trust_stat: take a finished disk as this source's when the very same file is
        unmodified (size, mtime, inode), without recomputing its CRC64.
    :returns: an :class:`vhdupload.UploadResult` whose ``disk_id`` and ``disk_state`` name the disk.
    """
    started = time.monotonic()
    settings = settings or TransferSettings()
    spec = disk.validated()
    cancel = cancel or threading.Event()
    source_disk = open_source(source, raw=raw)
    try:
        stats_before = stat_token(source_disk.fingerprint_files())
        image = managed_disk_image(source_disk, resize=resize)  # refuses before anything remote happens
        spec, notes = _look_inside(spec, source_disk)
        generation, generation_notes = _generation(spec, image)
        notes += generation_notes
        if image.resized and image.data_size == _MIN_DATA and source_disk.virtual_size < _MIN_DATA:
            notes.append("padded with zeros to 20 MiB, the smallest managed disk Azure takes")
        identity = source_identity(source_disk)
        compute = compute_client_for(compute_client, credential=credential, subscription_id=subscription_id,
                                     arm_endpoint=arm_endpoint, cloud=cloud, audience=audience)
        if spec.data_access_auth_mode and credential is None:
            raise InputError("a disk with Entra-ID-only data access needs a credential to sign the upload")
        dest = ManagedDiskDestination(
            compute, spec, generation=generation, threads=settings.pool_threads, timeout=settings.timeout,
            max_retries=settings.max_retries, cancel=cancel, delete_on_failure=delete_on_failure,
            data_credential=credential,
        )
        dest.notes.extend(notes)
        session = _Session(dest=dest, image=image, identity=identity, settings=settings, cancel=cancel,
                           overwrite=overwrite, wait=wait, stats=stats_before, trust_stat=trust_stat,
                           wait_timeout=wait_timeout)
        return session.run(progress=progress, content_md5=False, started=started)
    finally:
        source_disk.close()


@package_errors("verifying")
def verify_managed_disk(
    source: "str | PathLike[str]",
    *,
    disk_name: str,
    resource_group: str,
    compute_client: "ComputeManagementClient | None" = None,
    credential: Any = None,
    subscription_id: str | None = None,
    arm_endpoint: str | None = None,
    cloud: str | None = None,
    audience: str | None = None,
    raw: bool = False,
    resize: bool = True,
    settings: TransferSettings | None = None,
    cancel: threading.Event | None = None,
) -> VerifyResult:
    """Compare a finished managed disk with ``source`` without downloading zeros.

    Read access is granted for the comparison and revoked afterwards. Parameters as for
    :func:`upload_to_managed_disk`; ``disk_name``/``resource_group`` name the disk.
    """
    started = time.monotonic()
    settings = settings or TransferSettings()
    threads = settings.threads or DEFAULT_THREADS
    cancel = cancel or threading.Event()
    compute = compute_client_for(compute_client, credential=credential, subscription_id=subscription_id,
                                 arm_endpoint=arm_endpoint, cloud=cloud, audience=audience)
    spec = ManagedDiskSpec(name=disk_name, resource_group=resource_group, location="-")
    dest = ManagedDiskDestination(compute, spec, generation=None, threads=threads, timeout=settings.timeout,
                                  max_retries=settings.max_retries, cancel=cancel, data_credential=credential)
    source_disk = open_source(source, raw=raw)
    try:
        existing = dest.look()
        if not existing.exists:
            raise StorageError(f"{dest.url} does not exist: nothing to verify")
        if dest.disk_state != "Unattached":
            what = ("an upload to it is not finished: run the upload again to finish it"
                    if dest.disk_state in ("ReadyToUpload", "ActiveUpload")
                    else "only an unattached disk can be read (detach it first)")
            raise StorageError(f"{dest.url} is {dest.disk_state}: {what}")
        image = managed_disk_image(source_disk, resize=resize, state=existing.state)
        mode = getattr(dest.disk, "data_access_auth_mode", None)
        if mode is not None and str(getattr(mode, "value", mode)).lower() == "azureactivedirectory":
            if credential is None:
                raise InputError(f"{dest.url} allows data access with an Entra ID token only: give a credential")
            dest.spec = dataclasses.replace(spec, data_access_auth_mode="AzureActiveDirectory")
        sink = dest.open_for_reading()
        try:
            props, _ = sink.properties()
            if props is None:
                raise StorageError(f"{dest.url}: its read access URL answers that there is no disk behind it")
            return _compare(sink, image, props.size, existing.state, threads=threads, cancel=cancel, started=started)
        finally:
            dest.revoke()
    finally:
        source_disk.close()


@dataclass(frozen=True)
class ManagedDiskStatus:
    """What a managed disk and its tags say of an upload (no access is granted to read it)."""

    disk_id: str | None
    exists: bool
    disk_state: str | None  # ARM's diskState, verbatim
    made_by_vhdupload: bool
    complete: bool
    upload_size: int | None
    source_name: str | None
    source_type: str | None
    source_size: int | None
    source_uuid: str | None
    crc64: str | None
    heartbeat_age: float | None  # seconds since the uploader's last heartbeat, by ARM's clock
    source_changed: bool

    @property
    def state(self) -> str:
        if not self.exists:
            return "absent"
        if not self.made_by_vhdupload:
            return "not made by vhdupload"
        if self.source_changed:
            return "source changed"
        return "complete" if self.complete else "incomplete"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state
        return data


@package_errors("reading the upload status")
def managed_disk_status(
    *,
    disk_name: str,
    resource_group: str,
    compute_client: "ComputeManagementClient | None" = None,
    credential: Any = None,
    subscription_id: str | None = None,
    arm_endpoint: str | None = None,
    cloud: str | None = None,
    audience: str | None = None,
) -> ManagedDiskStatus:
    """The state of the managed disk ``disk_name`` and of the upload its tags record."""
    compute = compute_client_for(compute_client, credential=credential, subscription_id=subscription_id,
                                 arm_endpoint=arm_endpoint, cloud=cloud, audience=audience)
    spec = ManagedDiskSpec(name=disk_name, resource_group=resource_group, location="-")
    dest = ManagedDiskDestination(compute, spec, generation=None, threads=1, timeout=None,
                                  max_retries=DEFAULT_MAX_RETRIES, cancel=threading.Event())
    existing = dest.look()
    if not existing.exists:
        return ManagedDiskStatus(None, False, None, False, False, None, None, None, None, None, None, None, False)
    state = existing.state
    upload_size = getattr(getattr(dest.disk, "creation_data", None), "upload_size_bytes", None)
    return ManagedDiskStatus(
        disk_id=getattr(dest.disk, "id", None),
        exists=True,
        disk_state=dest.disk_state,
        made_by_vhdupload=state is not None,
        complete=bool(state and state.complete),
        upload_size=upload_size,
        source_name=state.source.name if state else None,
        source_type=state.source.disk_type if state else None,
        source_size=state.source.virtual_size if state else None,
        source_uuid=canonical_uuid(state.source.uuid) if state else None,
        crc64=state.crc64 if state else None,
        heartbeat_age=round(dest.clock.now() - state.heartbeat, 1) if state and state.heartbeat else None,
        source_changed=bool(state and state.source_changed),
    )


__all__ = ["ManagedDiskSpec", "ManagedDiskStatus", "upload_to_managed_disk", "verify_managed_disk",
           "managed_disk_status", "az_delete_command"]
