"""Azure Resource Manager as a dry run sees it without a sign-in: nothing exists, nothing is sent.

A compute client built over :func:`offline_compute_client` answers every read with 404 from
inside the process (no socket is opened) and refuses every write, so a dry run can plan its
requests and print their bodies, with placeholders for what only ARM knows (the subscription),
while saying that what already exists was not compared.
"""

from __future__ import annotations

import io
import json
from typing import Any

import requests
import requests.adapters
import urllib3
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport

#: What stands for the subscription in the resource IDs of a plan made without one.
SUBSCRIPTION_PLACEHOLDER = "<subscription>"
#: The answer of every read: ARM's own shape for a resource that is not there.
_NOT_LOOKED_UP = {"error": {"code": "ResourceNotFound", "message": "not looked up: a dry run without an Azure sign-in"}}


class _NothingExists(requests.adapters.BaseAdapter):
    """A requests adapter that answers GET/HEAD with 404 and refuses the rest, without a socket."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if request.method not in ("GET", "HEAD"):
            raise requests.ConnectionError(f"a dry run without a sign-in sends nothing ({request.method} refused)")
        body = json.dumps(_NOT_LOOKED_UP).encode()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        # azure-core's RequestsTransport reads the urllib3 response under requests' own
        raw = urllib3.HTTPResponse(body=io.BytesIO(body), headers=headers, status=404, reason="Not Found",
                                   preload_content=False, decode_content=False)
        return self._adapter.build_response(request, raw)

    def __init__(self) -> None:
        super().__init__()
        self._adapter = requests.adapters.HTTPAdapter()  # only its build_response: it never connects

    def close(self) -> None:
        self._adapter.close()


class _PlaceholderCredential:
    """A token that never leaves the process (the transport above sends nothing)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("offline-dry-run", 4102444800)


def offline_transport() -> RequestsTransport:
    session = requests.Session()
    session.trust_env = False
    for prefix in ("https://", "http://"):
        session.mount(prefix, _NothingExists())
    return RequestsTransport(session=session, session_owner=True)


def placeholder_credential() -> Any:
    return _PlaceholderCredential()
