"""Translate ``azure.core`` errors into the package's tree, in one line, with secrets scrubbed.

:func:`classify` says whether a failed request is worth another try (the engine owns retries);
:func:`translate` turns the rest into a :class:`~vhdupload.errors.StorageError` subclass.
"""

from __future__ import annotations

import re

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from ..errors import AuthenticationError, LeaseHeldError, StorageError
from ..redact import redact
from ..transfer import Retryable

_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_CHECKSUM_CODES = {"Crc64Mismatch", "Md5Mismatch"}
_LEASE_CODES = {
    "LeaseIdMissing",
    "LeaseLost",
    "LeaseIdMismatchWithBlobOperation",
    "LeaseIdMismatchWithLeaseOperation",
    "LeaseAlreadyPresent",
    "LeaseNotPresentWithBlobOperation",
}


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


def is_checksum_mismatch(exc: BaseException) -> bool:
    return error_code(exc) in _CHECKSUM_CODES


def classify(exc: BaseException) -> Retryable | None:
    """A :class:`Retryable` for a transient failure, ``None`` if another try cannot help."""
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return Retryable(describe(exc))
    if isinstance(exc, HttpResponseError) and not isinstance(exc, ClientAuthenticationError):
        status = status_of(exc)
        if status in _RETRY_STATUS or is_checksum_mismatch(exc):
            return Retryable(describe(exc), retry_after=_retry_after(exc))
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return Retryable(redact(str(exc)) or type(exc).__name__)
    return None


def translate(exc: BaseException, *, action: str, hint: str = "") -> StorageError:
    """The package error for ``exc`` while doing ``action`` (``hint`` says what to do next)."""
    tail = f"; {hint}" if hint else ""
    text = f"{action} failed: {describe(exc)}{tail}"
    code = error_code(exc)
    if type(exc).__module__.startswith("azure.identity"):
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return AuthenticationError(
            f"no usable Azure credential ({redact(first)}): give a SAS URL, --connection-string, "
            f"--account-key, or sign in with 'az login'{tail}"
        )
    if isinstance(exc, ClientAuthenticationError) or status_of(exc) in (401, 403):
        return AuthenticationError(
            f"{action} was refused ({describe(exc)}): check the credential and its permissions{tail}"
        )
    if code in _LEASE_CODES:
        return LeaseHeldError(f"{action} failed: another upload holds the blob's lease ({code}){tail}")
    return StorageError(text)
