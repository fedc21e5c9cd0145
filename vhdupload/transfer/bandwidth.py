"""A token bucket shared by all workers: at most ``rate`` bytes per second on average."""

from __future__ import annotations

import threading
import time

from ..errors import CancelledError


class BandwidthLimiter:
    """``acquire(n)`` blocks until ``n`` bytes may be sent. After an idle spell it bursts up to
    one second's worth; over the whole transfer the average stays at or under ``rate``.

    A cancel ends every wait at once with :class:`~vhdupload.errors.CancelledError`: a request
    that was being held back must not go out after the caller asked to stop (it did: a cancel at
    5 MB sent still let 14 MB out at a 2 MB/s cap)."""

    def __init__(self, rate: float | None, *, cancel: threading.Event | None = None,
                 cancel_message: str = "cancelled") -> None:
        self.rate = rate
        self._cancel = cancel or threading.Event()
        self._cancel_message = cancel_message
        self._lock = threading.Lock()
        # Start empty: a first burst would let a short upload average well above the cap
        # (64 MB at a 20 MB/s cap took 2.5 s, not 3.2, with a full bucket at the start).
        self._tokens = 0.0
        self._stamp = time.monotonic()

    def acquire(self, n: int) -> None:
        if not self.rate:
            return
        if self._cancel.is_set():
            raise CancelledError(self._cancel_message)
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            # Take the tokens now (possibly going negative) so requests queue in order; the
            # debt is paid by sleeping outside the lock.
            self._tokens -= n
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0 and self._cancel.wait(wait):
            raise CancelledError(self._cancel_message)
