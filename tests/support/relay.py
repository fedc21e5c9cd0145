"""A loopback TCP relay's plumbing, shared by the shaping proxy (tests/support/shaping_proxy.py)
and the benchmarks' counting proxy (benchmarks/bench_upload.py): listen on 127.0.0.1, connect
each client to the upstream port, and close both sockets once both directions are done. A
subclass moves the bytes (``_relay``) and counts what it wants to."""

from __future__ import annotations

import socket
import threading


class LoopbackRelay:
    """Accepts on a free loopback port, relays to ``upstream_port``; ``close()`` stops it.

    At most ``max_connections`` client connections at once (more are refused), so a client
    opening connections without end cannot exhaust the process."""

    def __init__(self, *, upstream_port: int, max_connections: int = 256, name: str = "relay") -> None:
        self.upstream_port = upstream_port
        self.max_connections = max_connections
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(max_connections)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self.connections = 0
        self._open: set[socket.socket] = set()
        self._closing = False
        self._thread = threading.Thread(target=self._accept_loop, name=f"{name}-accept", daemon=True)
        self._thread.start()

    def _relay(self, client: socket.socket, upstream: socket.socket, state: dict) -> None:
        """Start moving bytes both ways; each direction calls ``_finish(src, dst, state)`` at its end."""
        raise NotImplementedError

    def _accept_loop(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                full = len(self._open) >= 2 * self.max_connections
            if full:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self._open.update((client, upstream))
            self._relay(client, upstream, {"open": 2})

    def _finish(self, src: socket.socket, dst: socket.socket, state: dict) -> None:
        """One direction is done: pass its end on, and close both sockets after the second."""
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        with self._lock:
            state["open"] -= 1
            last = state["open"] == 0
            if last:
                self._open.discard(src)
                self._open.discard(dst)
        if last:
            src.close()
            dst.close()

    def close(self) -> None:
        self._closing = True
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            sockets = list(self._open)
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> "LoopbackRelay":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
