"""``publish``: from local VHD files to a registered image in one call, rerunnable.

The steps (the first for every disk before any upload starts, the last once every disk is
verified):

1. **check** every disk locally (:mod:`.check`); build the registration body the run would send
   and look at the image ARM already has. Nothing remote is written before this passes, so a
   bad file, a bad manifest or an existing image with another body stops the run with nothing
   created.
2. **upload** all disks at once, through ``upload_vhd`` (page blobs) or
   ``upload_to_managed_disk``, which resume what a previous run left and send nothing for a
   disk already complete. By default each disk adapts its own requests in flight (Azure's
   limits are per blob) and a pacing makes them finish together, so that the link carries the
   slowest disk at its blob's rate (:mod:`vhdupload.transfer.set_pacing`). A pinned ``threads``
   is a budget shared in proportion to the bytes each disk may hold (at least one:
   :func:`split_budget`); ``max_bandwidth`` is split the same way.
3. **verify** each disk against its source as soon as its upload ends, while the others still
   upload (by default from its page map and records, without downloading the data again);
4. **register** the image (after deleting an existing one of another body, with ``overwrite``).

An image that already exists with the same body ends the run after step 1: Azure copied the
disks when it made the image, so nothing is uploaded, verified or written again.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from os import PathLike
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from ..azure.arm import ArmConnection, arm_errors, wait_for
from ..azure.lease import MAX_LEASE_SECONDS
from ..azure.credentials import resolve_blob_client
from ..destinations import Destination, ManagedDisk, PageBlob
from ..errors import (
    AuthenticationError,
    CancelledError,
    DestinationConflictError,
    InputError,
    PublishCheckError,
    SkipFreeMismatchError,
    StorageError,
    VhdUploadError,
)
from ..keywords import refuse_unknown_keywords
from ..redact import strip_query
from ..registration import bodies, resource_ids
from ..registration.client import Registrar
from ..registration.replication import ReplicationStatus
from ..registration.specs import GalleryVersionSpec, ImageSpec
from ..registration.plans import RegistrationPlan
from ..status import status
from ..transfer import TransferSettings
from ..transfer.set_pacing import set_settings, split_budget
from ..transfer.progress import Progress
from ..upload import upload
from ..upload_result import UploadResult
from ..verify import VerifyResult, verify
from .az import az_upload_blob, az_upload_disk, convert_lines, converted_path
from .check import CheckedDisk, check_disks
from ..registration.compare import first_difference
from .manifest import load_manifest
from .plan import VERIFY_CHOICES, DiskSource, PublishPlan

log = logging.getLogger("vhdupload.publish")

RERUN_HINT = "nothing was deleted: run the same publish again to continue"


@dataclass(frozen=True)
class DiskProgress:
    """A progress snapshot of one disk's upload, telling the disks apart."""

    index: int  # the disk's place in the plan (0 = the first [[disk]])
    path: str
    role: str  # "os" | "data"
    lun: int | None
    progress: Progress


@dataclass(frozen=True)
class DiskResult:
    """What a publish did with one disk (``to_dict`` is its entry in the ``--json`` object)."""

    path: str
    role: str
    lun: int | None
    destination: str  # the blob URL (no SAS) or the managed disk's resource ID
    bytes_sent: int = 0
    resumed: bool = False
    verified: bool | None = None  # None: not verified in this run (the image already existed)
    already_complete: bool = False
    bytes_to_send: int | None = None  # a dry run's estimate: at most this many
    upload_size: int = 0
    notes: list[str] = field(default_factory=list)
    free_bytes_skipped: int | None = None  # with skip_free: free space left home (not read, not sent)

    def to_dict(self) -> dict[str, Any]:
        data = {"path": self.path, "role": self.role, "lun": self.lun, "destination": self.destination,
                "bytes_sent": self.bytes_sent, "resumed": self.resumed, "verified": self.verified}
        if self.free_bytes_skipped is not None:
            data["free_bytes_skipped"] = self.free_bytes_skipped
        if self.bytes_to_send is not None:
            data["bytes_to_send"] = self.bytes_to_send
        return data


