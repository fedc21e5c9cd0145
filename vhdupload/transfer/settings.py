"""Every knob of a transfer in one validated object (keyword-only, like s3transfer's config)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InputError
from ..keywords import refuse_unknown_keywords
from . import concurrency as _adaptive

if TYPE_CHECKING:  # set_pacing builds settings: imported for the annotation only
    from . import set_pacing as _pacing

#: Requests in flight by default. Measured against Azurite on this 2-core machine (Azurite's
#: node process shares the cores, load average ~4 from other work during the runs):
#:   (a) 2 GiB, 25 % random 1 MiB blocks, 421 requests: 2 threads 12.6 s, 4 13.3 s, 8 10.2 s,
#:       16 11.5 s (Azurite ingests ~50-60 MB/s whatever the concurrency);
#:   (b) 1 GiB, ~2,400 runs of 4-64 KiB, 1,974 requests: 4 threads 4.2 s, 8 4.3 s, 16 4.3 s.
#: Below 4 the server idles while the client reads and checksums; above 8 only memory grows
#: (RSS 73 MiB at 8, 91 MiB at 16). Real Azure has tens of ms of latency per request, where more
#: parallelism pays, and 8 costs at most 8 x 2 x 4 MiB of buffers: 8 it is.
DEFAULT_THREADS = 8
#: Seconds an upload told to wait for another writer waits at most (15 minutes: a lease renewed
#: by a live upload never lapses, so waiting longer rarely helps).
DEFAULT_WAIT_TIMEOUT = 900.0
DEFAULT_MAX_RETRIES = 8
#: ``threads=None`` means adaptive: start at ADAPTIVE_START and let the data rate decide, up to
#: ADAPTIVE_MAX (see :mod:`vhdupload.transfer.concurrency`); a number pins it.
ADAPTIVE_START = _adaptive.ADAPTIVE_START
ADAPTIVE_MAX = _adaptive.ADAPTIVE_MAX


@refuse_unknown_keywords
@dataclass(frozen=True, kw_only=True)
class TransferSettings:
    """How a transfer travels: every knob of an upload or verify in one validated object.

    :param threads: requests in flight at once, 1..256; None adapts it to the link (starting at
        16, up to 64, narrowing on throttling or rising latency).

    A misspelt keyword is an InputError naming the close match (``thread`` -> ``threads``).
    :param max_retries: retries of one request after the first try, with exponential backoff
        and jitter (``Retry-After`` honoured).
    :param timeout: seconds one request may take before it is retried (None: 60).
    :param max_bandwidth: a cap on bytes per second sent (bytes, not bits:
        :func:`vhdupload.transfer.bandwidth.parse_rate` reads ``"400Mbps"`` or ``"50MB/s"``);
        None for no cap.
    :param max_gap: bytes of zeros between two data runs that are sent rather than split into two
        requests; None starts from the destination's limits (bytes/s against requests/s) and
        moves it while the link's data rate says so (:mod:`vhdupload.transfer.gap_tuning`).
    :param backoff_base: seconds of the first retry's backoff (doubled each retry, jittered).
    :param backoff_cap: the longest backoff, in seconds.
    :param wait_timeout: seconds an upload told to ``wait`` waits for another writer to finish
        before giving up.
    :param shared_concurrency: with ``threads`` None, one
        :class:`~vhdupload.AdaptiveConcurrency` that several uploads running at once share, so
        that its limit holds for their requests together; None: each upload adapts on its own.
    :param set_pacing: one :class:`~vhdupload.transfer.set_pacing.SetPacing` that several
        uploads running at once share, so that they finish together: one that would finish
        well before the slowest is held back and the link carries the slowest (``publish``
        paces its disks so); None: not paced.
    """

    threads: int | None = None  # None: adaptive
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout: float | None = None  # seconds for one request (client side)
    max_bandwidth: float | None = None  # bytes per second, None for no cap
    max_gap: int | None = None  # None: from the destination's limits
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT
    shared_concurrency: "_adaptive.AdaptiveConcurrency | None" = None
    set_pacing: "_pacing.SetPacing | None" = None

    def __post_init__(self) -> None:
        if self.threads is not None and not 1 <= self.threads <= 256:
            raise InputError(f"threads must be between 1 and 256, got {self.threads}")
        if self.max_retries < 0:
            raise InputError(f"max_retries must not be negative, got {self.max_retries}")
        if self.timeout is not None and self.timeout <= 0:
            raise InputError(f"timeout must be a positive number of seconds, got {self.timeout}")
        if self.max_bandwidth is not None and self.max_bandwidth <= 0:
            raise InputError(f"max_bandwidth must be a positive number of bytes per second, got {self.max_bandwidth}")
        if self.wait_timeout < 0:
            raise InputError(f"wait_timeout must not be negative, got {self.wait_timeout}")
        if self.max_gap is not None and self.max_gap < 0:
            raise InputError(f"max_gap must not be negative, got {self.max_gap}")

    @property
    def adaptive(self) -> bool:
        return self.threads is None

    @property
    def pool_threads(self) -> int:
        """Connections to provide for: the pinned count, or the adaptive maximum."""
        return self.threads if self.threads is not None else ADAPTIVE_MAX

    def concurrency(self) -> "_adaptive.AdaptiveConcurrency | None":
        """The controller of one upload: the shared one, or a fresh one, when adaptive; None
        when pinned."""
        if self.threads is not None:
            return None
        return self.shared_concurrency or _adaptive.AdaptiveConcurrency()
