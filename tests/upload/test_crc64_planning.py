"""Unit tests of the pure layers: CRC64 composition against an independent oracle, planning."""

from __future__ import annotations

import os

import crcmod
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vhdupload import crc64, planning
from vhdupload.cli.upload_commands import parse_bandwidth
from vhdupload.transfer import BandwidthLimiter, RetryPolicy, Retryable
from vhdupload.errors import TransferError

ORACLE = crcmod.mkCrcFun(0x1AD93D23594C93659, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)


def subtract(ranges, held):
    """``ranges`` minus ``held``, as an upload that resumes computes it."""
    return planning.RangeSet(held).subtract_from(ranges)


def chunk_spans(extents, *, stop):
    """One span per chunk touched: from its first piece to its last."""
    return [(pieces[0][0], pieces[-1][1]) for pieces in planning.chunk_pieces(extents, stop=stop)]


def test_check_value_matches_the_oracle_and_the_spec():
    assert ORACLE(b"123456789") == 0xAE8B14860A799888
    assert crc64.compute(b"123456789") == 0xAE8B14860A799888
    assert crc64.to_hex(0xAE8B14860A799888) == "ae8b14860a799888"


@given(st.binary(max_size=3000), st.binary(max_size=3000))
@settings(max_examples=60, deadline=None)
def test_combine_equals_crc_of_concatenation(a, b):
    assert crc64.combine(crc64.compute(a), crc64.compute(b), len(b)) == ORACLE(a + b)


@pytest.mark.parametrize("n", [0, 1, 511, 512, 4096, 65537, (1 << 20) + 3, 3 * (1 << 20) + 512])
def test_zeros_without_reading_them(n):
    assert crc64.zeros(n) == ORACLE(bytes(n))
    prefix = os.urandom(100)
    assert crc64.append_zeros(crc64.compute(prefix), n) == ORACLE(prefix + bytes(n))


def test_ordered_fold_accepts_pieces_out_of_order():
    data = bytearray(1 << 20)
    data[1000:2000] = os.urandom(1000)
    data[500_000:500_512] = os.urandom(512)
    fold = crc64.OrderedFold()
    pieces = [(1000, 2000), (500_000, 500_512)]
    for index in (1, 0):
        lo, hi = pieces[index]
        fold.add(index, lo, hi, crc64.compute(bytes(data[lo:hi])))
    assert fold.finish(len(data)) == ORACLE(bytes(data))


def test_nonzero_runs_at_4k_with_a_512_tail():
    data = bytearray(3 * 4096 + 1024)
    data[5] = 1  # page 0
    data[2 * 4096 + 4095] = 1  # page 2
    data[3 * 4096 + 600] = 1  # tail sector 1
    runs = planning.nonzero_runs(bytes(data), base=1 << 30)
    base = 1 << 30
    assert runs == [(base, base + 4096), (base + 8192, base + 12288), (base + 12288 + 512, base + 12288 + 1024)]
    assert planning.nonzero_runs(bytes(planning.CHUNK)) == []


def test_merge_gaps_subtract_and_spans():
    assert planning.merge_gaps([(0, 10), (15, 20), (100, 110)], max_gap=6) == [(0, 20), (100, 110)]
    assert subtract([(0, 100), (200, 300)], [(50, 250), (290, 400)]) == [(0, 50), (250, 290)]
    assert planning.gaps([(10, 20), (30, 40)], start=0, stop=50) == [(0, 10), (20, 30), (40, 50)]
    mib = 1 << 20
    spans = chunk_spans([(100, 200), (3 * mib, 5 * mib), (9 * mib, 9 * mib + 1)], stop=12 * mib)
    # one read per 4 MiB chunk touched, widened to whole pages, never across a chunk boundary
    assert spans == [(0, 4 * mib), (4 * mib, 5 * mib), (9 * mib, 9 * mib + 4096)]


@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(1, 50)), max_size=20),
       st.lists(st.tuples(st.integers(0, 1000), st.integers(1, 50)), max_size=20))
@settings(max_examples=80, deadline=None)
def test_subtract_is_set_difference(a, b):
    ranges = planning.coalesce((s, s + n) for s, n in a)
    held = [(s, s + n) for s, n in b]
    got = subtract(ranges, held)
    covered = {i for s, e in ranges for i in range(s, e)} - {i for s, e in held for i in range(s, e)}
    assert {i for s, e in got for i in range(s, e)} == covered
    assert all(s < e for s, e in got)


def test_retry_policy_counts_and_gives_up_with_a_resume_hint():
    import threading

    seen = []
    policy = RetryPolicy(max_retries=2, cancel=threading.Event(), base=0.001, cap=0.002,
                         on_retry=seen.append, failure_hint="run it again to resume")

    def always_fails(_attempt):
        raise Retryable("503 ServerBusy", retry_after=0.001)

    with pytest.raises(TransferError, match="after 3 tries.*run it again to resume"):
        policy.call(always_fails, what="writing")
    assert len(seen) == 2


def test_bandwidth_limiter_paces():
    import time

    limiter = BandwidthLimiter(1_000_000)
    start = time.monotonic()
    for _ in range(3):
        limiter.acquire(500_000)  # 1.5 MB at 1 MB/s with a 1 s burst: about 0.5 s
    assert 0.3 < time.monotonic() - start < 2


def test_bandwidth_units():
    assert parse_bandwidth("80") == 10e6  # megabits/s, as AzCopy's --cap-mbps
    assert parse_bandwidth("50MB/s") == 50e6
    assert parse_bandwidth("1GiB/s") == 1024**3


def test_lease_holder_is_told_apart_by_the_age_of_its_last_write():
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from vhdupload.azure.lease import LeaseKeeper

    now = datetime(2026, 1, 1, 12, 0, 45, tzinfo=timezone.utc)

    class Sink:
        url = "https://a.blob.core.windows.net/c/d.vhd"

        def __init__(self, seconds_ago, lease_seconds=0):
            self.last = datetime.fromtimestamp(now.timestamp() - seconds_ago, tz=timezone.utc)
            self.metadata = {"vhdupload_format": "1", "vhdupload_source_size": "1", "vhdupload_source_fingerprint": "0",
                             "vhdupload_blob_size": "1049088", "vhdupload_lease_seconds": str(lease_seconds)}

        def properties(self):
            return SimpleNamespace(last_modified=self.last, metadata=self.metadata), now.timestamp()

    message, expires = LeaseKeeper(Sink(45)).describe_holder()  # a 60 s lease renewed every 20 s
    assert "crashed" in message and "expires within 16 s" in message and expires == 16
    message, expires = LeaseKeeper(Sink(3)).describe_holder()
    assert "writing to" in message and "expires within 58 s" in message and "--wait" in message and expires == 58
    message, expires = LeaseKeeper(Sink(11, lease_seconds=15)).describe_holder()  # renewed every 5 s
    assert "crashed" in message and "expires within 5 s" in message and expires == 5
    message, expires = LeaseKeeper(Sink(40, lease_seconds=15)).describe_holder()
    assert "expires within 1 s" in message
