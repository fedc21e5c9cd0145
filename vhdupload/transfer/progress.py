"""Progress as plain snapshots handed to subscriber callbacks (called from worker threads)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Progress:
    """Where an upload stands; every field counts bytes unless it says otherwise.

    ``covered / total`` is the fraction done, and the time left is best estimated from it:
    ``total`` counts only what has to be read and examined (the source's allocated extents
    and the footer page), never the holes, which cost nothing."""

    total: int  # bytes to examine: the source's possibly-nonzero extents, whole pages, + the footer page
    covered: int = 0  # of those, examined so far: sent, skipped as zeros, or already present
    bytes_sent: int = 0  # request bodies sent successfully (merged zero gaps included)
    bytes_present: int = 0  # already on the blob when resuming, not sent again
    bytes_received: int = 0  # downloaded (a verify reads the destination back)
    data_bytes: int = 0  # nonzero pages found
    requests: int = 0
    retries: int = 0
    elapsed: float = 0.0


ProgressCallback = Callable[[Progress], None]

log = logging.getLogger("vhdupload.progress")


class ProgressTracker:
    """Thread-safe counters; each change is published to every subscriber as a snapshot."""

    def __init__(self, *, total: int, subscribers: list[ProgressCallback] | None = None) -> None:
        self._lock = threading.Lock()
        self._state = Progress(total=total)
        self._start = time.monotonic()
        self._subscribers = [s for s in (subscribers or []) if s is not None]

    def add(self, **deltas: int) -> None:
        with self._lock:
            state = self._state
            changes = {name: getattr(state, name) + value for name, value in deltas.items()}
            changes["elapsed"] = time.monotonic() - self._start
            self._state = replace(state, **changes)
            snapshot = self._state
            # Call under the lock so subscribers see snapshots in order (a tqdm bar that went
            # backwards would confuse people); subscribers must be quick.
            for subscriber in list(self._subscribers):
                try:
                    subscriber(snapshot)
                except Exception:  # progress is advisory: a broken callback must not stop an upload
                    log.warning("progress callback %r failed and is dropped", subscriber, exc_info=True)
                    self._subscribers.remove(subscriber)

    @property
    def snapshot(self) -> Progress:
        with self._lock:
            return replace(self._state, elapsed=time.monotonic() - self._start)
