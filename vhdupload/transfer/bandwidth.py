"""A token bucket shared by all workers: at most ``rate`` bytes per second on average."""

from __future__ import annotations

import re
import threading
import time

from ..errors import CancelledError, InputError


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


# -- a rate as people write it ----------------------------------------------------------------
# B is a byte and b a bit, as in every tool (AzCopy's --cap-mbps is megabits, rsync's and curl's
# rates bytes); the prefix's case carries no meaning (kB and KB are both 1000 bytes), Ki/Mi/Gi
# are binary. A rate whose b/B cannot be told apart ("50MBPS", "50M") is refused, not guessed:
# "50MBps" read as megabits once capped an upload at a tenth of what was asked.
_RATE = re.compile(
    r"\s*(?P<number>[0-9]+(?:\.[0-9]+)?)\s*"
    r"(?:(?P<prefix>[kKmMgG])(?P<binary>i)?)?"
    r"(?P<base>B|b|bit|bits|byte|bytes)?"
    r"(?P<per>ps|/s|/sec)?\s*"
)
_PREFIXES = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}
_BINARY = {"k": 1024, "m": 1024**2, "g": 1024**3}
#: What a bare number means: megabits per second, as AzCopy's ``--cap-mbps``.
BARE_NUMBER_UNIT = "Mbit/s"
RATE_EXAMPLES = "400 (Mbit/s, as AzCopy's --cap-mbps), 400Mbps or 400Mbit/s (bits), 50MB/s or 50MBps (bytes), 50MiB/s"


def parse_rate(text: str) -> float:
    """Bytes per second from a rate as written: ``400`` (megabits), ``400Mbps``, ``400Mbit/s``,
    ``50MB/s``, ``50MBps``, ``50MiB/s``, ``1GB/s``... Raises InputError for anything else, and
    for a rate that does not say whether it counts bits or bytes (``50MBPS``, ``50M``)."""
    match = _RATE.fullmatch(text)
    if match is None:
        if re.fullmatch(r"\s*[0-9.]+\s*[KkMmGg]?i?(?:BPS|BIT/S|BITS?|BYTES?)\s*", text, re.IGNORECASE):
            raise InputError(f"{text.strip()!r} is ambiguous (B is a byte, b a bit): write it like {RATE_EXAMPLES}")
        raise InputError(f"{text.strip()!r} is not a rate like {RATE_EXAMPLES}")
    number = float(match["number"])
    prefix, base, per = (match["prefix"] or "").lower(), match["base"], match["per"]
    if number <= 0:
        raise InputError(f"{text.strip()!r} is not a positive rate")
    if not prefix and not base and not per:
        return number * 1e6 / 8  # a bare number
    if base is None:  # "50M", "50M/s": bits or bytes?
        raise InputError(f"{text.strip()!r} is ambiguous (bits or bytes?): write it like {RATE_EXAMPLES}")
    scale = _BINARY[prefix] if match["binary"] else _PREFIXES[prefix]
    if match["binary"] and not prefix:
        raise InputError(f"{text.strip()!r} is not a rate like {RATE_EXAMPLES}")
    bits = base in ("b", "bit", "bits")
    return number * scale / 8 if bits else number * scale


def describe_rate(rate: float) -> str:
    """A cap as a person reads it: bytes first (as sizes are), bits beside (as links are sold)."""
    return f"{_short(rate / 1024**2)} MiB/s ({_short(rate * 8 / 1e6)} Mbit/s)"


def _short(value: float) -> str:
    return f"{value:.3g}" if value < 1000 else f"{value:.0f}"
