"""The gap cost model (planning) and the shaped floor (bench.floor)."""

from __future__ import annotations

import pytest

from vhdupload import planning
from vhdupload.bench.floor import Floor, shaped_floor

MIB = planning.MIB


def test_standard_page_blob_gap_is_120_kib():
    assert planning.default_max_gap() == 120 * 1024
    assert planning.default_max_gap() % planning.PAGE == 0


def test_gap_follows_the_limits_and_stays_in_bounds():
    assert planning.gap_for_limits(planning.DestinationLimits(20 * MIB, 250)) == 80 * 1024
    assert planning.gap_for_limits(planning.DestinationLimits(1e3, 1000)) == planning.PAGE  # at least a page
    assert planning.gap_for_limits(planning.DestinationLimits(1e12, 1)) == planning.CHUNK  # at most a chunk
    fast = planning.gap_for_limits(planning.DestinationLimits(500e6, 2000))
    slow = planning.gap_for_limits(planning.DestinationLimits(60e6, 500))
    assert fast > slow


@pytest.mark.parametrize(
    ("gib", "name"),
    [(32, "S4-S50"), (4096, "S4-S50"), (4097, "S60"), (8192, "S60"), (16384, "S70"), (32767, "S70")],
)
def test_managed_disk_limits_are_its_standard_hdd_tier(gib, name):
    limits = planning.standard_hdd_limits(gib * 1024 * MIB)
    assert name in limits.name


def runs(*pairs):
    return [(a * 4096, b * 4096) for a, b in pairs]


def test_floor_of_one_run_is_its_bytes_or_one_request():
    floor = shaped_floor(runs((0, 256)), bytes_per_second=MIB, requests_per_second=1000)
    assert floor.requests == 1 and floor.bytes == MIB
    assert floor.seconds == pytest.approx(1.0)


def test_floor_merges_small_gaps_when_requests_bind():
    # 100 runs of one page, one page apart: 100 requests at 10/s = 10 s unmerged; merged into
    # one request of 199 pages at a fast byte rate, ~0.1 s.
    data = [(2 * i, 2 * i + 1) for i in range(100)]
    floor = shaped_floor(runs(*data), bytes_per_second=100 * MIB, requests_per_second=10)
    assert floor.requests == 1
    assert floor.bytes == 199 * 4096
    assert floor.seconds == pytest.approx(0.1)


def test_floor_does_not_merge_when_bytes_bind():
    data = [(10 * i, 10 * i + 1) for i in range(100)]
    floor = shaped_floor(runs(*data), bytes_per_second=4096, requests_per_second=1e6)
    assert floor.requests == 100 and floor.bytes == 100 * 4096


def test_floor_respects_the_4_mib_request_limit():
    # Two 3 MiB runs with a one-page gap: merged they would be one 6 MiB run = 2 requests anyway.
    pages = 3 * 256
    floor = shaped_floor(runs((0, pages), (pages + 1, 2 * pages + 1)), bytes_per_second=1e12,
                         requests_per_second=1)
    assert floor.requests == 2


def test_floor_balances_the_two_limits():
    # 1,000 one-page runs with gaps of growing size: the best merge is somewhere inside.
    data, cursor = [], 0
    for i in range(1000):
        data.append((cursor, cursor + 1))
        cursor += 2 + i % 50
    floor = shaped_floor(runs(*data), bytes_per_second=2 * MIB, requests_per_second=250)
    unmerged = max(1000 * 4096 / (2 * MIB), 1000 / 250)
    assert floor.seconds < unmerged
    assert floor.seconds == pytest.approx(max(floor.bytes / (2 * MIB), floor.requests / 250))
    assert isinstance(floor, Floor)
