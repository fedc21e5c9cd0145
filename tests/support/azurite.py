"""Start and stop a local Azurite blob emulator (from node_modules) on a free loopback port.

Used by the test fixtures, the demo and the benchmarks. Azurite keeps everything in memory
(``--inMemoryPersistence``) unless a location is given, and is started ``--loose
--skipApiVersionCheck`` because the SDK speaks a newer API version than Azurite knows.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def azurite_binary() -> str:
    local = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return str(local)
    found = shutil.which("azurite-blob")
    if found:
        return found
    raise RuntimeError("azurite-blob not found: run 'npm ci' in the repository (./run setup does it)")


@dataclass
class AzuriteServer:
    """A running Azurite blob service."""

    port: int
    process: subprocess.Popen
    scheme: str = "http"
    workdir: Path | None = None
    _log: object = field(default=None, repr=False)

    @property
    def account_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{DEV_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol={self.scheme};AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint={self.account_url};"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "AzuriteServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_azurite(
    *,
    port: int | None = None,
    cert: Path | None = None,
    key: Path | None = None,
    oauth: bool = False,
    in_memory: bool = True,
    timeout: float = 30.0,
) -> AzuriteServer:
    """Start Azurite's blob service and wait until it accepts connections."""
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="azurite-"))
    args = [
        azurite_binary(),
        "--blobHost", "127.0.0.1",
        "--blobPort", str(port),
        "--loose",
        "--skipApiVersionCheck",
        "--disableTelemetry",
    ]
    # Azurite refuses --location together with --inMemoryPersistence; without a location it
    # writes its debug log and databases into the working directory, so run it in workdir.
    args += ["--inMemoryPersistence"] if in_memory else ["--location", str(workdir)]
    if cert is not None:
        args += ["--cert", str(cert), "--key", str(key)]
    if oauth:
        args += ["--oauth", "basic"]
    log = open(workdir / "azurite.log", "wb")
    env = {k: v for k, v in os.environ.items() if k != "AZURITE_ACCOUNTS"}
    process = subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir, start_new_session=True
    )
    server = AzuriteServer(
        port=port, process=process, scheme="https" if cert else "http", workdir=workdir, _log=log
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"Azurite exited with {process.returncode}; see its log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"Azurite did not start on port {port} within {timeout:.0f} s")
