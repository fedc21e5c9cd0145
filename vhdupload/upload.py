"""``upload_vhd``: get a disk into a page blob, sending only its data, resumable from anywhere.

The steps, in the order that keeps every promise of the command:

1. open the source and lay out the blob (refusals happen here, before anything remote);
2. look at the blob: absent -> create it; ours, same source, complete -> nothing to do; ours,
   same source, unfinished -> resume; anything else -> refuse unless ``overwrite``;
3. hold a lease (renewed by a thread) so no second writer mixes in;
4. pump the data pages (see :mod:`vhdupload.engine`), skipping what the blob already holds;
5. check the source did not change, write the footer page last, then mark the blob complete
   with the whole-blob CRC64 (and Content-MD5 when asked).

On failure nothing is deleted; the error says to run the same command again.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid as uuid_module
from dataclasses import asdict, dataclass
from os import PathLike
from typing import Any, Unpack

from azure.core.exceptions import ResourceExistsError

from . import crc64, planning
from .azure.errors import classify, is_checksum_mismatch, translate
from .azure.lease import MAX_LEASE_SECONDS, LeaseKeeper
from .azure.page_blob import RANGE_WINDOW, PageBlobSink
from .azure.state import STATE_COMPLETE, STATE_SOURCE_CHANGED, UploadState, source_identity, stat_token
from .blob_image import FOOTER_SIZE, BlobImage, blob_image
from .endpoints import StorageCredentials, destination_client, package_errors, open_source
from .engine import make_sender, pump
from .errors import DestinationConflictError, InputError, SourceChangedError
from .transfer import BandwidthLimiter, ProgressTracker, RetryPolicy, TransferSettings
from .transfer.progress import ProgressCallback
from .transfer.settings import DEFAULT_MAX_RETRIES, DEFAULT_THREADS
from .vhd import Footer

log = logging.getLogger("vhdupload.upload")

RESUME_HINT = "nothing was deleted: run the same command again to resume"
_SPOT_CHECKS = 16  # data ranges of the blob compared with the source before it is trusted
_SPOT_CHECK_BYTES = 64 * 1024


@dataclass(frozen=True)
class UploadResult:
    """What an upload did. ``to_dict`` gives the ``--json`` object."""

    blob_url: str  # without any SAS
    source: str
    virtual_size: int
    blob_size: int
    data_bytes: int  # nonzero 4 KiB pages found in the source
    bytes_sent: int  # request bodies sent (merged zero gaps included, retries not)
    bytes_skipped: int  # bytes of the blob never sent: zeros
    bytes_present: int  # already on the blob when resuming
    requests: int
    retries: int
    seconds: float
    crc64: str  # 16 lowercase hex digits, of the whole blob
    resumed: bool
    already_complete: bool  # the blob already held this source: nothing was sent
    resized: bool  # the virtual size was rounded up to a whole MiB
    content_md5: str | None = None  # base64, when asked for

    @property
    def rate(self) -> float:
        """Bytes of the blob covered per second."""
        return self.blob_size / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data


@package_errors("the upload")
def upload_vhd(
    source: str | PathLike,
    destination: str | None = None,
    *,
    blob_client: Any = None,
    raw: bool = False,
    resize: bool = True,
    overwrite: bool = False,
    wait: bool = False,
    threads: int = DEFAULT_THREADS,
    max_retries: int = DEFAULT_MAX_RETRIES,
    timeout: float | None = None,
    max_bandwidth: float | None = None,
    content_md5: bool = False,
    max_gap: int = planning.DEFAULT_MAX_GAP,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    lease_seconds: int = MAX_LEASE_SECONDS,
    **storage: Unpack[StorageCredentials],
) -> UploadResult:
    """Upload the VHD (or, with ``raw``, raw image) at ``source`` to a page blob.

    The destination is either ``blob_client`` (a ready ``azure.storage.blob.BlobClient``;
    best built with :func:`vhdupload.azure.credentials.client_options` so the SDK does not
    retry on its own) or ``destination`` (a blob URL, maybe with a SAS, or ``CONTAINER/NAME``
    with ``account_url``) plus the credential keywords of
    :class:`~vhdupload.endpoints.StorageCredentials` (``credential``, ``account_url``,
    ``connection_string``, ``account_key``, ``emulator``), tried in the Azure CLI's order.

    ``progress`` receives :class:`~vhdupload.transfer.Progress` snapshots from worker threads;
    setting ``cancel`` stops the upload with :class:`~vhdupload.errors.CancelledError` (the
    blob is left for a later resume). Raises only :class:`~vhdupload.errors.VhdUploadError`
    subclasses; never prints.
    """
    started = time.monotonic()
    settings = TransferSettings(
        threads=threads, max_retries=max_retries, timeout=timeout, max_bandwidth=max_bandwidth
    )
    if max_gap < 0:
        raise InputError(f"max_gap must not be negative, got {max_gap}")
    cancel = cancel or threading.Event()
    disk = open_source(source, raw=raw)
    try:
        stats_before = stat_token(disk.fingerprint_files())  # before any data is read: a change from here on is caught
        image = blob_image(disk, resize=resize)  # refuses before anything remote happens
        identity = source_identity(disk)
        blob_client = destination_client(
            destination, blob_client=blob_client, **storage,
            threads=settings.threads, timeout=settings.timeout,
        )
        sink = PageBlobSink(blob_client, timeout=settings.timeout, max_retries=settings.max_retries, cancel=cancel)
        session = _Session(
            sink=sink, image=image, identity=identity, settings=settings, cancel=cancel,
            overwrite=overwrite, wait=wait, lease_seconds=lease_seconds, stats=stats_before,
        )
        return session.run(
            progress=progress, max_gap=max_gap, content_md5=content_md5, started=started
        )
    finally:
        disk.close()


class _Session:
    """One upload against one blob: the decisions of steps 2-5 and their shared state."""

    def __init__(self, *, sink: PageBlobSink, image: BlobImage, identity, settings: TransferSettings,
                 cancel: threading.Event, overwrite: bool, wait: bool, lease_seconds: int, stats: str) -> None:
        self.sink = sink
        self.image = image
        self.identity = identity
        self.settings = settings
        self.cancel = cancel
        self.overwrite = overwrite
        self.wait = wait
        self.stats = stats  # stat_token of the source files when opened
        self.keeper = LeaseKeeper(sink, duration=lease_seconds, metadata=self._metadata)
        self.state: UploadState | None = None

    def _metadata(self) -> dict[str, str]:
        assert self.state is not None
        return self.state.to_metadata()

    # -- step 2 and 3 ------------------------------------------------------------------------
    def _prepare(self) -> tuple[str, UploadState | None]:
        """Returns ``("complete", state)``, ``("resume", state)`` or ``("new", None)``, holding
        the lease for the last two."""
        for _attempt in range(3):
            props, _ = self.sink.properties()
            if props is None:
                self.sink.ensure_container()
                try:
                    self.state = self._fresh_state()
                    self.image = self._image_for(self.state)
                    self.sink.create(size=self.image.size, metadata=self.state.to_metadata(), replace=False)
                except ResourceExistsError:
                    continue  # someone created it just now: look again
                self.keeper.acquire(wait=self.wait, cancel=self.cancel)
                return "new", None
            existing = UploadState.from_metadata(props.metadata)
            ours = (
                existing is not None
                and existing.source.same_source(self.identity)
                and existing.blob_size == self.image.size
                and str(getattr(props, "blob_type", "")).lower().endswith("pageblob")
            )
            if ours and not self.overwrite and existing.modified_since(self.stats):
                if existing.complete:
                    raise DestinationConflictError(
                        f"{self.sink.url} holds a finished upload of {self.image.disk.path.name}, but the file was "
                        "modified since; add --overwrite to upload it again"
                    )
                existing.state = STATE_SOURCE_CHANGED  # modified since the unfinished upload read it
            if ours and existing.complete and not self.overwrite:
                self._spot_check(existing)
                return "complete", existing
            if (not ours or existing.source_changed) and not self.overwrite:
                raise DestinationConflictError(self._conflict_message(existing))
            self.keeper.acquire(wait=self.wait, cancel=self.cancel)
            if ours and not self.overwrite:
                # Look again under the lease: another upload may have finished meanwhile.
                props, _ = self.sink.properties()
                existing = UploadState.from_metadata(props.metadata if props else None)
                if existing is not None and existing.complete:
                    self.keeper.stop(release=True)
                    return "complete", existing
                if existing is not None and (existing.source_changed or existing.modified_since(self.stats)):
                    self.keeper.stop(release=True)
                    raise DestinationConflictError(self._conflict_message(existing))
                if existing is not None and existing.source.same_source(self.identity):
                    try:
                        self._spot_check(existing)
                    except DestinationConflictError:
                        self.keeper.stop(release=True)
                        raise
                    self.state = existing
                    self.state.lease_seconds = self.keeper.duration  # what a rerun meeting our lease reads
                    self.state.source_stat = self.stats  # this file (maybe a copy) is the one now read
                    self.image = self._image_for(existing)
                    self.keeper.write_metadata(self.state.to_metadata())
                    return "resume", existing
            # Overwrite (or the blob changed under us): create it afresh, so no old page
            # survives beside skipped zeros.
            self.state = self._fresh_state()
            self.image = self._image_for(self.state)
            self.sink.create(size=self.image.size, metadata=self.state.to_metadata(), replace=True,
                             lease=self.keeper.lease)
            return "new", None
        raise DestinationConflictError(f"{self.sink.url} keeps changing under this upload; try again")

    def _spot_check(self, existing: UploadState) -> None:
        """Compare up to 16 of the blob's data ranges (64 KiB at the start of each, spread over
        the first listing window) with the local source, and refuse if one differs.

        The fingerprint samples fixed places only, so that any copy of the source agrees with
        it; two sparse images of one size whose data differs elsewhere would share it. The
        blob's own pages settle that, wherever the rerun runs, for ~1 MiB of reads."""
        image = self.image
        held = []
        for lo, hi in self.sink.held_ranges(size=image.data_size):
            if lo >= RANGE_WINDOW:
                break  # one listing is enough
            held.append((lo, min(hi, image.data_size)))
        ranges = planning.RangeSet(held).ranges
        for lo, hi in ranges[:: max(1, len(ranges) // _SPOT_CHECKS)][:_SPOT_CHECKS]:
            n = min(_SPOT_CHECK_BYTES, hi - lo)
            if n > 0 and self.sink.download(lo, n) != image.read(lo, n):
                state = "a finished" if existing.complete else "an unfinished"
                raise DestinationConflictError(
                    f"{self.sink.url} holds {state} upload that looks like {image.disk.path.name} (same size and "
                    f"samples) but holds other data near offset {lo}; it is another source, or this one changed: "
                    "add --overwrite to replace it"
                )

    def _fresh_state(self) -> UploadState:
        footer = Footer.parse(self.image.footer)
        if self.image.disk.footer is None:
            # A raw image: pin a new footer identity in the metadata so that reruns write it again.
            footer = footer.replace(uuid=uuid_module.uuid4())
        return UploadState(
            source=self.identity,
            blob_size=self.image.size,
            footer_uuid=footer.uuid.hex,
            footer_timestamp=footer.timestamp,
            lease_seconds=self.keeper.duration,
            source_stat=self.stats,
        )

    def _image_for(self, state: UploadState) -> BlobImage:
        if self.image.disk.footer is not None:
            return self.image
        return blob_image(
            self.image.disk,
            resize=True,
            footer_uuid=state.footer_uuid_value,
            footer_timestamp=state.footer_timestamp,
        )

    def _conflict_message(self, existing: UploadState | None) -> str:
        if existing is None:
            what = "a blob that vhdupload did not make"
        elif existing.source_changed:
            return (
                f"{self.sink.url} holds an unfinished upload whose source changed during or since it, "
                "so the pages already there cannot be trusted; add --overwrite to upload afresh"
            )
        elif existing.source.same_source(self.identity):
            what = f"an upload of the same source but a different layout ({existing.blob_size} bytes)"
        else:
            state = "a finished" if existing.complete else "an unfinished"
            what = f"{state} upload of another source, {existing.source.describe()}"
        return f"{self.sink.url} already holds {what}; add --overwrite to replace it"

    # -- steps 4 and 5 -----------------------------------------------------------------------
    def run(self, *, progress, max_gap: int, content_md5: bool, started: float) -> UploadResult:
        mode, existing = self._prepare()
        log.info("%s: %s (blob %d bytes, source %s)", self.sink.url,
                 {"new": "new upload", "resume": "resuming", "complete": "already complete"}[mode],
                 self.image.size, self.identity.describe())
        if mode == "complete":
            assert existing is not None
            return self._result(
                sent=0, present=existing.blob_size, data_bytes=0, requests=0, retries=0,
                started=started, crc=existing.crc64 or "", resumed=False, already=True, md5=None,
            )
        try:
            return self._transfer(mode, progress=progress, max_gap=max_gap, content_md5=content_md5,
                                  started=started)
        except SourceChangedError:
            self._mark_source_changed()
            raise
        except OSError as exc:  # reading the source failed (a disk error, a vanished file)
            raise InputError(f"reading {self.image.disk.path} failed: {exc.strerror or exc}; {RESUME_HINT}") from None
        except BaseException:  # cancelled, interrupted, retries spent...: was the source written meanwhile?
            if self._source_moved():
                self._mark_source_changed()
            raise
        finally:
            self.keeper.stop(release=True)

    def _transfer(self, mode, *, progress, max_gap, content_md5, started) -> UploadResult:
        image = self.image
        held = planning.RangeSet()
        if mode == "resume":
            held = planning.RangeSet(self.sink.held_ranges(size=image.data_size))
            log.info("the blob already holds %d bytes in %d ranges; they are not sent again", held.size(), len(held.ranges))
        self.keeper.start()
        tracker = ProgressTracker(total=image.size, subscribers=[progress] if progress else None)
        cancel_message = f"upload cancelled; {RESUME_HINT}"
        policy = RetryPolicy(
            max_retries=self.settings.max_retries,
            cancel=self.cancel,
            base=self.settings.backoff_base,
            cap=self.settings.backoff_cap,
            on_retry=lambda _exc: tracker.add(retries=1),
            cancel_message=cancel_message,
            failure_hint=RESUME_HINT,
        )
        send = make_sender(
            put=self._put,
            classify=classify,
            translate=lambda exc, offset, n: translate(exc, action=f"writing {n} bytes at offset {offset}", hint=RESUME_HINT),
            reread=self._reread,
            is_checksum_mismatch=is_checksum_mismatch,
            policy=policy,
            limiter=BandwidthLimiter(self.settings.max_bandwidth, cancel=self.cancel),
            tracker=tracker,
        )
        result = pump(
            image, send=send, held=held, threads=self.settings.threads, max_gap=max_gap,
            cancel=self.cancel, tracker=tracker, content_md5=content_md5, cancel_message=cancel_message,
        )
        self._check_lease()
        if self._source_moved():
            raise SourceChangedError(
                f"{image.disk.path} changed while it was being uploaded; the blob is left unfinished. "
                "Upload again (with --overwrite) once the source is stable"
            )
        log.info("data done (%d bytes found); writing the footer page, then the complete mark", result.data_bytes)
        footer_crc = crc64.compute(image.footer)
        send(image.footer, image.data_size, footer_crc)  # the footer page goes last
        whole = crc64.to_hex(crc64.combine(result.data_crc, footer_crc, FOOTER_SIZE))
        md5 = result.md5.digest() if result.md5 is not None else None
        assert self.state is not None
        self.state.crc64 = whole
        self.state.state = STATE_COMPLETE
        self.keeper.write_metadata(self.state.to_metadata())
        if md5 is not None:
            self.sink.set_content_md5(md5, lease=self.keeper.lease)
        snap = tracker.snapshot
        return self._result(
            sent=snap.bytes_sent, present=snap.bytes_present, data_bytes=result.data_bytes,
            requests=snap.requests, retries=snap.retries, started=started, crc=whole,
            resumed=mode == "resume", already=False,
            md5=base64.b64encode(md5).decode("ascii") if md5 is not None else None,
        )

    def _source_moved(self) -> bool:
        """Whether the source files were written (or replaced) since they were opened."""
        try:
            return stat_token(self.image.disk.fingerprint_files()) != self.stats
        except OSError:
            return False  # gone: a rerun cannot open it either

    def _mark_source_changed(self) -> None:
        """Record on the blob that its pages may mix two versions of the source, so that no
        rerun resumes it (best effort: the error that follows says what to do either way)."""
        if self.state is None:
            return
        self.state.state = STATE_SOURCE_CHANGED
        try:
            self.keeper.write_metadata(self.state.to_metadata())
        except Exception as exc:  # noqa: BLE001 - the SourceChangedError is what matters
            log.warning("could not mark %s as made from a changed source: %s", self.sink.url, exc)

    def _put(self, data: bytes, offset: int, crc: int) -> None:
        if self.keeper.lost is not None:
            raise self.keeper.lost
        self.sink.put_page(data, offset=offset, crc64_bytes=crc64.to_header(crc), lease=self.keeper.lease)

    def _reread(self, offset: int, length: int) -> bytes:
        if offset >= self.image.data_size:
            return self.image.footer
        return self.image.read(offset, length)

    def _check_lease(self) -> None:
        if self.keeper.lost is not None:
            raise self.keeper.lost

    def _result(self, *, sent, present, data_bytes, requests, retries, started, crc, resumed, already, md5) -> UploadResult:
        image = self.image
        return UploadResult(
            blob_url=self.sink.url,
            source=str(image.disk.path),
            virtual_size=image.virtual_size,
            blob_size=image.size,
            data_bytes=data_bytes,
            bytes_sent=sent,
            bytes_skipped=max(0, image.size - sent - present),
            bytes_present=present,
            requests=requests,
            retries=retries + self.sink.retries,  # Put Pages and the other calls alike
            seconds=time.monotonic() - started,
            crc64=crc,
            resumed=resumed,
            already_complete=already,
            resized=image.resized,
            content_md5=md5,
        )
