"""A loopback TCP relay shaped like a WAN: added round-trip latency, a byte rate and a request
rate for the link (shared by all connections) and optionally for each blob, with every byte and
HTTP request counted.

    with ShapingProxy(upstream_port=azurite.port, rtt=0.040, byte_rate=20 * MiB, request_rate=250) as proxy:
        url = f"http://127.0.0.1:{proxy.port}/devstoreaccount1"

    # Azure's shape: each blob has its own targets, and the link one more (issue 21's set):
    ShapingProxy(upstream_port=..., rtt=0.040, byte_rate=40 * MiB,
                 blob_byte_rate=20 * MiB, blob_request_rate=250)

Used by the benchmarks (the "shaped link") and its tests. It stands for Azure's per-blob
targets (60 MiB/s, 500 requests/s) scaled down so that Azurite is not the limit.

How: each direction of each connection is a delay line (a reader thread stamps every chunk with
``arrival + rtt / 2``; a writer thread sends it no earlier). The client-to-server direction is
parsed as HTTP/1.1 (``Content-Length`` bodies; what the SDK, vhdupload and AzCopy send) so that
each request start takes a token from the request-rate buckets (the link's, then its blob's)
before it leaves, and its bytes from the byte-rate buckets. A request's blob is its path without
the query (``/account/container/blob``). Bounded: loopback only (listens on and relays to
127.0.0.1), at most ``max_connections`` at once, at most ``QUEUE_CHUNKS`` x 64 KiB queued per
direction, at most ``MAX_BLOBS`` blobs with buckets of their own (later ones share one).
"""

from __future__ import annotations

import queue
import socket
import threading
import time

from tests.support.relay import LoopbackRelay

CHUNK = 64 * 1024
QUEUE_CHUNKS = 64  # per direction: at most 4 MiB in the delay line
MAX_BLOBS = 1024
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
    """Finds where HTTP/1.1 requests start in a client's byte stream (Content-Length bodies),
    and which blob each byte is for."""

    def __init__(self) -> None:
        self._head = b""
        self._body_left = 0
        self._blob: str | None = None  # the blob of the request whose body is flowing
        self.broken = False  # a framing it cannot follow (chunked): stops counting, keeps relaying

    def feed(self, data: bytes) -> int:
        """How many request heads complete in ``data``."""
        return sum(heads for _blob, heads, _nbytes in self.segments(data))

    def segments(self, data: bytes) -> list[tuple[str | None, int, int]]:
        """``data`` cut by request: ``(blob, heads, nbytes)`` in order, ``heads`` 1 where a
        request's head completes in that piece. Bytes of a head still incomplete belong to no
        blob (None: the link's buckets only); heads are small, so that hardly moves a rate."""
        out: list[tuple[str | None, int, int]] = []
        i, n = 0, len(data)
        while i < n:
            if self.broken:
                out.append((None, 0, n - i))
                break
            if self._body_left:
                step = min(self._body_left, n - i)
                self._body_left -= step
                out.append((self._blob, 0, step))
                i += step
                continue
            buffer = self._head + data[i:]
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                out.append((None, 0, n - i))
                self._head = buffer
                self.broken = len(buffer) > 256 * 1024
                break
            taken = end + 4 - len(self._head)
            head, self._head = buffer[: end + 4], b""
            self._blob = _blob_of(head)
            out.append((self._blob, 1, taken))
            i += taken
            lowered = head.lower()
            if b"transfer-encoding: chunked" in lowered:
                self.broken = True
                continue
            at = lowered.find(b"\r\ncontent-length:")
            if at >= 0:
                self._body_left = int(lowered[at + 17 : lowered.find(b"\r\n", at + 2)].strip() or 0)
        return out


def _blob_of(head: bytes) -> str:
    """``PUT /acct/cont/blob?comp=page HTTP/1.1`` -> ``/acct/cont/blob``."""
    line = head.split(b"\r\n", 1)[0].split(b" ")
    target = line[1] if len(line) > 1 else b""
    return target.split(b"?", 1)[0].decode("latin-1")


class ShapingProxy(LoopbackRelay):
    """See the module docstring. ``close()`` (or the ``with`` block) stops it and its threads."""

    def __init__(
        self,
        *,
        upstream_port: int,
        rtt: float = 0.0,
        byte_rate: float | None = None,
        request_rate: float | None = None,
        blob_byte_rate: float | None = None,
        blob_request_rate: float | None = None,
        max_connections: int = 256,
    ) -> None:
        self.rtt = rtt
        self.bytes = TokenBucket(byte_rate)
        self.requests_bucket = TokenBucket(request_rate, burst_seconds=0.01)
        self.blob_byte_rate = blob_byte_rate
        self.blob_request_rate = blob_request_rate
        self._blob_buckets: dict[str | None, tuple[TokenBucket, TokenBucket]] = {}
        self.blob_sent: dict[str, int] = {}  # client -> server bytes per blob (bodies and heads)
        self.sent = 0  # client -> server bytes
        self.received = 0  # server -> client bytes
        self.requests = 0
        self.uncounted = False  # True if some connection used a framing the counter cannot follow
        super().__init__(upstream_port=upstream_port, max_connections=max_connections, name="shaping")

    # -- counters ----------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.sent = self.received = self.requests = self.connections = 0
            self.blob_sent = {}

    def _buckets_of(self, blob: str | None) -> tuple[TokenBucket, TokenBucket] | None:
        """The byte and request buckets of ``blob`` (None without per-blob limits)."""
        if blob is None or not (self.blob_byte_rate or self.blob_request_rate):
            return None
        with self._lock:
            buckets = self._blob_buckets.get(blob)
            if buckets is None:
                key = blob if len(self._blob_buckets) < MAX_BLOBS else None
                buckets = self._blob_buckets.setdefault(key, (
                    TokenBucket(self.blob_byte_rate), TokenBucket(self.blob_request_rate, burst_seconds=0.01)))
                self._blob_buckets[blob] = buckets
            return buckets

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
                    pieces = counter.segments(data) if counter is not None else []
                    line.put((time.monotonic() + delay, data, pieces))
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
                    due, data, pieces = item
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    if upload:
                        self._pace(pieces)
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

    def _pace(self, pieces: list[tuple[str | None, int, int]]) -> None:
        """Hold a chunk until the link and each blob it carries bytes for may take them."""
        for blob, heads, nbytes in pieces:
            own = self._buckets_of(blob)
            if heads:
                self.requests_bucket.take(heads)
                if own is not None:
                    own[1].take(heads)
            if own is not None:
                own[0].take(nbytes)
            self.bytes.take(nbytes)
            with self._lock:
                self.sent += nbytes
                self.requests += heads
                if blob is not None:
                    self.blob_sent[blob] = self.blob_sent.get(blob, 0) + nbytes
