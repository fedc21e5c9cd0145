"""Every knob of a transfer in one validated object (keyword-only, like s3transfer's config)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from . import concurrency as _adaptive

#: Requests in flight by default. Measured against Azurite on this 2-core machine (Azurite's
#: node process shares the cores, load average ~4 from other work during the runs):
#:   (a) 2 GiB, 25 % random 1 MiB blocks, 421 requests: 2 threads 12.6 s, 4 13.3 s, 8 10.2 s,
#:       16 11.5 s (Azurite ingests ~50-60 MB/s whatever the concurrency);
#:   (b) 1 GiB, ~2,400 runs of 4-64 KiB, 1,974 requests: 4 threads 4.2 s, 8 4.3 s, 16 4.3 s.
#: Below 4 the server idles while the client reads and checksums; above 8 only memory grows
#: (RSS 73 MiB at 8, 91 MiB at 16). Real Azure has tens of ms of latency per request, where more
#: parallelism pays, and 8 costs at most 8 x 2 x 4 MiB of buffers: 8 it is.
DEFAULT_THREADS = 8
DEFAULT_MAX_RETRIES = 8
#: ``threads=None`` means adaptive: start at ADAPTIVE_START and let the data rate decide, up to
#: ADAPTIVE_MAX (see :mod:`vhdupload.transfer.concurrency`); a number pins it.
ADAPTIVE_START = _adaptive.ADAPTIVE_START
ADAPTIVE_MAX = _adaptive.ADAPTIVE_MAX


@dataclass(frozen=True, kw_only=True)
class TransferSettings:
    threads: int | None = DEFAULT_THREADS  # None: adaptive
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout: float | None = None  # seconds for one request (client side)
    max_bandwidth: float | None = None  # bytes per second, None for no cap
    backoff_base: float = 0.5
    backoff_cap: float = 30.0

    def __post_init__(self) -> None:
        if self.threads is not None and not 1 <= self.threads <= 256:
            raise InputError(f"--threads must be between 1 and 256, got {self.threads}")
        if self.max_retries < 0:
            raise InputError(f"--max-retries must not be negative, got {self.max_retries}")
        if self.timeout is not None and self.timeout <= 0:
            raise InputError(f"--timeout must be positive, got {self.timeout}")
        if self.max_bandwidth is not None and self.max_bandwidth <= 0:
            raise InputError(f"--max-bandwidth must be positive, got {self.max_bandwidth}")

    @property
    def adaptive(self) -> bool:
        return self.threads is None

    @property
    def pool_threads(self) -> int:
        """Connections to provide for: the pinned count, or the adaptive maximum."""
        return self.threads if self.threads is not None else ADAPTIVE_MAX

    def concurrency(self) -> "_adaptive.AdaptiveConcurrency | None":
        """A fresh controller when adaptive (one per upload), None when pinned."""
        return _adaptive.AdaptiveConcurrency() if self.threads is None else None
