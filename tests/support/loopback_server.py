"""A threaded HTTP server on a free loopback port whose handler class sees a shared ``state``:
what the ARM double and the disk proxy both run on."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-connection (the crash tests' kill -9) is no server error: say
        nothing, rather than a traceback on stderr that a test capturing the CLI's one line reads."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def serve(handler: type[BaseHTTPRequestHandler], state: Any, *, name: str) -> ThreadingHTTPServer:
    """Start serving on 127.0.0.1 (a free port: ``server.server_address[1]``); the handler's
    requests read ``self.state``."""
    bound = type(handler.__name__, (handler,), {"state": state})
    server = _Server(("127.0.0.1", 0), bound)
    server.daemon_threads = True
    # A client that connects and resets at once (a killed upload) can leave select() saying
    # "ready" with nothing to accept: a blocking accept() would then hang serve_forever, and
    # shutdown() with it. Non-blocking, socketserver skips that round (accepted sockets block).
    server.socket.setblocking(False)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=name, daemon=True).start()
    return server


def close(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
