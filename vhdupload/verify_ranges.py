"""The cheap check after an upload: the destination's page map and records against the local
disk, without downloading the data again.

Every Put Page carried a CRC64 of its bytes that the service checked before storing them, and
the upload recorded the CRC64 of the whole disk it sent. So a destination whose

- page map covers every 4 KiB page that holds data locally,
- pages outside the local data read as zeros: a held page with no local data on both sides
  within its 4 MiB chunk is downloaded (no upload sends one); the zero gaps between two data runs
  that an upload merged into one request were sent inside a request whose CRC64 the service
  checked, like the data beside them, so only ``GAP_SAMPLE`` of them, spread over the disk, are
  downloaded (a scattered disk has thousands: downloading each cost one request per gap, 20-40 s
  per data disk of a publish through a 40 ms link),
- footer is the expected fixed VHD footer (512 bytes downloaded),
- upload is marked complete, and
- recorded whole-disk CRC64 equals the CRC64 of the local disk read now

holds the local disk, short of a fault inside the service after it acknowledged the data. The
full comparison (:func:`vhdupload.verify` with ``mode="full"``) downloads every data byte.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from . import crc64, planning

#: Merged zero gaps downloaded per disk (the rest are vouched for by their requests' CRC64).
GAP_SAMPLE = 32
from .blob_image import BlobImage
from .destinations.base import Readback
from .transfer import ProgressTracker, run_bounded
from .transfer.progress import ProgressCallback


@dataclass(frozen=True)
class RangeFindings:
    """What the cheap check found: the lowest offset that does not match (or None), the reason,
    bytes downloaded, the local whole-disk CRC64 and bytes read locally."""

    first: int | None
    problem: str | None
    downloaded: int
    crc: str
    source_read: int


def compare_ranges(readback: Readback, image: BlobImage, *, threads: int, cancel: threading.Event,
                   progress: ProgressCallback | None = None) -> RangeFindings:
    """Check ``readback`` against ``image`` from its page map and records (module docstring).

    The caller has made sure the destination records a finished upload with its CRC64."""
    state = readback.state
    assert state is not None and state.crc64  # the caller falls back to the full comparison otherwise
    held = planning.RangeSet(planning.coalesce(readback.held_ranges(size=image.data_size)))
    pieces = list(_pieces(image))
    footer_size = image.size - image.data_size
    tracker = ProgressTracker(total=sum(hi - lo for _i, lo, hi in pieces) + footer_size,
                              subscribers=[progress] if progress else None)
    fold = crc64.OrderedFold()
    data_runs: list[tuple[int, int]] = []
    missing: list[int] = []

    def read_local(piece: tuple[int, int, int]) -> tuple[int, list[tuple[int, int]]]:
        _index, lo, hi = piece
        data = image.read(lo, hi - lo)
        return crc64.compute(data), planning.nonzero_runs(data, base=lo)

    def on_local(piece: tuple[int, int, int], outcome: tuple[int, list[tuple[int, int]]]) -> None:
        crc, runs = outcome
        fold.add(piece[0], piece[1], piece[2], crc)
        data_runs.extend(runs)
        uncovered = held.subtract_from(runs)
        if uncovered:
            missing.append(uncovered[0][0])
        tracker.add(covered=piece[2] - piece[1])

    run_bounded(iter(pieces), read_local, threads=threads, cancel=cancel, on_result=on_local,
                cancel_message="verify cancelled")
    local_crc = crc64.combine(fold.finish(image.data_size), crc64.compute(image.footer), footer_size)
    whole = crc64.to_hex(local_crc)
    source_read = sum(hi - lo for _i, lo, hi in pieces)
    if missing:
        offset = min(missing)
        return RangeFindings(offset, f"the destination holds no data at offset {offset}, where the source does",
                             0, whole, source_read)
    # Pages held where the source reads zero (an upload sends the small zero gaps between data
    # with it): they must read as zeros.
    extra = _to_download(planning.coalesce(data_runs), held.ranges)
    downloaded = [0]
    nonzero: list[int] = []

    def read_remote(piece: tuple[int, int]) -> int | None:
        lo, hi = piece
        remote = readback.read(lo, hi - lo)
        runs = planning.nonzero_runs(remote, base=lo)
        return runs[0][0] if runs else None

    def on_remote(piece: tuple[int, int], found: int | None) -> None:
        downloaded[0] += piece[1] - piece[0]
        if found is not None:
            nonzero.append(found)

    run_bounded(iter([p for lo, hi in extra for p in _split(lo, hi)]), read_remote, threads=threads, cancel=cancel,
                on_result=on_remote, cancel_message="verify cancelled")
    footer = readback.read(image.data_size, footer_size)
    downloaded[0] += footer_size
    tracker.add(covered=footer_size, bytes_received=downloaded[0])
    if nonzero:
        offset = min(nonzero)
        return RangeFindings(offset, f"the destination holds data at offset {offset}, where the source reads zeros",
                             downloaded[0], whole, source_read)
    if footer != image.footer:
        return RangeFindings(image.data_size, "the destination's footer is not the expected fixed VHD footer",
                             downloaded[0], whole, source_read)
    if not state.complete:
        return RangeFindings(None, "the upload is not marked complete: run the upload again to finish it",
                             downloaded[0], whole, source_read)
    if state.crc64 != whole:
        return RangeFindings(None, f"the CRC64 recorded by the upload, {state.crc64}, is not the source's {whole}: "
                             "the source changed after the upload, or the upload sent other data",
                             downloaded[0], whole, source_read)
    return RangeFindings(None, None, downloaded[0], whole, source_read)


def _pieces(image: BlobImage) -> Iterator[tuple[int, int, int]]:
    """Numbered pieces of at most 4 MiB of the source's extents widened to whole 4 KiB pages,
    in offset order: an upload finds data page by page from offset 0, so pages counted from an
    extent's own start (a sector-aligned one) would not be the pages it sent."""
    stop = min(image.disk.virtual_size, image.data_size)
    pages = planning.coalesce(
        (planning.align_down(lo, planning.PAGE), min(planning.align_up(hi, planning.PAGE), image.data_size))
        for lo, hi in image.disk.extents(0, stop)
    )
    index = 0
    for lo, hi in pages:
        for a, b in _split(lo, hi):
            yield index, a, b
            index += 1


def _split(lo: int, hi: int) -> Iterator[tuple[int, int]]:
    for start in range(lo, hi, planning.CHUNK):
        yield start, min(hi, start + planning.CHUNK)


def _to_download(data: list[tuple[int, int]], held: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The held ranges outside ``data`` to download: every one that is not a gap between two
    data runs inside one 4 MiB chunk (what only a merged request writes), and ``GAP_SAMPLE``
    of those, spread evenly."""
    extra = planning.RangeSet(data).subtract_from(held)
    ends = {hi for _lo, hi in data}
    starts = {lo for lo, _hi in data}
    merged = [(lo, hi) for lo, hi in extra
              if lo in ends and hi in starts and lo // planning.CHUNK == (hi - 1) // planning.CHUNK]
    if len(merged) > GAP_SAMPLE:
        step = (len(merged) - 1) / (GAP_SAMPLE - 1)
        keep = {merged[round(i * step)] for i in range(GAP_SAMPLE)}
        trusted = set(merged) - keep
        extra = [r for r in extra if r not in trusted]
    return extra
