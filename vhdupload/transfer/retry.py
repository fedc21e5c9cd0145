"""Retries owned by the engine: exponential backoff with full jitter, ``Retry-After`` honoured,
a bounded count, every retry counted and reported.

An operation signals a transient failure by raising :class:`Retryable`; anything else goes
straight through. Sleeping waits on the cancellation event, so a cancel is never delayed by a
backoff.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import CancelledError, TransferError

T = TypeVar("T")

#: Seconds after its first try that one request is no longer retried (see RetryPolicy).
DEFAULT_RETRY_SECONDS = 120.0


class Retryable(Exception):
    """A transient failure; ``retry_after`` is the server's hint in seconds, if it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RetryPolicy:
    def __init__(
        self,
        *,
        max_retries: int,
        cancel: threading.Event,
        base: float = 0.5,
        cap: float = 30.0,
        on_retry: Callable[[Retryable], None] | None = None,
        cancel_message: str = "cancelled",
        failure_hint: str = "",
        always_try_once: bool = False,
        max_seconds: float | None = DEFAULT_RETRY_SECONDS,
    ) -> None:
        self.max_retries = max_retries
        #: However many retries are left, one request stops being retried this many seconds
        #: after its first try: a request that stalls costs a whole timeout per try, and an
        #: upload whose every request stalls must still stop in about two minutes.
        self.max_seconds = max_seconds
        self.cancel = cancel
        self.base = base
        self.cap = cap
        self.on_retry = on_retry
        self.cancel_message = cancel_message
        self.failure_hint = failure_hint
        #: Make the first try even when cancelled (the calls that wind a cancelled upload down,
        #: like releasing the lease or marking the blob, must still go out); only retries stop.
        self.always_try_once = always_try_once

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^attempt)]."""
        delay = random.uniform(0, min(self.cap, self.base * (2**attempt)))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap * 4))
        return delay

    def call(self, operation: Callable[[int], T], *, what: str) -> T:
        """Run ``operation(attempt)`` until it succeeds, raises a non-retryable error, or the
        retries are spent (then :class:`TransferError`)."""
        attempt = 0
        started = time.monotonic()
        while True:
            if self.cancel.is_set() and (attempt or not self.always_try_once):
                raise CancelledError(self.cancel_message)
            try:
                return operation(attempt)
            except Retryable as exc:
                delay = self.delay(attempt, exc.retry_after)
                spent = time.monotonic() - started
                out_of_time = self.max_seconds is not None and spent + delay > self.max_seconds
                if attempt >= self.max_retries or out_of_time:
                    hint = f"; {self.failure_hint}" if self.failure_hint else ""
                    within = f" in {spent:.0f} s" if out_of_time and attempt < self.max_retries else ""
                    raise TransferError(f"{what} failed after {attempt + 1} tries{within}: {exc}{hint}") from None
                if self.on_retry is not None:
                    self.on_retry(exc)
                if self.cancel.wait(delay):
                    raise CancelledError(self.cancel_message) from None
                attempt += 1
