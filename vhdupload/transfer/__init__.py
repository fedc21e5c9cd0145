"""Moving bytes: a bounded worker pool, retries with backoff, a bandwidth cap, progress events
and cancellation. Knows nothing of the VHD format or of Azure."""

from __future__ import annotations

from .bandwidth import BandwidthLimiter
from .pool import run_bounded
from .progress import Progress, ProgressTracker
from .retry import RetryPolicy, Retryable
from .settings import TransferSettings

__all__ = [
    "BandwidthLimiter",
    "Progress",
    "ProgressTracker",
    "RetryPolicy",
    "Retryable",
    "TransferSettings",
    "run_bounded",
]
