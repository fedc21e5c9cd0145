"""Put Page straight over ``http.client``: the hot path of an upload, about 5x less CPU per
request than the SDK's pipeline.

Why: on a scattered image (2,400 runs of 4-64 KiB) an upload is ~2,000 requests, and the
SDK's pipeline (policies, serialisation, ``requests``) costs ~1 ms of client CPU each. On the
2 cores Azurite shares with the client that CPU is taken from the server, and it made the
client cost more CPU than the SDK's own ``upload_blob`` (few, large requests). This module
sends the same request (same headers, same SharedKey / SAS / bearer authentication the SDK
would use) over one kept-alive connection per thread, and raises ``azure.core`` exceptions so
the engine classifies failures exactly as for SDK calls.

:func:`DirectPageWriter.for_client` returns ``None`` when the client is set up in a way this
path does not reproduce (a proxy, a custom transport, client certificates, an SDK without the
private signing helpers it borrows); the engine then uses the SDK.

The exchange itself is written on the socket, not through ``HTTPConnection.request`` and
``getresponse``: those cost ~120 us of client CPU per request (``putheader``'s checks per
header, two sends, and above all ``email.parser`` reading the response headers; 205 us per
Put Page against Azurite, 88 us this way), a quarter of a scattered upload's CPU. Put Page
needs little of HTTP: one request (the same bytes ``http.client`` would send, in one
``sendmsg``) and a short answer with ``Content-Length``. ``HTTPConnection`` still opens the
connections (TLS, timeouts, ``TCP_NODELAY``).
"""

from __future__ import annotations

import base64
import http.client
import re
import socket
import ssl
import threading
import time
import urllib.request
from email.utils import formatdate
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, unquote, urlsplit

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError, ServiceResponseError

STORAGE_SCOPE = "https://storage.azure.com/.default"
#: The scope of the token a managed disk with Entra-ID-only data access wants on each request,
#: reads included. The service checks the audience ``https://disk.azure.com/`` *with* its trailing
#: slash, so the scope is that resource plus ``/.default``: a double slash. AzCopy does the same
#: (``ManagedDiskScope = "https://disk.azure.com//.default"`` in common/cred/scopes.go, whose
#: comment says "There must be a trailing slash-- The service checks explicitly for
#: https://disk.azure.com/"); ``https://disk.azure.com/.default`` gets a token the disk refuses.
DISK_RESOURCE = "https://disk.azure.com/"
DISK_SCOPE = DISK_RESOURCE + "/.default"
_STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
_MAX_HEAD = 65536  # bytes of status line and headers before the answer is refused (as http.client's limits)
_UNSAFE_TARGET = re.compile("[\x00-\x20\x7f]")  # what http.client refuses in a request target


#: Adds the Authorization header (or nothing) to a Put Page's headers; it may use the request's
#: path, query and length (Shared Key signs them).
Signer: TypeAlias = Callable[..., None]


class DirectPageWriter:
    def __init__(self, *, url: str, api_version: str, sign: Signer, timeout: float,
                 ssl_context: ssl.SSLContext | None) -> None:
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = parts.path
        self._query = parts.query  # a SAS, when there is one
        self._url_for_errors = f"{parts.path}?{parts.query}" if parts.query else parts.path
        self._target = f"{parts.path}?comp=page" + (f"&{parts.query}" if parts.query else "")
        # The request line and the headers http.client adds itself, in its order and form.
        host = f"[{self._host}]" if ":" in self._host else self._host
        default_port = 443 if self._https else 80
        host_header = host if self._port in (None, default_port) else f"{host}:{self._port}"
        self._preamble = f"PUT {self._target} HTTP/1.1\r\nHost: {host_header}\r\nAccept-Encoding: identity\r\n"
        self._api_version = api_version
        self._sign = sign
        self._timeout = timeout
        self._ssl = ssl_context
        self._local = threading.local()

    @classmethod
    def for_client(
        cls, client: Any, *, timeout: float | None = None, disk_credential: Any = None
    ) -> "DirectPageWriter | None":
        """A writer doing what ``client.upload_page`` does, or None if that is not certain.

        ``disk_credential`` (a TokenCredential) adds a bearer token for ``https://disk.azure.com/``
        to each request beside the SAS in the URL: what a managed disk whose data access is
        Entra-ID-only wants during upload."""
        try:
            transport = client._pipeline._transport
            config = transport.connection_config
        except AttributeError:
            return None
        if type(transport).__name__ != "RequestsTransport" or getattr(config, "cert", None):
            return None
        if urllib.request.getproxies():
            return None
        url = client.url.split("?", 1)[0]
        query = client.url.split("?", 1)[1] if "?" in client.url else ""
        credential = client.credential
        sign: Signer
        if credential is None:
            if "sig=" not in query:
                return None
            sign = BearerSigner(disk_credential, scope=DISK_SCOPE) if disk_credential is not None else _no_auth
        elif hasattr(credential, "account_key") and hasattr(credential, "account_name"):
            try:
                sign = _SharedKey(credential.account_name, credential.account_key)
            except (ImportError, AttributeError):
                return None  # an SDK without the private signing helpers: its own pipeline signs
        elif hasattr(credential, "get_token"):
            if not url.startswith("https://"):
                return None
            sign = BearerSigner(credential)
        else:
            return None
        context = None
        if url.startswith("https://"):
            verify = getattr(config, "verify", True)
            if verify is False:
                context = ssl._create_unverified_context()  # the caller turned verification off
            else:
                context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
        read_timeout = timeout or getattr(config, "read_timeout", None) or 300
        full = f"{url}?{query}" if query else url
        if _UNSAFE_TARGET.search(urlsplit(full).path + query):
            return None  # http.client would refuse the request line; let the SDK say why
        return cls(url=full, api_version=client.api_version, sign=sign, timeout=read_timeout, ssl_context=context)

    # -- one request -------------------------------------------------------------------------
    def put_page(self, data: bytes, *, offset: int, crc64_bytes: bytes | None, lease_id: str | None) -> None:
        headers = {
            "x-ms-version": self._api_version,
            "x-ms-date": _http_date(),
            "x-ms-page-write": "update",
            "x-ms-range": f"bytes={offset}-{offset + len(data) - 1}",
        }
        if crc64_bytes is not None:
            headers["x-ms-content-crc64"] = base64.b64encode(crc64_bytes).decode("ascii")
        headers["Content-Length"] = str(len(data))
        if lease_id:
            headers["x-ms-lease-id"] = lease_id
        self._sign(headers, path=self._path, query=self._query, content_length=len(data))
        head = (self._preamble + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode("latin-1")
        for fresh in (False, True):
            connection, reused = self._connection()
            try:
                if connection.sock is None:
                    connection.connect()
                response = _exchange(connection.sock, head, data)
                break
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                # A kept-alive connection the server closed while idle fails at once: that is
                # no failure of the request, which is idempotent: send it again on a new one.
                if reused and not fresh and isinstance(exc, _STALE_CONNECTION):
                    continue
                kind = ServiceResponseError if isinstance(exc, TimeoutError) else ServiceRequestError
                raise kind(f"{type(exc).__name__}: {exc}") from None
        if response.will_close:
            self._drop()
        if response.status >= 300:
            error = _error(response, response.body)
            setattr(error.response, "request", SimpleNamespace(url=self._url_for_errors))  # its SAS expiry, for the message
            raise error

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection, and whether it already served a request."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            return connection, True
        if self._https:
            connection = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout, context=self._ssl)
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        self._local.connection = connection
        return connection, False

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


class _Response:
    """The parts of an answer that Put Page looks at (``getheader`` as http.client's)."""

    __slots__ = ("status", "reason", "headers", "body", "will_close")

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes, will_close: bool) -> None:
        self.status, self.reason, self.headers, self.body, self.will_close = status, reason, headers, body, will_close

    def getheader(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        values = [v for k, v in self.headers if k.lower() == name]
        return ", ".join(values) if values else default

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self.headers)


