"""The one table from lower-library errors to the package's tree.

Every place that catches an ``azure.core`` or ``azure.identity`` error asks
:func:`package_error` (or its two thin names, :func:`translate` for Azure Storage and
:func:`arm_error` for Azure Resource Manager), saying which side it was talking to:

- ``storage``: Azure Storage (upload, verify, status, the managed disk's data endpoint);
- ``arm``: Azure Resource Manager (registration, managed disks);
- ``preflight``: reading a source blob before registering it.

:data:`RULES` is tried top to bottom; the first rule of that side whose test matches builds the
error. Messages are one line, secrets scrubbed, what went wrong then what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from ..errors import (
    ArmError,
    AuthenticationError,
    EndpointUnreachableError,
    HostNotFoundError,
    LeaseHeldError,
    NoCredentialError,
    PreflightError,
    StorageError,
    VhdUploadError,
)
from ..redact import redact
from .errors import LEASE_CODES, describe, error_code, expired_sas, refused_loopback_address, status_of
from .name_lookup import unresolved_host

Side = Literal["storage", "arm", "preflight"]


@dataclass(frozen=True)
class Context:
    action: str  # what was being done, e.g. "writing 4096 bytes at offset 0"
    hint: str = ""  # what to do next, appended after "; "
    url: str = ""  # the blob a pre-flight read

    @property
    def tail(self) -> str:
        return f"; {self.hint}" if self.hint else ""


@dataclass(frozen=True)
class Rule:
    side: Side
    matches: Callable[[BaseException], bool]
    build: Callable[[BaseException, Context], VhdUploadError]


def _first_line(exc: BaseException) -> str:
    return (redact(str(exc)).strip().splitlines() or [type(exc).__name__])[0]


def _before_any_request(exc: BaseException) -> bool:
    """azure-identity's chain found no credential: nothing was sent, nothing refused."""
    return isinstance(exc, ClientAuthenticationError) and getattr(exc, "response", None) is None


def _refused(exc: BaseException) -> bool:
    return isinstance(exc, ClientAuthenticationError) or status_of(exc) in (401, 403)


def _anything(_exc: BaseException) -> bool:
    return True


def error_details(exc: HttpResponseError) -> tuple[str | None, str]:
    """The ARM error ``code`` and ``message``: from the parsed error, else the response body."""
    code = getattr(getattr(exc, "error", None), "code", None)
    message = getattr(getattr(exc, "error", None), "message", None)
    response = getattr(exc, "response", None)
    if (not code or not message) and response is not None:
        try:
            body = response.json()
        except Exception:  # not JSON: keep what azure-core said
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code = code or error.get("code")
            message = message or error.get("message")
    if not message:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else "no message"
    return code, redact(str(message)).strip()


def _arm_http(exc: BaseException, c: Context) -> VhdUploadError:
    assert isinstance(exc, HttpResponseError)
    code, message = error_details(exc)
    status = exc.status_code if (exc.status_code or 0) >= 400 else None  # an LRO's Failed poll is a 200
    text = f"cannot {c.action}: Azure answered {code or status}: {message}"
    if status == 401 or code in ("AuthenticationFailed", "InvalidAuthenticationToken"):
        text += " (sign in again with `az login`)"
    elif status == 403 or code == "AuthorizationFailed":
        text += " (ask for a role that allows it on the resource group, e.g. Contributor)"
    return ArmError(text, code=code, status=status)


