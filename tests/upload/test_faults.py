"""Faults between the client and the service, injected by a loopback proxy in front of
Azurite: every one is retried by the engine (backoff with jitter, Retry-After honoured,
bounded by --max-retries) and counted in the ``--json`` summary."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.azurite import DEV_ACCOUNT, DEV_KEY
from tests.support.fault_proxy import FaultProxy
from tests.support.uploads import page_blob, write_random
from vhdupload import verify
from vhdupload.cli import main

MIB = 1 << 20


@pytest.fixture
def proxy(azurite):
    with FaultProxy(azurite.port, retry_after=2, hold=3.0) as running:
        yield running


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "disk.img"
    write_random(path, 12 * MIB, runs=[(0, 8192), (5 * MIB, 64 * 1024), (9 * MIB, 4096)])
    return path


def _upload(image, proxy, name, *extra):
    return ["upload", str(image), name, "--raw", "--account-url", proxy.account_url(),
            "--account-key", DEV_KEY,
            "--no-progress", "--threads", "1", "--timeout", "1", *extra]


def test_500_503_reset_timeout_and_a_failed_metadata_write_are_retried_and_counted(
    image, proxy, container_name, conn, capsys
):
    # Four Put Pages (three data runs, then the footer); None lets a request through.
    proxy.inject("page", "500", None, "503", None, "reset", "reset", None, "timeout")
    proxy.inject("metadata", "500")  # the final "complete" mark
    dest = f"{container_name}/disk.vhd"
    assert main(_upload(image, proxy, dest, "--json")) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    # A reset on a kept-alive connection is first taken for a stale connection and replayed at
    # once, uncounted; the second reset is a failure. 500, 503, reset, timeout, metadata 500:
    assert summary["retries"] == 5, (summary, proxy.log)
    assert summary["requests"] == 4
    assert not proxy.faults["page"] and not proxy.faults["metadata"]
    # Retry-After: 2 was honoured (the jittered backoff alone is under 0.5 s here).
    busy = [(t, where) for t, kind, where, status in proxy.log if status == 503]
    assert len(busy) == 1
    again = [t for t, kind, where, status in proxy.log if where == busy[0][1] and t > busy[0][0]]
    assert again and again[0] - busy[0][0] >= 1.9
    assert verify(image, page_blob(conn, dest), raw=True).identical


def test_retries_are_bounded_and_the_error_says_how_to_resume(image, proxy, container_name, capsys):
    proxy.inject("page", "500", "500", "500")
    assert main(_upload(image, proxy, f"{container_name}/disk.vhd", "--max-retries", "2")) == 1
    err = capsys.readouterr().err
    assert "after 3 tries" in err and "500" in err and "run the same command again to resume" in err
    assert err.count("\n") == 1  # one line, no traceback


def test_the_library_prints_nothing_even_when_it_retries(image, proxy, container_name, conn):
    """No logging configured by the embedding program: the retry warnings must not reach its
    stderr through Python's last-resort handler."""
    proxy.inject("page", "500")
    code = (
        "import sys; from azure.core.credentials import AzureNamedKeyCredential; "
        "from vhdupload import PageBlob, upload; "
        "blob = PageBlob(sys.argv[3] + '/' + sys.argv[2], credential=AzureNamedKeyCredential(sys.argv[4], sys.argv[5])); "
        "r = upload(sys.argv[1], blob, raw=True); "
        "sys.exit(0 if r.retries == 1 else 5)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(image), f"{container_name}/lib.vhd", proxy.account_url(),
                           DEV_ACCOUNT, DEV_KEY],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr
