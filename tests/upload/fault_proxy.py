"""A loopback HTTP proxy in front of Azurite that injects faults into chosen requests.

Each fault is ``(kind, action)``: ``kind`` is ``"page"`` (Put Page) or ``"metadata"`` (Set
Blob Metadata); each request of that kind takes the next action queued for it (``None``: pass
it on untouched). Actions:

* ``"500"``: answer 500 InternalError without forwarding;
* ``"503"``: answer 503 ServerBusy with ``Retry-After: N`` (``retry_after``);
* ``"reset"``: read the request, then reset the connection (RST, no answer);
* ``"timeout"``: read the request, then answer nothing for ``hold`` seconds and close.

Everything else is forwarded as is. ``log`` records ``(time, kind, x-ms-range, status)`` of
every page/metadata request, so a test can see when each retry came.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
_OWN = _HOP_BY_HOP | {"date", "server"}  # send_response writes its own


class FaultProxy:
    def __init__(self, upstream_port: int, *, retry_after: int = 2, hold: float = 3.0) -> None:
        self.upstream_port = upstream_port
        self.retry_after = retry_after
        self.hold = hold
        self.faults: dict[str, deque[str | None]] = defaultdict(deque)
        self.log: list[tuple[float, str, str, int]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def inject(self, kind: str, *actions: str | None) -> None:
        with self._lock:
            self.faults[kind].extend(actions)

    def account_url(self, account: str = "devstoreaccount1") -> str:
        return f"http://127.0.0.1:{self.port}/{account}"

    # -- one request --------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        comp = parse_qs(urlsplit(handler.path).query).get("comp", [""])[0]
        kind = {"page": "page", "metadata": "metadata"}.get(comp, "") if handler.command == "PUT" else ""
        action = None
        with self._lock:
            if kind and self.faults[kind]:
                action = self.faults[kind].popleft()
        where = handler.headers.get("x-ms-range", "")
        if action == "reset":
            self._record(kind, where, 0)
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()
            handler.close_connection = True
            return
        if action == "timeout":
            self._record(kind, where, 0)
            time.sleep(self.hold)
            handler.close_connection = True
            return
        if action in ("500", "503"):
            status, code = (500, "InternalError") if action == "500" else (503, "ServerBusy")
            self._record(kind, where, status)
            text = f"<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
            handler.send_response(status)
            handler.send_header("x-ms-error-code", code)
            handler.send_header("Content-Type", "application/xml")
            handler.send_header("Content-Length", str(len(text)))
            if status == 503:
                handler.send_header("Retry-After", str(self.retry_after))
            handler.end_headers()
            handler.wfile.write(text)
            return
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream.request(handler.command, handler.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        if kind:
            self._record(kind, where, response.status)
        handler.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in _OWN and not (key.lower() == "content-length" and handler.command != "HEAD"):
                handler.send_header(key, value)
        if handler.command != "HEAD":
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)

    def _record(self, kind: str, where: str, status: int) -> None:
        with self._lock:
            self.log.append((time.monotonic(), kind, where, status))
