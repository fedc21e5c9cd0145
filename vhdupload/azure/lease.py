"""The lease that keeps a second writer out while an upload runs.

The lease lasts at most 60 s and a thread renews it every third of that, so a crashed upload
(``kill -9``, a lost network) frees the blob within a minute. Each renewal also writes a
heartbeat into the metadata, which moves the blob's Last-Modified time: a second upload that
meets the lease can tell an active holder (recent heartbeat) from a crashed one, and how long
until its lease expires, on the server's clock alone (the lease's length is in the metadata).
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import HttpResponseError

from ..errors import CancelledError, LeaseHeldError
from ..transfer.settings import DEFAULT_WAIT_TIMEOUT
from .error_map import translate
from .errors import error_code
from .page_blob import PageBlobSink
from .state import UploadState

MAX_LEASE_SECONDS = 60
#: Seconds a holder may be late with its renewal (a slow request) before it is taken for stopped.
_RENEWAL_SLACK = 5


class LeaseKeeper:
    """Acquire, renew (with heartbeat) and release the blob's lease."""

    def __init__(
        self,
        sink: PageBlobSink,
        *,
        duration: int = MAX_LEASE_SECONDS,
        metadata: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        if not 15 <= duration <= MAX_LEASE_SECONDS:
            raise ValueError("a lease lasts 15 to 60 seconds")
        self.sink = sink
        self.duration = duration
        self._metadata = metadata
        self.lease: Any = None
        self._lease_id = str(uuid.uuid4())
        self.lost: BaseException | None = None
        self.holder_never_expires = False  # what describe_holder() last found
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- acquiring -------------------------------------------------------------------------
    def acquire(self, *, wait: bool = False, cancel: threading.Event | None = None,
                wait_timeout: float = DEFAULT_WAIT_TIMEOUT) -> Any:
        """Take the lease; if another holds it, raise LeaseHeldError saying who and for how
        long, or with ``wait`` poll until it is free (at most ``wait_timeout`` seconds). A lease
        that never expires (a VM's disk) is never waited for."""
        cancel = cancel or threading.Event()
        deadline = time.monotonic() + wait_timeout
        while True:
            try:
                # A lease id of our own makes a retried acquire (its answer lost) idempotent.
                self.lease = self.sink.call(
                    lambda: self.sink.client.acquire_lease(lease_duration=self.duration, lease_id=self._lease_id),
                    what=f"taking the lease on {self.sink.url}",
                )
                return self.lease
            except HttpResponseError as exc:
                if error_code(exc) != "LeaseAlreadyPresent":
                    raise translate(exc, action=f"taking the lease on {self.sink.url}") from None
            message, expires_in = self.describe_holder()
            if not wait or self.holder_never_expires:
                raise LeaseHeldError(message, expires_in=expires_in)
            if time.monotonic() >= deadline:
                raise LeaseHeldError(f"{message} (waited {wait_timeout:.0f} s; give up or raise --wait-timeout)",
                                     expires_in=expires_in)
            if cancel.wait(min(max(expires_in or 5.0, 1.0), 5.0)):
                raise CancelledError("cancelled while waiting for the lease; run the same command again to resume")

    def describe_holder(self) -> tuple[str, float | None]:
        """What to tell a user who meets the lease, and within how many seconds it expires if
        its holder has stopped renewing it (None when that cannot be known).

        A holder renews every third of its lease (recorded in the metadata) and writes a
        heartbeat each time, and its Put Pages move Last-Modified too; so the lease expires at
        most ``lease - age`` seconds after the last write, and a holder silent for longer than
        one renewal period (plus slack) has stopped: crashed, or cut off."""
        props, server_now = self.sink.properties()
        lease = getattr(props, "lease", None)
        self.holder_never_expires = str(getattr(lease, "duration", "") or "").lower() == "infinite"
        if self.holder_never_expires:
            return (
                f"{self.sink.url} is in use by something else (a VM disk?): it holds a lease that never expires, "
                "so no upload can write to it; detach it from the VM or break its lease, or upload elsewhere",
                None,
            )
        if props is None or server_now is None or props.last_modified is None:
            return (f"another upload holds the lease on {self.sink.url}; try again later or add --wait", None)
        state = UploadState.from_metadata(getattr(props, "metadata", None))
        if state is None:
            return (
                f"something other than vhdupload holds a lease on {self.sink.url} (it did not make this blob); "
                "try again later, or add --wait",
                None,
            )
        lease = (state.lease_seconds if state else 0) or MAX_LEASE_SECONDS
        age = max(0.0, server_now - props.last_modified.timestamp())
        # +1: Last-Modified and Date have whole-second resolution.
        expires_in = float(max(1, math.ceil(lease - age) + 1))
        if age <= lease / 3 + _RENEWAL_SLACK:
            return (
                f"another upload is writing to {self.sink.url} now (it holds the blob's lease, last write "
                f"{age:.0f} s ago); if it has crashed, its lease expires within {expires_in:.0f} s: "
                "rerun then, or add --wait",
                expires_in,
            )
        return (
            f"an upload that stopped {age:.0f} s ago (probably crashed) still holds the lease on "
            f"{self.sink.url}; it expires within {expires_in:.0f} s: rerun then, or add --wait",
            expires_in,
        )

    # -- keeping ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, name="vhdupload-lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        interval = self.duration / 3
        next_at = time.monotonic() + interval
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            try:
                with self._lock:
                    if self._stop.is_set():
                        return
                    self.lease.renew()
                    if self._metadata is not None:
                        meta = self._metadata()
                        meta["vhdupload_heartbeat"] = str(int(time.time()))
                        self.sink.client.set_blob_metadata(meta, lease=self.lease)
                next_at = time.monotonic() + interval
            except HttpResponseError as exc:
                if error_code(exc) in ("LeaseIdMismatchWithLeaseOperation", "LeaseNotPresentWithLeaseOperation", "LeaseLost"):
                    self.lost = LeaseHeldError(
                        f"the lease on {self.sink.url} was lost (someone broke it); run the same command again to resume"
                    )
                    return
                next_at = time.monotonic() + 5  # transient: try again soon, well within the lease
            except Exception:
                next_at = time.monotonic() + 5

    def write_metadata(self, metadata: dict[str, str], *, once: bool = False) -> None:
        """Write metadata under the lease, never interleaved with a heartbeat (``once``: one try)."""
        with self._lock:
            self.sink.set_metadata(metadata, lease=self.lease, once=once)

    def stop(self, *, release: bool = True) -> None:
        with self._lock:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if release and self.lease is not None:
            try:
                self.lease.release()
            except Exception:  # an expired lease frees itself; nothing to do
                pass
