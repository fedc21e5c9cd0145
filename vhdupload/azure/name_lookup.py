"""A host name that does not resolve: told apart from other connection failures, and never retried,
by the engine's retries (:func:`vhdupload.azure.errors.classify`) nor by the SDK's own (the
retry policies below, for the clients that keep the SDK's retries on: ARM, a registration's
pre-flight reads). A mistyped account name cost 38 s of backoff before it said so."""

from __future__ import annotations

import re
import socket
from typing import Any

from azure.core.pipeline.policies import RetryPolicy
from azure.storage.blob import ExponentialRetry


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what lies under it: causes, contexts, azure-core's ``inner_exception`` and
    urllib3's ``reason`` (at most 20, each once)."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 20:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        for name in ("__cause__", "__context__", "inner_exception", "reason"):
            nested = getattr(current, name, None)
            if isinstance(nested, BaseException):
                todo.append(nested)
    return seen


def unresolved_host(exc: BaseException) -> str | None:
    """The host name when ``exc`` is a failed name lookup (``socket.gaierror`` under urllib3's
    NameResolutionError), else None."""
    chain = exception_chain(exc)
    if not any(isinstance(e, socket.gaierror) or type(e).__name__ == "NameResolutionError" for e in chain):
        return None
    for error in chain:
        host = getattr(getattr(error, "conn", None), "host", None)  # urllib3's NameResolutionError
        if host:
            return str(host)
    match = re.search(r"host='([^']+)'|Failed to resolve '([^']+)'", str(exc))
    return (match.group(1) or match.group(2)) if match else "the host"



def _no_retry_of_unknown_names(increment: Any) -> Any:
    """Wrap a retry policy's ``increment``: a name that does not resolve ends the retries at once
    (azure-core counts it as a connection error and retries it with backoff)."""

    def checked(self: Any, settings: Any, *args: Any, **kwargs: Any) -> Any:
        error = kwargs.get("error")
        if error is not None and unresolved_host(error) is not None:
            return False
        return increment(self, settings, *args, **kwargs)

    return checked


class ArmRetryPolicy(RetryPolicy[Any, Any]):
    """azure-core's RetryPolicy (what ARM clients use), minus the retries of an unknown name."""

    increment = _no_retry_of_unknown_names(RetryPolicy.increment)


class StorageRetryPolicy(ExponentialRetry):
    """The storage SDK's default ExponentialRetry, minus the retries of an unknown name."""

    increment = _no_retry_of_unknown_names(ExponentialRetry.increment)
