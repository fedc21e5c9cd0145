"""The upload session and the engine's pump against an in-memory destination: no server."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.memory_destination import MemoryDestination
from tests.support.uploads import write_random
from vhdupload.azure.state import source_identity, stat_token
from vhdupload.blob_image import blob_image
from vhdupload.errors import DestinationConflictError, LeaseHeldError, VhdUploadError
from vhdupload.transfer import TransferSettings
from vhdupload.upload_session import UploadRequest, UploadSession
from vhdupload import open_disk

MIB = 1024 * 1024


def session(disk, dest, *, overwrite=False, retries=0, threads=3):
    image = blob_image(disk)
    request = UploadRequest(image=image, identity=source_identity(disk), stats=stat_token(disk.fingerprint_files()),
                            overwrite=overwrite, wait=False, trust_stat=False)
    return UploadSession(dest=dest, request=request,
                         settings=TransferSettings(threads=threads, max_retries=retries, max_gap=64 * 1024),
                         cancel=threading.Event())


@pytest.fixture
def raw(tmp_path):
    path = tmp_path / "d.img"
    content = write_random(path, 10 * MIB + 4096, runs=[(0, 4096), (3 * MIB, 2 * MIB), (10 * MIB, 4096)])
    return path, content


def run(s):
    return s.run(progress=None, started=time.monotonic())


def test_new_then_complete_then_overwrite(raw):
    path, content = raw
    dest = MemoryDestination()
    with open_disk(path, raw=True) as disk:
        result = run(session(disk, dest))
    image = dest.image()
    assert len(image) == 11 * MIB + 512 and image[: len(content)] == content and image[-512:-504] == b"conectix"
    assert result.data_bytes == 2 * MIB + 8192 and result.bytes_sent >= result.data_bytes
    assert dest.calls[:3] == ["look", "create", "open_for_writing"] and dest.calls[-2:] == ["finish", "close"]
    with open_disk(path, raw=True) as disk:
        again = run(session(disk, dest))
    assert again.already_complete and again.bytes_sent == 0 and "confirm_complete" in dest.calls
    with open_disk(path, raw=True) as disk:
        fresh = run(session(disk, dest, overwrite=True))
    assert not fresh.already_complete and dest.image()[: len(content)] == content


def test_resume_sends_only_what_is_missing(raw):
    path, content = raw
    dest = MemoryDestination()
    dest.fail_after = 3  # the first chunk (two requests) goes, the second fails half-way
    with open_disk(path, raw=True) as disk, pytest.raises(VhdUploadError) as info:
        run(session(disk, dest, threads=1))
    assert "memory kept" in str(info.value)  # the destination's failure note rides on the error
    mark, _crc = dest.state.watermark
    assert 4 * MIB <= mark < 10 * MIB  # the first chunk wholly sent, recorded with its CRC64
    proven = sum(len(d) for o, d in dest.pages.items() if o < mark)
    dest.fail_after = None
    with open_disk(path, raw=True) as disk:
        result = run(session(disk, dest))
    assert result.resumed and result.bytes_present == proven  # the page past the mark was written again
    assert dest.image()[: len(content)] == content


def test_a_source_changed_under_the_watermark_is_refused(raw):
    """Replaced by a new file (other inode, same size and samples): only the CRC proof tells."""
    path, content = raw
    dest = MemoryDestination()
    dest.fail_after = 3
    with open_disk(path, raw=True) as disk, pytest.raises(VhdUploadError):
        run(session(disk, dest, threads=1))
    replacement = path.with_name("new.img")
    changed = bytearray(content)
    changed[4 * MIB + 100] ^= 0xFF  # inside [0, watermark), far from the samples and spot checks
    replacement.write_bytes(bytes(changed))
    replacement.replace(path)
    dest.fail_after = None
    with open_disk(path, raw=True) as disk, pytest.raises(DestinationConflictError, match=r"\[0, \d+\)\).*--overwrite"):
        run(session(disk, dest))


def test_a_finished_upload_of_a_changed_source_is_not_complete(raw):
    path, content = raw
    dest = MemoryDestination()
    with open_disk(path, raw=True) as disk:
        run(session(disk, dest))
    changed = bytearray(content)
    changed[4 * MIB + 100] ^= 0xFF
    replacement = path.with_name("new.img")
    replacement.write_bytes(bytes(changed))
    replacement.replace(path)
    with open_disk(path, raw=True) as disk, pytest.raises(DestinationConflictError, match="CRC64"):
        run(session(disk, dest))


def test_a_held_destination_and_a_foreign_one_are_refused(raw):
    path, _ = raw
    dest = MemoryDestination()
    dest.fail_after = 0
    with open_disk(path, raw=True) as disk, pytest.raises(VhdUploadError):
        run(session(disk, dest))
    dest.fail_after, dest.held_by_other = None, True
    with open_disk(path, raw=True) as disk, pytest.raises(LeaseHeldError):
        run(session(disk, dest))
    dest.held_by_other, dest.state = False, None  # now it holds something we did not write
    with open_disk(path, raw=True) as disk, pytest.raises(DestinationConflictError, match="did not write"):
        run(session(disk, dest))
