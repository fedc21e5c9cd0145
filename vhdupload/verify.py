"""``verify``: compare a destination (a page blob, a managed disk) with the local disk without downloading its zeros.

The blob's page ranges are listed window by window; only those ranges are downloaded and
compared with the local bytes (and their CRC64s composed into the whole blob's, checked
against the one the upload stored). Where the blob holds no page, the local disk must read as
zeros: only its extents there are read. The footer and the ``complete`` mark are checked too.
(Azure can return a CRC64 of a range itself, but Azurite ignores that header, so the data is
fetched and checksummed here.)
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from os import PathLike
from typing import Any

from . import crc64, planning
from .allocation import without_free_space
from .blob_image import BlobImage
from .destinations.base import Destination, Readback
from .endpoints import open_source, package_errors
from .errors import InputError, StorageError
from .transfer import ProgressTracker, run_bounded
from .transfer.progress import ProgressCallback
from .transfer.settings import DEFAULT_THREADS, TransferSettings
from .verify_ranges import RangeFindings, compare_ranges
from .virtual_disk import VirtualDisk

VERIFY_MAX_GAP = 1024 * 1024
#: ``verify(mode=)``: the full comparison, or the page map and records (:mod:`.verify_ranges`).
VERIFY_MODES = ("full", "ranges")


@dataclass(frozen=True)
class VerifyResult:
    """What a comparison found. ``identical`` is the verdict; ``to_dict`` gives the ``--json``
    object."""

    blob_url: str  # the destination, without secrets
    identical: bool  # same bytes, right footer, marked complete (``ok`` is the same)
    first_difference: int | None  # lowest differing offset, when the bytes differ
    problem: str | None  # one line saying what is wrong, None when identical
    complete: bool
    blob_size: int
    expected_size: int
    bytes_compared: int  # data downloaded and compared
    crc64: str  # of the blob as read (zeros composed)
    seconds: float
    source_bytes_read: int = 0  # read from the local source (its extents; zeros elsewhere are not read)
    mode: str = "full"  # "full": every data byte downloaded; "ranges": the page map and records (verify_ranges)
    #: Compared as an upload that left free space home: used blocks byte for byte, free ones as zeros.
    skip_free: bool = False
    #: What the destination records of that: True/False, None where vhdupload did not make it.
    skip_free_recorded: bool | None = None

    @property
    def ok(self) -> bool:
        """Whether the destination holds exactly the source, finished."""
        return self.identical

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data


@package_errors("verifying")
def verify(
    source: "str | PathLike[str]",
    destination: Destination,
    *,
    raw: bool = False,
    resize: bool = True,
    settings: TransferSettings | None = None,
    cancel: threading.Event | None = None,
    progress: ProgressCallback | None = None,
    mode: str = "full",
    skip_free: bool | None = None,
) -> VerifyResult:
    """Compare ``destination`` with ``source`` without downloading its zeros (a managed disk is
    granted read access for the comparison, revoked afterwards).

    :param source: the disk that was uploaded (VHD, VHDX, or with ``raw`` a raw image).
    :param destination: a :class:`vhdupload.PageBlob` or :class:`vhdupload.ManagedDisk`.
    :param raw: ``source`` is a raw image.
    :param resize: as the upload had it (a size not a whole MiB was rounded up).
    :param settings: threads, timeout and retries of the reads (:class:`vhdupload.TransferSettings`).
    :param cancel: set it to stop (:class:`vhdupload.CancelledError`).
    :param progress: :class:`vhdupload.Progress` snapshots from worker threads: ``total`` is the
        bytes to compare, ``bytes_received`` what was downloaded so far.
    :param mode: ``"full"`` downloads every byte the destination holds and compares it;
        ``"ranges"`` downloads only the footer and the pages where the source reads zero, and checks
        the page map, the completion mark and the whole-disk CRC64 the upload recorded (each Put Page's
        CRC64 was checked by the service): see :mod:`vhdupload.verify_ranges`. A destination without
        a recorded CRC64 (another tool's upload) gets the full comparison.
    :param skip_free: whether the upload skipped free space (then the used blocks are compared,
        and the free ones must read as zeros at the destination). None (the default) takes what
        the upload recorded on the destination (a plain comparison where nothing is recorded);
        True or False compares that way whatever it records, and a difference then says that the
        record disagrees. ``skip_free`` and ``skip_free_recorded`` of the result say both.
    :returns: a :class:`vhdupload.VerifyResult` whose ``ok`` says whether they match.
    :raises vhdupload.StorageError: only when the comparison itself could not be made (the
        destination is missing, holds an unfinished upload, cannot be read).
    """
    started = time.monotonic()
    if mode not in VERIFY_MODES:
        raise InputError(f"verify mode {mode!r} is not one of {', '.join(VERIFY_MODES)}")
    settings = settings or TransferSettings()
    if settings.threads is None:  # reads do not adapt: a fixed pool of the default size
        settings = dataclasses.replace(settings, threads=DEFAULT_THREADS)
    cancel = cancel or threading.Event()
    session = destination.open(settings=settings, cancel=cancel)  # holds nothing until it reads
    whole = open_source(source, raw=raw)
    disk: VirtualDisk = whole
    failed = True
    try:
        readback = session.open_for_reading()
        recorded = readback.state.skip_free if readback.state is not None else None
        compare_free = bool(recorded) if skip_free is None else skip_free
        if compare_free:  # what such an upload sent: zeros in the free space
            disk, _found = without_free_space(whole)
        # A raw image's footer is the one the upload pinned in the recorded state.
        image = session.layout(disk, resize=resize, state=readback.state)
        threads = settings.threads or DEFAULT_THREADS
        state = readback.state
        if mode == "ranges" and state is not None and state.complete and state.crc64:
            result = _from_findings(readback, image, started, compare_ranges(
                readback, image, threads=threads, cancel=cancel, progress=progress))
        else:
            result = _compare(readback, image, threads=threads, cancel=cancel, started=started, progress=progress)
        failed = False
        return _with_free_space(result, compared=compare_free, recorded=recorded)
    finally:
        try:
            session.close(failed=failed)
        finally:
            whole.close()


def _with_free_space(result: VerifyResult, *, compared: bool, recorded: bool | None) -> VerifyResult:
    """Say how free space was compared; where the comparison failed and was not made as the
    upload recorded, the problem says so too (the likelier cause) and how to compare as uploaded."""
    problem = result.problem
    if problem is not None and recorded is not None and compared != recorded:
        if recorded:
            problem += ("; the upload recorded on it left its free space home (--skip-free) but it was compared bit "
                        "for bit: drop --no-skip-free to compare it as uploaded")
        else:
            problem += ("; the upload recorded on it sent the disk whole but it was compared with free space as "
                        "zeros: drop --skip-free to compare it as uploaded")
    return dataclasses.replace(result, problem=problem, skip_free=compared, skip_free_recorded=recorded)


def _from_findings(readback: Readback, image: BlobImage, started: float, found: RangeFindings) -> VerifyResult:
    state = readback.state
    return VerifyResult(
        blob_url=readback.url, identical=found.problem is None, first_difference=found.first, problem=found.problem,
        complete=state is not None and state.complete, blob_size=readback.size, expected_size=image.size,
        bytes_compared=found.downloaded, crc64=found.crc, seconds=time.monotonic() - started,
        source_bytes_read=found.source_read, mode="ranges",
    )


def _compare(readback: Readback, image: BlobImage, *, threads: int, cancel: threading.Event, started: float,
             progress: ProgressCallback | None = None) -> VerifyResult:
    state, blob_size = readback.state, readback.size
    complete = state is not None and state.complete
    if state is not None and not complete:
        # Its pages are a partial copy by design: "differs at offset X" would mislead.
        why = "its source changed during the upload" if state.source_changed else "it was interrupted"
        raise StorageError(
            f"{readback.url} holds an unfinished upload ({why}): there is nothing finished to verify; run the "
            "upload again to finish it (`vhdupload status` shows how far it got)"
        )
    read_locally = [0]

    def result(*, first: int | None, problem: str | None, compared: int = 0, crc: str = "") -> VerifyResult:
        return VerifyResult(
            blob_url=readback.url, identical=problem is None, first_difference=first, problem=problem,
            complete=complete, blob_size=blob_size, expected_size=image.size, bytes_compared=compared,
            crc64=crc, seconds=time.monotonic() - started, source_bytes_read=read_locally[0],
        )

    if blob_size != image.size:
        return result(
            first=min(blob_size, image.size),
            problem=f"the blob is {blob_size} bytes but the source makes a {image.size}-byte blob",
        )
    # Neighbouring page ranges are fetched as one piece, zeros between them included: a GET
    # costs more than reading VERIFY_MAX_GAP of zeros (Azure's per-request latency; Azurite even
    # scans every range of the blob on each GET, so 2,400 small GETs took 110 s, not 10).
    held = planning.RangeSet(planning.merge_gaps(
        planning.coalesce(readback.held_ranges(size=image.data_size)), max_gap=VERIFY_MAX_GAP,
    ))
    tasks = list(_tasks(image, held))
    footer_size = image.size - image.data_size
    tracker = ProgressTracker(total=sum(hi - lo for _i, _k, lo, hi in tasks) + footer_size,
                              subscribers=[progress] if progress else None)
    first: list[int] = []
    compared = [0]
    fold = crc64.OrderedFold()

    def work(task: tuple[int, str, int, int]) -> tuple[int, int, int | None]:
        """``(crc of the blob's bytes, bytes downloaded, first difference or None)``"""
        _index, kind, lo, hi = task
        local = image.read(lo, hi - lo)
        if kind == "data":
            remote = readback.read(lo, hi - lo)
            differs = lo + _first_difference(remote, local) if remote != local else None
            return crc64.compute(remote), hi - lo, differs
        differs = None if planning.is_zero(local) else lo + _first_difference(bytes(len(local)), local)
        return crc64.zeros(hi - lo), 0, differs

    def on_result(task: tuple[int, str, int, int], outcome: tuple[int, int, int | None]) -> None:
        crc, downloaded, differs = outcome
        fold.add(task[0], task[2], task[3], crc)
        compared[0] += downloaded
        read_locally[0] += task[3] - task[2]
        tracker.add(covered=task[3] - task[2], bytes_received=downloaded)
        if differs is not None:
            first.append(differs)

    run_bounded(iter(tasks), work, threads=threads, cancel=cancel, on_result=on_result,
                cancel_message="verify cancelled")
    data_crc = fold.finish(image.data_size)
    footer = readback.read(image.data_size, footer_size)
    tracker.add(covered=footer_size, bytes_received=footer_size)
    whole = crc64.to_hex(crc64.combine(data_crc, crc64.compute(footer), len(footer)))
    if first:
        offset = min(first)
        return result(first=offset, problem=f"the blob differs from the source at offset {offset}",
                      compared=compared[0], crc=whole)
    if footer != image.footer:
        offset = image.data_size + _first_difference(footer, image.footer)
        return result(first=offset, problem="the blob's footer is not the expected fixed VHD footer",
                      compared=compared[0], crc=whole)
    if not complete:
        return result(first=None, problem="the data matches but the upload is not marked complete: "
                      "run the upload again to finish it", compared=compared[0], crc=whole)
    if state is not None and state.crc64 and state.crc64 != whole:
        return result(first=None, problem=f"the stored CRC64 {state.crc64} does not match the blob's {whole}",
                      compared=compared[0], crc=whole)
    return result(first=None, problem=None, compared=compared[0], crc=whole)


def _tasks(image: BlobImage, held: planning.RangeSet) -> Iterator[tuple[int, str, int, int]]:
    """Numbered pieces of at most 4 MiB in offset order: ``data`` where the blob holds pages
    (download and compare), ``zero`` where it does not but the local disk may hold data."""
    pieces: list[tuple[str, int, int]] = []
    for lo, hi in held.ranges:
        pieces.extend(("data", a, b) for a, b in _split(lo, min(hi, image.data_size)))
    for gap_lo, gap_hi in planning.gaps(held.ranges, start=0, stop=image.disk.virtual_size):
        for lo, hi in image.disk.extents(gap_lo, gap_hi):
            pieces.extend(("zero", a, b) for a, b in _split(lo, hi))
    pieces.sort(key=lambda piece: piece[1])
    for index, (kind, lo, hi) in enumerate(pieces):
        yield index, kind, lo, hi


def _split(lo: int, hi: int) -> Iterator[tuple[int, int]]:
    for start in range(lo, hi, planning.CHUNK):
        yield start, min(hi, start + planning.CHUNK)


def _first_difference(a: bytes, b: bytes) -> int:
    """Offset of the first byte where ``a`` and ``b`` differ (bisecting with memcmp)."""
    lo, hi = 0, min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[lo:mid] != b[lo:mid]:
            hi = mid
        else:
            lo = mid
    return lo
