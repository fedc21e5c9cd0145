"""The uploaders vhdupload is compared with, each counted the same way: seconds, bytes sent,
requests and retries.

* ``sdk``: ``BlobClient.upload_blob(f, blob_type="PageBlob", max_concurrency=N)`` with the SDK's
  own defaults (its retry policy included); a policy at the end of its pipeline sees every try
  (HTTP request) with its body bytes; a retry repeats its call's ``x-ms-client-request-id``, so
  retries = tries - distinct ids. (The storage SDK takes no ``per_call_policies``; its
  ``_additional_pipeline_policies`` run after the retry policy, once per try.)
* ``azcopy``: ``azcopy copy FILE URL?SAS --blob-type PageBlob`` with its own concurrency; its JSON
  job summary says whether it completed, its log gives the requests, their body bytes and the
  retries (``--log-level DEBUG`` logs each request it sends with its headers).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.pipeline.transport import HttpRequest, HttpResponse
from azure.storage.blob import BlobClient

from ..errors import InputError, VhdUploadError


@dataclass
class Counted:
    seconds: float
    bytes_sent: int
    requests: int
    retries: int


class _Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: set[str] = set()
        self.tries = 0
        self.body_bytes = 0

    @property
    def calls(self) -> int:
        return len(self.ids) or self.tries


class _TryPolicy(SansIOHTTPPolicy[HttpRequest, HttpResponse]):
    """Per try (after the retry policy): one HTTP request on the wire, and its body."""

    def __init__(self, counter: _Counter) -> None:
        self.counter = counter

    def on_request(self, request: PipelineRequest[HttpRequest]) -> None:
        http = request.http_request
        length = http.headers.get("Content-Length")
        try:
            size = int(length) if length is not None else len(http.body or b"")
        except (TypeError, ValueError):
            size = 0
        call = http.headers.get("x-ms-client-request-id") or f"try-{id(http)}"
        with self.counter.lock:
            self.counter.tries += 1
            self.counter.body_bytes += size
            self.counter.ids.add(call)


def sdk_counting_options() -> tuple[dict[str, Any], _Counter]:
    """Client keywords that add the counting policies (nothing else: the SDK's defaults stay)."""
    counter = _Counter()
    return {"_additional_pipeline_policies": [_TryPolicy(counter)]}, counter


def run_sdk(path: str | os.PathLike[str], *, blob_client: BlobClient, counter: _Counter, concurrency: int) -> Counted:
    """Upload ``path`` with the SDK's page-blob ``upload_blob``; ``blob_client`` carries the
    counting policies of :func:`sdk_counting_options`."""
    start = time.perf_counter()
    with open(path, "rb") as f:
        blob_client.upload_blob(f, blob_type="PageBlob", max_concurrency=concurrency, overwrite=True)
    seconds = time.perf_counter() - start
    return Counted(seconds, counter.body_bytes, counter.tries, max(0, counter.tries - counter.calls))


def find_azcopy() -> str | None:
    """An ``azcopy`` on PATH, if there is one."""
    return shutil.which("azcopy")


_TRY = re.compile(r"\(Try=(\d+)")


def run_azcopy(binary: str, path: str | os.PathLike[str], *, url: str, timeout: float = 3600) -> Counted:
    """Upload ``path`` to ``url`` (a blob URL with a SAS) with AzCopy at its defaults."""
    with tempfile.TemporaryDirectory(prefix="vhdupload-azcopy-") as tmp:
        env = dict(os.environ, AZCOPY_LOG_LOCATION=str(Path(tmp) / "logs"),
                   AZCOPY_JOB_PLAN_LOCATION=str(Path(tmp) / "plans"), AZCOPY_DISABLE_SYSLOG="true")
        env.pop("AZCOPY_AUTO_LOGIN_TYPE", None)
        argv = [binary, "copy", str(path), url, "--blob-type", "PageBlob", "--from-to", "LocalBlob",
                "--output-type", "json", "--log-level", "DEBUG"]
        start = time.perf_counter()
        try:
            done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise VhdUploadError(f"azcopy did not finish within {timeout:.0f} s") from None
        seconds = time.perf_counter() - start
        summary = _azcopy_summary(done.stdout)
        if done.returncode != 0 or summary.get("JobStatus") not in ("Completed", None):
            status = summary.get("JobStatus") or f"exit {done.returncode}"
            raise VhdUploadError(f"azcopy failed ({status}); run it by hand to see why")
        requests, retries, sent = _azcopy_requests(Path(tmp) / "logs")
        return Counted(seconds, sent, requests, retries)


def _azcopy_summary(stdout: str) -> dict[str, Any]:
    """The ``EndOfJob`` message of ``--output-type json``: each line is {"MessageType", "MessageContent"}."""
    summary: dict[str, Any] = {}
    for line in stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("MessageType") == "EndOfJob":
            try:
                summary = json.loads(message.get("MessageContent") or "{}")
            except ValueError:
                pass
    return summary


def _azcopy_requests(log_dir: Path) -> tuple[int, int, int]:
    """Requests, retries and request body bytes from AzCopy's DEBUG log, where each request
    is a ``==> REQUEST/RESPONSE (Try=N/...`` block listing its headers."""
    requests = retries = sent = 0
    for log in log_dir.glob("*.log"):
        in_request = False
        with open(log, errors="replace") as f:
            for line in f:
                match = _TRY.search(line) if "REQUEST/RESPONSE" in line else None
                if match:
                    requests += 1
                    retries += int(match.group(1)) > 1
                    in_request = True
                elif in_request:
                    stripped = line.strip()
                    if stripped.lower().startswith("content-length:"):
                        sent += int(stripped.split(":", 1)[1].strip() or 0)
                        in_request = False
                    elif stripped.startswith(("RESPONSE Status", "-----")):
                        in_request = False
    return requests, retries, sent


def azcopy_url(blob_client: BlobClient, *, account_key: str | None) -> str:
    """The blob's URL with a SAS AzCopy can use: the one the client has, or one made from a key."""
    url = blob_client.url
    if "sig=" in url:
        return url
    account = blob_client.account_name  # None only for a URL that names no account: a key cannot sign for it
    if not account_key or not account:
        raise InputError("azcopy needs a SAS here: give a container URL with a SAS, a connection string or a key")
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    sas = generate_blob_sas(
        account, blob_client.container_name, blob_client.blob_name, account_key=account_key,
        permission=BlobSasPermissions(read=True, create=True, write=True, add=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=6),
    )
    return f"{url}?{sas}"
