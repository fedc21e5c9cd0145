"""The adaptive concurrency controller, driven by a fake clock and a simulated link (no timing)."""

from __future__ import annotations

import threading

import pytest

from vhdupload.errors import CancelledError
from vhdupload.transfer.concurrency import AdaptiveConcurrency
from vhdupload.transfer.pool import run_bounded
from vhdupload.transfer.settings import ADAPTIVE_MAX, TransferSettings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def drive(controller: AdaptiveConcurrency, clock: Clock, *, rate_at, windows: int, request: int = 65536,
          latency_at=lambda level: 0.05) -> list[int]:
    """Feed ``windows`` measurement windows: at limit L the link moves rate_at(L) bytes/s in
    requests of ``request`` bytes taking latency_at(L) s. Returns the limit after each window."""
    limits = []
    for _ in range(windows):
        level = controller.limit
        rate = rate_at(level)
        per_request = request / rate
        seen = controller.windows
        for _ in range(100_000):  # requests finish one after another at the link's rate
            clock.now += per_request
            controller.observe(nbytes=request, started=clock.now - latency_at(level), finished=clock.now)
            if controller.windows != seen:
                break
        else:
            raise AssertionError("the controller never finished a window")
        limits.append(controller.limit)
    return limits


def test_widens_while_the_rate_rises_and_stops_at_the_plateau():
    clock = Clock()
    controller = AdaptiveConcurrency(start=8, clock=clock)
    # Latency-bound link: each request in flight adds 1 MB/s, up to 20 MB/s (reached at 20).
    limits = drive(controller, clock, rate_at=lambda level: min(level, 20) * 1e6, windows=30)
    assert controller.peak > 20, limits  # it went past the plateau once to find it
    assert 18 <= controller.limit <= 30, limits  # and came back to (about) the knee
    assert controller.settled() >= 18
    whys = {step.why for step in controller.steps}
    assert "rate rose" in whys and "no gain" in whys


def test_stays_put_when_more_in_flight_does_not_help():
    clock = Clock()
    controller = AdaptiveConcurrency(start=8, clock=clock)
    limits = drive(controller, clock, rate_at=lambda level: 50e6, windows=20)
    assert max(limits) <= 12  # one probe to 12, back to 8, and a long hold
    assert controller.settled() == 8
    assert controller.limit == 8


def test_never_above_the_cap():
    clock = Clock()
    controller = AdaptiveConcurrency(start=8, maximum=64, clock=clock)
    drive(controller, clock, rate_at=lambda level: level * 1e6, windows=40)
    assert controller.peak == 64
    assert controller.limit <= 64


def test_retries_halve_the_limit_at_once():
    clock = Clock()
    retries = [0]
    controller = AdaptiveConcurrency(start=32, clock=clock)
    controller.watch_retries(lambda: retries[0])
    drive(controller, clock, rate_at=lambda level: 10e6, windows=1)
    before = controller.limit
    retries[0] += 3  # the engine retried (503 ServerBusy, a timeout)
    drive(controller, clock, rate_at=lambda level: 10e6, windows=1)
    assert controller.limit == max(2, before // 2)
    assert controller.steps[-1].why == "retry"


def test_rising_latency_with_falling_rate_narrows():
    clock = Clock()
    controller = AdaptiveConcurrency(start=8, hold=100, clock=clock)
    controller._limit = 16  # widened earlier
    controller._hold_left = 100  # settled: no probing during this test
    drive(controller, clock, rate_at=lambda level: 20e6, windows=2)
    drive(controller, clock, rate_at=lambda level: 8e6, latency_at=lambda level: 0.5, windows=1)
    assert 8 <= controller.limit < 16  # narrower, but never below the start on latency alone
    assert controller.steps[-1].why == "latency rose, rate fell"


def test_listeners_hear_every_change_and_describe_is_one_line():
    clock = Clock()
    controller = AdaptiveConcurrency(start=4, clock=clock)
    heard = []
    controller.subscribe(lambda: heard.append(controller.limit))
    drive(controller, clock, rate_at=lambda level: level * 1e6, windows=6)
    assert heard == [step.after for step in controller.steps]
    assert controller.describe().startswith("adaptive, mostly ")


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError):
        AdaptiveConcurrency(start=100, maximum=64)


def test_settings_none_means_adaptive():
    settings = TransferSettings(threads=None)
    assert settings.adaptive and settings.pool_threads == ADAPTIVE_MAX
    assert isinstance(settings.concurrency(), AdaptiveConcurrency)
    pinned = TransferSettings(threads=5)
    assert not pinned.adaptive and pinned.pool_threads == 5 and pinned.concurrency() is None


# --------------------------------------------------------------------------- the pool under a limit


class Fixed:
    """A controller stand-in whose limit the test moves by hand."""

    def __init__(self, limit: int, maximum: int = 16) -> None:
        self.limit = limit
        self.maximum = maximum
        self._listeners = []

    def subscribe(self, listener) -> None:
        self._listeners.append(listener)

    def set(self, limit: int) -> None:
        self.limit = limit
        for listener in self._listeners:
            listener()

    def enter(self, stopped) -> bool:
        return not stopped()

    def leave(self) -> None:
        pass


def test_pool_runs_at_most_limit_tasks_at_once_and_follows_changes():
    controller = Fixed(3)
    lock = threading.Lock()
    running = [0]
    seen_max = []
    done = []

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            seen_max.append(running[0])
        if n == 40:
            controller.set(6)
        threading.Event().wait(0.002)
        with lock:
            running[0] -= 1
        return n

    run_bounded(iter(range(120)), work, threads=1, cancel=threading.Event(), controller=controller,
                on_result=lambda task, result: done.append(result))
    assert sorted(done) == list(range(120))
    assert max(seen_max[:30]) <= 3
    assert max(seen_max) <= 6


def test_pool_first_error_stops_it_and_is_raised():
    controller = Fixed(4)
    started = []

    def work(n: int) -> None:
        started.append(n)
        if n == 5:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_bounded(iter(range(10_000)), work, threads=1, cancel=threading.Event(), controller=controller)
    assert len(started) < 200


def test_pool_cancel_raises_cancelled():
    controller = Fixed(2)
    cancel = threading.Event()

    def work(n: int) -> None:
        if n == 3:
            cancel.set()

    with pytest.raises(CancelledError, match="stopped"):
        run_bounded(iter(range(10_000)), work, threads=1, cancel=cancel, controller=controller,
                    cancel_message="stopped")


def test_pools_sharing_one_controller_keep_its_limit_together():
    """publish runs one pool per disk on one controller: the limit holds for all of them."""
    controller = AdaptiveConcurrency(start=4, minimum=1, maximum=8, window=3600)  # no decision in this test
    lock = threading.Lock()
    running = [0]
    seen = []

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            seen.append(running[0])
        threading.Event().wait(0.003)
        with lock:
            running[0] -= 1
        return n

    done: list[int] = []
    pools = [
        threading.Thread(target=run_bounded, args=(iter(range(60)), work),
                         kwargs=dict(threads=1, cancel=threading.Event(), controller=controller,
                                     on_result=lambda task, result: done.append(result)))
        for _ in range(3)
    ]
    for pool in pools:
        pool.start()
    for pool in pools:
        pool.join(timeout=60)
    assert len(done) == 180
    assert max(seen) <= 4  # three pools, one limit of 4 (each pool alone would allow 4)
    assert max(seen) >= 2
