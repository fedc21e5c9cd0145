"""The in-memory destination (tests/support/memory_destination.py) keeps both protocols of
vhdupload.destinations.base: the public upload, verify and status run over it end to end, and
the upload session closes it once, saying after a failure whether it was cancelled."""

from __future__ import annotations

import threading
import time

import pytest

import vhdupload
from tests.support.memory_destination import FAILURE_NOTE, MemoryDestination
from tests.support.uploads import write_random
from vhdupload.azure.state import source_identity, stat_token
from vhdupload.errors import CancelledError, StorageError, VhdUploadError
from vhdupload.upload_session import UploadRequest, UploadSession
from vhdupload import open_disk

MIB = 1024 * 1024


@pytest.fixture
def raw(tmp_path):
    path = tmp_path / "d.img"
    content = write_random(path, 6 * MIB + 4096, runs=[(0, 4096), (2 * MIB, MIB), (6 * MIB, 4096)])
    return path, content


def test_upload_verify_and_status_run_over_it_end_to_end(raw):
    path, content = raw
    dest = MemoryDestination()
    assert vhdupload.status(dest).state == "absent"
    assert dest.closed == [{"failed": False, "cancelled": False}]  # status closes what it opened, too
    dest.calls.clear(), dest.closed.clear()
    result = vhdupload.upload(path, dest, raw=True, settings=vhdupload.TransferSettings(threads=2))
    assert result.blob_url == "memory://disk" and result.bytes_sent == MIB + 8192 + 512
    assert dest.image()[: len(content)] == content and dest.image()[-512:-504] == b"conectix"
    assert dest.calls == ["look", "create", "open_for_writing", "finish", "close"]
    assert dest.closed == [{"failed": False, "cancelled": False}]
    check = vhdupload.verify(path, dest, raw=True)
    assert check.ok and check.identical and check.blob_url == "memory://disk"
    found = vhdupload.status(dest)
    assert (found.state, found.complete, found.size, found.crc64) == ("complete", True, 7 * MIB + 512, result.crc64)
    assert found.bytes_present == MIB + 8192 + 512 and found.source_name == "d.img" and found.writer is None
    again = vhdupload.upload(path, dest, raw=True)
    assert again.already_complete and again.bytes_sent == 0 and "confirm_complete" in dest.calls


def test_content_md5_is_computed_when_the_destination_wants_it(raw):
    import base64
    import hashlib

    path, _ = raw
    dest = MemoryDestination(content_md5=True)
    result = vhdupload.upload(path, dest, raw=True)
    assert dest.md5 == hashlib.md5(dest.image()).digest()
    assert result.content_md5 == base64.b64encode(dest.md5).decode("ascii")


def _session(disk, dest, *, cancel: threading.Event, threads: int = 1) -> UploadSession:
    request = UploadRequest(image=dest.layout(disk, resize=True), identity=source_identity(disk),
                            stats=stat_token(disk.fingerprint_files()), overwrite=False, wait=False, trust_stat=False)
    settings = vhdupload.TransferSettings(threads=threads, max_retries=0, max_gap=64 * 1024)
    return UploadSession(dest=dest, request=request, settings=settings, cancel=cancel)


def test_a_failure_closes_it_once_and_its_note_rides_on_the_error(raw):
    path, _ = raw
    dest = MemoryDestination()
    dest.fail_after = 1
    with open_disk(path, raw=True) as disk, pytest.raises(VhdUploadError) as info:
        _session(disk, dest, cancel=threading.Event()).run(progress=None, started=time.monotonic())
    assert str(info.value).endswith(f"; {FAILURE_NOTE}")
    assert dest.calls.count("close") == 1 and dest.closed == [{"failed": True, "cancelled": False}]
    assert vhdupload.status(dest).state == "partial"
    with pytest.raises(StorageError, match="unfinished upload"):
        vhdupload.verify(path, dest, raw=True)


def test_a_cancel_closes_it_as_cancelled_and_a_rerun_resumes(raw):
    path, content = raw
    dest = MemoryDestination()
    cancel = threading.Event()
    with open_disk(path, raw=True) as disk, pytest.raises(CancelledError) as info:
        _session(disk, dest, cancel=cancel).run(progress=lambda _p: cancel.set(), started=time.monotonic())
    assert "run the same command again to resume" in str(info.value) and FAILURE_NOTE in str(info.value)
    assert dest.closed == [{"failed": True, "cancelled": True}]
    result = vhdupload.upload(path, dest, raw=True)
    assert result.resumed and dest.image()[: len(content)] == content
