"""Adaptive concurrency: how many requests to keep in flight, found while uploading.

A fixed count is wrong somewhere: on loopback 8 already saturates the server, while across a
WAN with 40 ms of round trip 8 connections of small Put Pages are latency-bound (2,390 requests
of a scattered image took 16.4 s where 7.4 s was reachable). So, like AzCopy's auto-tuning:

* start at a modest level (16: on loopback no slower than 8, on a WAN already near what it needs);
* in windows of at least ``window`` seconds and ``limit`` finished requests, measure the data
  rate (bytes of finished requests per second, counting only requests *started* inside the
  window, so a change is judged by requests made under it);
* probe wider (x1.5); keep the step if the rate rose by ``gain`` or more, else step back and
  hold there for ``hold`` windows before probing again;
* on a retry (503 ServerBusy, 500, a timeout: whatever the engine retried) halve at once and
  do not probe above the level that failed for a while;
* if latency rises while the rate falls, step one level narrower.

The controller is pure bookkeeping with an injectable clock: the worker pool
(:func:`vhdupload.transfer.pool.run_bounded`) reads :attr:`limit` and is told of changes through
:meth:`subscribe`; the engine reports each finished request with :meth:`observe`.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .dwell import Dwell

#: Where the controller starts. On loopback Azurite 8 and 16 take the same time (image (a) 7.69 s
#: both, 2026-11-30); through the shaped link (40 ms, 250 requests/s) 16 already carries the
#: request rate where 8 needed a second of widening first (image (b) 9.0 s of data phase vs 9.5 s).
ADAPTIVE_START = 16
#: The most requests it ever keeps in flight (each costs up to one 4 MiB chunk of memory).
ADAPTIVE_MAX = 64
ADAPTIVE_MIN = 2


@dataclass(frozen=True)
class Step:
    """One decision: at ``at`` seconds the limit went from ``before`` to ``after`` (``why``)."""

    at: float
    before: int
    after: int
    rate: float  # bytes/s measured in the window that led to it
    why: str


class AdaptiveConcurrency:
    """A limit on requests in flight, widened while the data rate rises and narrowed on trouble.

    Thread-safe; every method may be called from any worker.
    """

    def __init__(
        self,
        *,
        start: int = ADAPTIVE_START,
        minimum: int = ADAPTIVE_MIN,
        maximum: int = ADAPTIVE_MAX,
        window: float = 0.4,
        gain: float = 0.10,
        hold: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= minimum <= start <= maximum:
            raise ValueError(f"need 1 <= minimum <= start <= maximum, got {minimum}, {start}, {maximum}")
        self.minimum = minimum
        self.maximum = maximum
        self.window = window
        self.gain = gain
        self.hold = hold
        self._clock = clock
        self._lock = threading.Lock()
        self._limit = start
        self._start = start
        self._peak = start
        self._origin = clock()
        self._listeners: list[Callable[[], None]] = []
        self._retry_counters: list[Callable[[], int]] = []
        self._retries_seen = 0
        # Requests in flight, over every pool that shares this controller (several disks of one
        # publish): the limit holds for all of them together.
        self._slots = threading.Condition(threading.Lock())
        self._in_flight = 0
        # The window being measured.
        self._window_start = self._origin
        self._bytes = 0
        self._count = 0
        self._latencies: list[float] = []
        # What the last windows said.
        self._baseline: float | None = None  # rate at the level we came from / settled on
        self._baseline_latency: float | None = None
        self._probing_from: int | None = None  # the level before a probe (None: not probing)
        self._ceiling = maximum  # do not probe above this until it is lifted
        self._hold_left = 0
        self._dwell = Dwell(start, self._origin)  # seconds spent at each level, for the summary
        self.steps: list[Step] = []
        self.windows = 0  # windows measured so far

    # -- what the pool and the engine use ------------------------------------------------------
    @property
    def limit(self) -> int:
        return self._limit

    @property
    def clock(self) -> Callable[[], float]:
        """The clock ``observe`` expects its times from."""
        return self._clock

    @property
    def peak(self) -> int:
        return self._peak

    def holding(self) -> bool:
        """Whether the limit is settled for now (no probe running): what another tuner's
        measurements need, so that the two never judge each other's moves."""
        return self._probing_from is None and self._hold_left > 0

    def epoch(self) -> int:
        """Changes whenever the limit does."""
        return len(self.steps)

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` (outside the controller's lock) after every change of the limit."""
        self._listeners.append(listener)

    def watch_retries(self, count: Callable[[], int]) -> None:
        """Where to read the number of retries so far (an engine's progress counter); each
        upload sharing the controller adds its own, and their sum is what is watched."""
        with self._lock:
            self._retry_counters.append(count)
            self._retries_seen = self._retries()

    def _retries(self) -> int:
        return sum(count() for count in self._retry_counters)

    def enter(self, stopped: Callable[[], bool]) -> bool:
        """Take a slot for one request, waiting while ``limit`` requests are in flight (over
        every pool sharing this controller); False when ``stopped()`` said so meanwhile."""
        with self._slots:
            while self._in_flight >= self._limit:
                if stopped():
                    return False
                self._slots.wait(0.5)
            self._in_flight += 1
            return True

    def leave(self) -> None:
        """Give back the slot of a finished request."""
        with self._slots:
            self._in_flight -= 1
            self._slots.notify()

    def observe(self, *, nbytes: int, started: float, finished: float) -> None:
        """One request finished successfully (``started``/``finished`` on the controller's clock)."""
        changed = False
        with self._lock:
            if started >= self._window_start:
                self._bytes += nbytes
                self._count += 1
                self._latencies.append(finished - started)
            now = max(finished, self._clock())
            if now - self._window_start >= self.window and self._count >= max(4, self._limit):
                changed = self._decide(now)
        if changed:
            self._notify()

    # -- the summary -----------------------------------------------------------------------------
    def settled(self) -> int:
        """The level the upload spent most of its time at (what to report as "threads used")."""
        with self._lock:
            return self._dwell.mostly(self._clock())

    def describe(self) -> str:
        """One line: ``adaptive, mostly 16 (8-24)``."""
        low = min([s.after for s in self.steps] + [self._limit, self._initial_level()])
        return f"adaptive, mostly {self.settled()} ({low}-{self._peak})"

    def _initial_level(self) -> int:
        return self.steps[0].before if self.steps else self._limit

    # -- decisions (under the lock) ---------------------------------------------------------------
    def _decide(self, now: float) -> bool:
        self.windows += 1
        elapsed = now - self._window_start
        rate = self._bytes / elapsed if elapsed > 0 else 0.0
        latency = statistics.median(self._latencies) if self._latencies else 0.0
        retries = self._retries()
        if retries > self._retries_seen:
            self._retries_seen = retries
            return self._narrow(now, rate=rate, why="retry")
        if self._probing_from is not None:
            if self._baseline is not None and rate >= self._baseline * (1 + self.gain):
                self._baseline, self._baseline_latency = rate, latency
                self._probing_from = None
                return self._widen(now, rate=rate, why="rate rose")
            back = self._probing_from
            self._probing_from = None
            self._hold_left = self.hold
            # The wider level did not pay: it is the ceiling until the next probe.
            self._ceiling = max(back, min(self._ceiling, self._limit))
            return self._set(back, now, rate=rate, why="no gain")
        if (
            self._baseline is not None
            and self._baseline_latency
            and latency > 1.5 * self._baseline_latency
            and rate < self._baseline * (1 - self.gain)
        ):
            # Not below the start on latency alone: on a busy machine latency is noisy, and the
            # start is the level measured never to be slower than a fixed count. Retries go lower.
            if self._limit > self._start:
                return self._narrow(now, rate=rate, why="latency rose, rate fell", factor=0.75,
                                    floor=self._start)
        # Settled at this level: follow its rate, and probe again after a while.
        self._baseline = rate if self._baseline is None else 0.5 * (self._baseline + rate)
        self._baseline_latency = latency
        if self._hold_left > 0:
            self._hold_left -= 1
            if self._hold_left == 0:
                self._ceiling = self.maximum
            self._reset_window(now)
            return False
        return self._widen(now, rate=rate, why="probe")

    def _widen(self, now: float, *, rate: float, why: str) -> bool:
        target = min(self.maximum, self._ceiling, math.ceil(self._limit * 1.5))
        if target <= self._limit:
            self._hold_left = self.hold
            self._reset_window(now)
            return False
        self._probing_from = self._limit
        return self._set(target, now, rate=rate, why=why)

    def _narrow(self, now: float, *, rate: float, why: str, factor: float = 0.5, floor: int = 0) -> bool:
        target = max(self.minimum, floor, int(self._limit * factor))
        self._ceiling = max(self.minimum, self._limit - 1)
        self._probing_from = None
        self._hold_left = self.hold
        self._baseline = None
        if target == self._limit:
            self._reset_window(now)
            return False
        return self._set(target, now, rate=rate, why=why)

    def _set(self, level: int, now: float, *, rate: float, why: str) -> bool:
        self._reset_window(now)
        if level == self._limit:
            return False
        self._dwell.move(level, now)
        self.steps.append(Step(at=now - self._origin, before=self._limit, after=level, rate=rate, why=why))
        self._limit = level
        self._peak = max(self._peak, level)
        return True

    def _reset_window(self, now: float) -> None:
        self._window_start = now
        self._bytes = 0
        self._count = 0
        self._latencies = []

    def _notify(self) -> None:
        with self._slots:
            self._slots.notify_all()
        for listener in list(self._listeners):
            listener()
