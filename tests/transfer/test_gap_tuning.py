"""The zero-gap tuner: the histogram's arithmetic, and where it leads on simulated links."""

from __future__ import annotations

import random

import pytest

from vhdupload.planning import PAGE
from vhdupload.transfer.gap_tuning import GapHistogram, GapTuner

KIB = 1024
MIB = 1024 * KIB


def test_histogram_counts_requests_and_bytes_for_any_gap():
    histogram = GapHistogram()
    # runs of 4 KiB separated by gaps of 8, 16 and 64 KiB
    histogram.add([(0, 4 * KIB), (12 * KIB, 16 * KIB), (32 * KIB, 36 * KIB), (100 * KIB, 104 * KIB)])
    assert histogram.runs == 4 and histogram.data == 16 * KIB
    assert histogram.requests(PAGE) == 4
    assert histogram.requests(12 * KIB) == 3  # the 8 KiB gap merged
    assert histogram.requests(20 * KIB) == 2
    assert histogram.requests(68 * KIB) == 1
    assert histogram.wire_bytes(12 * KIB) == 24 * KIB
    assert histogram.wire_bytes(68 * KIB) == 104 * KIB
    # the smallest gap above 12 KiB saving at least 40 % of its 3 requests merges two gaps
    assert histogram.larger_gap(12 * KIB, saving=0.4) == 68 * KIB
    assert histogram.larger_gap(68 * KIB, saving=0.1) is None
    # the largest gap below 68 KiB sending at least 50 % fewer bytes than its 104 KiB
    assert histogram.smaller_gap(68 * KIB, saving=0.5) == 64 * KIB
    assert histogram.smaller_gap(PAGE, saving=0.1) is None


def _disk(seed: int, chunks: int, gap_sizes) -> list[list[tuple[int, int]]]:
    """Chunks of 16 KiB runs separated by gaps drawn from ``gap_sizes`` (KiB)."""
    rng = random.Random(seed)
    out = []
    for _ in range(chunks):
        runs, cursor = [], 0
        while True:
            lo = cursor + rng.choice(gap_sizes) * KIB
            if lo + 16 * KIB > 4 * MIB:
                break
            runs.append((lo, lo + 16 * KIB))
            cursor = lo + 16 * KIB
        out.append(runs)
    return out


def _simulate(tuner: GapTuner | None, chunks, *, byte_rate: float, request_rate: float, gap: int = 0) -> float:
    """One request at a time through a link that needs max(1 / request_rate, bytes / byte_rate)
    seconds per request; returns the total time (the tuner's clock)."""
    clock = [0.0]
    if tuner is not None:
        tuner._clock = lambda: clock[0]
    for runs in chunks:
        if tuner is not None:
            tuner.saw(runs)
        index = 0
        while index < len(runs):
            current, generation = tuner.begin_request() if tuner is not None else (gap, 0)
            lo, hi = runs[index]
            index += 1
            while index < len(runs) and runs[index][0] - hi < current:
                hi = runs[index][1]
                index += 1
            started = clock[0]
            clock[0] += max(1 / request_rate, (hi - lo) / byte_rate)
            if tuner is not None:
                tuner.observe(started=started, finished=clock[0], generation=generation)
                tuner.end_request(generation)
    return clock[0]


def _tuner(start: int) -> GapTuner:
    return GapTuner(start=start, clock=lambda: 0.0)


GAPS = [8, 24, 40, 80, 160, 200, 220, 240, 260, 300, 600]


def test_a_link_bound_by_requests_gets_larger_merges():
    chunks = _disk(1, 400, GAPS)
    tuner = _tuner(120 * KIB)
    tuned = _simulate(tuner, chunks, byte_rate=1e12, request_rate=250)
    fixed = _simulate(None, chunks, byte_rate=1e12, request_rate=250, gap=120 * KIB)
    assert tuner.gap > 240 * KIB
    assert tuned < 0.8 * fixed


def test_a_link_bound_by_bytes_gets_smaller_merges():
    chunks = _disk(2, 150, GAPS)
    tuner = _tuner(120 * KIB)
    tuned = _simulate(tuner, chunks, byte_rate=2 * MIB, request_rate=1e9)
    fixed = _simulate(None, chunks, byte_rate=2 * MIB, request_rate=1e9, gap=120 * KIB)
    assert tuner.mostly() <= 8 * KIB
    assert tuned < 0.9 * fixed


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_a_link_bound_by_both_lands_near_the_best_fixed_gap(seed):
    chunks = _disk(seed, 200, GAPS)
    link = {"byte_rate": 20 * MIB, "request_rate": 250}
    best = min(_simulate(None, chunks, **link, gap=gap * KIB) for gap in (4, 64, 120, 180, 230, 250, 280, 400))
    tuned = _simulate(_tuner(120 * KIB), chunks, **link)
    assert tuned <= 1.12 * best


def test_a_disk_without_short_gaps_is_left_alone():
    chunks = _disk(6, 40, [1024, 2048])  # 1-2 MiB apart: nothing worth merging
    tuner = _tuner(120 * KIB)
    _simulate(tuner, chunks, byte_rate=20 * MIB, request_rate=250)
    assert tuner.steps == [] and tuner.gap == 120 * KIB


def test_requests_of_an_older_gap_are_not_counted_until_they_are_all_done():
    now = [0.0]
    tuner = GapTuner(start=120 * KIB, clock=lambda: now[0], min_requests=1, window=0.1)
    tuner.saw([(0, 4 * KIB), (200 * KIB, 204 * KIB), (400 * KIB, 404 * KIB)] * 1)
    _, old = tuner.begin_request()  # in flight while the gap moves
    tuner._set(204 * KIB, now[0], why="probe up")
    _, new = tuner.begin_request()
    now[0] = 1.0
    tuner.observe(started=0.5, finished=1.0, generation=new)
    assert tuner._count == 0  # still settling: the old request is in flight
    tuner.end_request(old)
    tuner.observe(started=1.0, finished=1.05, generation=new)
    assert tuner._count == 1


def test_a_move_of_the_concurrency_voids_a_running_probe():
    level = [8]
    now = [0.0]
    tuner = GapTuner(start=120 * KIB, clock=lambda: now[0], epoch=lambda: level[0], min_requests=2, window=0.1, warmup=0)
    tuner.saw([(i * 204 * KIB, i * 204 * KIB + 4 * KIB) for i in range(20)])

    def window(rate: float) -> None:
        for _ in range(int(0.12 * rate)):
            _, generation = tuner.begin_request()
            started = now[0]
            now[0] += 1 / rate
            tuner.observe(started=started, finished=now[0], generation=generation)
            tuner.end_request(generation)

    window(100)  # the baseline, then a probe up
    assert tuner.gap > 120 * KIB
    level[0] = 12  # the concurrency controller moved
    window(1000)  # would have looked like a great gain
    window(1000)
    moved = [step for step in tuner.steps if step.why == "concurrency moved"]
    assert moved and moved[0].after == 120 * KIB  # back where it was measured, not judged
