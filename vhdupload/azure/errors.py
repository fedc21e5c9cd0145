"""What an ``azure.core`` error is: worth another try (:func:`classify`: the engine owns
retries), its code and status, one scrubbed line describing it. Turning it into the package's
tree is the one table of :mod:`vhdupload.azure.error_map`.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from .credentials import is_loopback
from .name_lookup import exception_chain, unresolved_host
from ..redact import redact
from ..transfer import Retryable

_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_CHECKSUM_CODES = {"Crc64Mismatch", "Md5Mismatch"}
LEASE_CODES = {
    "LeaseIdMissing",
    "LeaseLost",
    "LeaseIdMismatchWithBlobOperation",
    "LeaseIdMismatchWithLeaseOperation",
    "LeaseAlreadyPresent",
    "LeaseNotPresentWithBlobOperation",
}


def refused_loopback_address(exc: BaseException) -> str | None:
    """``host:port`` when ``exc`` is a connection refused by a loopback address, else None."""
    chain = exception_chain(exc)
    if not any(isinstance(e, ConnectionRefusedError) or "[Errno 111]" in str(e) or "Connection refused" in str(e)
               for e in chain):
        return None
    for error in chain:
        for holder in (getattr(error, "conn", None), getattr(error, "pool", None)):
            host, port = getattr(holder, "host", None), getattr(holder, "port", None)
            if host and is_loopback(str(host)):
                return f"{host}:{port}" if port else str(host)
    match = re.search(r"host='([^']+)', port=(\d+)", str(exc))
    if match and is_loopback(match.group(1)):
        return f"{match.group(1)}:{match.group(2)}"
    return None


def error_code(exc: BaseException) -> str | None:
    code = getattr(exc, "error_code", None)
    if code:
        return str(getattr(code, "value", code))  # the SDK may hand a StorageErrorCode enum
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    return headers.get("x-ms-error-code")


def status_of(exc: BaseException) -> int | None:
    return getattr(exc, "status_code", None)


def describe(exc: BaseException) -> str:
    """One scrubbed line: status, error code and the first line of the message."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    # azure-core's wording for an answer without a body (a HEAD): keep the service's reason.
    first = re.sub(r"^Operation returned an invalid status '(.*)'$", r"\1", first)
    code = error_code(exc)
    status = status_of(exc)
    prefix = " ".join(p for p in (str(status) if status else "", code or "") if p)
    return redact(f"{prefix}: {first}" if prefix and (code or "") not in first else first)


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def expired_sas(exc: BaseException) -> str | None:
    """The expiry (``se=``, ISO 8601) of the SAS the refused request carried, if it has passed."""
    request = getattr(getattr(exc, "response", None), "request", None)
    query = urlsplit(str(getattr(request, "url", "") or "")).query
    expiry = parse_qs(query).get("se", [""])[0]
    if not expiry:
        return None
    try:
        when = datetime.fromisoformat(expiry.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return expiry if when <= datetime.now(timezone.utc) else None


def is_checksum_mismatch(exc: BaseException) -> bool:
    return error_code(exc) in _CHECKSUM_CODES


def classify(exc: BaseException) -> Retryable | None:
    """A :class:`Retryable` for a transient failure, ``None`` if another try cannot help."""
    if refused_loopback_address(exc) is not None:
        return None  # nothing listens there: an emulator not started, which no retry fixes
    if unresolved_host(exc) is not None:
        return None  # no such name: a typo, which no retry fixes
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return Retryable(describe(exc))
    if isinstance(exc, HttpResponseError) and not isinstance(exc, ClientAuthenticationError):
        status = status_of(exc)
        if status in _RETRY_STATUS or is_checksum_mismatch(exc):
            return Retryable(describe(exc), retry_after=_retry_after(exc))
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return Retryable(redact(str(exc)) or type(exc).__name__)
    return None
