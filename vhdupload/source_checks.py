"""Before an upload trusts what a destination already holds, it proves it is this source's:
a few of its data ranges read back and compared, and the CRC64 recorded on it recomputed from
the local file (the resume watermark's prefix, or the whole image of a finished upload); what
lies past the proven prefix is written again."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import crc64, planning
from .azure.page_blob import RANGE_WINDOW
from .azure.state import UploadState
from .blob_image import BlobImage
from .destinations.base import DestinationSession
from .engine import SendFunction
from .errors import DestinationConflictError
from .source_proof import prefix_crc, whole_crc
from .transfer import ProgressTracker

log = logging.getLogger("vhdupload.upload")

_SPOT_CHECKS = 16  # data ranges of the destination compared with the source before it is trusted
_SPOT_CHECK_BYTES = 64 * 1024


@dataclass(frozen=True)
class OtherWay:
    """The source as an upload with ``skip_free`` the other way sends it: its ``image``, and
    the pages where the two may differ (those holding a free byte)."""

    image: BlobImage
    differ: planning.RangeSet


def spot_check(dest: DestinationSession, image: BlobImage, existing: UploadState, *,
               other_way: Callable[[], OtherWay] | None = None) -> None:
    """Compare up to 16 of the destination's data ranges (64 KiB at the start of each, spread
    over the first listing window) with the local source, and refuse if one differs.

    The fingerprint samples fixed places only, so that any copy of the source agrees with it;
    two sparse images of one size whose data differs elsewhere would share it. The
    destination's own pages settle that, wherever the rerun runs, for ~1 MiB of reads.

    ``other_way`` (made only on a difference): a page holding a free byte may also be as the
    other way sends it, where a rerun switching ways was stopped (past the watermark; what is
    there is written again)."""
    listed = dest.held_ranges(size=min(image.data_size, RANGE_WINDOW))
    if not listed:
        return
    held = [(lo, min(hi, image.data_size)) for lo, hi in listed if lo < RANGE_WINDOW]
    ranges = planning.RangeSet(held).ranges
    for lo, hi in ranges[:: max(1, len(ranges) // _SPOT_CHECKS)][:_SPOT_CHECKS]:
        n = min(_SPOT_CHECK_BYTES, hi - lo)
        if n <= 0:
            continue
        remote, local = dest.read(lo, n), image.read(lo, n)
        if remote != local and not _either_way(remote, local, lo, other_way):
            state = "a finished" if existing.complete else "an unfinished"
            raise DestinationConflictError(
                f"{dest.url} holds {state} upload that looks like {image.disk.path.name} (same size and "
                f"samples) but holds other data near offset {lo}; it is another source, or this one changed: "
                "add --overwrite to replace it"
            )


class SourceProof:
    """Recomputes recorded CRC64s from the local source; ``seconds`` is the time it took."""

    def __init__(self, *, url: str, cancel: threading.Event, trust_stat: bool, stats: str) -> None:
        self.url = url
        self.cancel = cancel
        self.trust_stat = trust_stat
        self.stats = stats
        self.seconds = 0.0

    def prefix(self, image: BlobImage, existing: UploadState) -> int:
        """Recompute the CRC64 of ``[0, W)`` and compare it with what the destination recorded;
        refuse a source that changed since (whatever its stat says). Returns W, now proven."""
        mark, mark_crc = existing.watermark
        mark = min(mark, image.data_size)
        if not mark or not mark_crc:
            return 0
        started = time.monotonic()
        local = crc64.to_hex(prefix_crc(image, mark, cancel=self.cancel))
        self.seconds += time.monotonic() - started
        if local != mark_crc:
            raise DestinationConflictError(
                f"{self.url} holds an unfinished upload whose first {mark} bytes (offsets [0, {mark})) differ "
                f"from {image.disk.path.name} now: the source changed since it was sent, so the upload cannot "
                "be continued; add --overwrite to upload afresh"
            )
        return mark

    def complete(self, image: BlobImage, existing: UploadState) -> None:
        """A finished upload counts as this source's only if its recorded whole CRC64 is the
        local one, recomputed (``trust_stat`` skips that for the very same, unmodified file)."""
        if self.trust_stat and existing.source_stat and existing.source_stat == self.stats:
            return
        if not existing.crc64:
            return
        started = time.monotonic()
        local = crc64.to_hex(whole_crc(image, cancel=self.cancel))
        self.seconds += time.monotonic() - started
        if local != existing.crc64:
            raise DestinationConflictError(
                f"{self.url} holds a finished upload that looks like {image.disk.path.name} (same size and "
                f"samples) but its CRC64 {existing.crc64} is not the file's {local}: the source changed since, or "
                "it is another one; add --overwrite to upload it again"
            )


def _either_way(remote: bytes, local: bytes, lo: int, other_way: Callable[[], OtherWay] | None) -> bool:
    """Whether each page of ``remote`` (at ``lo``) is ``local``'s, or the other way's where the
    two ways may differ."""
    if other_way is None:
        return False
    other = other_way()
    alternative = other.image.read(lo, len(local))
    for start in range(0, len(local), planning.PAGE):
        end = min(len(local), start + planning.PAGE)
        if remote[start:end] == local[start:end]:
            continue
        if not other.differ.within(lo + start, lo + end) or remote[start:end] != alternative[start:end]:
            return False
    return True


def rewrite_unproven(image: BlobImage, send: SendFunction, listed: list[tuple[int, int]], *, proven: int,
                     tracker: ProgressTracker, redo: planning.RangeSet | None = None) -> planning.RangeSet:
    """What the destination holds past the ``proven`` watermark may be of an older source: write
    the local bytes (zeros included) over each such range, so nothing stale survives beside
    skipped zeros; so too where it holds pages of ``redo`` (pages the proven prefix holds as
    another way of sending made them). Returns what the pump may skip: the proven prefix (less
    ``redo``) and what was rewritten."""
    redo = redo or planning.RangeSet()
    proven_held = [(lo, min(hi, proven)) for lo, hi in listed if lo < proven]
    kept = redo.subtract_from(proven_held)
    stale = [piece for lo, hi in proven_held for piece in redo.within(lo, hi)]
    beyond = [(max(lo, proven), min(hi, image.data_size)) for lo, hi in listed if hi > proven]
    rewritten = planning.RangeSet([(lo, hi) for lo, hi in [*stale, *beyond] if hi > lo])
    redone = planning.RangeSet(stale)
    counted = 0  # of what was rewritten, what the pump will count as present when it skips it
    for lo, hi in rewritten.ranges:
        for offset in range(lo, hi, planning.CHUNK):
            piece = image.read(offset, min(planning.CHUNK, hi - offset))
            send(piece, offset, crc64.compute(piece))
            # a redone page is mostly free space, which the pump never looks at: only its data counts
            inside = redone.within(offset, offset + len(piece))
            counted += len(piece) - planning.total(inside) + sum(
                planning.total(planning.nonzero_runs(piece[a - offset : b - offset])) for a, b in inside)
    if rewritten.ranges:
        # The pump counts what it skips as already present; these were just sent.
        tracker.add(bytes_present=-counted)
        log.info("rewrote %d bytes held past the proven watermark %d or made the other way", rewritten.size(), proven)
    return planning.RangeSet(kept + rewritten.ranges)
