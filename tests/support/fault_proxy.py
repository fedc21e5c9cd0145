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

More actions (used by the reliability tests, and by :meth:`FaultProxy.randomize`):

* ``"503-bare"``: 503 ServerBusy without ``Retry-After``;
* ``"reset-after"``: forward the request (the service acts on it), then reset the connection
  instead of answering;
* ``"cut"``: forward it, then send only the first part of the answer (for an answer without a
  body, part of its headers) and close.

:meth:`FaultProxy.randomize` faults a share ``rate`` of *every* request (any method), drawing
the action from ``actions``. The draw depends only on the seed, the request (method, ``comp``,
blob name, ``x-ms-range``) and how many times that request was seen before, never on thread
timing, so a seed reproduces the same faults. ``counts`` tallies what was injected;
``seen`` counts requests.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import struct
import threading
import time
from collections import Counter, defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
_OWN = _HOP_BY_HOP | {"date", "server"}  # send_response writes its own
#: What :meth:`FaultProxy.randomize` draws from: every kind of fault a network and a service make.
RANDOM_ACTIONS = ("reset", "reset-after", "timeout", "cut", "500", "503", "503-bare")


class FaultProxy:
    def __init__(self, upstream_port: int, *, retry_after: int = 2, hold: float = 3.0) -> None:
        self.upstream_port = upstream_port
        self.retry_after = retry_after
        self.hold = hold
        self.faults: dict[str, deque[str | None]] = defaultdict(deque)
        self.log: list[tuple[float, str, str, int]] = []
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # injected actions, by name
        self.seen = 0  # requests that reached the proxy
        self._random: tuple[float, int, tuple[str, ...]] | None = None  # (rate, seed, actions)
        self._occurrences: Counter[str] = Counter()
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

    def randomize(self, *, rate: float, seed: int, actions: tuple[str, ...] = None) -> None:  # type: ignore[assignment]
        """Fault a share ``rate`` (0..1) of every request from now on, seeded (see the module
        docstring); ``actions`` defaults to :data:`RANDOM_ACTIONS`."""
        with self._lock:
            self._random = (rate, seed, tuple(actions or RANDOM_ACTIONS))
            self._occurrences.clear()

    def stop_faults(self) -> None:
        """No more random faults (queued ones stay)."""
        with self._lock:
            self._random = None

    def _draw(self, handler: BaseHTTPRequestHandler, comp: str, where: str) -> str | None:
        """The random action for this request, or None (call with the lock held)."""
        if self._random is None:
            return None
        rate, seed, actions = self._random
        blob = urlsplit(handler.path).path.rstrip("/").rsplit("/", 1)[-1]
        key = f"{handler.command}|{comp}|{blob}|{where}"
        n = self._occurrences[key]
        self._occurrences[key] = n + 1
        digest = hashlib.sha256(f"{seed}|{key}|{n}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= rate:
            return None
        return actions[int.from_bytes(digest[8:16], "big") % len(actions)]

    def account_url(self, account: str = "devstoreaccount1") -> str:
        return f"http://127.0.0.1:{self.port}/{account}"

    # -- one request --------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        comp = parse_qs(urlsplit(handler.path).query).get("comp", [""])[0]
        kind = {"page": "page", "metadata": "metadata"}.get(comp, "") if handler.command == "PUT" else ""
        action = None
        where = handler.headers.get("x-ms-range", "")
        with self._lock:
            self.seen += 1
            if kind and self.faults[kind]:
                action = self.faults[kind].popleft()
            elif self._random is not None:
                action = self._draw(handler, comp, where)
            if action is not None:
                self.counts[action] += 1
        if action == "stall":
            action = "timeout"
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
        if action in ("500", "503", "503-bare"):
            status, code = (500, "InternalError") if action == "500" else (503, "ServerBusy")
            self._record(kind, where, status)
            text = f"<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
            handler.send_response(status)
            handler.send_header("x-ms-error-code", code)
            handler.send_header("Content-Type", "application/xml")
            handler.send_header("Content-Length", str(len(text)))
            if action == "503":
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
        if action == "reset-after":  # the service acted; its answer is lost
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()
            handler.close_connection = True
            return
        if action == "cut":
            self._cut(handler, response, data)
            return
        handler.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in _OWN and not (key.lower() == "content-length" and handler.command != "HEAD"):
                handler.send_header(key, value)
        if handler.command != "HEAD":
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)

    def _cut(self, handler: BaseHTTPRequestHandler, response: http.client.HTTPResponse, data: bytes) -> None:
        """Send the first part of the answer (half its body, or half its head when it has no
        body), then close: the client sees the connection end mid-answer."""
        lines = [f"HTTP/1.1 {response.status} {response.reason}"]
        lines += [f"{k}: {v}" for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP | {"content-length"}]
        body = b"" if handler.command == "HEAD" else data
        lines.append(f"Content-Length: {len(data)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        whole = head + body
        keep = len(head) + len(body) // 2 if body else len(head) // 2
        try:
            handler.wfile.write(whole[:keep])
            handler.wfile.flush()
        except OSError:
            pass
        handler.close_connection = True

    def _record(self, kind: str, where: str, status: int) -> None:
        with self._lock:
            self.log.append((time.monotonic(), kind, where, status))