@dataclass(frozen=True)
class PublishResult:
    """What a publish did (or, with ``dry_run``, would do). ``to_dict`` is the ``--json`` object."""

    image_id: str
    created: bool  # this run sent the image's PUT
    bytes_sent: int
    seconds: float
    disks: list[DiskResult]
    dry_run: bool = False
    existing: str | None = None  # "same", "different", "failed" or None (absent)
    plan: RegistrationPlan | None = None
    cleaned_up: bool = False
    threads: list[int] = field(default_factory=list)  # each disk's share of the connection budget
    upload_az: list[str] = field(default_factory=list)  # a dry run's az lines for the uploads
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    replication: ReplicationStatus | None = None  # a gallery version's, when watched

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "image_id": self.image_id, "created": self.created, "bytes_sent": self.bytes_sent,
            "seconds": round(self.seconds, 3), "disks": [d.to_dict() for d in self.disks],
        }
        if self.replication is not None:
            data["replication"] = self.replication.to_dict()
        if self.dry_run and self.plan is not None:
            data["dry_run"] = True
            data["existing"] = self.existing
            plan = self.plan.to_dict()
            data["requests"] = plan["requests"]
            data["az"] = [*self.upload_az, *plan["az"]]
        return data


def _blob_url(container_url: str, blob: str) -> str:
    """``container_url`` (a SAS in its query kept) with ``/blob`` appended to its path."""
    parts = urlsplit(container_url)
    path = parts.path.rstrip("/") + "/" + quote(blob, safe="/")
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


@refuse_unknown_keywords
@dataclass(frozen=True, kw_only=True)
class PublishOptions:
    """What a publish may do beyond uploading, verifying and registering.

    :param overwrite: replace an existing image whose body differs (deleted, then created again:
        ARM does not change an image's sources in place), and a blob or disk holding another source.
    :param cleanup: delete the uploaded blobs or disks once the image is registered.
    :param dry_run: check and look (reads only), create nothing; the result's ``plan`` holds the
        ARM requests and ``az`` lines, each disk's ``bytes_to_send`` an upper bound.
    :param wait: wait for another upload writing to a disk instead of refusing.
    :param skip_guest_check: do not look inside the OS disk for signs it was not generalized.
    :param lease_seconds: the page blobs' lease length while uploading (15..60).
    :param polling_interval: seconds between ARM polls when Azure does not say.
    :param verify: how each disk is checked after its upload: ``"ranges"`` (the default: the
        destination's page map, footer, completion mark and recorded CRC64 against the local
        file, downloading only the footer and the zero gaps sent with the data), ``"full"``
        (every data byte downloaded again and compared) or ``"none"``; None: the plan's.
    :param watch_replication: after a gallery version exists, wait until every target region has
        it (False: return once it exists; the replication goes on in Azure).
    """

    overwrite: bool = False
    cleanup: bool = False
    dry_run: bool = False
    wait: bool = False
    skip_guest_check: bool = False
    lease_seconds: int | None = None
    polling_interval: float | None = None
    verify: str | None = None
    watch_replication: bool = True


@dataclass(frozen=True)
class _Storage:
    """How the run reaches its blobs: a credential the storage SDK takes, or a connection string."""

    credential: Any = None
    connection_string: str | None = None
    blob_client_factory: Callable[[str], Any] | None = None


