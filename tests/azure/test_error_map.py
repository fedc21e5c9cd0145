"""The one table from SDK errors to the package's tree: each side, in order, with a catch-all."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from vhdupload.azure.error_map import RULES, arm_error, package_error, translate
from vhdupload.errors import (
    ArmError,
    AuthenticationError,
    LeaseHeldError,
    NoCredentialError,
    PreflightError,
    StorageError,
)


def http_error(status: int, code: str = "", url: str = "") -> HttpResponseError:
    error = HttpResponseError(message=f"{status} {code}: refused")
    error.status_code = status
    error.error_code = code or None
    error.reason = "Forbidden"
    error.response = SimpleNamespace(headers={"x-ms-error-code": code} if code else {}, status_code=status,
                                     request=SimpleNamespace(url=url))
    return error


def test_every_side_ends_with_a_catch_all():
    for side in ("storage", "arm", "preflight"):
        last = [rule for rule in RULES if rule.side == side][-1]
        assert last.matches(RuntimeError("anything"))


@pytest.mark.parametrize("exc, kind, words", [
    (ClientAuthenticationError("no credential in the chain"), NoCredentialError, "az login"),
    (http_error(403, "AuthenticationFailed", "/c/b?sv=1&se=2020-01-01T00:00:00Z&sig=x"), AuthenticationError,
     "the SAS expired at 2020-01-01T00:00:00Z"),
    (http_error(403, "AuthorizationPermissionMismatch"), AuthenticationError, "check the credential"),
    (http_error(409, "LeaseIdMissing"), LeaseHeldError, "holds the blob's lease"),
    (http_error(500, "InternalError"), StorageError, "writing failed: 500 InternalError"),
])
def test_storage_side(exc, kind, words):
    error = translate(exc, action="writing", hint="run it again")
    assert type(error) is kind and words in str(error) and str(error).endswith("; run it again")
    assert "sig=x" not in str(error)


def test_arm_and_preflight_sides():
    assert "ask for a role" in str(arm_error(http_error(403, "AuthorizationFailed"), action="create the image"))
    assert isinstance(arm_error(ServiceRequestError("unreachable"), action="read"), ArmError)
    refused = package_error(http_error(401), side="preflight", url="https://a/c/b.vhd")
    assert isinstance(refused, PreflightError) and "--skip-preflight" in str(refused)
