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
from dataclasses import asdict, dataclass, field
from os import PathLike
from typing import Any, Unpack

from azure.storage.blob import BlobClient

from . import crc64, planning
from .azure.error_map import translate
from .azure.errors import classify, is_checksum_mismatch
from .azure.lease import DEFAULT_WAIT_TIMEOUT, MAX_LEASE_SECONDS
from .azure.page_blob import RANGE_WINDOW, PageBlobSink
from .azure.state import (
    STATE_COMPLETE,
    STATE_SOURCE_CHANGED,
    SourceIdentity,
    UploadState,
    source_identity,
    stat_token,
)
from .blob_image import BlobImage, blob_image
from .vhd.footer import FOOTER_SIZE
from .destinations.base import Destination
from .destinations.page_blob import PageBlobDestination
from .endpoints import StorageCredentials, destination_client, package_errors, open_source
from .engine import SendFunction, make_sender, pump
from .source_proof import prefix_crc, whole_crc
from .errors import CancelledError, DestinationConflictError, InputError, SourceChangedError, VhdUploadError
from .transfer import BandwidthLimiter, ProgressTracker, RetryPolicy, TransferSettings
from .transfer.progress import ProgressCallback
from .upload_decision import Action, Decision, Existing, decide
from .vhd import Footer

log = logging.getLogger("vhdupload.upload")

RESUME_HINT = "nothing was deleted: run the same command again to resume"
_SPOT_CHECKS = 16  # data ranges of the blob compared with the source before it is trusted
_SPOT_CHECK_BYTES = 64 * 1024
#: Bytes per second assumed when sizing a time-limited grant (a Standard HDD upload's floor).
_PLANNING_RATE = 20 * 1024 * 1024