class _Publisher:
    """One publish run: the resolved plan, the connections, and what each step learnt."""

    def __init__(self, plan: PublishPlan, checked: list[CheckedDisk], *, arm: ArmConnection, storage: _Storage,
                 settings: TransferSettings, options: PublishOptions, cancel: threading.Event) -> None:
        self.plan = plan
        self.checked = checked
        self.arm = arm
        self.compute = arm.compute(read_only=options.dry_run)
        self.subscription = arm.subscription_id
        self.storage = storage
        self.settings = settings
        self.options = options
        self.overwrite = options.overwrite
        self.registrar = Registrar(arm, read_only=options.dry_run, polling_interval=options.polling_interval)
        self.cancel = cancel
        self.notes: list[str] = []
        self.warnings: list[str] = []

    # -- destinations ------------------------------------------------------------------------
    def destination(self, disk: DiskSource) -> str:
        """The blob URL (a SAS kept, for the clients) or the managed disk's resource ID."""
        plan = self.plan
        if plan.storage.managed_disks:
            return resource_ids.disk_id(self.subscription, plan.image.resource_group, plan.disk_name(disk))
        return _blob_url(plan.storage.container_url or "", plan.blob_name(disk))

    def target(self, checked: CheckedDisk) -> Destination:
        """The destination value of one disk."""
        disk, image = checked.source, self.plan.image
        if self.plan.storage.managed_disks:
            return ManagedDisk(
                self.plan.disk_name(disk), resource_group=image.resource_group, arm=self.arm, location=image.location,
                sku=self.plan.storage.disk_sku, os_type=image.os_type.lower() if disk.role == "os" else None,
                hyper_v_generation=checked.generation or "auto", tags=dict(image.tags),
                **self.plan.security(disk),
            )
        url = self.destination(disk)
        return PageBlob.from_client_factory(lambda options: self._blob_client(url, options), name=url,
                                            lease_seconds=self.options.lease_seconds or MAX_LEASE_SECONDS)

    def check_destinations(self) -> None:
        """Build every disk's destination and its client, locally (no request): a name, URL or
        credential one disk's upload would refuse is refused here, for every disk at once,
        before anything remote is written (a real run uploaded the first disk, then refused the
        second's name)."""
        problems: list[str] = []
        for checked in self.checked:
            try:
                target = self.target(checked)
                if isinstance(target, PageBlob):
                    target.client(threads=1, timeout=None)
            except VhdUploadError as exc:
                problems.append(f"{self.plan.label(checked.index)}: {exc}")
        if problems:
            raise PublishCheckError(problems)

    def _blob_client(self, url: str, options: dict[str, Any]) -> Any:
        storage = self.storage
        if storage.blob_client_factory is not None:
            return storage.blob_client_factory(url)
        return resolve_blob_client(url, credential=storage.credential, connection_string=storage.connection_string,
                                   **options)

    # -- the registration --------------------------------------------------------------------
    def registration_plan(self) -> RegistrationPlan:
        """The plan, built once through the Registrar. The blobs and disks are not pre-flighted:
        they do not exist before the upload, and each is verified against its source after it."""
        image = self.plan.image
        os_checked = next(c for c in self.checked if c.source.role == "os")
        data = [bodies.DataDisk(url=self.destination(c.source), lun=c.source.lun, caching=c.source.caching)
                for c in self.checked if c.source.role == "data"]
        common: dict[str, Any] = dict(
            resource_group=image.resource_group, location=image.location, os_disk=self.destination(os_checked.source),
            data_disks=data, hyper_v_generation=os_checked.generation, tags=image.tags, skip_preflight=True,
            skip_guest_check=True,  # the local file was examined in step 1 (or the user said not to)
        )
        if image.kind == "managed-image":
            return self.registrar.plan(ImageSpec(name=image.name, os_type=image.os_type, os_state=image.os_state,
                                            os_caching=os_checked.source.caching, security_type=image.security_type,
                                            **common))
        # validated() requires gallery, definition and version for a gallery version: never ""
        report = os_checked.report  # read locally in step 1: the definition's architecture and features
        distribution = image.distribution()
        return self.registrar.plan(GalleryVersionSpec(
            gallery=image.gallery or "", image_definition=image.definition or "", version=image.version or "",
            os_type=image.os_type, os_state=image.os_state, publisher=image.publisher, offer=image.offer,
            sku=image.sku, security_type=image.security_type,
            architecture=(report.architecture if report is not None else None) or "auto",
            capabilities=report.capabilities if report is not None and report.read else None,
            target_regions=distribution.target_regions, replica_count=distribution.replica_count,
            storage_account_type=distribution.storage_account_type, replication_mode=distribution.replication_mode,
            exclude_from_latest=distribution.exclude_from_latest, end_of_life=distribution.end_of_life, **common,
        ))

    def watch_replication(self, image_id: str, on_status: Callable[[ReplicationStatus], None] | None) -> ReplicationStatus:
        """Watch a gallery version replicate; a cancel stops watching (the replication goes on)."""

        def reading(status: ReplicationStatus) -> None:
            if on_status is not None:
                on_status(status)
            if self.cancel.is_set():
                raise CancelledError("cancelled while the image version replicates; it goes on in Azure: "
                                     "run the same publish again to watch it")

        return self.registrar.watch_replication(image_id, on_status=reading)

    def existing(self) -> dict[str, Any] | None:
        """The image (or image version) ARM already has, as its REST JSON; None when there is none."""
        image = self.plan.image
        path: tuple[str | None, ...]
        if image.kind == "managed-image":
            getter, path, what = self.compute.images.get, (image.resource_group, image.name), f"image {image.name}"
        else:
            getter = self.compute.gallery_image_versions.get
            path = (image.resource_group, image.gallery, image.definition, image.version)
            what = f"image version {image.definition} {image.version}"
        with arm_errors(f"read the {what}"):
            try:
                found: dict[str, Any] = getter(*path).as_dict()
                return found
            except ResourceNotFoundError:
                return None
            except HttpResponseError as exc:
                if exc.status_code == 404:  # e.g. the gallery itself is missing
                    return None
                raise

    def delete_existing(self) -> None:
        image = self.plan.image
        action = f"delete the existing image {image.name}"
        with arm_errors(action):
            if image.kind == "managed-image":
                wait_for(self.compute.images.begin_delete(image.resource_group, image.name), self.arm.watch("image", action))
            else:
                wait_for(self.compute.gallery_image_versions.begin_delete(
                    image.resource_group, image.gallery, image.definition, image.version),
                    self.arm.watch("gallery image version", action))

    def register(self, plan: RegistrationPlan) -> Any:
        registration = self.registrar.run(plan)
        while not registration.done():
            if self.cancel.is_set():
                raise CancelledError(
                    f"cancelled while Azure creates {plan.target.description}; it carries on in Azure: "
                    "run the same publish again to see it finished"
                )
            registration.wait(0.2)
        return registration.result()

    # -- uploads -------------------------------------------------------------------------------
    def upload(self, checked: CheckedDisk, *, settings: TransferSettings,
               progress: Callable[[DiskProgress], None] | None) -> UploadResult:
        disk = checked.source
        report: Callable[[Progress], None] | None = None
        if progress is not None:
            def report(snapshot: Progress) -> None:
                # validated() made every role "os" or "data": the fallback is never taken
                progress(DiskProgress(index=checked.index, path=str(checked.path), role=disk.role or "data",
                                      lun=disk.lun, progress=snapshot))
        target = self.target(checked)
        try:  # a destination already holding this source is kept (0 bytes), even with overwrite
            return upload(checked.path, target, settings=settings, wait=self.options.wait, progress=report,
                          cancel=self.cancel, skip_free=self.plan.skips_free(disk))
        except SkipFreeMismatchError as exc:
            if not self.overwrite:  # in a manifest's words, not upload's flags
                recorded = "true" if exc.recorded_skip_free else "false"
                raise DestinationConflictError(
                    f"{strip_query(self.destination(disk))} holds a finished upload of this disk sent with "
                    f"skip_free = {recorded}: set skip_free = {recorded} on this [[disk]] to accept it as done, "
                    "or add --overwrite to send it again"
                ) from None
        except DestinationConflictError:
            if not self.overwrite:
                raise
        log.info("%s holds another source: replaced (overwrite)", strip_query(self.destination(disk)))
        return upload(checked.path, target, settings=settings, wait=self.options.wait, progress=report,
                      cancel=self.cancel, overwrite=True, skip_free=self.plan.skips_free(disk))

    def upload_and_verify(self, checked: CheckedDisk, *, settings: TransferSettings,
                          progress: Callable[[DiskProgress], None] | None) -> UploadResult:
        """Steps 2 and 3 for one disk: its verify starts as soon as its upload ends, while the
        other disks still upload (a set's verifies no longer wait for its slowest upload)."""
        result = self.upload(checked, settings=settings, progress=progress)
        if self.verify_mode == "none":
            return result
        if self.cancel.is_set():
            raise CancelledError(f"publish cancelled; {RERUN_HINT}")
        check = self.verify(checked)
        if not check.identical:
            raise StorageError(
                f"{strip_query(self.destination(checked.source))} does not match its source after the upload: "
                f"{check.problem}; nothing was registered: add --overwrite to upload it afresh"
            )
        return result

    def verify(self, checked: CheckedDisk) -> VerifyResult:
        return verify(checked.path, self.target(checked), cancel=self.cancel,
                      settings=replace(self.settings, max_bandwidth=None), mode=self.verify_mode,
                      skip_free=self.plan.skips_free(checked.source))

    @property
    def verify_mode(self) -> str:
        """The options' choice, else the manifest's, else the cheap check."""
        return self.options.verify or self.plan.verify or "ranges"

    def delete_disk(self, checked: CheckedDisk) -> None:
        """``cleanup``: the image holds its own copy by now."""
        session = self.target(checked).open(settings=self.settings, cancel=self.cancel)
        try:
            session.delete()
        finally:
            session.close()

    def az_lines(self, checked: CheckedDisk) -> list[str]:
        disk, image = checked.source, self.plan.image
        # az sends the file as it is: one Azure refuses (dynamic, not a whole MiB) is converted first
        first = [] if checked.as_is else convert_lines(path=str(checked.path))
        path = str(checked.path) if checked.as_is else converted_path(str(checked.path))
        if not self.plan.storage.managed_disks:
            return first + [az_upload_blob(path=path, url=strip_query(self.destination(disk)), subscription=self.subscription)]
        return first + az_upload_disk(
            path=path, name=self.plan.disk_name(disk), resource_group=image.resource_group,
            location=image.location, upload_size=checked.upload_size, sku=self.plan.storage.disk_sku,
            os_type=image.os_type if disk.role == "os" else None, generation=checked.generation,
            subscription=self.subscription,
        )

    def pending(self, checked: CheckedDisk) -> tuple[int, bool]:
        """A dry run's look at the destination (reads only): ``(bytes it may still need, complete)``."""
        try:
            found = status(self.target(checked), settings=self.settings)
        except AuthenticationError as exc:  # a dry run without storage credentials still shows its plan
            self.notes.append(f"{self.plan.label(checked.index)}: not compared with what is there ({exc})")
            return checked.allocated, False
        return (0, True) if found.complete else (checked.allocated, False)


