"""The disks of one run finish together: a disk that would finish well before the slowest is
held back, so that the link carries the slowest at its own limit.

Azure's limits are per blob (about 60 MiB/s for a standard page blob), and a link is shared. A
VM's OS disk holding 512 MiB and two scattered data disks of 90 MB each, sent side by side
through a link of twice the per-blob rate, each taking what it could, finished in 36-41 s where
25.6 s was the floor (the OS disk at its blob's rate all along): the data disks took half the
link while the OS disk, the one everything waits for, got less than its blob could take.

So each disk's upload is a :class:`Lane` of one :class:`SetPacing`. About once a second the
pacing looks at every lane's progress: its rate over the last seconds and what it has left give
the time it needs; the longest of those is the set's. A lane that would finish before
``margin`` of that is capped at the byte rate that finishes it there; the slowest lane is never
capped. When the slowest speeds up (it was starved by the link), the others' caps loosen by the
same measure. Nothing is capped before ``warmup`` seconds of measurement, nor below
``minimum_rate``; a lane that finished or failed leaves the set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from dataclasses import replace

from ..errors import CancelledError
from .concurrency import ADAPTIVE_MAX, ADAPTIVE_START, AdaptiveConcurrency
from .progress import Progress
from .settings import TransferSettings


class _Limiter(Protocol):
    def acquire(self, n: int) -> None: ...


log = logging.getLogger(__name__)

#: Seconds of progress a lane's rate is measured over.
RATE_WINDOW = 2.0
#: The shortest span a rate is taken over.
MIN_SPAN = 1.0
#: How far before the slowest the others are paced to finish: the disks' estimates swing (a
#: scattered disk's rate follows where its data lies), and with 0.85 one that fell behind its
#: estimate competed with the slowest again at the end. The three-disk publish of
#: benchmarks/bench_disks.py, in-process, three runs each: 0.85 27.7-31.7 s, 0.7 27.2-28.6 s
#: (0.6 27.2-28.7 s, with twice the ticks) against a floor of 25.6 s.
MARGIN = 0.7


class SetPacing:
    """The pacing shared by the uploads of one run (see the module docstring). Thread-safe."""

    def __init__(
        self,
        *,
        interval: float = 1.0,
        margin: float = MARGIN,
        warmup: float = 2.0,
        minimum_rate: float = 256 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < margin <= 1:
            raise ValueError(f"margin must be in (0, 1], got {margin}")
        self.interval = interval
        self.margin = margin
        self.warmup = warmup
        self.minimum_rate = minimum_rate
        self._clock = clock
        self._lock = threading.Lock()
        self._lanes: list[Lane] = []
        self._next = clock() + warmup

    def lane(self, snapshot: Callable[[], Progress], *, inner: _Limiter, cancel: threading.Event,
             cancel_message: str = "cancelled") -> "Lane":
        """A lane for one upload: ``snapshot()`` says where it stands, ``inner`` is its own cap
        (a user's bandwidth share), applied first."""
        lane = Lane(self, snapshot, inner=inner, cancel=cancel, cancel_message=cancel_message)
        with self._lock:
            self._lanes.append(lane)
        return lane

    def leave(self, lane: "Lane") -> None:
        with self._lock:
            if lane in self._lanes:
                self._lanes.remove(lane)

    def caps(self) -> list[float | None]:
        """Every lane's current cap in bytes per second (None: not held back), in lane order."""
        with self._lock:
            return [lane.cap for lane in self._lanes]

    def tick(self) -> None:
        """Look again if ``interval`` has passed (called from the lanes' ``acquire``)."""
        now = self._clock()
        with self._lock:
            if now < self._next:
                return
            self._next = now + self.interval
            self._decide(now)

    def _decide(self, now: float) -> None:
        remaining: list[tuple[Lane, int]] = []  # every lane records its sample before any is judged
        for lane in list(self._lanes):
            progress = lane.snapshot()
            if progress.total and progress.covered >= progress.total:
                self._lanes.remove(lane)
                continue
            lane.record(now, progress)
            remaining.append((lane, progress.total - progress.covered))
        needs: list[tuple[Lane, float, float]] = []  # (lane, seconds left, bytes sent per second)
        for lane, bytes_left in remaining:
            rates = lane.rates()
            if rates is None or rates[0] <= 0:
                return  # not every lane measured yet: hold no one back on a guess
            needs.append((lane, bytes_left / rates[0], rates[1]))
        if len(needs) < 2:
            for lane, _left, _rate in needs:
                lane.cap = None
            return
        longest = max(left for _lane, left, _rate in needs)
        target = self.margin * longest
        if log.isEnabledFor(logging.DEBUG):
            log.debug("pacing: %s", "; ".join(f"{left:.1f} s left at {rate / 2**20:.1f} MiB/s sent"
                                              for _lane, left, rate in needs))
        for lane, left, sent_rate in needs:
            # Sending at ``sent_rate`` it finishes in ``left``; at this cap, in ``target``.
            lane.cap = None if left >= target or sent_rate <= 0 else max(self.minimum_rate, sent_rate * left / target)


class Lane:
    """One upload's place in a :class:`SetPacing`: ``acquire(n)`` before sending ``n`` bytes."""

    def __init__(self, pacing: SetPacing, snapshot: Callable[[], Progress], *, inner: _Limiter,
                 cancel: threading.Event, cancel_message: str) -> None:
        self._pacing = pacing
        self.snapshot = snapshot
        self._inner = inner
        self._cancel = cancel
        self._cancel_message = cancel_message
        self.cap: float | None = None
        self._samples: deque[tuple[float, int, int]] = deque()  # (time, covered, sent)
        self._bucket_lock = threading.Lock()
        self._next_free = 0.0  # when the cap lets the next byte out

    def record(self, now: float, progress: Progress) -> None:
        self._samples.append((now, progress.covered, progress.bytes_sent))
        while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW:
            self._samples.popleft()

    def rates(self) -> tuple[float, float] | None:
        """(bytes covered per second, bytes sent per second) over the window; None until it has
        a second of samples."""
        if len(self._samples) < 2:
            return None
        (t0, c0, s0), (t1, c1, s1) = self._samples[0], self._samples[-1]
        if t1 - t0 < MIN_SPAN:
            return None
        return (c1 - c0) / (t1 - t0), (s1 - s0) / (t1 - t0)

    def acquire(self, n: int) -> None:
        self._inner.acquire(n)
        self._pacing.tick()
        cap = self.cap
        if not cap:
            return
        with self._bucket_lock:
            now = time.monotonic()
            start = max(self._next_free, now)
            self._next_free = start + n / cap
            wait = start - now
        if wait > 0 and self._cancel.wait(wait):
            raise CancelledError(self._cancel_message)

    def close(self) -> None:
        self._pacing.leave(self)


def set_settings(settings: TransferSettings, weights: list[int]) -> list[TransferSettings]:
    """The settings of each upload of a set sent side by side, from the set's ``settings``
    (``weights``: the bytes each may send).

    Without a pinned count each upload adapts its own requests in flight, since Azure's limits
    are per blob: a scattered data disk that needs many small requests widens while a big disk
    at its blob's byte rate does not (one limit for all starved the small ones: 3.9x the set's
    floor through a shaped link), and one :class:`SetPacing` makes them finish together. The
    ceiling keeps the set within about twice one upload's requests in flight (memory: a chunk
    each). A pinned ``threads`` is a budget shared in proportion to the weights
    (:func:`split_budget`), not paced. ``max_bandwidth`` is shared in proportion to the weights.
    """
    count = len(weights)
    shares = split_budget(settings.threads, weights) if settings.threads else []
    shared_weights = shares or [max(1, w) for w in weights]
    bandwidth = settings.max_bandwidth
    ceiling = max(ADAPTIVE_START, min(ADAPTIVE_MAX, 2 * ADAPTIVE_MAX // max(1, count)))
    pacing = SetPacing() if not shares and count > 1 else None
    return [replace(settings, threads=shares[i] if shares else None,
                    shared_concurrency=None if shares else AdaptiveConcurrency(maximum=ceiling),
                    set_pacing=pacing,
                    max_bandwidth=bandwidth * shared_weights[i] / sum(shared_weights) if bandwidth else None)
            for i in range(count)]


def split_budget(total: int, weights: list[int]) -> list[int]:
    """Share ``total`` connections among disks in proportion to ``weights`` (bytes each may
    send), each at least one; the shares add up to ``total`` (to the disk count if larger)."""
    count = len(weights)
    if count == 0:
        return []
    if total <= count:
        return [1] * count
    weights = [max(1, w) for w in weights]
    whole = sum(weights)
    shares = [max(1, total * w // whole) for w in weights]
    order = sorted(range(count), key=lambda i: -weights[i])
    step = 0
    while sum(shares) < total:
        shares[order[step % count]] += 1
        step += 1
    while sum(shares) > total:
        biggest = max(range(count), key=lambda i: shares[i])
        shares[biggest] -= 1
    return shares
