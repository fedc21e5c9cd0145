"""A request that keeps stalling stops being retried after max_seconds, whatever retries are left."""

from __future__ import annotations

import threading
import time

import pytest

from vhdupload.errors import TransferError
from vhdupload.transfer.retry import DEFAULT_RETRY_SECONDS, Retryable, RetryPolicy


def test_stalls_stop_at_the_deadline_not_after_every_retry():
    policy = RetryPolicy(max_retries=100, cancel=threading.Event(), base=0.01, cap=0.05, max_seconds=1.0)
    tries = []

    def stall(attempt: int) -> None:
        tries.append(attempt)
        time.sleep(0.3)  # as a request that waits out its timeout
        raise Retryable("timed out")

    started = time.monotonic()
    with pytest.raises(TransferError, match=r"failed after \d+ tries in 1 s: timed out"):
        policy.call(stall, what="writing")
    assert time.monotonic() - started < 1.6 and 2 <= len(tries) <= 5


def test_the_default_deadline_is_two_minutes():
    assert DEFAULT_RETRY_SECONDS == 120.0
