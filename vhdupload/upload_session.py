"""One upload to one destination: the decisions of steps 2-5 of :mod:`vhdupload.upload` and
their shared state.

The rules live in :func:`vhdupload.upload_decision.decide`; how state is kept and a second
writer kept out is the destination's (:class:`vhdupload.destinations.DestinationSession`)."""

from __future__ import annotations

import base64
import contextlib
import logging
import sys
import threading
import time
import uuid as uuid_module
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import crc64, planning
from .azure.error_map import translate
from .azure.errors import classify, is_checksum_mismatch
from .azure.state import STATE_COMPLETE, STATE_SOURCE_CHANGED, SourceIdentity, UploadState, stat_token
from .blob_image import BlobImage
from .destinations.base import DestinationSession
from .engine import SendFunction, Stream, make_sender, pump
from .errors import (
    CancelledError,
    DestinationConflictError,
    InputError,
    SkipFreeMismatchError,
    SourceChangedError,
    VhdUploadError,
)
from .source_checks import OtherWay, SourceProof, rewrite_unproven, spot_check
from .source_proof import prefix_crc, whole_crc
from .transfer import BandwidthLimiter, ProgressTracker, RetryPolicy, TransferSettings
from .transfer.progress import ProgressCallback
from .transfer.set_pacing import Lane
from .upload_decision import Action, Decision, decide
from .upload_result import UploadResult
from .vhd import Footer
from .vhd.footer import FOOTER_SIZE

log = logging.getLogger("vhdupload.upload")

RESUME_HINT = "nothing was deleted: run the same command again to resume"
#: Bytes per second assumed when sizing a time-limited grant (a Standard HDD upload's floor).
_PLANNING_RATE = 20 * 1024 * 1024
#: Looks at a destination that keeps changing under this upload before giving up.
_ATTEMPTS = 3


@dataclass(frozen=True)
class UploadRequest:
    """What the caller asked for, beside the destination."""

    image: BlobImage
    identity: SourceIdentity
    stats: str  # stat_token of the source files when opened
    overwrite: bool
    wait: bool
    trust_stat: bool
    skip_free: bool = False  # ``image`` leaves the free space out: recorded, and compared with the record
    #: Made only when an unfinished upload made the other way is met (it reads allocation maps).
    other_way: Callable[[], OtherWay] | None = None


class UploadSession:
    def __init__(self, *, dest: DestinationSession, request: UploadRequest, settings: TransferSettings,
                 cancel: threading.Event) -> None:
        self.dest = dest
        self.request = request
        self.image = request.image
        self.settings = settings
        self.cancel = cancel
        self.state: UploadState | None = None
        self.proven = 0  # [0, proven) of the destination was proven to be this source's
        self.proof = SourceProof(url=dest.url, cancel=cancel, trust_stat=request.trust_stat, stats=request.stats)
        self.concurrency_used = (0, "")
        self.merging_used = (0, "")
        #: Set when resuming an unfinished upload made with ``skip_free`` the other way.
        self.switch: OtherWay | None = None
        self._other_way: OtherWay | None = None

    # -- steps 2 and 3 ------------------------------------------------------------------------
    def _decide(self) -> tuple[Decision, UploadState | None]:
        existing = self.dest.look()
        decision = decide(existing, identity=self.request.identity, blob_size=self.image.size,
                          stats=self.request.stats, overwrite=self.request.overwrite,
                          skip_free=self.request.skip_free)
        if decision.action is Action.REFUSE:
            raise DestinationConflictError(f"{self.dest.url} {decision.reason}")
        return decision, existing.state

    def _prepare(self) -> tuple[str, UploadState | None]:
        """Returns ``("complete", state)``, ``("resume", state)`` or ``("new", None)``, holding
        the writer guard for the last two."""
        for _attempt in range(_ATTEMPTS):
            decision, existing = self._decide()
            if decision.action is Action.CREATE:
                if self._create():
                    return "new", None
                continue  # someone created it just now: look again
            if decision.action in (Action.COMPLETE, Action.COMPLETE_IF_SAME):
                assert existing is not None
                return "complete", self._accept_complete(existing, spot=self.dest.can_read_back, decision=decision)
            with self._claimed():
                if decision.action is Action.RESUME:
                    return self._resume_under_guard()
                self._replace()
                return "new", None
        raise DestinationConflictError(f"{self.dest.url} keeps changing under this upload; try again")

    @contextlib.contextmanager
    def _claimed(self) -> Iterator[None]:
        """The writer guard, given up again if what follows under it fails."""
        self.dest.claim(wait=self.request.wait, cancel=self.cancel, wait_timeout=self.settings.wait_timeout)
        try:
            yield
        except BaseException:
            self.dest.release()
            raise

    def _create(self) -> bool:
        self.state = self._fresh_state()
        self.image = self._image_for(self.state)
        return self.dest.create(size=self.image.size, state=self.state)

    def _replace(self) -> None:
        """Make it afresh under the guard, so no old page survives beside skipped zeros."""
        self.state = self._fresh_state()
        self.image = self._image_for(self.state)
        self.dest.replace(size=self.image.size, state=self.state)

    def _accept_complete(self, existing: UploadState, *, spot: bool, decision: Decision) -> UploadState:
        if decision.action is Action.COMPLETE_IF_SAME:
            self._same_bytes_or_refuse(existing, decision.reason)
        else:
            if spot:
                spot_check(self.dest, self.image, existing)
            self.proof.complete(self._image_for(existing), existing)
        self.dest.confirm_complete(existing)
        return existing

    def _same_bytes_or_refuse(self, existing: UploadState, refusal: str) -> None:
        """A finished upload sent with ``skip_free`` the other way is this one's only if its
        recorded CRC64 is this way's image's (the free space read zeros anyway): recomputed
        always, since the file being unmodified says nothing about the other way."""
        local = crc64.to_hex(whole_crc(self._image_for(existing), cancel=self.cancel))
        if not existing.crc64 or local != existing.crc64:
            raise SkipFreeMismatchError(f"{self.dest.url} {refusal}", recorded_skip_free=existing.skip_free)
        sent = "leaving free space home" if existing.skip_free else "whole"
        self.dest.notes.append(f"it was sent {sent}, and holds the very bytes this upload would leave: "
                               "nothing to send (its free space reads zeros either way)")

    def _resume_under_guard(self) -> tuple[str, UploadState | None]:
        """Look again under the guard: another upload may have finished meanwhile."""
        decision, existing = self._decide()
        if decision.action in (Action.COMPLETE, Action.COMPLETE_IF_SAME):
            assert existing is not None
            self.dest.release()
            return "complete", self._accept_complete(existing, spot=False, decision=decision)
        if decision.action is not Action.RESUME:
            self._replace()  # it changed under us: make it afresh
            return "new", None
        assert existing is not None
        recorded = self.image  # as the upload being resumed sent it: what its pages and proofs are of
        # A page holding a free byte may be either way's past the watermark (a switch stopped midway)
        alternative: Callable[[], OtherWay] | None = self._other if self.request.other_way is not None else None
        if existing.skip_free != self.request.skip_free:
            switch = self.switch = self._other()
            recorded = switch.image

            def alternative() -> OtherWay:
                return OtherWay(image=self.image, differ=switch.differ)
        recorded = self._image_for(existing, recorded)
        if self.dest.can_read_back:
            spot_check(self.dest, recorded, existing, other_way=alternative)
        self.image = self._image_for(existing)
        self.proven = self.proof.prefix(recorded, existing)
        existing.lease_seconds = self.dest.lease_seconds  # what a rerun meeting our guard reads
        existing.source_stat = self.request.stats  # this file (maybe a copy) is the one now read
        self.state = existing
        self.dest.save_state(existing)
        return "resume", existing

    def _other(self) -> OtherWay:
        """The source sent the other way (read once: it may read allocation maps)."""
        if self._other_way is None:
            assert self.request.other_way is not None
            self._other_way = self.request.other_way()
        return self._other_way

    def _fresh_state(self) -> UploadState:
        footer = Footer.parse(self.image.footer)
        if self.image.disk.footer is None:
            # A raw image: pin a new footer identity in the state so that reruns write it again.
            footer = footer.replace(uuid=uuid_module.uuid4())
        return UploadState(
            source=self.request.identity,
            blob_size=self.image.size,
            footer_uuid=footer.uuid.hex,
            footer_timestamp=footer.timestamp,
            lease_seconds=self.dest.lease_seconds,
            source_stat=self.request.stats,
            skip_free=self.request.skip_free,
        )

    def _image_for(self, state: UploadState, image: BlobImage | None = None) -> BlobImage:
        image = image or self.image
        if image.disk.footer is not None:
            return image
        return image.with_footer(footer_uuid=state.footer_uuid_value, footer_timestamp=state.footer_timestamp)

    # -- steps 4 and 5 -----------------------------------------------------------------------
    def run(self, *, progress: ProgressCallback | None, started: float) -> UploadResult:
        failed = True
        try:
            mode, existing = self._prepare()
            log.info("%s: %s (%d bytes, source %s)", self.dest.url,
                     {"new": "new upload", "resume": "resuming", "complete": "already complete"}[mode],
                     self.image.size, self.request.identity.describe())
            if mode == "complete":
                assert existing is not None
                present, data = self._held_when_complete(existing)
                failed = False
                return self._result(sent=0, present=present, data_bytes=data, requests=0, retries=0,
                                    started=started, crc=existing.crc64 or "", mode=mode, md5=None)
            result = self._transfer(mode, progress=progress, started=started)
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
            self._close(failed=failed)

    def _close(self, *, failed: bool) -> None:
        """Let the destination end what it holds (and after a failure clean up and say what it
        left, appended to the error being raised)."""
        exc = sys.exc_info()[1] if failed else None
        cancelled = isinstance(exc, (KeyboardInterrupt, CancelledError)) or self.cancel.is_set()
        try:
            note = self.dest.close(failed=failed, cancelled=cancelled)
        except Exception as cleanup:  # noqa: BLE001 - the original error matters more
            if not failed:
                raise
            note = f"cleaning up failed too: {cleanup}"
        if note and isinstance(exc, VhdUploadError) and exc.args:
            exc.args = (f"{exc.args[0]}; {note}", *exc.args[1:])

    def _held_when_complete(self, existing: UploadState) -> tuple[int, int]:
        """``(bytes_present, data_bytes)`` of a destination that already holds this source: what
        its page ranges hold (the figure ``status`` reports), and of that the data region's share,
        since nothing of the source was scanned. A destination that cannot list its ranges counts
        as holding the whole blob, data unknown (0)."""
        listed = self.dest.held_ranges(size=self.image.size) if self.dest.can_read_back else None
        if listed is None:
            return existing.blob_size, 0
        held = planning.RangeSet(listed)
        data_size = self.image.data_size
        data = planning.RangeSet([(lo, min(hi, data_size)) for lo, hi in held.ranges if lo < data_size])
        return held.size(), data.size()

    def _transfer(self, mode: str, *, progress: ProgressCallback | None, started: float) -> UploadResult:
        image = self.image
        self.dest.open_for_writing(state=lambda: self.state, seconds_hint=image.size / _PLANNING_RATE)
        listed = self._listed_for_resume() if mode == "resume" else []
        redo = planning.RangeSet()
        if self.switch is not None:
            redo = self._switch_way(listed)
        tracker = ProgressTracker(total=image.examined_bytes() + FOOTER_SIZE, subscribers=[progress] if progress else None)
        send, lane = self._sender(tracker)
        try:
            return self._send_all(send, tracker, listed, redo=redo, mode=mode, started=started)
        finally:
            if lane is not None:
                lane.close()

    def _send_all(self, send: SendFunction, tracker: ProgressTracker, listed: list[tuple[int, int]] | None, *,
                  redo: planning.RangeSet, mode: str, started: float) -> UploadResult:
        image = self.image
        held = (rewrite_unproven(image, send, listed, proven=self.proven, tracker=tracker, redo=redo)
                if listed else planning.RangeSet())
        max_gap = self.settings.max_gap
        if max_gap is None:  # start from the destination's bytes/s over its requests/s, then measure
            max_gap = planning.default_max_gap(self.dest.limits)
        stream = Stream(image, send=send, held=held, tracker=tracker, content_md5=self.dest.wants_md5,
                        on_prefix=self._advance_watermark)
        result = pump(stream, settings=self.settings, max_gap=max_gap, cancel=self.cancel,
                      cancel_message=f"upload cancelled; {RESUME_HINT}")
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
            requests=snap.requests, retries=snap.retries, started=started, crc=whole, mode=mode,
            md5=base64.b64encode(md5).decode("ascii") if md5 is not None else None,
        )

    def _switch_way(self, listed: list[tuple[int, int]] | None) -> planning.RangeSet:
        """Finish an unfinished upload made with ``skip_free`` the other way so that the
        destination ends as one upload made this way leaves it. Its proven prefix was the other
        way's; only the pages holding a free byte may differ, so those the destination holds
        there are written again (zeros in the free bytes, or their data) and the pump sends
        the rest. The record switches first, its watermark lowered to where the two ways part,
        so a crash from here on resumes either way, correctly. Returns the pages to rewrite."""
        assert self.switch is not None and self.state is not None
        if listed is None:  # stale pages could survive where this way reads zeros
            way = "with --skip-free" if self.state.skip_free else "without --skip-free"
            raise DestinationConflictError(
                f"{self.dest.url} holds an unfinished upload made {way}, and it cannot list which pages it "
                f"holds to change that; run it {way} to finish it as begun, or add --overwrite to upload afresh"
            )
        parted = min([self.proven, *(lo for lo, _hi in self.switch.differ.ranges[:1])])
        self.state.watermark = (parted, crc64.to_hex(prefix_crc(self.image, parted))) if parted else (0, "")
        self.state.skip_free = self.request.skip_free
        self.dest.save_state(self.state)
        redo = planning.RangeSet(self.switch.differ.within(0, self.proven))
        self.dest.notes.append(
            "the unfinished upload there was begun leaving free space home and is finished whole: the free "
            "space of the part already sent was sent too" if not self.request.skip_free else
            "the unfinished upload there was begun with the disk whole and is finished leaving free space "
            "home: the free space already sent was overwritten with zeros"
        )
        return redo

    def _listed_for_resume(self) -> list[tuple[int, int]] | None:
        listed = self.dest.held_ranges(size=self.image.data_size)
        if listed is None and self.switch is not None:
            return None
        if listed is None:
            self.dest.notes.append("the destination did not list what it holds: everything was sent again")
            return []
        log.info("the destination already holds %d bytes; [0, %d) proven the source's, the rest is written again",
                 planning.RangeSet(listed).size(), self.proven)
        return listed

    def _sender(self, tracker: ProgressTracker) -> tuple[SendFunction, Lane | None]:
        """The send function, and its lane when the upload is one of a set paced together."""
        cancel_message = f"upload cancelled; {RESUME_HINT}"
        limiter: BandwidthLimiter | Lane = BandwidthLimiter(self.settings.max_bandwidth, cancel=self.cancel,
                                                            cancel_message=cancel_message)
        lane = None
        if self.settings.set_pacing is not None:
            lane = limiter = self.settings.set_pacing.lane(lambda: tracker.snapshot, inner=limiter, cancel=self.cancel,
                                                            cancel_message=cancel_message)
        policy = RetryPolicy(
            max_retries=self.settings.max_retries, cancel=self.cancel, base=self.settings.backoff_base,
            cap=self.settings.backoff_cap, on_retry=lambda _exc: tracker.add(retries=1),
            cancel_message=cancel_message, failure_hint=RESUME_HINT,
        )
        return make_sender(
            put=self._put, classify=classify,
            translate=lambda exc, offset, n: translate(exc, action=f"writing {n} bytes at offset {offset}", hint=RESUME_HINT),
            reread=self._reread, is_checksum_mismatch=is_checksum_mismatch, policy=policy,
            limiter=limiter, tracker=tracker,
        ), lane

    def _advance_watermark(self, position: int, crc: int) -> None:
        """Called as the prefix [0, position) is wholly sent: the next save records it."""
        if self.state is not None and position > self.state.watermark[0]:
            self.state.watermark = (position, crc64.to_hex(crc))
            self.dest.record_progress(self.state)

    def _source_moved(self) -> bool:
        """Whether the source files were written (or replaced) since they were opened."""
        try:
            return stat_token(self.image.disk.fingerprint_files()) != self.request.stats
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
                crc: str, mode: str, md5: str | None) -> UploadResult:
        image = self.image
        extra = self.dest.summary()
        return UploadResult(
            blob_url=self.dest.url, source=str(image.disk.path), virtual_size=image.virtual_size,
            blob_size=image.size, data_bytes=data_bytes, bytes_sent=sent,
            bytes_skipped=max(0, image.size - sent - present), bytes_present=present, requests=requests,
            retries=retries + self.dest.retries,  # Put Pages and the other calls alike
            seconds=time.monotonic() - started, crc64=crc, resumed=mode == "resume",
            already_complete=mode == "complete", resized=image.resized, content_md5=md5,
            disk_id=extra.get("disk_id"), disk_state=extra.get("disk_state"), notes=list(self.dest.notes),
            threads=self.concurrency_used[0], concurrency=self.concurrency_used[1],
            max_gap=self.merging_used[0], merging=self.merging_used[1],
            check_seconds=round(self.proof.seconds, 3),
        )
