"""Crashes, reruns and other writers: the state lives on the blob, the lease keeps others out."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time

import pytest

from tests.support.uploads import blob_client, cli_command, container_client, page_blob, page_ranges, write_random
from vhdupload import CancelledError, DestinationConflictError, status, upload, verify
from vhdupload.errors import LeaseHeldError, SourceChangedError

from vhdupload.cli import main

from vhdupload import TransferSettings

MIB = 1 << 20


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


def _watermark(conn, dest) -> int:
    meta = blob_client(conn, dest).get_blob_properties().metadata
    return int(meta.get("vhdupload_watermark", "0"))


def test_sigkill_mid_upload_then_rerun_is_told_of_the_lease_and_waits_to_resume(tmp_path, conn, dest, capsys):
    raw = tmp_path / "disk.img"
    write_random(raw, 32 * MIB, runs=[(i * MIB, MIB) for i in range(0, 32, 2)])  # 16 MiB of data
    # Slow (2 MB/s) so it is surely mid-way when killed; a 15 s lease so the rerun waits little.
    proc = subprocess.Popen(
        cli_command("upload", str(raw), dest, "--raw", "--connection-string", conn, "--no-progress",
             "--max-bandwidth", "2MB/s", "--threads", "2", "--lease-seconds", "15"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        # Pages, and the watermark that proves them (pages past it are written again on resume).
        _wait_for(lambda: _has_pages(conn, dest, 2 * MIB) and _watermark(conn, dest) >= 2 * MIB)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    held = status(page_blob(conn, dest))
    assert held.state == "partial" and 0 < held.bytes_present < 16 * MIB
    assert held.writer is not None and "an upload holds the blob's lease" in held.writer
    # the status command says the same in its text: the state on the URL's line, then a writer line
    assert main(["status", dest, "--connection-string", conn]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(": partial") and "?" not in lines[0]
    assert "  complete:      no: rerun the upload to finish it" in lines
    assert any(line.startswith("  writer:        an upload holds the blob's lease") for line in lines), lines
    # Without --wait the rerun is refused at once, saying when the crashed holder's lease expires.
    args = ["upload", str(raw), dest, "--raw", "--connection-string", conn, "--no-progress", "--json"]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert out == ""
    match = re.search(r"another upload is writing to .* if it has crashed, its lease expires within (\d+) s.*--wait", err)
    assert match and 1 <= int(match.group(1)) <= 16, err
    started = time.monotonic()
    assert main([*args, "--wait"]) == 0
    assert time.monotonic() - started < 30
    result = json.loads(capsys.readouterr().out)
    assert result["resumed"] and result["bytes_present"] >= 2 * MIB
    assert result["bytes_sent"] + result["bytes_present"] == 16 * MIB + 512
    check = verify(raw, page_blob(conn, dest), raw=True)
    assert check.identical, check.problem


def test_concurrent_writer_is_refused_and_a_cancelled_upload_resumes(tmp_path, conn, dest):
    raw = tmp_path / "disk.img"
    # 24 MiB at 2 MB/s: surely running when a whole first chunk is sent and its watermark recorded.
    write_random(raw, 32 * MIB, runs=[(0, 24 * MIB)])
    cancel = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            upload(raw, page_blob(conn, dest), raw=True, cancel=cancel, settings=TransferSettings(max_bandwidth=2e6, threads=2))
        except BaseException as exc:  # noqa: BLE001 - inspected below
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        _wait_for(lambda: _has_pages(conn, dest, 512 * 1024))
        with pytest.raises(LeaseHeldError, match="another upload is writing"):
            upload(raw, page_blob(conn, dest), raw=True)
        _wait_for(lambda: _watermark(conn, dest) > 0)  # a whole chunk sent, and recorded: provably resumable
        with pytest.raises(LeaseHeldError, match="another upload is writing"):
            upload(raw, page_blob(conn, dest), raw=True)
    finally:
        cancel.set()
        thread.join()
    assert len(errors) == 1 and isinstance(errors[0], CancelledError)
    assert "run the same command again" in str(errors[0])
    result = upload(raw, page_blob(conn, dest), raw=True)  # the lease was released
    assert result.resumed and result.bytes_present > 0
    assert verify(raw, page_blob(conn, dest), raw=True).identical


def test_other_source_is_refused_without_overwrite_and_replaced_afresh_with_it(tmp_path, conn, dest):
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    write_random(a, 8 * MIB, runs=[(0, MIB)], seed=1)
    write_random(b, 8 * MIB, runs=[(4 * MIB, 4096)], seed=2)
    upload(a, page_blob(conn, dest), raw=True)
    with pytest.raises(DestinationConflictError, match="add --overwrite"):
        upload(b, page_blob(conn, dest), raw=True)
    upload(b, page_blob(conn, dest), raw=True, overwrite=True)
    # created afresh: none of a's pages survive beside b's skipped zeros
    assert page_ranges(conn, dest) == [(4 * MIB, 4 * MIB + 4096), (8 * MIB, 8 * MIB + 512)]
    assert verify(b, page_blob(conn, dest), raw=True).identical


def test_foreign_blob_is_refused(tmp_path, conn, dest):
    raw = tmp_path / "a.img"
    write_random(raw, 4 * MIB, runs=[(0, 4096)])
    container_client(conn, dest).create_container()
    blob_client(conn, dest).upload_blob(b"hello")
    with pytest.raises(DestinationConflictError, match="did not make"):
        upload(raw, page_blob(conn, dest), raw=True)


@pytest.mark.parametrize("where", ["ahead", "behind"])
def test_source_changing_during_upload_fails_and_no_rerun_resumes_the_mix(tmp_path, conn, dest, where):
    """A write into the file mid-upload, ahead of the pump (not yet sent) or behind it (already
    sent, at an offset the fingerprint does not sample): the upload fails, the blob says so, a
    plain rerun refuses to resume the mix, and --overwrite starts afresh to a verified blob."""
    raw = tmp_path / "a.img"
    write_random(raw, 24 * MIB, runs=[(i * MIB, 4096) for i in range(24)])
    # The fingerprint samples the first 16 extents and every 1.5 MiB here, not 17 MiB.
    # Progress counts the data examined: 20 runs of 4 KiB (one thread, in order) is past 17 MiB.
    offset, after = (22 * MIB + 100, 1) if where == "ahead" else (17 * MIB + 100, 20 * 4096)
    fingerprint_before = _identity(raw).fingerprint
    touched = threading.Event()

    def touch(progress) -> None:
        if progress.requests and progress.covered >= after and not touched.is_set():
            touched.set()
            with open(raw, "r+b") as f:
                f.seek(offset)
                f.write(b"changed!")

    with pytest.raises(SourceChangedError, match="changed.*--overwrite"):
        upload(raw, page_blob(conn, dest), raw=True, progress=touch, settings=TransferSettings(threads=1))
    assert touched.is_set()
    marked = status(page_blob(conn, dest))
    assert marked.state == "source-changed" and not marked.complete and marked.writer is None
    if where == "behind":
        assert _identity(raw).fingerprint == fingerprint_before  # only the mark stops a silent mix
    with pytest.raises(DestinationConflictError, match="source changed.*add --overwrite"):
        upload(raw, page_blob(conn, dest), raw=True)
    result = upload(raw, page_blob(conn, dest), raw=True, overwrite=True)
    assert not result.resumed and result.bytes_present == 0
    assert verify(raw, page_blob(conn, dest), raw=True).identical


def _identity(path):
    from vhdupload.azure.state import source_identity
    from vhdupload import open_disk

    with open_disk(path, raw=True) as disk:
        return source_identity(disk)


def _poke(path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"poked!")


def _cancel_after_first_chunk(raw, dest, conn, *, poke_at: int | None = None, requests: int = 1) -> None:
    cancel = threading.Event()

    def progress(snapshot) -> None:
        if snapshot.requests >= requests and not cancel.is_set():
            if poke_at is not None:
                _poke(raw, poke_at)
            cancel.set()

    with pytest.raises(CancelledError):
        upload(raw, page_blob(conn, dest), raw=True, progress=progress, cancel=cancel, settings=TransferSettings(threads=1))


def test_a_source_written_before_a_cancel_or_between_runs_is_not_resumed_but_a_copy_is(tmp_path, conn, dest):
    """17 MiB + 100 is not sampled by the fingerprint: only the file's own stat tells."""
    raw = tmp_path / "a.img"
    write_random(raw, 24 * MIB, runs=[(i * MIB, 4096) for i in range(24)])
    # written, then cancelled (as a Ctrl-C would): the blob is marked
    _cancel_after_first_chunk(raw, dest, conn, poke_at=17 * MIB + 100)
    assert status(page_blob(conn, dest)).state == "source-changed"
    upload(raw, page_blob(conn, dest), raw=True, overwrite=True)
    # cancelled cleanly, then written before the rerun (as after a kill -9): no resume
    dest2 = dest.replace("disk.vhd", "second.vhd")
    _cancel_after_first_chunk(raw, dest2, conn)
    assert status(page_blob(conn, dest2)).state == "partial"
    _poke(raw, 17 * MIB + 200)
    with pytest.raises(DestinationConflictError, match="changed during or since.*add --overwrite"):
        upload(raw, page_blob(conn, dest2), raw=True)
    # a copy (another inode, as on another machine) is judged by its fingerprint and resumes
    dest3 = dest.replace("disk.vhd", "third.vhd")
    _cancel_after_first_chunk(raw, dest3, conn, requests=5)  # the first 4 MiB chunk is wholly sent: proven
    copy = tmp_path / "copy.img"
    copy.write_bytes(raw.read_bytes())
    result = upload(copy, page_blob(conn, dest3), raw=True)
    assert result.resumed and result.bytes_present > 0
    assert verify(copy, page_blob(conn, dest3), raw=True).identical