@dataclass(frozen=True)
class UploadResult:
    """What an upload did. ``to_dict`` gives the ``--json`` object."""

    blob_url: str  # without any SAS
    source: str
    virtual_size: int
    blob_size: int
    data_bytes: int  # nonzero 4 KiB pages found in the source (already complete: the data pages the destination holds)
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
    disk_id: str | None = None  # a managed disk's ARM resource ID
    disk_state: str | None = None  # a managed disk's diskState afterwards, as ARM says it
    notes: list[str] = field(default_factory=list)  # what the user should know (not errors)
    threads: int = 0  # requests in flight: the pinned count, or where the adaptive limit settled
    concurrency: str = ""  # "pinned" or "adaptive, mostly 16 (8-24)"
    max_gap: int = 0  # zero gaps shorter than this were sent: the pinned value, or where it settled
    merging: str = ""  # "pinned" or "adaptive, mostly 240 KiB (120-240 KiB)"
    check_seconds: float = 0.0  # spent proving the source by CRC64 (resume watermark, complete check)

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
    source: "str | PathLike[str]",
    destination: str | None = None,
    *,
    blob_client: BlobClient | None = None,
    raw: bool = False,
    resize: bool = True,
    overwrite: bool = False,
    wait: bool = False,
    settings: TransferSettings | None = None,
    content_md5: bool = False,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    lease_seconds: int = MAX_LEASE_SECONDS,
    trust_stat: bool = False,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
    **storage: Unpack[StorageCredentials],
) -> UploadResult:
    """Upload the disk at ``source`` to a page blob, sending only its data; call it again with
    the same arguments to resume after any failure or cancel.

    :param source: a VHD (fixed, dynamic, differencing), a VHDX, or with ``raw`` a raw image.
    :param destination: a blob URL (a SAS in its query allowed) or ``CONTAINER/NAME`` with
        ``account_url`` or a connection string; not needed with ``blob_client``.
    :param blob_client: a ready ``azure.storage.blob.BlobClient`` instead of ``destination``.
    :param raw: ``source`` is a raw disk image (its footer is made on the fly).
    :param resize: round a size that is not a whole MiB up with zeros; False refuses it.
    :param overwrite: replace a blob that holds something else (a finished upload, another
        source, a blob vhdupload did not make); it is created afresh.
    :param wait: if another upload holds the blob's lease, wait for it (at most
        ``wait_timeout`` seconds) instead of refusing; a lease that never expires (a VM's disk)
        is never waited for.
    :param settings: how the data travels (:class:`vhdupload.TransferSettings`: threads,
        retries, timeout, bandwidth cap in bytes/s, zero-gap merging); its defaults when None.
    :param content_md5: also compute the whole blob's MD5 and set its Content-MD5 (costs CPU in
        proportion to the virtual size).
    :param progress: called with :class:`vhdupload.Progress` snapshots, from worker threads;
        what it raises is ignored.
    :param cancel: set it to stop: :class:`vhdupload.CancelledError` is raised and the blob is
        left for a later call to resume.
    :param lease_seconds: the blob lease's length while uploading, 15..60 seconds.
    :param trust_stat: take a finished upload of this very, unmodified file (size, mtime, inode)
        as done without recomputing its CRC64.
    :param wait_timeout: seconds ``wait`` waits for another writer.
    :param storage: the credential keywords, tried in the Azure CLI's order: ``credential`` (an
        Entra ID ``TokenCredential``), ``account_url``, ``connection_string``, ``account_key``,
        ``emulator`` (the local Azurite development account).
    :returns: an :class:`vhdupload.UploadResult` (``to_dict()`` is what ``upload --json``
        prints).
    :raises vhdupload.VhdUploadError: only the package's errors; it never prints.
    """
    started = time.monotonic()
    settings = settings or TransferSettings()
    cancel = cancel or threading.Event()
    disk = open_source(source, raw=raw)
    try:
        stats_before = stat_token(disk.fingerprint_files())  # before any data is read: a change from here on is caught
        image = blob_image(disk, resize=resize)  # refuses before anything remote happens
        identity = source_identity(disk)
        blob_client = destination_client(
            destination, blob_client=blob_client, **storage,
            threads=settings.pool_threads, timeout=settings.timeout,
        )
        sink = PageBlobSink(blob_client, timeout=settings.timeout, max_retries=settings.max_retries, cancel=cancel)
        if not 15 <= lease_seconds <= MAX_LEASE_SECONDS:
            raise InputError(f"lease_seconds must be 15..{MAX_LEASE_SECONDS}, got {lease_seconds}")
        dest = PageBlobDestination(sink, lease_seconds=lease_seconds)
        session = _Session(
            dest=dest, image=image, identity=identity, settings=settings, cancel=cancel,
            overwrite=overwrite, wait=wait, stats=stats_before, lease_seconds=lease_seconds,
            trust_stat=trust_stat, wait_timeout=wait_timeout,
        )
        return session.run(progress=progress, content_md5=content_md5, started=started)
    finally:
        disk.close()


