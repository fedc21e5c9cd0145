"""A loopback TCP relay shaped like a WAN: added round-trip latency, a byte rate and a request
rate, shared by all connections, with every byte and HTTP request counted.

    with ShapingProxy(upstream_port=azurite.port, rtt=0.040, byte_rate=20 * MiB, request_rate=250) as proxy:
        url = f"http://127.0.0.1:{proxy.port}/devstoreaccount1"

Used by the benchmarks (the "shaped link") and its tests. It stands for Azure's per-blob
targets (60 MiB/s, 500 requests/s) scaled down so that Azurite is not the limit.

How: each direction of each connection is a delay line (a reader thread stamps every chunk with
``arrival + rtt / 2``; a writer thread sends it no earlier). The client-to-server direction is
parsed as HTTP/1.1 (``Content-Length`` bodies; what the SDK, vhdupload and AzCopy send) so that
each request start takes a token from the request-rate bucket before it leaves, and its bytes
from the byte-rate bucket. Bounded: loopback only (listens on and relays to 127.0.0.1), at
most ``max_connections`` at once, at most ``QUEUE_CHUNKS`` x 64 KiB queued per direction.
"""

from __future__ import annotations

import queue
import socket
import threading
import time

from tests.support.relay import LoopbackRelay

CHUNK = 64 * 1024
QUEUE_CHUNKS = 64  # per direction: at most 4 MiB in the delay line
_EOF = object()


class TokenBucket:
    """Pacing at ``rate`` units per second with a short burst allowance; FIFO under a lock."""

    def __init__(self, rate: float | None, *, burst_seconds: float = 0.02) -> None:
        self.rate = rate
        self.burst = burst_seconds
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def take(self, n: float) -> None:
        if not self.rate or n <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(self._next, now - self.burst)
            self._next = start + n / self.rate
            wait = self._next - now - self.burst
        if wait > 0:
            time.sleep(wait)


class _RequestCounter:
    """Finds where HTTP/1.1 requests start in a client's byte stream (Content-Length bodies)."""

    def __init__(self) -> None:
        self._head = b""
        self._body_left = 0
        self.broken = False  # a framing it cannot follow (chunked): stops counting, keeps relaying

    def feed(self, data: bytes) -> int:
        """How many request heads complete in ``data``."""
        count = 0
        i, n = 0, len(data)
        while i < n and not self.broken:
            if self._body_left:
                step = min(self._body_left, n - i)
                self._body_left -= step
                i += step
                continue
            buffer = self._head + data[i:]
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self._head = buffer
                self.broken = len(buffer) > 256 * 1024
                break
            i += end + 4 - len(self._head)
            head, self._head = buffer[: end + 4].lower(), b""
            count += 1
            if b"transfer-encoding: chunked" in head:
                self.broken = True
                break
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                self._body_left = int(head[at + 17 : head.find(b"\r\n", at + 2)].strip() or 0)
        return count


class ShapingProxy(LoopbackRelay):
    """See the module docstring. ``close()`` (or the ``with`` block) stops it and its threads."""

    def __init__(
        self,
        *,
        upstream_port: int,
        rtt: float = 0.0,
        byte_rate: float | None = None,
        request_rate: float | None = None,
        max_connections: int = 256,
    ) -> None:
        self.rtt = rtt
        self.bytes = TokenBucket(byte_rate)
        self.requests_bucket = TokenBucket(request_rate, burst_seconds=0.01)
        self.sent = 0  # client -> server bytes
        self.received = 0  # server -> client bytes
        self.requests = 0
        self.uncounted = False  # True if some connection used a framing the counter cannot follow
        super().__init__(upstream_port=upstream_port, max_connections=max_connections, name="shaping")

    # -- counters ----------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.sent = self.received = self.requests = self.connections = 0

    def _add(self, **deltas: int) -> None:
        with self._lock:
            for name, value in deltas.items():
                setattr(self, name, getattr(self, name) + value)

    # -- relaying -----------------------------------------------------------------------------
    def _relay(self, client: socket.socket, upstream: socket.socket, state: dict) -> None:
        self._direction(client, upstream, state, upload=True)
        self._direction(upstream, client, state, upload=False)

    def _direction(self, src: socket.socket, dst: socket.socket, state: dict, *, upload: bool) -> None:
        line: queue.Queue = queue.Queue(maxsize=QUEUE_CHUNKS)
        delay = self.rtt / 2
        counter = _RequestCounter() if upload else None

        def reader() -> None:
            try:
                while True:
                    data = src.recv(CHUNK)
                    if not data:
                        break
                    heads = counter.feed(data) if counter is not None else 0
                    line.put((time.monotonic() + delay, data, heads))
            except OSError:
                pass
            finally:
                line.put(_EOF)

        def writer() -> None:
            try:
                while True:
                    item = line.get()
                    if item is _EOF:
                        break
                    due, data, heads = item
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    if upload:
                        if heads:
                            self.requests_bucket.take(heads)
                        self.bytes.take(len(data))
                        self._add(sent=len(data), requests=heads)
                    else:
                        self._add(received=len(data))
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                if counter is not None and counter.broken:
                    self.uncounted = True
                self._finish(src, dst, state)

        threading.Thread(target=reader, name="shaping-read", daemon=True).start()
        threading.Thread(target=writer, name="shaping-write", daemon=True).start()
