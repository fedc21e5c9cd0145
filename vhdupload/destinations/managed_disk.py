"""A managed disk as the destination (Azure's direct upload), through ARM and the disk's SAS.

The disk endpoint allows Put Page, Get Page Ranges, Get Blob and Get Blob Properties, and
nothing else: no metadata, no Content-MD5, no lease, no Put Blob, no Delete. So the upload's
state lives in the disk resource's tags (changed with PATCH only, never by PUT of an existing
disk), and the writer guard is the disk's ``diskState`` plus a heartbeat tag the running upload
renews every 20 s (ARM throttles writes: never more often than every 15 s). Ages are judged on
ARM's clock (its ``Date`` header). Untried against real Azure: whether a tag update and a second
write grant are accepted while a disk is ``ActiveUpload``; both answers are handled.

Lifecycle: create (``createOption: Upload``) -> ``ReadyToUpload``; grant Write ->
``ActiveUpload``; the footer page last; tags marked complete; revoke -> ``Unattached``.
Revoking checks the footer, so a failed upload is never revoked: the disk stays
``ActiveUpload`` and a rerun continues it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from ..azure.credentials import client_options
from ..azure.direct_put import DISK_SCOPE, _Bearer
from ..azure.errors import error_code
from ..azure.page_blob import PageBlobSink, PageRangesRefusedError
from ..azure.state import KEY_HEARTBEAT, PREFIX, UploadState
from ..planning import standard_hdd_limits
from ..errors import ArmError, CancelledError, DestinationConflictError, InputError, LeaseHeldError
from ..redact import register_secret
from ..azure.error_map import arm_error
from ..upload_decision import Existing

log = logging.getLogger("vhdupload.managed_disk")

SKUS = ("Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "StandardSSD_ZRS", "Premium_ZRS", "PremiumV2_LRS", "UltraSSD_LRS")
#: Heartbeat period and the age past which a heartbeat's writer is taken for stopped.
HEARTBEAT_SECONDS = 20
STALE_SECONDS = 60
_MIN_TAG_WRITE_INTERVAL = 15
_MIN_GRANT_SECONDS = 3600
_MAX_GRANT_SECONDS = 7 * 24 * 3600
_TAG_VALUE_MAX = 256
#: Write grants asked for again after the disk endpoint refused the SAS (it expired).
_MAX_RENEWALS = 3
#: States in which the disk can take (or is taking) an upload.
UPLOADABLE = ("ReadyToUpload", "ActiveUpload")


@dataclass(frozen=True)
class ManagedDiskSpec:
    """The managed disk an upload makes (or continues).

    :param name: the disk's name.
    :param resource_group: its resource group.
    :param location: its Azure region, e.g. ``westeurope``.
    :param sku: its storage type (``Standard_LRS``, ``Premium_LRS``...); Azure's default when None.
    :param zone: an availability zone (``"1"``), or None.
    :param os_type: ``linux`` or ``windows`` for an OS disk, or ``auto`` to take what the disk
        holds; None for a data disk.
    :param hyper_v_generation: ``V1`` or ``V2`` (OS disks only), or ``auto`` to read it from the
        partition table (GPT with an EFI system partition means V2).
    :param security_type: ``TrustedLaunch`` (Generation 2 only) or None.
    :param data_access_auth_mode: ``AzureActiveDirectory`` to require an Entra ID token for
        data access (the upload then sends one for ``https://disk.azure.com`` with each
        request), or None.
    :param tags: the user's own tags (the upload adds its ``vhdupload_*`` tags beside them).
    """

    name: str
    resource_group: str
    location: str
    sku: str | None = None
    zone: str | None = None
    os_type: str | None = None
    hyper_v_generation: str = "auto"
    security_type: str | None = None
    data_access_auth_mode: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def validated(self) -> "ManagedDiskSpec":
        """The spec with names normalised; raises InputError on a value Azure would refuse."""
        if not self.name or not self.resource_group:
            raise InputError("a managed disk needs a name and a resource group")
        if not self.location:
            raise InputError("a managed disk needs a location (an Azure region such as westeurope)")
        sku = self.sku
        if sku is not None:
            match = [s for s in SKUS if s.lower() == sku.lower()]
            if not match:
                raise InputError(f"disk SKU {sku!r} is not one of {', '.join(SKUS)}")
            sku = match[0]
        os_type = self.os_type.lower() if self.os_type else None
        if os_type not in (None, "linux", "windows", "auto"):
            raise InputError(f"os type {self.os_type!r} must be linux, windows or auto")
        generation = (self.hyper_v_generation or "auto").upper()
        if generation not in ("AUTO", "V1", "V2"):
            raise InputError(f"Hyper-V generation {self.hyper_v_generation!r} must be auto, V1 or V2")
        security = self.security_type
        if security is not None:
            if security.lower() != "trustedlaunch":
                raise InputError(
                    f"security type {security!r} is not supported for upload yet: confidential VM disks need a VM "
                    "guest state blob (UploadPreparedSecure); upload as TrustedLaunch or without a security type"
                )
            security = "TrustedLaunch"
        mode = self.data_access_auth_mode
        if mode is not None:
            if mode.lower() == "azureactivedirectory":
                mode = "AzureActiveDirectory"
            elif mode.lower() == "none":
                mode = None
            else:
                raise InputError(f"data access auth mode {mode!r} must be AzureActiveDirectory or None")
        for key in self.tags:
            if key.lower().startswith(PREFIX):
                raise InputError(f"tag {key!r}: names starting with {PREFIX} are vhdupload's own")
        return ManagedDiskSpec(
            name=self.name, resource_group=self.resource_group, location=self.location, sku=sku, zone=self.zone,
            os_type=os_type, hyper_v_generation="auto" if generation == "AUTO" else generation,
            security_type=security, data_access_auth_mode=mode, tags=dict(self.tags),
        )


def az_delete_command(spec: ManagedDiskSpec) -> str:
    return f"az disk delete --resource-group {spec.resource_group} --name {spec.name} --yes"


class ArmClock:
    """ARM's clock, learnt from the ``Date`` header of each answer."""

    def __init__(self) -> None:
        self._skew = 0.0

    def hook(self, pipeline_response: Any, deserialized: Any, _headers: Any) -> Any:
        """A ``cls=`` callback for the generated client's operations."""
        self.learn(pipeline_response.http_response.headers.get("Date"))
        return deserialized

    def learn(self, date: str | None) -> None:
        if not date:
            return
        try:
            self._skew = parsedate_to_datetime(date).timestamp() - time.time()
        except (TypeError, ValueError):
            pass

    def now(self) -> float:
        return time.time() + self._skew


