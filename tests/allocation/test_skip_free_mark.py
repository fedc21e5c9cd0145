"""Whether an upload left free space home is recorded on the destination: a rerun with
``--skip-free`` switched finishes an unfinished upload as one run of the rerun's kind would
have left it (or refuses a finished one with both ways out), ``verify`` compares the way the
upload went without being told, and ``status`` shows it. Against Azurite (a page blob) and the
managed-disk double."""

from __future__ import annotations

import json
import threading

import pytest

from tests.guest.images import MIB
from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from tests.support.registration import SUB
from tests.support.uploads import blob_client, page_blob, read_blob
from vhdupload import ManagedDisk, TransferSettings, status, upload, verify
from vhdupload.allocation import without_free_space
from vhdupload.azure.state import KEY_SKIP_FREE, SourceIdentity, UploadState
from vhdupload.cli import main
from vhdupload.endpoints import open_source
from vhdupload.errors import CancelledError
from vhdupload.upload_decision import Action, Existing, decide

from .filesystems import DELETED, deleted_files, kept_files, make_ext4

SIZE = 16 * MIB
PINNED = TransferSettings(threads=4)  # no adaptive ramp-up to wait for: the tests stay fast


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A 16 MiB ext4 whose deleted files (3 MiB of a recognisable pattern) sit among kept ones."""
    return make_ext4(tmp_path_factory.mktemp("mark") / "small.img", SIZE, kept_files(9, 3, MIB), deleted_files(3, MIB))


def either_way(path) -> dict[bool, bytes]:
    """What one upload leaves in the data region: the disk, or the disk with zeros in its free space."""
    whole = open_source(path, raw=True)
    try:
        return {False: whole.read(0, SIZE), True: without_free_space(whole)[0].read(0, SIZE)}
    finally:
        whole.close()


def interrupt(path, dest, *, skip_free: bool, after: int) -> None:
    """Upload until ``after`` bytes were sent, then cancel (one thread, in order: the watermark
    the cancel records covers what went first)."""
    cancel = threading.Event()
    with pytest.raises(CancelledError):
        upload(path, dest, raw=True, skip_free=skip_free, cancel=cancel,
               progress=lambda p: p.bytes_sent >= after and cancel.set(),
               settings=TransferSettings(threads=1, max_gap=0, max_bandwidth=16 * MIB))


def watermark(conn: str, dest: str) -> int:
    state = UploadState.from_metadata(blob_client(conn, dest).get_blob_properties().metadata)
    assert state is not None
    return state.watermark[0]


def storage(conn: str) -> list[str]:
    return ["--connection-string", conn, "--raw", "--no-progress", "--threads", "4"]  # pinned: no ramp-up to wait for


# -- the record ---------------------------------------------------------------------------------
def _state(**kw) -> UploadState:
    return UploadState(source=SourceIdentity(SIZE, "", "0" * 16, "raw", "small.img"), blob_size=SIZE + 512,
                       footer_uuid="", footer_timestamp=0, **kw)


def test_the_record_is_a_fixed_word_and_a_plain_upload_adds_none():
    assert KEY_SKIP_FREE not in _state().to_metadata()  # a plain upload's metadata is what it always was
    meta = _state(skip_free=True).to_metadata()
    assert meta[KEY_SKIP_FREE] == "true" and KEY_SKIP_FREE.isidentifier()
    assert UploadState.from_metadata(meta).skip_free is True
    assert UploadState.from_metadata(_state().to_metadata()).skip_free is False
    assert UploadState.from_metadata({**meta, KEY_SKIP_FREE: "yes"}) is None  # not a word vhdupload writes


@pytest.mark.parametrize("recorded", [False, True])
def test_the_decision_resumes_either_way_and_takes_a_finished_one_made_the_other_way_only_if_the_same(recorded):
    me = _state().source
    unfinished = Existing(exists=True, state=_state(skip_free=recorded))
    finished = Existing(exists=True, state=_state(skip_free=recorded, state="complete"))
    for asked in (False, True):
        assert decide(unfinished, identity=me, blob_size=SIZE + 512, stats="", overwrite=False,
                      skip_free=asked).action is Action.RESUME
    assert decide(finished, identity=me, blob_size=SIZE + 512, stats="", overwrite=False,
                  skip_free=recorded).action is Action.COMPLETE
    other = decide(finished, identity=me, blob_size=SIZE + 512, stats="", overwrite=False, skip_free=not recorded)
    assert other.action is Action.COMPLETE_IF_SAME  # else refused with what other.reason says
    assert "--overwrite" in other.reason and "--skip-free" in other.reason
    assert decide(finished, identity=me, blob_size=SIZE + 512, stats="", overwrite=True,
                  skip_free=not recorded).action is Action.REPLACE


# -- a page blob --------------------------------------------------------------------------------
@pytest.mark.parametrize("first", [False, True], ids=["plain-then-skip-free", "skip-free-then-plain"])
def test_an_interrupted_upload_rerun_with_the_flag_switched_ends_as_one_run_of_the_rerun(
        image, conn, dest, first, capsys):
    expected = either_way(image)
    assert expected[False] != expected[True] and DELETED in expected[False] and DELETED not in expected[True]
    # ext4 put the deleted files at [1.1, 4.1) MiB, the kept ones at [4.1, 5.5): cancelled in the
    # second 4 MiB chunk, the recorded watermark (the proven prefix) spans free space either way
    interrupt(image, page_blob(conn, dest), skip_free=first, after=3 * MIB // 2 if first else 4 * MIB + 256 * 1024)
    before = status(page_blob(conn, dest))
    assert before.state == "partial" and before.skip_free is first
    assert watermark(conn, dest) >= 4 * MIB
    if not first:  # the deleted data went first: the rerun must take it back
        assert DELETED in read_blob(conn, dest)

    flag = [] if first else ["--skip-free"]
    assert main(["upload", str(image), dest, *storage(conn), *flag, "--json"]) == 0, capsys.readouterr().err
    said = json.loads(capsys.readouterr().out)
    assert said["resumed"] and any("was begun" in note for note in said["notes"])
    assert 0 <= said["bytes_present"] and said["bytes_sent"] + said["bytes_present"] <= SIZE  # counted once each

    blob = read_blob(conn, dest)
    assert blob[:SIZE] == expected[not first] and not any(blob[SIZE:-512])
    after = status(page_blob(conn, dest))
    assert after.complete and after.skip_free is (not first)
    # without the flag, verify compares as the upload went (and the recorded CRC64 is the blob's)
    assert main(["verify", str(image), dest, *storage(conn), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["identical"] and found["skip_free"] is (not first) and found["crc64"] == after.crc64


def test_a_switched_rerun_cancelled_again_is_finished_either_way(image, conn, dest, capsys):
    """The record switches before the rewriting: a crash in between is resumed by a rerun of
    either kind, still ending as one run of that kind."""
    expected = either_way(image)
    interrupt(image, page_blob(conn, dest), skip_free=False, after=3 * MIB)
    interrupt(image, page_blob(conn, dest), skip_free=True, after=4 * MIB)
    assert status(page_blob(conn, dest)).skip_free is True
    assert main(["upload", str(image), dest, *storage(conn)]) == 0, capsys.readouterr().err
    assert read_blob(conn, dest)[:SIZE] == expected[False]
    assert verify(image, page_blob(conn, dest), raw=True, settings=PINNED).identical


@pytest.mark.parametrize("first", [False, True], ids=["plain", "skip-free"])
def test_a_finished_upload_rerun_with_the_flag_switched_is_refused_with_both_fixes(image, conn, dest, first, capsys):
    upload(image, page_blob(conn, dest), raw=True, skip_free=first, settings=PINNED)
    flag = [] if first else ["--skip-free"]
    assert main(["upload", str(image), dest, *storage(conn), *flag]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "another source" not in err
    assert "--overwrite" in err and ("run it with --skip-free" if first else "run it without --skip-free") in err
    # the same command as first: nothing to do
    assert main(["upload", str(image), dest, *storage(conn), *([] if flag else ["--skip-free"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["already_complete"] is True
    # the fix it names: --overwrite sends it the new way
    assert main(["upload", str(image), dest, *storage(conn), *flag, "--overwrite"]) == 0
    capsys.readouterr()
    assert read_blob(conn, dest)[:SIZE] == either_way(image)[not first]
    assert status(page_blob(conn, dest)).skip_free is (not first)


def test_verify_and_status_read_the_record(image, conn, dest, capsys):
    upload(image, page_blob(conn, dest), raw=True, skip_free=True, settings=PINNED)
    assert main(["verify", str(image), dest, *storage(conn)]) == 0
    out = capsys.readouterr().out
    assert "identical" in out and "the upload left it home: --skip-free" in out
    cheap = verify(image, page_blob(conn, dest), raw=True, mode="ranges", settings=PINNED)  # the cheap check too
    assert cheap.identical and cheap.skip_free and cheap.skip_free_recorded
    # an explicit contradiction compares as asked and says what the record says, and the fix
    assert main(["verify", str(image), dest, *storage(conn), "--no-skip-free"]) == 3
    err = capsys.readouterr().err
    assert "left its free space home (--skip-free)" in err and "drop --no-skip-free" in err
    assert main(["status", dest, "--connection-string", conn]) == 0
    assert "free space:    left home (--skip-free)" in capsys.readouterr().out
    assert main(["status", dest, "--connection-string", conn, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["skip_free"] is True

    upload(image, page_blob(conn, dest + "-plain"), raw=True, settings=PINNED)
    assert main(["verify", str(image), dest + "-plain", *storage(conn), "--skip-free"]) == 3
    assert "sent the disk whole" in capsys.readouterr().err
    assert main(["status", dest + "-plain", "--connection-string", conn, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["skip_free"] is False


# -- a managed disk (the double) ----------------------------------------------------------------
def test_a_managed_disk_begun_whole_is_finished_without_free_space(image, stub_az, managed_disk_double, arm_connection,
                                                                   capsys):
    disk = ManagedDisk("mark", resource_group=RG, arm=arm_connection(), location="westeurope")
    interrupt(image, disk, skip_free=False, after=4 * MIB + 256 * 1024)
    assert status(disk).skip_free is False and DELETED in managed_disk_double.disk_bytes("mark")
    arm = ["-g", RG, "-l", "westeurope", "--subscription", SUB, "--arm-endpoint", managed_disk_double.url]
    assert main(["upload", str(image), "--managed-disk", "mark", *arm, "--raw", "--no-progress", "--skip-free",
                 "--threads", "4"]) == 0, \
        capsys.readouterr().err
    capsys.readouterr()
    held = managed_disk_double.disk_bytes("mark")
    assert held[:SIZE] == either_way(image)[True] and not any(held[SIZE:-512])
    assert status(disk).skip_free is True
    assert main(["verify", str(image), "--managed-disk", "mark", *arm, "--raw", "--no-progress", "--threads", "4"]) == 0
    assert "the upload left it home" in capsys.readouterr().out