def _exchange(sock: socket.socket, head: bytes, data: bytes) -> _Response:
    """Send one request and read its answer, framed as http.client frames it (1xx skipped;
    Content-Length, chunked, or up to the close); raises what http.client would."""
    if isinstance(sock, ssl.SSLSocket):  # no sendmsg on TLS: two writes, as http.client makes
        sock.sendall(head)
        sock.sendall(data)
    else:
        sent = sock.sendmsg([head, data])  # one system call for the headers and the body
        if sent < len(head):
            sock.sendall(memoryview(head)[sent:])
            sock.sendall(data)
        elif sent < len(head) + len(data):
            sock.sendall(memoryview(data)[sent - len(head):])
    reader = _Reader(sock)
    while True:
        head = reader.head()
        eol = head.find(b"\r\n")
        status_line = (head if eol < 0 else head[:eol]).decode("latin-1")
        version, _, rest = status_line.partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/") or len(code) != 3 or not code.isdigit():
            raise http.client.BadStatusLine(status_line)
        if version not in ("HTTP/1.0", "HTTP/0.9") and not version.startswith("HTTP/1."):
            raise http.client.UnknownProtocol(version)
        status = int(code)
        if status >= 200:
            break
    # Only the framing headers are looked up (first occurrence, as http.client's get): the
    # full list is made for an error, the one answer whose headers are read further.
    lowered = head.lower()
    connection = _field(head, lowered, b"connection").lower()
    if version.startswith("HTTP/1.") and version != "HTTP/1.0":
        will_close = "close" in connection
    else:  # HTTP/1.0 keeps the connection only when it says so (http.client's _check_close)
        will_close = not (_field(head, lowered, b"keep-alive") or "keep-alive" in connection
                          or "keep-alive" in _field(head, lowered, b"proxy-connection").lower())
    length = _field(head, lowered, b"content-length")
    if status in (204, 304):
        body = b""
    elif _field(head, lowered, b"transfer-encoding").lower() == "chunked":
        body = reader.chunked()
    elif length.isdigit():
        body = reader.exactly(int(length))
    else:
        body, will_close = reader.to_close(), True
    if reader.left:  # bytes past the answer: no pipelining here, so the stream is confused
        will_close = True
    headers = _header_list(head) if status >= 300 else []
    return _Response(status, reason.strip(), headers, body, will_close)


def _field(head: bytes, lowered: bytes, name: bytes) -> str:
    """The first ``name`` header's value ("" if absent); ``lowered`` is ``head.lower()``."""
    start = lowered.find(b"\r\n" + name + b":")
    if start < 0:
        return ""
    start += len(name) + 3
    stop = head.find(b"\r\n", start)
    return head[start : stop if stop >= 0 else len(head)].decode("latin-1").strip()


def _header_list(head: bytes) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if line[:1] in (" ", "\t") and headers:  # an obsolete folded line continues the last header
            headers[-1] = (headers[-1][0], f"{headers[-1][1]} {line.strip()}")
            continue
        name, _, value = line.partition(":")
        headers.append((name, value.strip()))
    return headers


