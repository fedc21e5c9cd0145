"""Leases held by others, --wait bounded by --wait-timeout, and verify of an unfinished upload."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.uploads import blob_client, page_blob, write_random
from vhdupload.cli import main
from vhdupload.errors import CancelledError, LeaseHeldError, StorageError
from vhdupload.upload import upload
from vhdupload.verify import verify
from vhdupload import TransferSettings

MIB = 1024 * 1024


@pytest.fixture
def raw(tmp_path):
    path = tmp_path / "d.img"
    write_random(path, 8 * MIB, runs=[(0, 2 * MIB), (5 * MIB, 4096)])
    return path


def test_a_blob_leased_forever_is_in_use_and_never_waited_for(raw, conn, dest, capsys):
    upload(raw, page_blob(conn, dest), raw=True)
    blob_client(conn, dest).acquire_lease(lease_duration=-1)  # what a VM using the blob as its disk holds
    started = time.monotonic()
    code = main(["upload", str(raw), dest, "--raw", "--connection-string", conn, "--overwrite", "--wait", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and time.monotonic() - started < 10
    assert "in use by something else (a VM disk?)" in err and len(err.strip().splitlines()) == 1


def test_wait_is_bounded_by_wait_timeout(raw, conn, dest):
    blob = blob_client(conn, dest)
    from azure.storage.blob import BlobServiceClient

    BlobServiceClient.from_connection_string(conn).get_container_client(dest.split("/")[0]).create_container()
    blob.create_page_blob(8 * MIB + 512)
    blob.acquire_lease(lease_duration=60)  # not ours: a foreign, fixed lease
    started = time.monotonic()
    with pytest.raises(LeaseHeldError, match=r"something other than vhdupload.*waited 2 s"):
        upload(raw, page_blob(conn, dest), raw=True, overwrite=True, wait=True,
               settings=TransferSettings(wait_timeout=2))
    assert time.monotonic() - started < 15


def test_verify_of_an_unfinished_upload_says_so(raw, conn, dest, capsys):
    cancel = threading.Event()
    with pytest.raises(CancelledError):
        upload(raw, page_blob(conn, dest), raw=True, progress=lambda p: p.bytes_sent and cancel.set(), cancel=cancel, settings=TransferSettings(threads=1, max_bandwidth=4 * MIB))
    with pytest.raises(StorageError, match="unfinished upload .*run the upload again"):
        verify(raw, page_blob(conn, dest), raw=True)
    assert main(["verify", str(raw), dest, "--raw", "--connection-string", conn]) == 1
    err = capsys.readouterr().err
    assert "vhdupload status" in err and "differs" not in err