class ManagedDiskDestination:
    """See the module docstring."""

    def __init__(
        self,
        compute: Any,
        spec: ManagedDiskSpec,
        *,
        generation: str | None,
        threads: int,
        timeout: float | None,
        max_retries: int,
        cancel: threading.Event,
        delete_on_failure: bool = False,
        data_credential: Any = None,
    ) -> None:
        self.compute = compute
        self.spec = spec
        self.generation = generation
        self.url = f"managed disk {spec.name} (resource group {spec.resource_group})"
        self.notes: list[str] = []
        self.limits: Any = None  # set when the size is known: the Standard HDD tier it uploads at
        self.clock = ArmClock()
        self.created = False  # by this very call (only such a disk is deleted on failure)
        self.disk: Any = None  # the last Disk model read or written
        self.sink: PageBlobSink | None = None
        self._threads = threads
        self._timeout = timeout
        self._max_retries = max_retries
        self._cancel = cancel
        self._delete_on_failure = delete_on_failure
        self._data_credential = data_credential
        self._state: Callable[[], UploadState | None] = lambda: None
        self._user_tags: dict[str, str] = dict(spec.tags)
        self._tag_lock = threading.Lock()
        self._last_tag_write = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._granted = False
        self._crc_supported = True
        self._crc_lock = threading.Lock()
        self._tags_refused = False  # ARM would not update tags while the disk is ActiveUpload
        self._grant_lock = threading.Lock()
        self._grant_seconds = _MIN_GRANT_SECONDS
        self._renewals = 0
        self.lost: BaseException | None = None

    # -- ARM ---------------------------------------------------------------------------------
    def _arm(self, action: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except ArmError:
            raise
        except Exception as exc:  # azure-core's errors, in plain words
            raise arm_error(exc, action=action) from None

    def _get(self) -> Any:
        try:
            self.disk = self.compute.disks.get(self.spec.resource_group, self.spec.name, cls=self.clock.hook)
        except ResourceNotFoundError:
            self.disk = None
        except HttpResponseError as exc:
            if exc.status_code == 404:
                self.disk = None
            else:
                raise arm_error(exc, action=f"read the managed disk {self.spec.name}") from None
        except Exception as exc:
            raise arm_error(exc, action=f"read the managed disk {self.spec.name}") from None
        return self.disk

    @property
    def disk_state(self) -> str | None:
        """ARM's ``diskState`` verbatim (``ActiveUpload``...), or None without a disk."""
        state = getattr(self.disk, "disk_state", None) if self.disk is not None else None
        return None if state is None else str(getattr(state, "value", state))

    @property
    def _uploading(self) -> bool:
        """Whether the disk is ActiveUpload now (a write grant of ours, or as last read)."""
        return self._granted or self.disk_state == "ActiveUpload"

    @property
    def retries(self) -> int:
        return self.sink.retries if self.sink is not None else 0

    @property
    def can_read_back(self) -> bool:
        return self.sink is not None

    # -- the protocol ------------------------------------------------------------------------
    def look(self) -> Existing:
        disk = self._get()
        if disk is None:
            return Existing(exists=False)
        tags = dict(disk.tags or {})
        state = UploadState.from_metadata(tags)
        self._user_tags = {k: v for k, v in tags.items() if not k.lower().startswith(PREFIX)} | dict(self.spec.tags)
        disk_state = self.disk_state or "unknown"
        writable = disk_state in UPLOADABLE or (disk_state == "Unattached" and state is not None and state.complete)
        if state is None:
            foreign = f"a disk that vhdupload did not make (diskState {disk_state})"
            if disk_state in UPLOADABLE:
                foreign += ": another tool's upload, in progress or left unfinished"
        else:
            foreign = f"a disk in state {disk_state} that this upload cannot continue"
        return Existing(exists=True, state=state, writable=writable, foreign=foreign)

    def create(self, *, size: int, state: UploadState) -> bool:
        self.limits = standard_hdd_limits(size)
        from azure.mgmt.compute.models import (  # noqa: PLC0415 - heavy, and only needed here
            CreationData,
            Disk,
            DiskProperties,
            DiskSecurityProfile,
            DiskSku,
        )

        spec = self.spec
        properties: dict[str, Any] = {
            "creation_data": CreationData(create_option="Upload", upload_size_bytes=size),
        }
        if spec.os_type:
            properties["os_type"] = "Linux" if spec.os_type == "linux" else "Windows"
            if self.generation:
                properties["hyper_v_generation"] = self.generation
        if spec.security_type:
            properties["security_profile"] = DiskSecurityProfile(security_type=spec.security_type)
        if spec.data_access_auth_mode:
            properties["data_access_auth_mode"] = spec.data_access_auth_mode
        disk = Disk(
            location=spec.location,
            tags=self._tags_for(state, heartbeat=True),
            properties=DiskProperties(**properties),
            sku=DiskSku(name=spec.sku) if spec.sku else None,
            zones=[spec.zone] if spec.zone else None,
        )
        if self._get() is not None:
            return False  # made meanwhile by someone else: never PUT an existing disk
        self.disk = self._arm(
            f"create the managed disk {spec.name}",
            lambda: self.compute.disks.begin_create_or_update(spec.resource_group, spec.name, disk).result(),
        )
        self.created = True
        self._last_tag_write = time.monotonic()
        return True

    def claim(self, *, wait: bool, cancel: threading.Event, wait_timeout: float) -> None:
        """A disk in ``ActiveUpload`` whose heartbeat is fresh (by ARM's clock) has a live writer."""
        deadline = time.monotonic() + wait_timeout
        while True:
            disk = self._get()
            state = UploadState.from_metadata(dict(disk.tags or {})) if disk is not None else None
            if disk is None or self.disk_state != "ActiveUpload" or state is None or not state.heartbeat:
                break
            age = self.clock.now() - state.heartbeat
            if age >= STALE_SECONDS:
                log.info("taking over %s: its last heartbeat is %.0f s old", self.url, age)
                break
            retry_in = max(1.0, STALE_SECONDS - age)
            message = (
                f"another upload is writing to {self.url} now (its heartbeat is {age:.0f} s old); if it has "
                f"stopped, rerun in {retry_in:.0f} s, or add --wait"
            )
            if not wait:
                raise LeaseHeldError(message, expires_in=retry_in)
            if time.monotonic() >= deadline:
                raise LeaseHeldError(f"{message} (waited {wait_timeout:.0f} s; give up or raise --wait-timeout)",
                                     expires_in=retry_in)
            if cancel.wait(min(retry_in, 5.0)):
                raise CancelledError("cancelled while waiting for the other upload; run the same command again to resume")
        current = self._state()
        if current is not None:
            self._write_tags(current, heartbeat=True)

    def release(self) -> None:
        pass  # the heartbeat just stops aging into a takeover; nothing is held

    def replace(self, *, size: int, state: UploadState) -> None:
        disk_state = self.disk_state
        if disk_state not in (*UPLOADABLE, "Unattached"):
            raise DestinationConflictError(
                f"{self.url} is {disk_state} (attached to a VM, or reserved): --overwrite replaces only an "
                "unattached disk; detach it first"
            )
        if disk_state == "ActiveSAS":
            self._revoke()
        self._delete()
        if not self.create(size=size, state=state):
            raise DestinationConflictError(f"{self.url} was made again by someone else while being replaced; try again")

    def open_for_writing(self, *, state: Callable[[], UploadState | None], seconds_hint: float) -> None:
        self._state = state
        current = state()
        if current is not None:
            self.limits = standard_hdd_limits(current.blob_size)
        seconds = int(min(max(_MIN_GRANT_SECONDS, 2 * seconds_hint + _MIN_GRANT_SECONDS), _MAX_GRANT_SECONDS))
        self._grant_seconds = seconds
        sas = self._grant("Write", seconds)
        self.sink = self._sink_for(sas)
        self._thread = threading.Thread(target=self._heartbeat_loop, name="vhdupload-heartbeat", daemon=True)
        self._thread.start()

    def held_ranges(self, *, size: int) -> list[tuple[int, int]] | None:
        assert self.sink is not None
        try:
            return list(self.sink.held_ranges(size=size))
        except PageRangesRefusedError:
            log.warning("the disk endpoint refused Get Page Ranges: sending everything again")
            return None

    def put_page(self, data: bytes, *, offset: int, crc: bytes) -> None:
        sink = self.sink
        assert sink is not None
        try:
            self._put(sink, data, offset=offset, crc=crc)
        except HttpResponseError as exc:
            if exc.status_code != 403:
                raise
            # The grant's SAS expired (a long upload), or was revoked: ask for a new one, once per
            # failed SAS however many requests saw it fail, then send this page again.
            self._renew_grant(sink, exc)
            assert self.sink is not None
            self._put(self.sink, data, offset=offset, crc=crc)

    def _renew_grant(self, failed: PageBlobSink, exc: HttpResponseError) -> None:
        with self._grant_lock:
            if self.sink is not failed:
                return  # another request renewed it already
            if self._renewals >= _MAX_RENEWALS:
                raise exc
            log.warning("the disk's write access was refused (%s); granting it again", error_code(exc) or exc.status_code)
            self.sink = self._sink_for(self._grant("Write", self._grant_seconds))
            self._renewals += 1
            self.notes.append(f"write access to the disk ended during the upload and was granted again ({self._renewals}x)")

    def _put(self, sink: PageBlobSink, data: bytes, *, offset: int, crc: bytes) -> None:
        if self._crc_supported:
            try:
                sink.put_page(data, offset=offset, crc64_bytes=crc, lease=None)
                return
            except HttpResponseError as exc:
                if not _refuses_crc_header(exc):
                    raise
                with self._crc_lock:
                    if self._crc_supported:
                        self._crc_supported = False
                        self.notes.append(
                            "the disk endpoint does not take x-ms-content-crc64: pages were sent without a "
                            "per-request checksum (run verify to compare)"
                        )
                        log.warning("the disk endpoint refused the CRC64 header; sending without it")
        sink.put_page(data, offset=offset, crc64_bytes=None, lease=None)

    def read(self, offset: int, length: int) -> bytes:
        assert self.sink is not None
        return self.sink.download(offset, length)

    def save_state(self, state: UploadState, *, once: bool = False) -> None:
        self._write_tags(state, heartbeat=True, once=once)

    def open_for_reading(self, *, seconds: int = _MIN_GRANT_SECONDS) -> PageBlobSink:
        """Grant read access to a finished disk and return a sink over it (``revoke`` ends it)."""
        sink = self._sink_for(self._grant("Read", seconds))
        sink.url = self.url
        return sink

    def revoke(self) -> None:
        """End the access granted by :meth:`open_for_reading`."""
        self._revoke()

    def record_progress(self, state: UploadState) -> None:
        pass  # the heartbeat (every 20 s: ARM throttles writes) carries the watermark

    def confirm_complete(self, state: UploadState) -> None:
        if self.disk_state == "ActiveUpload":  # a rerun after a crash between the mark and the revoke
            self._revoke()
            self._get()

    def finish(self, state: UploadState, *, md5: bytes | None) -> None:
        self._stop_heartbeat()
        self._write_tags(state, heartbeat=False)  # the complete mark first, so a crash here is finished by a rerun
        self._revoke()
        if self._tags_refused:
            # ARM would not take it while uploading: now. A crash just before this leaves a
            # finished disk whose tags say "uploading", which a rerun refuses (never resumes).
            self._write_tags(state, heartbeat=False)

    def failure_note(self, *, cancelled: bool) -> str:
        if self.disk is None and not self.created:
            return ""
        if self._delete_on_failure and self.created and not cancelled:
            try:
                self._delete()
            except Exception as exc:  # noqa: BLE001 - say what is left
                return f"deleting the disk failed ({exc}); delete it with `{az_delete_command(self.spec)}`"
            return f"the disk {self.spec.name} this command created was deleted"
        billed = " (billed as a Standard HDD of its size meanwhile)" if self.disk_state == "ActiveUpload" else ""
        return (
            f"the disk {self.spec.name} is left {self.disk_state or 'as it is'}{billed}; to give it up, "
            f"delete it with `{az_delete_command(self.spec)}`"
        )

    def close(self) -> None:
        self._stop_heartbeat()

    def summary(self) -> dict[str, Any]:
        return {"disk_id": getattr(self.disk, "id", None), "disk_state": self.disk_state}

    # -- helpers -----------------------------------------------------------------------------
    def _grant(self, access: str, seconds: int) -> str:
        """Grant ``access`` (Read or Write) for ``seconds``; the SAS URL (a secret)."""
        from azure.mgmt.compute.models import GrantAccessData  # noqa: PLC0415

        spec = self.spec
        data = GrantAccessData(access=access, duration_in_seconds=seconds)
        try:
            result = self.compute.disks.begin_grant_access(spec.resource_group, spec.name, data).result()
        except Exception as exc:
            error = arm_error(exc, action=f"get {access.lower()} access to the managed disk {spec.name}")
            if access == "Write" and error.status == 409:
                raise DestinationConflictError(
                    f"{self.url} did not grant write access again ({error}); the upload cannot continue on it: "
                    f"add --overwrite to start afresh, or delete it with `{az_delete_command(spec)}`"
                ) from None
            raise error from None
        sas = getattr(result, "access_sas", None)
        if not sas:
            raise ArmError(f"Azure granted {access.lower()} access to {spec.name} but returned no SAS")
        register_secret(sas.split("?", 1)[1] if "?" in sas else sas)
        self._granted = access == "Write"
        return str(sas)

    def _sink_for(self, sas: str) -> PageBlobSink:
        from azure.storage.blob import BlobClient  # noqa: PLC0415

        entra_only = self.spec.data_access_auth_mode is not None
        # The storage SDK takes no extra pipeline policies; its request hook sees every request.
        extra = {"raw_request_hook": DiskTokenPolicy(self._data_credential).on_request} if entra_only else {}
        options = client_options(threads=self._threads, timeout=self._timeout, **extra)
        client = BlobClient.from_blob_url(sas, **options)
        return PageBlobSink(client, timeout=self._timeout, max_retries=self._max_retries, cancel=self._cancel,
                            disk_credential=self._data_credential if entra_only else None)

    def _revoke(self) -> None:
        spec = self.spec
        try:
            self.compute.disks.begin_revoke_access(spec.resource_group, spec.name).result()
        except Exception as exc:
            error = arm_error(exc, action=f"revoke access to the managed disk {spec.name}")
            raise error from None
        self._granted = False
        self._get()

    def _delete(self) -> None:
        spec = self.spec
        self._arm(f"delete the managed disk {spec.name}",
                  lambda: self.compute.disks.begin_delete(spec.resource_group, spec.name).result())
        self.disk = None

    def _tags_for(self, state: UploadState, *, heartbeat: bool) -> dict[str, str]:
        meta = state.to_metadata()
        meta.pop(KEY_HEARTBEAT, None)
        if heartbeat:
            meta[KEY_HEARTBEAT] = str(int(self.clock.now()))
        tags = dict(self._user_tags)
        tags.update({k: v[:_TAG_VALUE_MAX] for k, v in meta.items() if k.lower().startswith(PREFIX)})
        return tags

    def _write_tags(self, state: UploadState, *, heartbeat: bool, once: bool = False) -> None:
        from azure.mgmt.compute.models import DiskUpdate  # noqa: PLC0415

        spec = self.spec
        with self._tag_lock:
            if self._tags_refused and self._uploading:
                return
            tags = self._tags_for(state, heartbeat=heartbeat)
            update = DiskUpdate(tags=tags)
            try:
                self.disk = self._arm(
                    f"record the upload's state in the tags of the managed disk {spec.name}",
                    lambda: self.compute.disks.begin_update(
                        spec.resource_group, spec.name, update, **({"retry_total": 0} if once else {})
                    ).result(),
                )
            except ArmError as exc:
                if exc.status != 409 or not self._uploading:
                    raise
                self._tags_refused = True
                self.notes.append(
                    "Azure did not update the disk's tags while it was uploading: no heartbeat kept a second "
                    "writer out, and the complete mark was written after the upload"
                )
                log.warning("tags cannot change while %s is ActiveUpload (%s); going on without them", self.url, exc)
            self._last_tag_write = time.monotonic()

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(max(0.0, self._last_tag_write + HEARTBEAT_SECONDS - time.monotonic())):
            state = self._state()
            if state is None or time.monotonic() - self._last_tag_write < _MIN_TAG_WRITE_INTERVAL:
                continue
            try:
                self._write_tags(state, heartbeat=True)
            except Exception as exc:  # noqa: BLE001 - a transient ARM failure: try again soon
                log.warning("could not renew the heartbeat of %s: %s", self.url, exc)
                self._last_tag_write = time.monotonic() - HEARTBEAT_SECONDS + 5

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None


class DiskTokenPolicy:
    """Adds an Entra ID token for ``https://disk.azure.com`` to each request of the SDK's
    pipeline (reads, listings), beside the SAS in the URL: what a disk whose data access is
    Entra-ID-only wants. (Put Page, framed on the socket, adds the same itself.)"""

    def __init__(self, credential: Any) -> None:
        self._sign = _Bearer(credential, scope=DISK_SCOPE)

    def on_request(self, request: Any) -> None:
        headers: dict[str, str] = {}
        self._sign(headers)
        request.http_request.headers.update(headers)


def _refuses_crc_header(exc: HttpResponseError) -> bool:
    """Whether the endpoint answered that it does not take ``x-ms-content-crc64`` (a 400 naming
    the header), as opposed to a CRC mismatch (which the engine retries)."""
    if exc.status_code != 400:
        return False
    code = (error_code(exc) or "").lower()
    if "mismatch" in code:
        return False
    text = f"{code} {exc.message or ''} {getattr(exc.response, 'text', lambda: '')() if exc.response is not None else ''}"
    return "crc64" in text.lower() or code in ("unsupportedheader", "invalidheadervalue")