def publish(
    manifest_or_plan: str | PathLike[str] | PublishPlan,
    *,
    arm: ArmConnection,
    storage_credential: Any = None,
    connection_string: str | None = None,
    blob_client_factory: Callable[[str], Any] | None = None,
    settings: TransferSettings | None = None,
    options: PublishOptions | None = None,
    progress: Callable[[DiskProgress], None] | None = None,
    cancel: threading.Event | None = None,
    on_replication: Callable[[ReplicationStatus], None] | None = None,
) -> PublishResult:
    """Upload every disk of a manifest (a TOML file) or :class:`PublishPlan`, verify them, and
    register the image; rerun the same call to continue after any failure.

    :param manifest_or_plan: the manifest's path, or a plan built in Python.
    :param arm: how to reach Azure Resource Manager (:class:`vhdupload.ArmConnection`), for the
        registration and for managed disks.
    :param storage_credential: for the container's blobs, what the storage SDK takes (a
        ``TokenCredential``, an ``AzureNamedKeyCredential``, a SAS); a SAS in ``container_url``
        needs none.
    :param connection_string: the storage account's connection string, instead.
    :param blob_client_factory: makes the ``BlobClient`` of a blob URL, instead of both.
    :param settings: how the data travels (:class:`vhdupload.TransferSettings`) for every disk:
        ``threads`` None (the default) lets each disk's requests in flight adapt; a number is a
        budget all disks share, in proportion to their data; ``max_bandwidth`` is for all disks
        together.
    :param options: what else the run may do (:class:`PublishOptions`: overwrite, cleanup,
        dry_run, wait...).
    :param progress: called with :class:`DiskProgress` from worker threads, disks told apart.
    :param cancel: set it to stop; the disks are left for a rerun to continue.
    :param on_replication: called with each reading of a gallery version's replication (one
        entry per target region) while it is watched (``options.watch_replication``).
    :returns: a :class:`PublishResult`; raises only :class:`~vhdupload.VhdUploadError`s.
    """
    started = time.monotonic()
    cancel = cancel or threading.Event()
    settings = settings or TransferSettings()
    options = options or PublishOptions()
    if options.verify is not None and options.verify not in VERIFY_CHOICES:
        raise InputError(f"verify {options.verify!r} is not one of {', '.join(VERIFY_CHOICES)}")
    overwrite, dry_run = options.overwrite, options.dry_run
    if not isinstance(arm, ArmConnection):
        raise InputError("publish needs arm=vhdupload.ArmConnection(subscription_id, credential=...)")
    plan = manifest_or_plan if isinstance(manifest_or_plan, PublishPlan) else load_manifest(manifest_or_plan)
    plan = plan.validated()
    checked = check_disks(plan, skip_guest_check=options.skip_guest_check)  # local only: refuses before anything remote
    plan = _os_type_found(plan, checked)
    storage = _Storage(credential=storage_credential, connection_string=connection_string,
                       blob_client_factory=blob_client_factory)
    run = _Publisher(plan, checked, arm=arm, storage=storage, settings=settings, options=options, cancel=cancel)
    run.check_destinations()  # local too: every check a dry run makes is made before anything remote
    for disk in checked:
        run.notes += [f"{plan.label(disk.index)}: {n}" for n in disk.notes]
        run.warnings += [f"{plan.label(disk.index)}: {w}" for w in disk.warnings]

    planned = run.registration_plan()  # reads only: the gallery, its definition, storage accounts
    run.notes += planned.notes
    existing = run.existing()
    state = None
    if existing is not None:
        failed = str((existing.get("properties") or {}).get("provisioningState", "")).lower() == "failed"
        difference = first_difference(planned.body, existing)
        state = "failed" if failed and difference is None else "different" if difference else "same"
        if state == "different" and not overwrite and not dry_run:
            raise InputError(
                f"{planned.target.description} already exists with another body ({difference}): add --overwrite "
                "to delete it and create it again, or publish under another name"
            )
        if state == "different":
            run.notes.append(f"{planned.target.description} exists with another body ({difference}); "
                             + ("--overwrite deletes it and creates it again" if overwrite else "it would be refused without --overwrite"))
    image_id = planned.resource_id

    def results(extra: dict[int, dict[str, Any]] | None = None) -> list[DiskResult]:
        return [DiskResult(**({"path": str(c.path), "role": c.source.role, "lun": c.source.lun,
                               "destination": strip_query(run.destination(c.source)), "upload_size": c.upload_size,
                               "notes": list(c.notes)} | (extra or {}).get(c.index, {}))) for c in checked]

    if dry_run:
        estimates = {}
        for c in checked:
            pending, complete = run.pending(c)
            estimates[c.index] = {"bytes_to_send": 0 if state == "same" else pending, "already_complete": complete}
        return PublishResult(image_id=image_id, created=False, bytes_sent=0, seconds=time.monotonic() - started,
                             disks=results(estimates), dry_run=True, existing=state, plan=planned,
                             upload_az=[line for c in checked for line in run.az_lines(c)],
                             notes=run.notes, warnings=run.warnings + planned.warnings)
    watch = planned.kind == "gallery-version" and options.watch_replication
    if state == "same":
        run.notes.append(f"{planned.target.description} already exists with this body: nothing was uploaded or written")
        replication = run.watch_replication(image_id, on_replication) if watch else None  # a rerun continues watching
        return PublishResult(image_id=image_id, created=False, bytes_sent=0, seconds=time.monotonic() - started,
                             disks=results(), existing=state, plan=planned, notes=run.notes, warnings=run.warnings,
                             replication=replication)

    uploads, shares = _upload_all(run, progress=progress)  # steps 2 and 3
    per_disk: dict[int, dict[str, Any]] = {}
    for c in checked:
        result = uploads[c.index]
        per_disk[c.index] = {"bytes_sent": result.bytes_sent, "resumed": result.resumed,
                             "already_complete": result.already_complete,
                             "free_bytes_skipped": result.free_bytes_skipped}
        if run.verify_mode != "none":
            per_disk[c.index]["verified"] = True
        run.notes += [f"{plan.label(c.index)}: {n}" for n in result.notes]
        if plan.storage.managed_disks and result.disk_id:
            per_disk[c.index]["destination"] = result.disk_id
    if state == "different":
        run.delete_existing()
    run.register(planned)  # step 4: the plan made before anything was sent
    replication = run.watch_replication(planned.resource_id, on_replication) if watch else None
    cleaned = False
    if options.cleanup:
        problems = []
        for c in checked:
            try:
                run.delete_disk(c)
            except VhdUploadError as exc:
                problems.append(f"{plan.label(c.index)}: {exc}")
        run.notes += [f"cleanup: {p}" for p in problems]
        cleaned = not problems
    return PublishResult(
        image_id=planned.resource_id, created=True, bytes_sent=sum(u.bytes_sent for u in uploads.values()),
        seconds=time.monotonic() - started, disks=results(per_disk),
        existing=state, plan=planned, cleaned_up=cleaned, threads=shares, notes=run.notes, warnings=run.warnings,
        replication=replication,
    )


