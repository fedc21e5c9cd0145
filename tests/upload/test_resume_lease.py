"""Crashes, reruns and other writers: the state lives on the blob, the lease keeps others out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from vhdupload import (
    CancelledError,
    DestinationConflictError,
    LeaseHeldError,
    SourceChangedError,
    upload_status,
    upload_vhd,
    verify_upload,
)

from .conftest import blob_client, container_client, page_ranges, write_random

MIB = 1 << 20


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from vhdupload.cli import main; sys.exit(main(sys.argv[1:]))", *args]


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _has_pages(conn: str, dest: str, at_least: int) -> bool:
    client = blob_client(conn, dest)
    try:
        return client.exists() and sum(b - a for a, b in page_ranges(conn, dest)) >= at_least
    except Exception:
        return False


def test_sigkill_mid_upload_then_rerun_resumes_to_a_verified_blob(tmp_path, conn, dest):
    raw = tmp_path / "disk.img"
    write_random(raw, 32 * MIB, runs=[(i * MIB, MIB) for i in range(0, 32, 2)])  # 16 MiB of data
    # Slow (2 MB/s) so it is surely mid-way when killed; a 15 s lease so the rerun waits little.
    proc = subprocess.Popen(
        _cli("upload", str(raw), dest, "--raw", "--connection-string", conn, "--no-progress",
             "--max-bandwidth", "2MB/s", "--threads", "2", "--lease-seconds", "15"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        _wait_for(lambda: _has_pages(conn, dest, 2 * MIB))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    status = upload_status(dest, connection_string=conn)
    assert status.state == "partial" and 0 < status.bytes_present < 16 * MIB
    assert status.lease == "leased"
    # Without --wait the rerun is refused at once, naming the holder.
    with pytest.raises(LeaseHeldError, match="lease"):
        upload_vhd(raw, dest, connection_string=conn, raw=True)
    started = time.monotonic()
    result = upload_vhd(raw, dest, connection_string=conn, raw=True, wait=True)
    assert time.monotonic() - started < 30
    assert result.resumed and result.bytes_present >= 2 * MIB
    assert result.bytes_sent + result.bytes_present == 16 * MIB + 512
    check = verify_upload(raw, dest, connection_string=conn, raw=True)
    assert check.identical, check.problem


def test_concurrent_writer_is_refused_and_a_cancelled_upload_resumes(tmp_path, conn, dest):
    raw = tmp_path / "disk.img"
    write_random(raw, 16 * MIB, runs=[(0, 8 * MIB)])
    cancel = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            upload_vhd(raw, dest, connection_string=conn, raw=True, max_bandwidth=2e6, threads=2, cancel=cancel)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        _wait_for(lambda: _has_pages(conn, dest, 512 * 1024))
        with pytest.raises(LeaseHeldError, match="another upload is writing"):
            upload_vhd(raw, dest, connection_string=conn, raw=True)
    finally:
        cancel.set()
        thread.join()
    assert len(errors) == 1 and isinstance(errors[0], CancelledError)
    assert "run the same command again" in str(errors[0])
    result = upload_vhd(raw, dest, connection_string=conn, raw=True)  # the lease was released
    assert result.resumed and result.bytes_present > 0
    assert verify_upload(raw, dest, connection_string=conn, raw=True).identical


def test_other_source_is_refused_without_overwrite_and_replaced_afresh_with_it(tmp_path, conn, dest):
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    write_random(a, 8 * MIB, runs=[(0, MIB)], seed=1)
    write_random(b, 8 * MIB, runs=[(4 * MIB, 4096)], seed=2)
    upload_vhd(a, dest, connection_string=conn, raw=True)
    with pytest.raises(DestinationConflictError, match="add --overwrite"):
        upload_vhd(b, dest, connection_string=conn, raw=True)
    upload_vhd(b, dest, connection_string=conn, raw=True, overwrite=True)
    # created afresh: none of a's pages survive beside b's skipped zeros
    assert page_ranges(conn, dest) == [(4 * MIB, 4 * MIB + 4096), (8 * MIB, 8 * MIB + 512)]
    assert verify_upload(b, dest, connection_string=conn, raw=True).identical


def test_foreign_blob_is_refused(tmp_path, conn, dest):
    raw = tmp_path / "a.img"
    write_random(raw, 4 * MIB, runs=[(0, 4096)])
    container_client(conn, dest).create_container()
    blob_client(conn, dest).upload_blob(b"hello")
    with pytest.raises(DestinationConflictError, match="did not make"):
        upload_vhd(raw, dest, connection_string=conn, raw=True)


def test_source_changing_during_upload_fails_and_leaves_the_blob_unfinished(tmp_path, conn, dest):
    raw = tmp_path / "a.img"
    write_random(raw, 16 * MIB, runs=[(i * MIB, 4096) for i in range(16)])
    touched = threading.Event()

    def touch(_progress) -> None:
        if not touched.is_set():
            touched.set()
            with open(raw, "r+b") as f:
                f.seek(15 * MIB)
                f.write(b"changed!")

    with pytest.raises(SourceChangedError, match="changed"):
        upload_vhd(raw, dest, connection_string=conn, raw=True, progress=touch, threads=1)
    assert upload_status(dest, connection_string=conn).state == "partial"
