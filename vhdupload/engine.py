"""The data pump: read each 4 MiB chunk that may hold data, find its nonzero pages, send them
with their CRC64 through a page sink, and compose the whole blob's CRC64 as chunks finish.

Work is split per chunk (see :mod:`vhdupload.planning`), so every worker reads, scans,
checksums and sends its own chunk: reading and CRC run in C (and ``pread``/sockets drop the
GIL), and no Python loop touches individual bytes. Memory is the pool's bound: each worker
holds one chunk and at most one slice of it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from . import crc64, planning
from .blob_image import BlobImage
from .errors import SourceChangedError, VhdUploadError
from .transfer import BandwidthLimiter, ProgressTracker, RetryPolicy, Retryable, TransferSettings, run_bounded
from .transfer.concurrency import AdaptiveConcurrency
from .transfer.gap_tuning import GapTuner
from .transfer.set_pacing import Lane

log = logging.getLogger("vhdupload.engine")

#: ``send(data, offset, crc64_value)`` raises a Retryable (the engine retries it) or a
#: package error (the upload stops).
SendFunction = Callable[[bytes, int, int], None]


@dataclass
class PumpResult:
    data_crc: int  # CRC64 of the whole data region [0, data_size)
    data_bytes: int  # nonzero pages found
    md5: "hashlib._Hash | None" = field(default=None, repr=False)
    threads: int = 0  # requests in flight: the pinned count, or where the adaptive limit settled
    concurrency: AdaptiveConcurrency | None = field(default=None, repr=False)  # when adaptive
    gap: GapTuner | None = field(default=None, repr=False)  # when the merge gap adapts


@dataclass(frozen=True)
class Stream:
    """What a pump sends, and where: the image's data region (``held`` ranges skipped) through
    ``send``, progress into ``tracker``; ``content_md5`` also digests the whole image, and
    ``on_prefix(position, crc)`` is told each time the prefix ``[0, position)`` of the data
    region is wholly sent, with its CRC64."""

    image: BlobImage
    send: SendFunction
    held: planning.RangeSet
    tracker: ProgressTracker
    content_md5: bool = False
    on_prefix: Callable[[int, int], None] | None = None


def pump(stream: Stream, *, settings: TransferSettings, max_gap: int, cancel: threading.Event,
         cancel_message: str = "cancelled") -> PumpResult:
    """Send every nonzero page of ``stream.image``'s data region not already held.

    ``settings.threads`` requests run at once; None makes that adaptive (the controller,
    ``settings.concurrency()``, is told of every request and of every retry). Zero gaps shorter
    than ``max_gap`` are sent; with ``settings.max_gap`` None that is only where a
    :class:`~vhdupload.transfer.gap_tuning.GapTuner` starts."""
    image, send, held, tracker = stream.image, stream.send, stream.held, stream.tracker
    content_md5, on_prefix = stream.content_md5, stream.on_prefix
    threads, concurrency, adapt_gap = settings.threads, settings.concurrency(), settings.max_gap is None
    data_size = image.data_size
    tuner = None
    if adapt_gap:
        tuner = GapTuner(start=max_gap, clock=concurrency.clock if concurrency is not None else time.monotonic,
                         quiet=concurrency.holding if concurrency is not None else (lambda: True),
                         epoch=concurrency.epoch if concurrency is not None else (lambda: None))
    timed = _observed(send, concurrency, tuner)
    if concurrency is not None:
        concurrency.watch_retries(lambda: tracker.snapshot.retries)
    folder = crc64.OrderedFold()
    found = [0]
    found_lock = threading.Lock()

    def work(task: tuple[int, int, int, list[planning.Range]]) -> int:
        _index, start, stop, pieces = task
        reads = [(lo, image.read(lo, hi - lo)) for lo, hi in pieces]
        runs = [run for lo, data in reads for run in planning.nonzero_runs(data, base=lo)]
        nonzero = planning.total(runs)
        if tuner is not None:
            tuner.saw(runs)
        crc = crc64.EMPTY
        cursor = start
        present = 0
        for (lo, hi), generation in _merged(runs, max_gap=max_gap, tuner=tuner):
            try:
                piece = _gather(reads, lo, hi)
                piece_crc = crc64.compute(piece)
                crc = crc64.combine(crc64.append_zeros(crc, lo - cursor), piece_crc, hi - lo)
                cursor = hi
                todo = held.subtract_from([(lo, hi)]) if held else [(lo, hi)]
                for a, b in todo:
                    if (a, b) == (lo, hi):
                        timed(piece, lo, piece_crc, generation)
                    else:
                        part = piece[a - lo : b - lo]
                        timed(part, a, crc64.compute(part), generation)
                present += (hi - lo) - planning.total(todo)
            finally:
                if tuner is not None:
                    tuner.end_request(generation)
        # Progress counts the bytes examined (BlobImage.examined_bytes), not the offset reached: holes
        # cost nothing, so an offset-based figure made the ETA and percentage meaningless.
        tracker.add(covered=planning.total(pieces), bytes_present=present)
        with found_lock:
            found[0] += nonzero
        return crc64.append_zeros(crc, stop - cursor)

    def on_result(task: tuple[int, int, int, list[planning.Range]], crc: int) -> None:
        folder.add(task[0], task[1], task[2], crc)
        if on_prefix is not None:
            on_prefix(folder.position, folder.crc)  # [0, position) is all sent: a resume watermark

    chunks = planning.chunk_pieces(image.extents(), stop=data_size)
    tasks = ((index, pieces[0][0], pieces[-1][1], pieces) for index, pieces in enumerate(chunks))

    md5_box: dict[str, object] = {}
    md5_thread = None
    if content_md5:
        md5_thread = threading.Thread(
            target=_md5_worker, args=(image, cancel, md5_box), name="vhdupload-md5", daemon=True
        )
        md5_thread.start()
    try:
        run_bounded(tasks, work, threads=threads or 1, cancel=cancel, on_result=on_result,
                    cancel_message=cancel_message, controller=concurrency)
    finally:
        if md5_thread is not None:
            if cancel.is_set() or "error" in md5_box:
                cancel.set()
            md5_thread.join()
    if "error" in md5_box:
        raise md5_box["error"]  # type: ignore[misc]
    for step in concurrency.steps if concurrency is not None else ():
        log.debug("concurrency at %.2f s: %d -> %d (%s, %.1f MB/s)", step.at, step.before, step.after, step.why,
                  step.rate / 1e6)
    for gap_step in tuner.steps if tuner is not None else ():
        log.debug("zero-gap merging at %.2f s: %d KiB -> %d KiB (%s)", gap_step.at, gap_step.before // 1024,
                  gap_step.after // 1024, gap_step.why)
    return PumpResult(
        data_crc=folder.finish(data_size), data_bytes=found[0], md5=md5_box.get("md5"),  # type: ignore[arg-type]
        threads=concurrency.settled() if concurrency is not None else int(threads or 1),
        concurrency=concurrency, gap=tuner,
    )



def _merged(
    runs: list[planning.Range], *, max_gap: int, tuner: GapTuner | None
) -> Iterator[tuple[planning.Range, int]]:
    """``runs`` with their zero gaps shorter than ``max_gap`` merged (as
    :func:`~vhdupload.planning.merge_gaps` does), each with the tuner's generation (-1 without
    one). With a tuner the gap is asked afresh for every request, so a new gap is on the wire
    within one request rather than one chunk (the caller ends each with ``tuner.end_request``)."""
    index = 0
    while index < len(runs):
        gap, generation = tuner.begin_request() if tuner is not None else (max_gap, -1)
        lo, hi = runs[index]
        index += 1
        while index < len(runs) and runs[index][0] - hi < gap:
            hi = runs[index][1]
            index += 1
        yield (lo, hi), generation


def _observed(
    send: SendFunction, controller: AdaptiveConcurrency | None, tuner: GapTuner | None
) -> Callable[[bytes, int, int, int], None]:
    """``send`` with a generation, timing each call for the tuners (retries and backoff
    included: a request that needed them was slow, which is what they should see)."""
    if controller is None and tuner is None:
        return lambda data, offset, crc, _generation: send(data, offset, crc)
    clock = controller.clock if controller is not None else time.monotonic

    def timed(data: bytes, offset: int, crc: int, generation: int = -1) -> None:
        started = clock()
        send(data, offset, crc)
        finished = clock()
        if controller is not None:
            controller.observe(nbytes=len(data), started=started, finished=finished)
        if tuner is not None:
            tuner.observe(started=started, finished=finished, generation=generation)

    return timed


_ZEROS = bytes(planning.CHUNK)


def _gather(reads: list[tuple[int, bytes]], lo: int, hi: int) -> bytes:
    """Bytes ``[lo, hi)`` from the pieces read (sorted ``(offset, data)``), zeros between them.

    Almost always one slice of one piece (or the whole piece, without a copy); a run that
    merged a gap across a hole is assembled."""
    parts = []
    cursor = lo
    for offset, data in reads:
        end = offset + len(data)
        if end <= cursor:
            continue
        if offset >= hi:
            break
        if offset > cursor:
            parts.append(_ZEROS[: offset - cursor] if offset - cursor <= len(_ZEROS) else bytes(offset - cursor))
            cursor = offset
        take = min(end, hi)
        if cursor == offset and take == end and lo == offset and hi == end:
            return data
        parts.append(data[cursor - offset : take - offset])
        cursor = take
    if cursor < hi:
        parts.append(bytes(hi - cursor))
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _md5_worker(image: BlobImage, cancel: threading.Event, box: dict[str, object]) -> None:
    """MD5 of the whole blob, in order, beside the upload: it reads the extents again (the
    page cache makes that cheap) and feeds the zeros it never reads from memory."""
    try:
        digest = hashlib.md5()
        zeros = memoryview(_ZEROS)
        position = 0
        for start, stop in image.extents():
            stop = min(stop, image.data_size)
            _feed_zeros(digest, zeros, start - position)
            for offset in range(start, stop, planning.CHUNK):
                if cancel.is_set():
                    return
                digest.update(image.read(offset, min(planning.CHUNK, stop - offset)))
            position = stop
        _feed_zeros(digest, zeros, image.data_size - position)
        digest.update(image.footer)
        box["md5"] = digest
    except BaseException as exc:  # handed to the caller's thread
        box["error"] = exc


def _feed_zeros(digest: "hashlib._Hash", zeros: memoryview, n: int) -> None:
    while n > 0:
        step = min(n, len(zeros))
        digest.update(zeros[:step])
        n -= step


def make_sender(
    *,
    put: Callable[[bytes, int, int], None],
    classify: Callable[[BaseException], Retryable | None],
    translate: Callable[[BaseException, int, int], BaseException],
    reread: Callable[[int, int], bytes],
    is_checksum_mismatch: Callable[[BaseException], bool],
    policy: RetryPolicy,
    limiter: BandwidthLimiter | Lane,
    tracker: ProgressTracker,
) -> SendFunction:
    """A ``send`` that rate-limits, retries transient failures and counts everything.

    On a checksum mismatch the data is read again from the source (the bytes in memory or on
    the wire were damaged); if the source no longer holds what was checksummed, the source
    changed and the upload stops rather than mix versions.
    """

    def send(data: bytes, offset: int, crc: int) -> None:
        body = [data]

        def attempt(_number: int) -> None:
            limiter.acquire(len(body[0]))
            try:
                put(body[0], offset, crc)
            except VhdUploadError:
                raise  # already ours (a lost lease, a changed source): nothing to translate
            except Exception as exc:
                retry = classify(exc)
                if retry is None:
                    raise translate(exc, offset, len(body[0])) from None
                log.warning("retrying %d bytes at offset %d: %s", len(body[0]), offset, retry)
                if is_checksum_mismatch(exc):
                    fresh = reread(offset, len(body[0]))
                    if crc64.compute(fresh) != crc:
                        raise SourceChangedError(
                            f"the source changed at offset {offset} during the upload; the blob is left "
                            "unfinished: upload again with --overwrite once the source is stable"
                        ) from None
                    body[0] = fresh
                raise retry from None
            tracker.add(bytes_sent=len(body[0]), requests=1)

        policy.call(attempt, what=f"writing {len(data)} bytes at offset {offset}")

    return send