def test_a_finished_upload_of_a_file_modified_since_is_not_called_already_there(tmp_path, conn, dest):
    raw = tmp_path / "a.img"
    write_random(raw, 24 * MIB, runs=[(i * MIB, 4096) for i in range(24)])
    upload(raw, page_blob(conn, dest), raw=True)
    assert upload(raw, page_blob(conn, dest), raw=True).already_complete  # unchanged: nothing sent
    _poke(raw, 17 * MIB + 100)
    with pytest.raises(DestinationConflictError, match="modified since; add --overwrite"):
        upload(raw, page_blob(conn, dest), raw=True)
    assert not upload(raw, page_blob(conn, dest), raw=True, overwrite=True).already_complete
    assert verify(raw, page_blob(conn, dest), raw=True).identical


def test_another_image_with_the_same_size_and_samples_is_never_taken_for_the_source(tmp_path, conn, dest):
    """Two sparse raw images that agree everywhere the fingerprint samples (fixed places) but
    not at 5 MiB: the blob's own pages tell them apart, finished or not."""
    runs = [(i * MIB, 4096) for i in range(24)]
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    write_random(a, 24 * MIB, runs=runs)
    write_random(b, 24 * MIB, runs=runs)
    _poke(b, 5 * MIB + 10)
    assert _identity(a).same_source(_identity(b))
    upload(a, page_blob(conn, dest), raw=True)
    with pytest.raises(DestinationConflictError, match="finished upload .* other data near offset 5242880"):
        upload(b, page_blob(conn, dest), raw=True)
    dest2 = dest.replace("disk.vhd", "second.vhd")
    _cancel_after_first_chunk(a, dest2, conn, requests=3)  # the blob holds a's pages at 0, 1 and 2 MiB
    b2 = tmp_path / "b2.img"
    write_random(b2, 24 * MIB, runs=runs)
    _poke(b2, 2 * MIB + 10)  # differs from a inside what the blob already holds (elsewhere it would be no mix)
    with pytest.raises(DestinationConflictError, match="unfinished upload .* other data near offset 2097152"):
        upload(b2, page_blob(conn, dest2), raw=True)
    result = upload(a, page_blob(conn, dest2), raw=True)  # the source itself resumes
    assert result.resumed and verify(a, page_blob(conn, dest2), raw=True).identical