RULES: tuple[Rule, ...] = (
    # -- Azure Storage ---------------------------------------------------------------------------
    Rule("storage", lambda e: refused_loopback_address(e) is not None, lambda e, c: EndpointUnreachableError(
        f"{c.action} failed: nothing listens at {refused_loopback_address(e)}; start the storage emulator there, "
        f"or use another blob endpoint{c.tail}", address=str(refused_loopback_address(e)))),
    Rule("storage", lambda e: unresolved_host(e) is not None, lambda e, c: HostNotFoundError(
        f"{c.action} failed: cannot resolve {unresolved_host(e)}: check the storage account name or the blob "
        f"endpoint{c.tail}", host=str(unresolved_host(e)))),
    Rule("storage", _before_any_request, lambda e, c: NoCredentialError(
        f"{c.action} failed: no Azure credential worked: give a SAS, an account key or a connection string, "
        f"or sign in with `az login` (AZURE_TOKEN_CREDENTIALS picks the sign-in method){c.tail}",
        details=redact(str(e)))),
    Rule("storage", lambda e: type(e).__module__.startswith("azure.identity"), lambda e, c: AuthenticationError(
        f"no usable Azure credential ({_first_line(e)}): give a SAS URL, --connection-string, "
        f"--account-key, or sign in with 'az login'{c.tail}")),
    Rule("storage", lambda e: _refused(e) and expired_sas(e) is not None, lambda e, c: AuthenticationError(
        f"{c.action} was refused: the SAS expired at {expired_sas(e)} (its se=): make a new one that lasts "
        f"longer{c.tail}")),
    Rule("storage", _refused, lambda e, c: AuthenticationError(
        f"{c.action} was refused ({describe(e)}): check the credential and its permissions{c.tail}")),
    Rule("storage", lambda e: error_code(e) in LEASE_CODES, lambda e, c: LeaseHeldError(
        f"{c.action} failed: another upload holds the blob's lease ({error_code(e)}){c.tail}")),
    Rule("storage", _anything, lambda e, c: StorageError(f"{c.action} failed: {describe(e)}{c.tail}")),
    # -- Azure Resource Manager ------------------------------------------------------------------
    Rule("arm", _before_any_request, lambda e, c: ArmError(
        f"cannot {c.action}: no usable Azure credential ({_first_line(e) if str(e).strip() else 'no credential'}); "
        "sign in with `az login` or set AZURE_TOKEN_CREDENTIALS / the AZURE_CLIENT_* variables",
        code="AuthenticationFailed")),
    Rule("arm", lambda e: isinstance(e, HttpResponseError), _arm_http),
    Rule("arm", lambda e: isinstance(e, ServiceRequestError), lambda e, c: ArmError(
        f"cannot {c.action}: Azure Resource Manager cannot be reached ({_first_line(e)}); check the network or "
        "--arm-endpoint")),
    Rule("arm", _anything, lambda e, c: ArmError(
        f"cannot {c.action}: {_first_line(e) if str(e) else type(e).__name__}")),
    # -- reading a source blob before registering it ---------------------------------------------
    Rule("preflight", lambda e: isinstance(e, HttpResponseError) and status_of(e) in (401, 403),
         lambda e, c: PreflightError(
             f"cannot read {c.url} (HTTP {status_of(e)}): give storage credentials "
             "(--connection-string, --account-key or a SAS URL), or pass --skip-preflight")),
    Rule("preflight", lambda e: isinstance(e, HttpResponseError), lambda e, c: PreflightError(
        f"cannot read {c.url}: HTTP {status_of(e)} {getattr(e, 'reason', None) or 'error'}")),
    Rule("preflight", lambda e: unresolved_host(e) is not None, lambda e, c: PreflightError(
        f"cannot read {c.url}: cannot resolve {unresolved_host(e)}: check the storage account name in the URL")),
    Rule("preflight", _anything, lambda e, c: PreflightError(f"cannot read {c.url}: {_first_line(e)}")),
)


def package_error(exc: BaseException, *, side: Side, action: str = "", hint: str = "", url: str = "") -> VhdUploadError:
    """The package's error for ``exc``, raised while talking to ``side`` (see the module doc)."""
    context = Context(action=action, hint=hint, url=url)
    for rule in RULES:
        if rule.side == side and rule.matches(exc):
            return rule.build(exc, context)
    raise AssertionError(f"no rule for the {side} side")  # each side ends with a catch-all


def translate(exc: BaseException, *, action: str, hint: str = "") -> StorageError:
    """The package error for an Azure Storage failure while doing ``action``."""
    error = package_error(exc, side="storage", action=action, hint=hint)
    assert isinstance(error, StorageError)
    return error


def arm_error(exc: BaseException, *, action: str) -> ArmError:
    """The package error for an Azure Resource Manager failure while doing ``action``."""
    error = package_error(exc, side="arm", action=action)
    assert isinstance(error, ArmError)
    return error


__all__ = ["RULES", "Rule", "arm_error", "error_details", "package_error", "translate"]