def _os_type_found(plan: PublishPlan, checked: list[CheckedDisk]) -> PublishPlan:
    """``os_type = "auto"`` (or none given): the plan with what the guest check found on the OS disk."""
    if plan.image.os_type.lower() != "auto":
        return plan
    found = next((c.os_type for c in checked if c.source.role == "os"), None)
    if not found:
        raise PublishCheckError(['[image]: os_type is "auto" (or not given), but no OS was recognised on the OS '
                                 'disk: set os_type = "linux" or "windows"'])
    return replace(plan, image=replace(plan.image, os_type=found))


def _upload_all(run: _Publisher, *, progress: Callable[[DiskProgress], None] | None,
                ) -> tuple[dict[int, UploadResult], list[int]]:
    """Step 2: every disk at once, within the shared budget; on failure the others finish first
    (what they sent is kept for the rerun), then the first error is raised, naming its disk."""
    checked = run.checked
    per_disk = set_settings(run.settings, [c.allocated for c in checked])
    shares = [t.threads for t in per_disk if t.threads is not None]
    results: dict[int, UploadResult] = {}
    errors: list[tuple[CheckedDisk, BaseException]] = []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(checked), thread_name_prefix="vhdupload-disk")
    try:
        futures = {pool.submit(run.upload_and_verify, c, settings=per_disk[i], progress=progress): c
                   for i, c in enumerate(checked)}
        pending = set(futures)
        try:
            while pending:  # short waits, so that Ctrl-C reaches this thread
                done, pending = concurrent.futures.wait(pending, timeout=0.2)
                for future in done:
                    c = futures[future]
                    try:
                        results[c.index] = future.result()
                    except BaseException as exc:  # noqa: BLE001 - reported below, after the others
                        errors.append((c, exc))
        except KeyboardInterrupt:
            run.cancel.set()
            concurrent.futures.wait(pending)
            raise
    finally:
        pool.shutdown(wait=True)
    if errors:
        errors.sort(key=lambda item: item[0].index)
        first_disk, first = errors[0]
        if isinstance(first, KeyboardInterrupt):
            raise first
        label = run.plan.label(first_disk.index)
        others = "".join(f"; also {run.plan.label(c.index)}: {e}" for c, e in errors[1:])
        if isinstance(first, VhdUploadError):
            first.args = (f"{label}: {first.args[0] if first.args else first}{others}", *first.args[1:])
            raise first
        raise VhdUploadError(f"{label}: {type(first).__name__}: {first}{others}") from first
    return results, shares
