"""The bugs issue 12 found, each pinned by a test that failed before its fix."""

from __future__ import annotations

import json
import threading
import time

import pytest

from vhdupload.engine import make_sender
from vhdupload.errors import CancelledError
from vhdupload.transfer import BandwidthLimiter, ProgressTracker, RetryPolicy

MIB = 1 << 20


# -- a cancel with max_bandwidth set: nothing held back by the limiter goes out afterwards ------

def test_cancel_ends_the_bandwidth_wait_and_no_request_starts_after_it():
    cancel = threading.Event()
    puts: list[float] = []
    tracker = ProgressTracker(total=4 * 500_000)
    send = make_sender(
        put=lambda data, offset, crc: puts.append(time.monotonic()),
        classify=lambda exc: None,
        translate=lambda exc, offset, n: exc,
        reread=lambda offset, n: b"",
        is_checksum_mismatch=lambda exc: False,
        policy=RetryPolicy(max_retries=0, cancel=cancel, cancel_message="upload cancelled"),
        limiter=BandwidthLimiter(1_000_000, cancel=cancel, cancel_message="upload cancelled"),
        tracker=tracker,
    )
    outcomes: list[BaseException | None] = []

    def worker(index: int) -> None:
        try:
            send(bytes(500_000), index * 500_000, 0)
            outcomes.append(None)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            outcomes.append(exc)

    # Four requests of 0.5 MB at 1 MB/s from an empty bucket: they may go at 0.5, 1, 1.5, 2 s.
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.75)
    cancelled_at = time.monotonic()
    cancel.set()
    for thread in threads:
        thread.join(timeout=5)
    finished = time.monotonic()
    assert len(puts) == 1, "only the request due before the cancel went out"
    assert all(at < cancelled_at for at in puts)
    assert finished - cancelled_at < 0.3, "the held-back requests stopped waiting at once"
    assert sum(isinstance(o, CancelledError) and "upload cancelled" in str(o) for o in outcomes) == 3
    assert tracker.snapshot.bytes_sent == 500_000
