"""A restricting proxy in front of Azurite that answers like a managed disk's ``accessSAS`` host.

Azure's disk upload/download endpoint (``md-impexp-…`` / ``….blob.storage.azure.net``) is not a
storage account: it serves a handful of blob operations on one blob, and only while a grant
(``beginGetAccess``) is active. This proxy forwards exactly that surface to Azurite:

- Put Page (``PUT ?comp=page``), for write grants only;
- Get Page Ranges (``GET ?comp=pagelist``), unless ``refuse_page_ranges``;
- Get Blob (``GET`` without ``comp``, ranged or not) and Get Blob Properties (``HEAD``);

and only when the request's SAS signature (``sig``) belongs to an active grant for that blob (and,
for a disk whose ``dataAccessAuthMode`` is ``AzureActiveDirectory``, an ``Authorization: Bearer``
header comes too: 401 otherwise; the tokens seen are kept in ``bearer_tokens``). A token that is a
JWT must have the audience ``https://disk.azure.com/`` *with* its trailing slash, as the service
checks it (AzCopy's ``ManagedDiskScope`` comment says so): any other audience gets 401 with the
service's challenge, ``WWW-Authenticate: Bearer authorization_uri=… resource_id=https://disk.azure.com/``.
(An opaque test token, not a JWT, carries no audience to check and passes.)
Everything else (Set Metadata, Set Properties, leases, Put Blob, Delete, container and account
operations) gets a 403 with an ``x-ms-error-code``, as the real endpoint would; a revoked or
unknown SAS gets 403 ``AuthenticationFailed``. Every request, refused or not, is recorded in
``requests`` so a test can show that code never stepped outside the surface (a request whose
client vanished mid-body is recorded with status 0 and not forwarded).

``refuse_crc64`` makes Put Page with ``x-ms-content-crc64`` answer 400 ``UnsupportedHeader``
(what a storage endpoint says of a header it does not take), since whether the disk endpoint
accepts it is undocumented.

Bodies are streamed with ``Content-Length`` on kept-alive connections (one upstream connection
per client connection), so the framed Put Page of ``vhdupload.azure.direct_put`` and the SDK's
``upload_page`` both go through unchanged, ``x-ms-content-crc64`` included (Azurite checks it).
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from tests.support.loopback_server import close, serve

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
               "transfer-encoding", "upgrade", "host"}
_CHUNK = 1024 * 1024
#: The audience the disk endpoint checks for, trailing slash included.
DISK_AUDIENCE = "https://disk.azure.com/"
#: The challenge it answers a missing or wrong token with (the Go/JS storage SDKs' challenge
#: policies read ``resource_id`` from it to ask for the right scope).
DISK_CHALLENGE = (
    "Bearer authorization_uri=https://login.microsoftonline.com/00000000-0000-0000-0000-0000000000aa/oauth2/authorize "
    f"resource_id={DISK_AUDIENCE}"
)


def token_audience(token: str) -> str | None:
    """The ``aud`` claim of a JWT (signature unchecked, as Azurite's basic check), or None for a
    token that is not a JWT."""
    import base64
    import json

    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    audience = claims.get("aud") if isinstance(claims, dict) else None
    return str(audience) if audience is not None else None


@dataclass
class ProxyRequest:
    """One request the proxy saw: ``operation`` is its name on the allowed surface or ``None``."""

    method: str
    path: str
    comp: str | None
    status: int
    operation: str | None
    headers: dict[str, str]


@dataclass
class Grant:
    sig: str
    container: str
    blob: str
    write: bool
    active: bool = True
    bearer: bool = False  # the disk's dataAccessAuthMode is AzureActiveDirectory: a token must come too


@dataclass
class DiskProxy:
    """The proxy's state; ``url`` replaces Azurite's host in a SAS URL (same path layout)."""

    upstream_host: str
    upstream_port: int
    requests: list[ProxyRequest] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    refuse_crc64: bool = False
    refuse_page_ranges: bool = False
    #: The bearer tokens that came with requests (``Authorization: Bearer …``), in order.
    bearer_tokens: list[str] = field(default_factory=list)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- grants (the ARM double calls these) ---------------------------------------------------
    def allow(self, *, sig: str, container: str, blob: str, write: bool, bearer: bool = False) -> Grant:
        grant = Grant(sig=sig, container=container, blob=blob, write=write, bearer=bearer)
        with self._lock:
            self.grants.append(grant)
        return grant

    def revoke(self, *, container: str, blob: str) -> int:
        """End every grant on the blob; the number ended."""
        ended = 0
        with self._lock:
            for grant in self.grants:
                if grant.active and (grant.container, grant.blob) == (container, blob):
                    grant.active = False
                    ended += 1
        return ended

    def active_grant(self, *, sig: str, container: str, blob: str) -> Grant | None:
        with self._lock:
            for grant in self.grants:
                if grant.active and grant.sig == sig and (grant.container, grant.blob) == (container, blob):
                    return grant
        return None

    # -- what tests assert ---------------------------------------------------------------------
    def operations(self) -> list[str | None]:
        return [r.operation for r in self.requests]

    def refused(self) -> list[ProxyRequest]:
        return [r for r in self.requests if r.operation is None or r.status == 403]

    def outside_surface(self) -> list[ProxyRequest]:
        """Requests that asked for something the real endpoint does not serve."""
        return [r for r in self.requests if r.operation is None]

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "DiskProxy":
        self._server = serve(_Handler, self, name="disk-proxy")
        self.port = self._server.server_address[1]
        return self

    def stop(self) -> None:
        close(self._server)
        self._server = None


def _operation(method: str, query: dict[str, list[str]]) -> str | None:
    """The allowed operation a request is, or None."""
    comp = (query.get("comp") or [None])[0]
    if "restype" in query:
        return None  # container / account operations
    if method == "PUT" and comp == "page":
        return "PutPage"
    if method == "GET" and comp == "pagelist":
        return "GetPageRanges"
    if method == "GET" and comp is None:
        return "GetBlob"
    if method == "HEAD" and comp is None:
        return "GetBlobProperties"
    return None


class _Handler(BaseHTTPRequestHandler):
    state: DiskProxy
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    # -- the upstream connection of this client connection ------------------------------------
    _upstream: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._upstream is None:
            self._upstream = http.client.HTTPConnection(self.state.upstream_host, self.state.upstream_port, timeout=300)
        return self._upstream

    def finish(self) -> None:
        super().finish()
        if self._upstream is not None:
            self._upstream.close()

    # -- one request ---------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _record(self, path: str, comp: str | None, status: int, operation: str | None) -> None:
        with self.state._lock:
            self.state.requests.append(
                ProxyRequest(self.command, path, comp, status, operation, {k.lower(): v for k, v in self.headers.items()})
            )

    def _refuse(self, status: int, code: str, message: str, *, extra: str = "") -> None:
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f"<Error><Code>{code}</Code><Message>{message}\nRequestId:proxy\nTime:now</Message>{extra}</Error>"
        ).encode()
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", DISK_CHALLENGE)
        self.send_header("Content-Type", "application/xml")
        self.send_header("x-ms-error-code", code)
        self.send_header("x-ms-request-id", "proxy")
        self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        try:
            self._handle_one()
        except (BrokenPipeError, ConnectionResetError):  # the client died (kill -9): nothing to answer
            self.close_connection = True

    def _handle_one(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        comp = (query.get("comp") or [None])[0]
        body = self._read_body()  # always read, so the kept-alive stream stays in step
        operation = _operation(self.command, query)
        declared = self.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and len(body) < int(declared):
            # The client went away mid-body: forward nothing (a short Put Page must not land).
            self._record(parts.path, comp, 0, operation)
            self.close_connection = True
            return
        segments = [unquote(s) for s in parts.path.split("/") if s]
        grant = None
        if len(segments) >= 3:
            sig = (query.get("sig") or [""])[0]
            grant = self.state.active_grant(sig=sig, container=segments[1], blob="/".join(segments[2:]))
        elif len(segments) == 2 and self._sig_in_container(query, segments[1]):
            self._record(parts.path, comp, 403, None)  # a blob SAS used on its container
            return self._refuse(
                403, "AuthorizationResourceTypeMismatch",
                "This request is not authorized to perform this operation using this resource type.",
            )
        if grant is None:
            self._record(parts.path, comp, 403, operation)
            return self._refuse(
                403, "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
                "correctly including the signature. (The access grant is not active.)",
            )
        authorization = self.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            with self.state._lock:
                self.state.bearer_tokens.append(authorization[7:])
        if grant.bearer and not authorization.startswith("Bearer "):
            self._record(parts.path, comp, 401, operation)
            return self._refuse(
                401, "NoAuthenticationInformation",
                "Server failed to authenticate the request. This disk's data access requires an Entra ID bearer "
                "token for https://disk.azure.com/ beside the SAS.",
            )
        audience = token_audience(authorization[7:]) if grant.bearer and authorization.startswith("Bearer ") else None
        if audience is not None and audience != DISK_AUDIENCE:
            self._record(parts.path, comp, 401, operation)
            return self._refuse(
                401, "InvalidAuthenticationInfo",
                f"Server failed to authenticate the request. The token's audience {audience} is not {DISK_AUDIENCE}.",
            )
        if operation is None or (operation == "PutPage" and not grant.write):
            self._record(parts.path, comp, 403, None if operation is None else operation)
            return self._refuse(
                403, "AuthorizationPermissionMismatch",
                "This request is not authorized to perform this operation using this permission.",
            )
        if operation == "GetPageRanges" and self.state.refuse_page_ranges:
            self._record(parts.path, comp, 403, operation)
            return self._refuse(
                403, "AuthorizationPermissionMismatch",
                "This request is not authorized to perform this operation using this permission.",
            )
        if operation == "PutPage" and self.state.refuse_crc64 and "x-ms-content-crc64" in {k.lower() for k in self.headers}:
            self._record(parts.path, comp, 400, operation)
            return self._refuse(
                400, "UnsupportedHeader", "One of the HTTP headers specified in the request is not supported.",
                extra="<HeaderName>x-ms-content-crc64</HeaderName>",
            )
        status = self._forward(body)
        self._record(parts.path, comp, status, operation)

    def _sig_in_container(self, query: dict[str, list[str]], container: str) -> bool:
        sig = (query.get("sig") or [""])[0]
        with self.state._lock:
            return any(g.active and g.sig == sig and g.container == container for g in self.state.grants)

    def _forward(self, body: bytes) -> int:
        # The SAS authorises upstream; a bearer token was the disk endpoint's business only.
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"authorization"}}
        headers["Host"] = f"{self.state.upstream_host}:{self.state.upstream_port}"
        if self.command in ("PUT", "POST") or body:
            headers["Content-Length"] = str(len(body))
        for attempt in (0, 1):
            connection = self._connection()
            try:
                connection.request(self.command, self.path, body=body if body or self.command == "PUT" else None,
                                   headers=headers)
                response = connection.getresponse()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                self._upstream = None
                if attempt:
                    raise
        self.send_response_only(response.status, response.reason)
        length = response.getheader("Content-Length")
        for key, value in response.getheaders():
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        if self.command == "HEAD" or response.status in (204, 304):
            self.send_header("Content-Length", length or "0")
            self.end_headers()
            response.read()
            return response.status
        if length is None:  # upstream framed it otherwise: buffer, then frame with a length
            data = response.read()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return response.status
        self.send_header("Content-Length", length)
        self.end_headers()
        left = int(length)
        while left:
            chunk = response.read(min(_CHUNK, left))
            if not chunk:
                break
            self.wfile.write(chunk)
            left -= len(chunk)
        if left or response.will_close:  # cut short, or the server closes: a new connection next time
            connection.close()
            self._upstream = None
        else:
            response.read()  # marks the answer done (http.client waits for that before the next request)
        return response.status

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = do_PATCH = do_OPTIONS = _handle


def start_disk_proxy(*, upstream_host: str = "127.0.0.1", upstream_port: int) -> DiskProxy:
    return DiskProxy(upstream_host=upstream_host, upstream_port=upstream_port).start()