class _Reader:
    """Buffered reads of one answer from a socket (the answer to a Put Page fits one recv)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.left = b""

    def _more(self, got_some: bool) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            if not got_some:
                raise http.client.RemoteDisconnected("Remote end closed connection without response")
            raise http.client.IncompleteRead(self.left)
        self.left += chunk

    def head(self) -> bytes:
        """The status line and headers, without the blank line that ends them."""
        got_some = bool(self.left)
        while True:
            end = self.left.find(b"\r\n\r\n")
            if end >= 0:
                head, self.left = self.left[:end], self.left[end + 4 :]
                return head
            if len(self.left) > _MAX_HEAD:
                raise http.client.LineTooLong("header")
            self._more(got_some)
            got_some = True

    def exactly(self, n: int) -> bytes:
        while len(self.left) < n:
            self._more(True)
        body, self.left = self.left[:n], self.left[n:]
        return body

    def line(self) -> bytes:
        while (end := self.left.find(b"\r\n")) < 0:
            if len(self.left) > _MAX_HEAD:
                raise http.client.LineTooLong("chunk size")
            self._more(True)
        line, self.left = self.left[:end], self.left[end + 2 :]
        return line

    def chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size_text = self.line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise http.client.IncompleteRead(b"".join(parts)) from None
            if size == 0:
                while self.line():  # trailers, up to the blank line
                    pass
                return b"".join(parts)
            parts.append(self.exactly(size))
            self.exactly(2)  # the CRLF after each chunk

    def to_close(self) -> bytes:
        while chunk := self._sock.recv(65536):
            self.left += chunk
        body, self.left = self.left, b""
        return body


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    """``formatdate(usegmt=True)`` of now, made once per second rather than per request."""
    global _date_cache
    now = int(time.time())
    second, text = _date_cache  # one tuple: threads read and replace it whole
    if second != now:
        text = formatdate(now, usegmt=True)
        _date_cache = (now, text)
    return text


def _error(response: _Response, body: bytes) -> HttpResponseError:
    code = response.getheader("x-ms-error-code") or ""
    message = _xml_message(body) or response.reason
    text = f"{response.status} {code}: {message}" if code else f"{response.status}: {message}"
    cls = ClientAuthenticationError if response.status in (401, 403) else HttpResponseError
    error = cls(message=text)
    error.status_code = response.status
    setattr(error, "error_code", code or None)  # as azure-core's deserialized errors carry it
    error.reason = response.reason
    error.response = SimpleNamespace(headers={k: v for k, v in response.getheaders()}, status_code=response.status)
    return error


def _xml_message(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    start, stop = text.find("<Message>"), text.find("</Message>")
    return text[start + 9 : stop].splitlines()[0] if 0 <= start < stop else ""


def _no_auth(headers: dict[str, str], **_kwargs: Any) -> None:
    """A SAS travels in the query string: nothing to add."""


class _SharedKey:
    """The SharedKey signature, built exactly as the SDK's SharedKeyCredentialPolicy does."""

    def __init__(self, account_name: str, account_key: str) -> None:
        # Private helpers of azure-storage-blob 12.x (pinned <13 for them); if a release drops
        # them the ImportError makes for_client fall back to the SDK's upload_page.
        from azure.storage.blob._shared import sign_string
        from azure.storage.blob._shared.authentication import _storage_header_sort

        self._account = account_name
        self._key = account_key
        self._sort: Callable[[list[tuple[str, str]]], list[tuple[str, str]]] = _storage_header_sort
        self._sign_string: Callable[[str, str], str] = sign_string  # untyped in the SDK
        self._orders: dict[tuple[str, ...], list[str]] = {}  # the service's header order, per name set

    def __call__(self, headers: dict[str, str], *, path: str, query: str, content_length: int) -> None:
        values = {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-ms-")}
        names = tuple(values)
        order = self._orders.get(names)
        if order is None:  # the SDK's sort compares character by character: do it once per name set
            order = self._orders[names] = [k for k, _ in self._sort([(k, "") for k in names])]
        canonical_headers = "".join(f"{k}:{values[k]}\n" for k in order)
        params = sorted([("comp", "page"), *parse_qsl(query, keep_blank_values=True)])
        canonical_query = "".join(f"\n{k.lower()}:{unquote(v)}" for k, v in params)
        length = str(content_length) if content_length else ""
        string_to_sign = (
            "PUT\n\n\n" + length + "\n\n\n\n\n\n\n\n\n" + canonical_headers + f"/{self._account}{path}" + canonical_query
        )
        headers["Authorization"] = f"SharedKey {self._account}:{self._sign_string(self._key, string_to_sign)}"


class BearerSigner:
    """An Entra ID token, refreshed five minutes before it expires."""

    def __init__(self, credential: Any, *, scope: str = "") -> None:
        self._credential = credential
        self._scope = scope or STORAGE_SCOPE
        self._lock = threading.Lock()
        self._token: Any = None

    def __call__(self, headers: dict[str, str], **_kwargs: Any) -> None:
        with self._lock:
            if self._token is None or self._token.expires_on - time.time() < 300:
                self._token = self._credential.get_token(self._scope)
            headers["Authorization"] = f"Bearer {self._token.token}"
