"""One operation on a managed disk, through ARM and the disk's SAS.

The disk endpoint allows Put Page, Get Page Ranges, Get Blob and Get Blob Properties, and
nothing else: no metadata, no Content-MD5, no lease, no Put Blob, no Delete. So the upload's
state lives in the disk's tags and the writer guard is the disk's ``diskState`` plus a
heartbeat tag (:mod:`.disk_tags`). Untried against real Azure: whether a second write grant is
accepted while a disk is ``ActiveUpload``; both answers are handled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobClient

from ..azure.credentials import client_options
from ..azure.errors import error_code, expired_sas
from ..azure.page_blob import PageBlobSink, PageRangesRefusedError
from ..azure.state import UploadState
from ..blob_image import BlobImage
from ..errors import ArmError, AuthenticationError, CancelledError, DestinationConflictError, InputError, LeaseHeldError
from ..planning import DestinationLimits, standard_hdd_limits
from ..transfer.settings import TransferSettings
from ..upload_decision import Existing
from ..virtual_disk import VirtualDisk
from .base import Readback, UploadStatus
from .disk_reading import disk_status, open_disk_for_reading
from .disk_arm import UPLOADABLE, DiskArm, DiskTokenPolicy, Granted, az_delete_command, compute_models, refuses_crc_header
from .disk_layout import disk_image
from .disk_security import Companion, companions, send_companion
from .disk_tags import STALE_SECONDS, DiskTags, recorded_state
from .disk_verdict import KEY_GUEST

if TYPE_CHECKING:
    from .managed_disk import ManagedDisk

log = logging.getLogger("vhdupload.managed_disk")

#: A write grant's duration: twice the planned upload time, 1 h at least, 7 days at most (the
#: documentation leaves it open; Add-AzVhd asks for 86,400 s whatever the disk, the az docs'
#: scripts likewise, and a refused SAS is granted again here rather than guessed long).
_MIN_GRANT_SECONDS = 3600
_MAX_GRANT_SECONDS = 7 * 24 * 3600
#: Write grants asked for again after the disk endpoint refused the SAS (it expired).
_MAX_RENEWALS = 3
#: Looks at the disk after its access was revoked, a second apart, before a state that is not
#: ``Unattached`` is an error (ARM's reads may lag its writes for a moment).
_SETTLE_LOOKS = 5


class ManagedDiskSession:
    """See the module docstring and :class:`vhdupload.destinations.DestinationSession`."""

    # The disk endpoint takes no Content-MD5, lease or metadata: AzCopy's page-blob sender sends
    # none of them to an md- host either (and no Put Blob: the disk exists at its size).
    wants_md5 = False
    lease_seconds = 0  # no lease: a heartbeat (see disk_tags.STALE_SECONDS)

    def __init__(self, disk: ManagedDisk, *, compute: Any, settings: TransferSettings, cancel: threading.Event) -> None:
        self.spec = disk
        self.url = disk.describe()
        self.notes: list[str] = []
        self.arm = DiskArm(compute, resource_group=disk.resource_group, name=disk.name,
                           watch=lambda action: disk.arm.watch("managed disk", action))
        self.tags = DiskTags(self.arm, user_tags=disk.tags, uploading=lambda: self._uploading, notes=self.notes)
        self.sink: PageBlobSink | None = None
        self.created = False  # by this very session (only such a disk is deleted on failure)
        self.os_type: str | None = None  # what layout() found inside ("auto" resolved)
        self.capabilities: Any = None  # the disk's supportedCapabilities, from the guest report
        self.generation: str | None = None
        self._size: int | None = None
        self._settings = settings
        self._cancel = cancel
        self._granted: str | None = None  # "Write" or "Read" while a grant of ours is active
        self._crc_supported = True
        self._lock = threading.Lock()
        self._grant_seconds = _MIN_GRANT_SECONDS
        self._renewals = 0
        self._granted_urls: Granted | None = None
        self._companions: list[Companion] = []  # the guest state (and metadata) of a secure upload
        self.lost: BaseException | None = None

    @property
    def _uploading(self) -> bool:
        """Whether the disk is ActiveUpload now (a write grant of ours, or as last read)."""
        return self._granted == "Write" or self.arm.state == "ActiveUpload"

    @property
    def retries(self) -> int:
        return self.sink.retries if self.sink is not None else 0

    @property
    def can_read_back(self) -> bool:
        return self.sink is not None

    @property
    def limits(self) -> DestinationLimits:
        return standard_hdd_limits(self._size or 0)

    # -- upload ------------------------------------------------------------------------------
    def layout(self, disk: VirtualDisk, *, resize: bool, state: UploadState | None = None) -> BlobImage:
        layout = disk_image(self.spec, disk, resize=resize, state=state)
        self.notes.extend(layout.notes)
        if state is None:
            self.os_type, self.generation = layout.os_type, layout.generation
            self.capabilities = layout.capabilities
            if layout.verdict is not None:
                self.tags.extra[KEY_GUEST] = layout.verdict.to_tag()
            if self.spec.security_data is not None:
                self._companions = companions(self.spec.security_data)  # read (or refused) before anything remote
        self._size = layout.image.size
        return layout.image

    def look(self) -> Existing:
        disk = self.arm.get()
        if disk is None:
            return Existing(exists=False)
        tags = dict(disk.tags or {})
        state, corrupt = recorded_state(tags)
        self.tags.learn_existing(tags, self.spec.tags)
        disk_state = self.arm.state or "unknown"
        writable = disk_state in UPLOADABLE or (disk_state == "Unattached" and state is not None and state.complete)
        mismatch = self._secure_mismatch(disk)
        if mismatch:
            return Existing(exists=True, state=state, writable=False, foreign=mismatch)
        if corrupt:
            foreign = f"a disk whose upload cannot be trusted: {corrupt} (diskState {disk_state})"
        elif state is None:
            foreign = f"a disk that vhdupload did not make (diskState {disk_state})"
            if disk_state in UPLOADABLE:
                foreign += ": another tool's upload, in progress or left unfinished"
        else:
            foreign = f"a disk in state {disk_state} that this upload cannot continue"
        return Existing(exists=True, state=state, writable=writable, foreign=foreign)

    def _secure_mismatch(self, disk: Any) -> str | None:
        """Why an existing disk cannot take this upload's kind (secure or not), or None."""
        option = getattr(getattr(disk, "creation_data", None), "create_option", None)
        option = str(getattr(option, "value", option) or "")
        secure = self.spec.security_data is not None
        if secure and option == "Upload":
            return "a disk created for a plain upload, which cannot take a VM guest state"
        if not secure and option == "UploadPreparedSecure":
            return "a disk created to take a VM guest state (UploadPreparedSecure), and none is given"
        return None

    def create(self, *, size: int, state: UploadState) -> bool:
        spec = self.spec
        if not spec.location:
            raise InputError("a managed disk needs a location (an Azure region such as westeurope) to be created")
        models = compute_models()
        # UploadPreparedSecure: what az CLI's `disk create --upload-type UploadWithSecurityData` sends.
        option = "UploadPreparedSecure" if spec.security_data is not None else "Upload"
        properties = models.DiskProperties(
            creation_data=models.CreationData(create_option=option, upload_size_bytes=size))
        if self.os_type:
            properties.os_type = "Linux" if self.os_type == "linux" else "Windows"
            properties.hyper_v_generation = self.generation
            if self.capabilities is not None:
                properties.supported_capabilities = self.capabilities
        if spec.security_type:
            properties.security_profile = models.DiskSecurityProfile(security_type=spec.security_type)
        if spec.data_access_auth_mode:
            properties.data_access_auth_mode = spec.data_access_auth_mode
        disk = models.Disk(location=spec.location, tags=self.tags.tags_for(state, heartbeat=True), properties=properties,
                           sku=models.DiskSku(name=spec.sku) if spec.sku else None, zones=[spec.zone] if spec.zone else None)
        if self.arm.get() is not None:
            return False  # made meanwhile by someone else: never PUT an existing disk
        self.arm.create(disk)
        self.created = True
        self.tags.wrote_now()
        return True

    def claim(self, *, wait: bool, cancel: threading.Event, wait_timeout: float) -> None:
        """A disk in ``ActiveUpload`` whose heartbeat is fresh (by ARM's clock) has a live writer."""
        deadline = time.monotonic() + wait_timeout
        while True:
            disk = self.arm.get()
            state = UploadState.from_metadata(dict(disk.tags or {})) if disk is not None else None
            if disk is None or self.arm.state != "ActiveUpload" or state is None or not state.heartbeat:
                break
            age = self.arm.clock.now() - state.heartbeat
            if age >= STALE_SECONDS:
                log.info("taking over %s: its last heartbeat is %.0f s old", self.url, age)
                break
            retry_in = max(1.0, STALE_SECONDS - age)
            message = (f"another upload is writing to {self.url} now (its heartbeat is {age:.0f} s old); if it has "
                       f"stopped, rerun in {retry_in:.0f} s, or add --wait")
            if not wait:
                raise LeaseHeldError(message, expires_in=retry_in)
            if time.monotonic() >= deadline:
                raise LeaseHeldError(f"{message} (waited {wait_timeout:.0f} s; give up or raise --wait-timeout)",
                                     expires_in=retry_in)
            if cancel.wait(min(retry_in, 5.0)):
                raise CancelledError("cancelled while waiting for the other upload; run the same command again to resume")

    def release(self) -> None:
        pass  # the heartbeat just stops aging into a takeover; nothing is held

    def replace(self, *, size: int, state: UploadState) -> None:
        disk_state = self.arm.state
        if disk_state not in (*UPLOADABLE, "Unattached"):
            raise DestinationConflictError(
                f"{self.url} is {disk_state} (attached to a VM, or reserved): --overwrite replaces only an "
                "unattached disk; detach it first"
            )
        self.arm.delete()
        if not self.create(size=size, state=state):
            raise DestinationConflictError(f"{self.url} was made again by someone else while being replaced; try again")

    def open_for_writing(self, *, state: Callable[[], UploadState | None], seconds_hint: float) -> None:
        current = state()
        if current is not None:
            self._size = current.blob_size
        self._grant_seconds = int(min(max(_MIN_GRANT_SECONDS, 2 * seconds_hint + _MIN_GRANT_SECONDS), _MAX_GRANT_SECONDS))
        self.sink = self.sink_for(self.grant("Write", self._grant_seconds))
        self._check_companions()
        self.tags.start_heartbeat(state)

    def _companion_urls(self) -> list[str | None]:
        granted = self._granted_urls
        if granted is None:
            return []
        return [granted.security_data, granted.security_metadata][: len(self._companions)]

    def _check_companions(self) -> None:
        """A secure upload: each file has its URL, and is the size of Azure's blob for it
        (before a byte of the OS disk is sent)."""
        for companion, url in zip(self._companions, [*self._companion_urls(), None, None]):
            if not url:
                raise ArmError(f"Azure granted write access to {self.spec.name} but no {companion.what} URL "
                               "(securityDataAccessSAS / securityMetadataAccessSAS) came with it; the disk may not "
                               "take one (was it made UploadPreparedSecure, with a Confidential VM type for metadata?)")
            companion.matches(self.sink_for(url), disk=self.spec.name)

    def _send_companions(self) -> None:
        """The guest state (and metadata), each whole, checked, before the complete mark."""
        for index, companion in enumerate(self._companions):
            for attempt in (0, 1):
                url = self._companion_urls()[index]
                assert url is not None
                try:
                    crc = send_companion(companion, self.sink_for(url), settings=self._settings, cancel=self._cancel)
                    break
                except AuthenticationError:
                    if attempt:
                        raise
                    log.warning("the %s URL was refused (expired?); granting write access again", companion.what)
                    self.sink = self.sink_for(self.grant("Write", self._grant_seconds))
            log.info("%s sent and read back (CRC64 %s)", companion.what, crc)
            self.notes.append(f"the {companion.what} {companion.image.disk.path.name} was sent and read back")

    def held_ranges(self, *, size: int) -> list[tuple[int, int]] | None:
        assert self.sink is not None
        try:
            return list(self.sink.held_ranges(size=size))
        except PageRangesRefusedError:
            log.warning("the disk endpoint refused Get Page Ranges: sending everything again")
            return None

    def put_page(self, data: bytes, *, offset: int, crc: bytes) -> None:
        while True:
            sink = self.sink
            assert sink is not None
            try:
                self._put(sink, data, offset=offset, crc=crc)
                return
            except HttpResponseError as exc:
                if exc.status_code != 403:
                    raise
                # The grant's SAS expired (a long upload), or was revoked: ask for a new one, once
                # per failed SAS however many requests saw it fail (at most _MAX_RENEWALS times,
                # then a one-line error), then send this page again.
                self._renew_grant(sink, exc)

    def _renew_grant(self, failed: PageBlobSink, exc: HttpResponseError) -> None:
        with self._lock:
            if self.sink is not failed:
                return  # another request renewed it already
            if self._renewals >= _MAX_RENEWALS:
                raise self._access_ended(exc) from None
            log.warning("the disk's write access was refused (%s); granting it again", error_code(exc) or exc.status_code)
            self.sink = self.sink_for(self.grant("Write", self._grant_seconds))
            self._renewals += 1
            self.notes.append(f"write access to the disk ended during the upload and was granted again ({self._renewals}x)")

    def _access_ended(self, exc: HttpResponseError) -> AuthenticationError:
        """Write access refused again after ``_MAX_RENEWALS`` grants: the grant's SAS is Azure's,
        not one the user made, so the fix is a rerun (which asks for a new one)."""
        expiry = expired_sas(exc)
        why = f"its SAS expired at {expiry}" if expiry else f"Azure answered {error_code(exc) or exc.status_code}"
        return AuthenticationError(
            f"the disk endpoint of {self.url} refused the write access Azure granted ({why}), also after granting "
            f"it again {self._renewals} times; nothing was deleted: run the same command again to resume"
        )

    def _put(self, sink: PageBlobSink, data: bytes, *, offset: int, crc: bytes) -> None:
        if self._crc_supported:
            try:
                sink.put_page(data, offset=offset, crc64_bytes=crc, lease=None)
                return
            except HttpResponseError as exc:
                if not refuses_crc_header(exc):
                    raise
                with self._lock:
                    if self._crc_supported:
                        self._crc_supported = False
                        self.notes.append("the disk endpoint does not take x-ms-content-crc64: pages were sent without "
                                          "a per-request checksum (run verify to compare)")
                        log.warning("the disk endpoint refused the CRC64 header; sending without it")
        sink.put_page(data, offset=offset, crc64_bytes=None, lease=None)

    def read(self, offset: int, length: int) -> bytes:
        assert self.sink is not None
        return self.sink.download(offset, length)

    def save_state(self, state: UploadState, *, once: bool = False) -> None:
        self.tags.write(state, heartbeat=True, once=once)

    def record_progress(self, state: UploadState) -> None:
        pass  # the heartbeat (every 20 s: ARM throttles writes) carries the watermark

    def confirm_complete(self, state: UploadState) -> None:
        if self.arm.state == "ActiveUpload":  # a rerun after a crash between the mark and the revoke
            self._revoke()
        self._require_unattached()

    def finish(self, state: UploadState, *, md5: bytes | None) -> None:
        self._send_companions()  # before the mark: a crash in them is resumed by a rerun
        self.tags.stop_heartbeat()
        self.tags.write(state, heartbeat=False)  # the complete mark first, so a crash here is finished by a rerun
        self._revoke()
        self._require_unattached()
        if self.tags.refused:
            # ARM would not take it while uploading: now. A crash just before this leaves a
            # finished disk whose tags say "uploading", which a rerun refuses (never resumes).
            self.tags.write(state, heartbeat=False)

    def _require_unattached(self) -> None:
        """A finished upload leaves the disk ``Unattached``, ready to use; any other state after
        the revoke (a state that flaps back) is not a success."""
        for look in range(_SETTLE_LOOKS):
            if self.arm.state == "Unattached":
                return
            if look + 1 < _SETTLE_LOOKS and not self._cancel.wait(1.0):
                self.arm.get()
        raise ArmError(
            f"{self.url} is {self.arm.state or 'in no known state'} after its write access was revoked, not Unattached: "
            "Azure has not made it usable; run the same command again to finish it, or look at it with "
            f"`az disk show --resource-group {self.spec.resource_group} --name {self.spec.name}`"
        )

    # -- verify and status -------------------------------------------------------------------
    def open_for_reading(self) -> Readback:
        return open_disk_for_reading(self)

    def status(self) -> UploadStatus:
        return disk_status(self)

    def delete(self) -> None:
        self.arm.delete()

    # -- the end -----------------------------------------------------------------------------
    def close(self, *, failed: bool = False, cancelled: bool = False) -> str:
        """Ends the heartbeat (a clean stop clears it, so a rerun continues at once) and a read
        grant; after a failure, deletes a disk this session created when asked to."""
        heartbeat = self.tags.stop_heartbeat()
        for companion in self._companions:
            companion.image.disk.close()
        if self._granted == "Read":
            self._revoke()
        if not failed:
            return ""
        if heartbeat and cancelled:
            self._clear_heartbeat()
        return self._failure_note(cancelled=cancelled)

    def _clear_heartbeat(self) -> None:
        """A cancelled upload stops here and now: say so in the tags (one try), so that the same
        command run at once is not told to wait for a writer that is gone."""
        disk = self.arm.disk
        state = recorded_state(dict(disk.tags or {}))[0] if disk is not None else None
        if state is None:
            return
        try:
            self.tags.write(state, heartbeat=False, once=True)
        except Exception as exc:  # noqa: BLE001 - best effort: the heartbeat then ages out in a minute
            log.info("could not clear the heartbeat of %s: %s", self.url, exc)

    def _failure_note(self, *, cancelled: bool) -> str:
        spec = self.spec
        delete = az_delete_command(spec.resource_group, spec.name)
        if self.arm.disk is None and not self.created:
            return ""
        if spec.delete_on_failure and self.created and not cancelled:
            try:
                self.arm.delete()
            except Exception as exc:  # noqa: BLE001 - say what is left
                return f"deleting the disk failed ({exc}); delete it with `{delete}`"
            return f"the disk {spec.name} this command created was deleted"
        try:
            self.arm.get()  # what it is now: a grant since the last read made it ActiveUpload
        except Exception as exc:  # noqa: BLE001 - the note is best effort
            log.info("could not read %s again: %s", self.url, exc)
        billed = " (billed as a Standard HDD of its size meanwhile)" if self.arm.state == "ActiveUpload" else ""
        return f"the disk {spec.name} is left {self.arm.state or 'as it is'}{billed}; to give it up, delete it with `{delete}`"

    def summary(self) -> dict[str, Any]:
        return {"disk_id": getattr(self.arm.disk, "id", None), "disk_state": self.arm.state}

    # -- helpers -----------------------------------------------------------------------------
    def grant(self, access: str, seconds: int) -> str:
        """Grant ``access``; the disk's SAS URL (a secure upload's write grant also keeps the
        guest state's and metadata's)."""
        granted = self.arm.grant(access, seconds, guest_state=access == "Write" and self.spec.security_data is not None)
        self._granted = access
        if access == "Write":
            self._granted_urls = granted
        return granted.disk

    def _revoke(self) -> None:
        self.arm.revoke()
        self._granted = None

    def sink_for(self, sas: str, *, entra_only: bool | None = None) -> PageBlobSink:
        entra_only = self.spec.entra_only if entra_only is None else entra_only
        credential = self.spec.arm.credential if entra_only else None
        # The storage SDK takes no extra pipeline policies; its request hook sees every request.
        extra = {"raw_request_hook": DiskTokenPolicy(credential).on_request} if entra_only else {}
        settings = self._settings
        client = BlobClient.from_blob_url(sas, **client_options(threads=settings.pool_threads, timeout=settings.timeout, **extra))
        sink = PageBlobSink(client, timeout=settings.timeout, max_retries=settings.max_retries, cancel=self._cancel,
                            disk_credential=credential)
        sink.url = self.url
        return sink