class _Session:
    """One upload to one destination: the decisions of steps 2-5 and their shared state.

    The rules live in :func:`vhdupload.upload_decision.decide`; how state is kept and a second
    writer kept out is the destination's (:class:`vhdupload.destinations.Destination`)."""

    def __init__(self, *, dest: Destination, image: BlobImage, identity: SourceIdentity, settings: TransferSettings,
                 cancel: threading.Event, overwrite: bool, wait: bool, stats: str,
                 lease_seconds: int = 0, trust_stat: bool = False,
                 wait_timeout: float = DEFAULT_WAIT_TIMEOUT) -> None:
        self.dest = dest
        self.image = image
        self.identity = identity
        self.settings = settings
        self.cancel = cancel
        self.overwrite = overwrite
        self.wait = wait
        self.stats = stats  # stat_token of the source files when opened
        self.lease_seconds = lease_seconds
        self.trust_stat = trust_stat
        self.wait_timeout = wait_timeout
        self.state: UploadState | None = None
        self.proven = 0  # [0, proven) of the destination was proven to be this source's
        self.proof_seconds = 0.0  # spent recomputing CRCs to prove the source

    # -- step 2 and 3 ------------------------------------------------------------------------
    def _decide(self, existing: Existing) -> Decision:
        decision = decide(existing, identity=self.identity, blob_size=self.image.size, stats=self.stats,
                          overwrite=self.overwrite)
        if decision.action is Action.REFUSE:
            raise DestinationConflictError(f"{self.dest.url} {decision.reason}")
        return decision

    def _prepare(self) -> tuple[str, UploadState | None]:
        """Returns ``("complete", state)``, ``("resume", state)`` or ``("new", None)``, holding
        the writer guard for the last two."""
        for _attempt in range(3):
            existing = self.dest.look()
            decision = self._decide(existing)
            if decision.action is Action.CREATE:
                self.state = self._fresh_state()
                self.image = self._image_for(self.state)
                if not self.dest.create(size=self.image.size, state=self.state):
                    continue  # someone created it just now: look again
                return "new", None
            if decision.action is Action.COMPLETE:
                assert existing.state is not None
                if self.dest.can_read_back:
                    self._spot_check(existing.state)
                self._prove_complete(existing.state)
                self.dest.confirm_complete(existing.state)
                return "complete", existing.state
            self.dest.claim(wait=self.wait, cancel=self.cancel, wait_timeout=self.wait_timeout)
            if decision.action is Action.RESUME:
                # Look again under the guard: another upload may have finished meanwhile.
                try:
                    existing = self.dest.look()
                    decision = self._decide(existing)
                except BaseException:
                    self.dest.release()
                    raise
                if decision.action is Action.COMPLETE:
                    self.dest.release()
                    assert existing.state is not None
                    self._prove_complete(existing.state)
                    self.dest.confirm_complete(existing.state)
                    return "complete", existing.state
                if decision.action is Action.RESUME:
                    assert existing.state is not None
                    try:
                        if self.dest.can_read_back:
                            self._spot_check(existing.state)
                        self.image = self._image_for(existing.state)
                        self._prove_prefix(existing.state)
                    except BaseException:
                        self.dest.release()
                        raise
                    self.state = existing.state
                    self.state.lease_seconds = self.lease_seconds  # what a rerun meeting our guard reads
                    self.state.source_stat = self.stats  # this file (maybe a copy) is the one now read
                    self.image = self._image_for(existing.state)
                    self.dest.save_state(self.state)
                    return "resume", existing.state
            # Overwrite (or the destination changed under us): make it afresh, so no old page
            # survives beside skipped zeros.
            self.state = self._fresh_state()
            self.image = self._image_for(self.state)
            self.dest.replace(size=self.image.size, state=self.state)
            return "new", None
        raise DestinationConflictError(f"{self.dest.url} keeps changing under this upload; try again")

    def _prove_prefix(self, existing: UploadState) -> None:
        """Recompute the CRC64 of ``[0, W)`` from the local source and compare it with what the
        destination recorded; refuse a source that changed since (whatever its stat says)."""
        mark, mark_crc = existing.watermark
        mark = min(mark, self.image.data_size)
        self.proven = 0
        if not mark or not mark_crc:
            return
        started = time.monotonic()
        local = crc64.to_hex(prefix_crc(self.image, mark, cancel=self.cancel))
        self.proof_seconds += time.monotonic() - started
        if local != mark_crc:
            raise DestinationConflictError(
                f"{self.dest.url} holds an unfinished upload whose first {mark} bytes (offsets [0, {mark})) differ "
                f"from {self.image.disk.path.name} now: the source changed since it was sent, so the upload cannot "
                "be continued; add --overwrite to upload afresh"
            )
        self.proven = mark

    def _prove_complete(self, existing: UploadState) -> None:
        """A finished upload counts as this source's only if its recorded whole CRC64 is the
        local one, recomputed (``trust_stat`` skips that for the very same, unmodified file)."""
        if self.trust_stat and existing.source_stat and existing.source_stat == self.stats:
            return
        if not existing.crc64:
            return
        started = time.monotonic()
        local = crc64.to_hex(whole_crc(self._image_for(existing), cancel=self.cancel))
        self.proof_seconds += time.monotonic() - started
        if local != existing.crc64:
            raise DestinationConflictError(
                f"{self.dest.url} holds a finished upload that looks like {self.image.disk.path.name} (same size and "
                f"samples) but its CRC64 {existing.crc64} is not the file's {local}: the source changed since, or "
                "it is another one; add --overwrite to upload it again"
            )

    def _rewrite_unproven(self, send: SendFunction, listed: list[tuple[int, int]],
                          tracker: ProgressTracker) -> planning.RangeSet:
        """What the destination holds past the proven watermark may be of an older source: write
        the local bytes (zeros included) over each such range, so nothing stale survives beside
        skipped zeros. Returns what the pump may skip: the proven prefix and what was rewritten."""
        image = self.image
        proven = [(lo, min(hi, self.proven)) for lo, hi in listed if lo < self.proven]
        beyond = [(max(lo, self.proven), min(hi, image.data_size)) for lo, hi in listed if hi > self.proven]
        beyond = [(lo, hi) for lo, hi in beyond if hi > lo]
        rewritten = planning.RangeSet(beyond)
        for lo, hi in rewritten.ranges:
            for offset in range(lo, hi, planning.CHUNK):
                piece = image.read(offset, min(planning.CHUNK, hi - offset))
                send(piece, offset, crc64.compute(piece))
        if rewritten.ranges:
            # The pump counts what it skips as already present; these were just sent.
            tracker.add(bytes_present=-rewritten.size())
            log.info("rewrote %d bytes held past the proven watermark %d", rewritten.size(), self.proven)
        return planning.RangeSet(proven + beyond)

    def _advance_watermark(self, position: int, crc: int) -> None:
        """Called as the prefix [0, position) is wholly sent: the next save records it."""
        if self.state is not None and position > self.state.watermark[0]:
            self.state.watermark = (position, crc64.to_hex(crc))
            self.dest.record_progress(self.state)

    def _spot_check(self, existing: UploadState) -> None:
        """Compare up to 16 of the destination's data ranges (64 KiB at the start of each,
        spread over the first listing window) with the local source, and refuse if one differs.

        The fingerprint samples fixed places only, so that any copy of the source agrees with
        it; two sparse images of one size whose data differs elsewhere would share it. The
        blob's own pages settle that, wherever the rerun runs, for ~1 MiB of reads."""
        image = self.image
        listed = self.dest.held_ranges(size=min(image.data_size, RANGE_WINDOW))
        if not listed:
            return
        held = [(lo, min(hi, image.data_size)) for lo, hi in listed if lo < RANGE_WINDOW]
        ranges = planning.RangeSet(held).ranges
        for lo, hi in ranges[:: max(1, len(ranges) // _SPOT_CHECKS)][:_SPOT_CHECKS]:
            n = min(_SPOT_CHECK_BYTES, hi - lo)
            if n > 0 and self.dest.read(lo, n) != image.read(lo, n):
                state = "a finished" if existing.complete else "an unfinished"
                raise DestinationConflictError(
                    f"{self.dest.url} holds {state} upload that looks like {image.disk.path.name} (same size and "
                    f"samples) but holds other data near offset {lo}; it is another source, or this one changed: "
                    "add --overwrite to replace it"
                )

    def _fresh_state(self) -> UploadState:
        footer = Footer.parse(self.image.footer)
        if self.image.disk.footer is None:
            # A raw image: pin a new footer identity in the state so that reruns write it again.
            footer = footer.replace(uuid=uuid_module.uuid4())
        return UploadState(
            source=self.identity,
            blob_size=self.image.size,
            footer_uuid=footer.uuid.hex,
            footer_timestamp=footer.timestamp,
            lease_seconds=self.lease_seconds,
            source_stat=self.stats,
        )

    def _image_for(self, state: UploadState) -> BlobImage:
        if self.image.disk.footer is not None:
            return self.image
        return self.image.with_footer(footer_uuid=state.footer_uuid_value, footer_timestamp=state.footer_timestamp)

    # -- steps 4 and 5 -----------------------------------------------------------------------
    def run(self, *, progress: ProgressCallback | None, content_md5: bool, started: float) -> UploadResult:
        failed = True
        try:
            mode, existing = self._prepare()
            log.info("%s: %s (%d bytes, source %s)", self.dest.url,
                     {"new": "new upload", "resume": "resuming", "complete": "already complete"}[mode],
                     self.image.size, self.identity.describe())
            if mode == "complete":
                assert existing is not None
                present, data = self._held_when_complete(existing)
                failed = False
                return self._result(
                    sent=0, present=present, data_bytes=data, requests=0, retries=0,
                    started=started, crc=existing.crc64 or "", resumed=False, already=True, md5=None,
                )
            result = self._transfer(mode, progress=progress, content_md5=content_md5,
                                    started=started)
            failed = False
            return result
        except SourceChangedError:
            self._mark_source_changed()
            raise
        except OSError as exc:  # reading the source failed (a disk error, a vanished file)
            raise InputError(f"reading {self.image.disk.path} failed: {exc.strerror or exc}; {RESUME_HINT}") from None
        except BaseException:  # cancelled, interrupted, retries spent...: was the source written meanwhile?
            if self.state is not None and self._source_moved():
                self._mark_source_changed()
            else:
                self._save_progress()
            raise
        finally:
            self.dest.close()
            if failed:
                self._add_failure_note()

    def _held_when_complete(self, existing: UploadState) -> tuple[int, int]:
        """``(bytes_present, data_bytes)`` of a destination that already holds this source: what
        its page ranges hold (the figure ``upload_status`` reports), and of that the data region's
        share, since nothing of the source was scanned. A destination that cannot list its
        ranges counts as holding the whole blob, data unknown (0)."""
        if not self.dest.can_read_back:
            return existing.blob_size, 0
        listed = self.dest.held_ranges(size=self.image.size)
        if listed is None:
            return existing.blob_size, 0
        held = planning.RangeSet(listed)
        data = planning.RangeSet([(lo, min(hi, self.image.data_size)) for lo, hi in held.ranges if lo < self.image.data_size])
        return held.size(), data.size()

    def _add_failure_note(self) -> None:
        """Let the destination clean up and say what it left, appended to the error raised."""
        import sys  # noqa: PLC0415 - only on this rare path

        exc = sys.exc_info()[1]
        cancelled = isinstance(exc, (KeyboardInterrupt, CancelledError)) or self.cancel.is_set()
        try:
            note = self.dest.failure_note(cancelled=cancelled)
        except Exception as cleanup:  # noqa: BLE001 - the original error matters more
            note = f"cleaning up failed too: {cleanup}"
        if note and isinstance(exc, VhdUploadError) and exc.args:
            exc.args = (f"{exc.args[0]}; {note}", *exc.args[1:])

    def _transfer(self, mode: str, *, progress: ProgressCallback | None, content_md5: bool,
                  started: float) -> UploadResult:
        image = self.image
        self.dest.open_for_writing(state=lambda: self.state, seconds_hint=image.size / _PLANNING_RATE)
        listed: list[tuple[int, int]] | None = []
        if mode == "resume":
            listed = self.dest.held_ranges(size=image.data_size)
            if listed is None:
                self.dest.notes.append("the destination did not list what it holds: everything was sent again")
                listed = []
            else:
                log.info("the destination already holds %d bytes; [0, %d) proven the source's, the rest is written again",
                         planning.RangeSet(listed).size(), self.proven)
        tracker = ProgressTracker(total=image.examined_bytes() + FOOTER_SIZE, subscribers=[progress] if progress else None)
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
            limiter=BandwidthLimiter(self.settings.max_bandwidth, cancel=self.cancel, cancel_message=cancel_message),
            tracker=tracker,
        )
        held = self._rewrite_unproven(send, listed, tracker) if listed else planning.RangeSet()
        max_gap = self.settings.max_gap
        if max_gap is None:  # start from the destination's bytes/s over its requests/s, then measure
            max_gap = planning.default_max_gap(getattr(self.dest, "limits", None))
        result = pump(
            image, send=send, held=held, threads=self.settings.threads, max_gap=max_gap,
            adapt_gap=self.settings.max_gap is None,
            cancel=self.cancel, tracker=tracker, content_md5=content_md5, cancel_message=cancel_message,
            on_prefix=self._advance_watermark,
        )
        self.concurrency_used = (result.threads, result.concurrency.describe() if result.concurrency else "pinned")
        self.merging_used = (result.gap.mostly(), result.gap.describe()) if result.gap else (max_gap, "pinned")
        self._check_guard()
        if self._source_moved():
            raise SourceChangedError(
                f"{image.disk.path} changed while it was being uploaded; the destination is left unfinished. "
                "Upload again (with --overwrite) once the source is stable"
            )
        log.info("data done (%d bytes found); writing the footer page, then the complete mark", result.data_bytes)
        footer_crc = crc64.compute(image.footer)
        send(image.footer, image.data_size, footer_crc)  # the footer page goes last
        tracker.add(covered=FOOTER_SIZE)
        whole = crc64.to_hex(crc64.combine(result.data_crc, footer_crc, FOOTER_SIZE))
        md5 = result.md5.digest() if result.md5 is not None else None
        assert self.state is not None
        self.state.crc64 = whole
        self.state.state = STATE_COMPLETE
        self.dest.finish(self.state, md5=md5)
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

    def _save_progress(self) -> None:
        """Record the watermark reached before stopping, so the rerun re-sends the least (best
        effort: the error that follows matters more)."""
        if self.state is None or not self.state.watermark[0] or self.state.complete:
            return
        try:
            self.dest.save_state(self.state, once=True)  # one try: the retry budget is spent already
        except Exception as exc:  # noqa: BLE001
            log.info("could not record the progress of %s: %s", self.dest.url, exc)

    def _mark_source_changed(self) -> None:
        """Record on the destination that its pages may mix two versions of the source, so that
        no rerun resumes it (best effort: the error that follows says what to do either way)."""
        if self.state is None:
            return
        self.state.state = STATE_SOURCE_CHANGED
        try:
            self.dest.save_state(self.state)
        except Exception as exc:  # noqa: BLE001 - the SourceChangedError is what matters
            log.warning("could not mark %s as made from a changed source: %s", self.dest.url, exc)

    def _put(self, data: bytes, offset: int, crc: int) -> None:
        self._check_guard()
        self.dest.put_page(data, offset=offset, crc=crc64.to_header(crc))

    def _reread(self, offset: int, length: int) -> bytes:
        if offset >= self.image.data_size:
            return self.image.footer
        return self.image.read(offset, length)

    def _check_guard(self) -> None:
        if self.dest.lost is not None:
            raise self.dest.lost

    def _result(self, *, sent: int, present: int, data_bytes: int, requests: int, retries: int, started: float,
                crc: str, resumed: bool, already: bool, md5: str | None) -> UploadResult:
        image = self.image
        extra = self.dest.summary()
        return UploadResult(
            blob_url=self.dest.url,
            source=str(image.disk.path),
            virtual_size=image.virtual_size,
            blob_size=image.size,
            data_bytes=data_bytes,
            bytes_sent=sent,
            bytes_skipped=max(0, image.size - sent - present),
            bytes_present=present,
            requests=requests,
            retries=retries + self.dest.retries,  # Put Pages and the other calls alike
            seconds=time.monotonic() - started,
            crc64=crc,
            resumed=resumed,
            already_complete=already,
            resized=image.resized,
            content_md5=md5,
            disk_id=extra.get("disk_id"),
            disk_state=extra.get("disk_state"),
            notes=list(self.dest.notes),
            threads=getattr(self, "concurrency_used", (0, ""))[0],
            concurrency=getattr(self, "concurrency_used", (0, ""))[1],
            max_gap=getattr(self, "merging_used", (0, ""))[0],
            merging=getattr(self, "merging_used", (0, ""))[1],
            check_seconds=round(self.proof_seconds, 3),
        )
