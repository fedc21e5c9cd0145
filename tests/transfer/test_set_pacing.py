"""Set pacing (#21 part 2): a disk that would finish well before the slowest of its set is held
back at the rate that finishes it near the slowest; the slowest is never held back."""

from __future__ import annotations

import threading

import pytest

from vhdupload.errors import CancelledError
from vhdupload.transfer.progress import Progress
from vhdupload.transfer.set_pacing import SetPacing

MIB = 1 << 20


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeUpload:
    """A lane's progress moving at a fixed rate on the test's clock."""

    def __init__(self, clock: Clock, *, total: int, rate: float) -> None:
        self.clock, self.total, self.rate = clock, total, rate
        self.start = clock.now

    def snapshot(self) -> Progress:
        done = min(self.total, int((self.clock.now - self.start) * self.rate))
        return Progress(total=self.total, covered=done, bytes_sent=done)


class Never:
    def acquire(self, n: int) -> None:
        pass


def lanes(pacing: SetPacing, *uploads: FakeUpload):
    return [pacing.lane(u.snapshot, inner=Never(), cancel=threading.Event()) for u in uploads]


def run_for(pacing: SetPacing, clock: Clock, seconds: float) -> None:
    for _ in range(int(seconds * 4)):
        clock.now += 0.25
        pacing.tick()


def test_the_disk_with_slack_is_held_back_to_finish_near_the_slowest():
    clock = Clock()
    pacing = SetPacing(clock=clock, margin=0.8)
    big = FakeUpload(clock, total=500 * MIB, rate=10 * MIB)  # 50 s
    small = FakeUpload(clock, total=100 * MIB, rate=10 * MIB)  # 10 s
    big_lane, small_lane = lanes(pacing, big, small)
    run_for(pacing, clock, 1.25)
    assert small_lane.cap is None  # nothing before the warm-up, and nothing on one sample
    run_for(pacing, clock, 2)
    assert big_lane.cap is None
    assert small_lane.cap is not None
    seconds_left_small = (small.total - small.snapshot().covered) / small_lane.cap
    seconds_left_big = (big.total - big.snapshot().covered) / big.rate
    assert seconds_left_small == pytest.approx(0.8 * seconds_left_big, rel=0.1)


def test_disks_that_finish_together_are_not_held_back():
    clock = Clock()
    pacing = SetPacing(clock=clock)
    one, two = lanes(pacing, FakeUpload(clock, total=100 * MIB, rate=10 * MIB),
                     FakeUpload(clock, total=95 * MIB, rate=10 * MIB))
    run_for(pacing, clock, 5)
    assert one.cap is None and two.cap is None


def test_a_finished_or_closed_lane_leaves_and_the_last_one_runs_free():
    clock = Clock()
    pacing = SetPacing(clock=clock)
    big_lane, small_lane, other = lanes(pacing, FakeUpload(clock, total=500 * MIB, rate=10 * MIB),
                                        FakeUpload(clock, total=100 * MIB, rate=10 * MIB),
                                        FakeUpload(clock, total=300 * MIB, rate=10 * MIB))
    run_for(pacing, clock, 4)
    assert small_lane.cap is not None
    big_lane.close()
    other.close()
    run_for(pacing, clock, 2)
    assert pacing.caps() == [None]  # alone: nothing to finish together with


def test_a_cap_is_never_below_the_minimum_rate():
    clock = Clock()
    pacing = SetPacing(clock=clock, minimum_rate=MIB)
    _big, tiny = lanes(pacing, FakeUpload(clock, total=10_000 * MIB, rate=10 * MIB),
                       FakeUpload(clock, total=40 * MIB, rate=10 * MIB))
    run_for(pacing, clock, 3)
    assert tiny.cap == MIB


def test_a_held_back_request_ends_at_once_on_cancel():
    clock = Clock()
    pacing = SetPacing(clock=clock)
    cancel = threading.Event()
    lane = pacing.lane(FakeUpload(clock, total=MIB, rate=1).snapshot, inner=Never(), cancel=cancel)
    lane.cap = 1.0  # one byte a second: the second acquire would wait a minute
    lane.acquire(1)
    cancel.set()
    with pytest.raises(CancelledError):
        lane.acquire(60)


def test_a_sets_settings_adapt_per_disk_and_pace_together_unless_pinned():
    from vhdupload.transfer import TransferSettings
    from vhdupload.transfer.set_pacing import set_settings

    adaptive = set_settings(TransferSettings(max_bandwidth=30.0), [3 * MIB, MIB, 2 * MIB])
    controllers = [s.shared_concurrency for s in adaptive]
    assert all(c is not None for c in controllers) and len({id(c) for c in controllers}) == 3  # one each
    assert all(c.maximum * 3 <= 2 * 64 for c in controllers if c is not None)  # the set stays bounded
    assert len({id(s.set_pacing) for s in adaptive}) == 1 and adaptive[0].set_pacing is not None
    assert [s.max_bandwidth for s in adaptive] == [15.0, 5.0, 10.0]
    pinned = set_settings(TransferSettings(threads=8), [3 * MIB, MIB, 2 * MIB])
    assert [s.threads for s in pinned] == [4, 1, 3] or sum(s.threads or 0 for s in pinned) == 8
    assert all(s.set_pacing is None and s.shared_concurrency is None for s in pinned)
    alone = set_settings(TransferSettings(), [MIB])
    assert alone[0].set_pacing is None and alone[0].shared_concurrency is not None
