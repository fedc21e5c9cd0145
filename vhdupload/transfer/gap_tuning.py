"""How far to merge zero gaps, found while uploading.

Merging the zero gap between two data runs trades one request for the gap's bytes. Which side
of that trade wins depends on the link: a standard page blob takes 60 MiB/s and 500 requests/s
(a request costs ~120 KiB of zeros), but a 100 Mbit/s uplink makes bytes dear, and a link
bound by requests makes them cheap. On a link bound by both, the best merge is the one that
balances bytes / byte rate against requests / request rate, and neither rate is known before
the upload. So, like :mod:`vhdupload.transfer.concurrency`, measure and adjust:

* start at the destination's break-even gap (:func:`vhdupload.planning.default_max_gap`);
* learn the disk's gaps from the chunks read so far (a histogram in 4 KiB pages), which gives,
  for any gap ``g``, the requests per byte of data ``k(g)`` a merge at ``g`` would need;
* in windows of at least ``window`` seconds and ``min_requests`` finished requests, measure the
  request rate ``r`` and estimate the data rate as ``r / k(g)``. That estimate does not move
  with how dense the part of the disk being sent is (the request rate of a link bound by
  requests does not), which a raw data rate would;
* after ``warmup`` seconds (connections opening and a cold file are not the link), probe a
  larger gap (one that saves at least ``step`` of the requests); keep it if the data rate rose
  by ``gain`` in two windows running, else try a smaller gap (one that saves ``step`` of the
  bytes) the same way; when neither pays, hold for a while (longer after each fruitless round) and
  probe again, as the link may have changed.

Windows only count while ``quiet()`` holds and the concurrency controller has not moved
(``epoch()`` unchanged), so the two never judge each other's probes. Pure bookkeeping with an
injectable clock; thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..planning import CHUNK, PAGE, Range
from .dwell import Dwell

_BUCKETS = CHUNK // PAGE  # gaps inside one 4 MiB chunk are shorter than this many pages


@dataclass(frozen=True)
class GapStep:
    """One decision: at ``at`` seconds the gap went from ``before`` to ``after`` bytes (``why``)."""

    at: float
    before: int
    after: int
    why: str


class GapHistogram:
    """The zero gaps between data runs seen so far, by size in pages, and what they add up to."""

    def __init__(self) -> None:
        self.counts = [0] * (_BUCKETS + 1)
        self.bytes = [0] * (_BUCKETS + 1)
        self.runs = 0
        self.data = 0

    def add(self, runs: Sequence[Range]) -> None:
        """Record the nonzero runs of one chunk (sorted, unmerged)."""
        self.runs += len(runs)
        for (_, previous_stop), (start, stop) in zip(runs, runs[1:]):
            gap = start - previous_stop
            bucket = min(gap // PAGE, _BUCKETS)
            self.counts[bucket] += 1
            self.bytes[bucket] += gap
        self.data += sum(stop - start for start, stop in runs)

    def requests(self, gap: int) -> int:
        """Requests a merge at ``gap`` needs for what was seen (gaps shorter than ``gap`` merged)."""
        return self.runs - sum(self.counts[: gap // PAGE])

    def wire_bytes(self, gap: int) -> int:
        """Bytes a merge at ``gap`` sends for what was seen."""
        return self.data + sum(self.bytes[: gap // PAGE])

    def larger_gap(self, gap: int, *, saving: float) -> int | None:
        """The smallest gap (whole pages, at most a chunk) above ``gap`` whose merge needs at
        least ``saving`` fewer requests than ``gap``'s; None if no gap does."""
        current = self.requests(gap)
        target = current * (1 - saving)
        merged = current
        for pages in range(gap // PAGE, _BUCKETS):
            merged -= self.counts[pages]
            if merged <= target and merged < current:
                return (pages + 1) * PAGE
        return None

    def smaller_gap(self, gap: int, *, saving: float) -> int | None:
        """The largest gap (at least a page) below ``gap`` whose merge sends at least ``saving``
        fewer bytes than ``gap``'s; None if no gap does."""
        current = self.wire_bytes(gap)
        target = current * (1 - saving)
        sent = current
        for pages in range(gap // PAGE - 1, 0, -1):
            sent -= self.bytes[pages]
            if sent <= target and sent < current:
                return pages * PAGE
        return None


class GapTuner:
    """The ``max_gap`` to merge the next request with, moved while the data rate says so."""

    def __init__(
        self,
        *,
        start: int,
        window: float = 0.25,
        min_requests: int = 48,
        step: float = 0.12,
        gain: float = 0.05,
        hold: int = 4,
        warmup: float = 1.0,
        quiet: Callable[[], bool] = lambda: True,
        epoch: Callable[[], object] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gap = max(PAGE, min(CHUNK, start - start % PAGE))
        self.window = window
        self.min_requests = min_requests
        self.step = step
        self.gain = gain
        self.hold = hold
        self.warmup = warmup
        self._quiet = quiet
        self._epoch = epoch
        self._clock = clock
        self._lock = threading.Lock()
        self.histogram = GapHistogram()
        self._origin = clock()
        self._window_start = self._origin
        self._window_epoch = epoch()
        self._count = 0
        self._baseline: float | None = None  # data-rate estimate at the settled gap
        self._baseline_epoch: object = None
        self._settled = self._gap
        self._probe: str | None = None  # "up" or "down" while a probe runs
        self._first_look: float | None = None  # a probe's first winning window, awaiting its second
        self._hold_left = 0
        self._idle_rounds = 0  # fruitless rounds in a row: each doubles the next hold
        self._dwell = Dwell(self._gap, self._origin)
        self.steps: list[GapStep] = []
        # A new gap reaches the wire with the next request composed: until the requests merged
        # at earlier gaps are all done ("settling"), what the link does says little of it.
        self._generation = 0
        self._in_flight: dict[int, int] = {}
        self._settling = False

    @property
    def gap(self) -> int:
        return self._gap

    def saw(self, runs: Sequence[Range]) -> None:
        """One chunk's nonzero runs, before merging (they teach the tuner the disk's gaps)."""
        with self._lock:
            self.histogram.add(runs)

    def begin_request(self) -> tuple[int, int]:
        """A request is being composed: the gap to merge it with, and the generation to pass
        to :meth:`observe` and :meth:`end_request`."""
        with self._lock:
            self._in_flight[self._generation] = self._in_flight.get(self._generation, 0) + 1
            return self._gap, self._generation

    def end_request(self, generation: int) -> None:
        """The request begun in ``generation`` is done (sent, or failed)."""
        with self._lock:
            left = self._in_flight[generation] - 1
            if left:
                self._in_flight[generation] = left
            else:
                del self._in_flight[generation]
            if self._settling and not any(g < self._generation for g in self._in_flight):
                self._settling = False
                self._reset_window(self._clock())

    def observe(self, *, started: float, finished: float, generation: int) -> None:
        """One request begun in ``generation`` finished successfully (times on the tuner's
        clock). Once settled, every request of the current gap that ends in the window counts:
        the pipeline is full of them, so their rate is the link's at this gap."""
        with self._lock:
            if self._settling or generation != self._generation:
                return
            if finished >= self._window_start:
                self._count += 1
            now = max(finished, self._clock())
            if now - self._window_start < self.window or self._count < self.min_requests:
                return
            if now - self._origin < self.warmup:
                self._reset_window(now)  # connections opening, a cold file: not the link yet
                return
            if self._epoch() != self._window_epoch or not self._quiet():
                self._reset_window(now)  # the concurrency moved under this window: not comparable
                return
            self._decide(now, rate=self._count / (now - self._window_start))

    def mostly(self) -> int:
        """The gap the upload spent most of its time at (for the summary)."""
        with self._lock:
            return self._dwell.mostly(self._clock())

    def describe(self) -> str:
        """One line: ``adaptive, mostly 240 KiB (120-240 KiB)``."""
        gaps = [s.after for s in self.steps] + [self._gap, self.steps[0].before if self.steps else self._gap]
        return f"adaptive, mostly {_kib(self.mostly())} ({min(gaps) // 1024}-{_kib(max(gaps))})"

    # -- decisions (under the lock) ---------------------------------------------------------------
    def _data_rate(self, request_rate: float, gap: int) -> float | None:
        data = self.histogram.data
        requests = self.histogram.requests(gap)
        if data <= 0 or requests <= 0:
            return None
        return request_rate * data / requests

    def _decide(self, now: float, *, rate: float) -> None:
        estimate = self._data_rate(rate, self._gap)
        if estimate is None:
            self._reset_window(now)
            return
        if self._baseline is not None and self._baseline_epoch != self._window_epoch:
            # The concurrency moved since the baseline: nothing measured before compares.
            self._set(self._settled, now, why="concurrency moved")
            self._probe = None
            self._baseline = None
            self._first_look = None
        if self._probe is None:
            if self._hold_left > 0:
                self._hold_left -= 1
                self._reset_window(now)
                return
            self._baseline, self._baseline_epoch = estimate, self._window_epoch
            self._start_probe(now, "up", fallback=True)
            return
        if self._baseline is not None and estimate >= self._baseline * (1 + self.gain):
            if self._first_look is None:
                # One window can be luck (on a busy machine they vary by 10 %): the new gap stays
                # for a second one, which costs nothing when it really is better.
                self._first_look = estimate
                self._reset_window(now)
                return
            self._settled = self._gap
            self._baseline, self._baseline_epoch = 0.5 * (self._first_look + estimate), self._window_epoch
            self._first_look = None
            self._idle_rounds = 0
            self._start_probe(now, self._probe, fallback=False)  # it paid: go on the same way
            return
        self._first_look = None
        direction = self._probe
        self._set(self._settled, now, why="no gain")
        self._probe = None
        if direction == "up":
            self._start_probe(now, "down", fallback=False)
        else:
            self._rest()

    def _start_probe(self, now: float, direction: str, *, fallback: bool) -> None:
        """Try the next gap ``direction``; with ``fallback``, the other way if there is none."""
        if direction == "up":
            target = self.histogram.larger_gap(self._settled, saving=self.step)
        else:
            target = self.histogram.smaller_gap(self._settled, saving=self.step)
        self._reset_window(now)
        if target is None:
            self._probe = None
            if fallback and direction == "up":
                self._start_probe(now, "down", fallback=False)
            else:
                self._rest()
            return
        self._probe = direction
        self._set(target, now, why=f"probe {direction}")

    def _rest(self) -> None:
        """Nothing paid: hold here, longer after each fruitless round, then measure afresh."""
        self._idle_rounds += 1
        self._hold_left = self.hold * 2 ** min(self._idle_rounds - 1, 4)
        self._baseline = None

    def _set(self, gap: int, now: float, *, why: str) -> None:
        self._reset_window(now)
        if gap == self._gap:
            return
        self._dwell.move(gap, now)
        self.steps.append(GapStep(at=now - self._origin, before=self._gap, after=gap, why=why))
        self._gap = gap
        self._generation += 1
        self._settling = any(g < self._generation for g in self._in_flight)

    def _reset_window(self, now: float) -> None:
        self._window_start = now
        self._window_epoch = self._epoch()
        self._count = 0


def _kib(n: int) -> str:
    return f"{n // 1024} KiB"
