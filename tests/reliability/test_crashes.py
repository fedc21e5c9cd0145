"""``kill -9`` at seeded moments of one upload, each rerun continuing, the end verified; and after
each crash, the source changed inside what the destination already proves, ``[0, watermark)``:
one 4 KiB page flipped in place with its mtime put back (``os.utime``), or a copy of the file
with that change: refused every time, exit 1, one line naming the offset range and
``--overwrite``.

A moment is "early" (a seeded time after the process starts: imports, creating the blob or
disk, taking the lease) or "mid" (a seeded time after the run recorded progress of its own:
data flowing, watermark saved). The flipped page is chosen (seeded) away from the places the
fast pre-filters read (the fingerprint's samples and the spot checks at the start of each
written range), so only the CRC64 proof of ``[0, W)`` can catch it.

Page blob: after a kill the dead upload's 15 s lease is waited out (the long variant) or broken,
as its expiry would (the fast variant, to stay fast). Managed disk: the dead upload's heartbeat
is aged by moving the ARM double's clock a minute on, as waiting would.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from azure.storage.blob import BlobLeaseClient

from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from tests.support.registration import SUB
from tests.support.uploads import blob_client, cli_command, page_blob, read_blob
from vhdupload import verify
from vhdupload.cli import main
from vhdupload.planning import CHUNK, PAGE

from .figures import MIB, long_run, one_line, record, seed, write_random

_SAMPLE = 64 * 1024  # bytes each fingerprint sample and spot check reads


# -- the image and the page to flip ---------------------------------------------------------------
def dense_runs(size: int, *, run: int, every: int) -> list[tuple[int, int]]:
    return [(offset, run) for offset in range(0, size, every)]


def avoided(size: int, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Windows the fast pre-filters read: the fingerprint's samples (start, end, 15 spread) and
    the spot checks (the first 64 KiB of each range written, i.e. of each run and 4 MiB chunk)."""
    places = {0, max(size - _SAMPLE, 0)} | {(size * i // 16) // PAGE * PAGE for i in range(1, 16)}
    places |= {lo for lo, _ in runs} | set(range(0, size, CHUNK))
    return [(p, p + _SAMPLE) for p in places]


def page_to_flip(rng: random.Random, size: int, runs: list[tuple[int, int]], mark: int) -> int:
    windows = avoided(size, runs)
    candidates = []
    for lo, length in runs:
        for page in range(lo, lo + length, PAGE):
            if page + PAGE <= mark and not any(a < page + PAGE and page < b for a, b in windows):
                candidates.append(page)
    assert candidates, f"no page to flip below the watermark {mark}"
    return rng.choice(candidates)


def flip(path: Path, offset: int, *, keep_mtime: bool) -> None:
    stat = path.stat()
    with open(path, "r+b") as f:
        f.seek(offset)
        data = f.read(PAGE)
        f.seek(offset)
        f.write(bytes(b ^ 0xFF for b in data))
    if keep_mtime:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


# -- the moments ----------------------------------------------------------------------------------
@dataclass
class Moment:
    kind: str  # "early" | "mid"
    delay: float  # seconds after the process started (early) or after it recorded progress (mid)


def moments(rng: random.Random, count: int, *, early_share: float = 0.25) -> list[Moment]:
    chosen = []
    for i in range(count):
        if i > 0 and rng.random() < early_share:  # the first is mid, so the changed-source check has a W
            chosen.append(Moment("early", round(rng.uniform(0.05, 1.5), 2)))
        else:
            chosen.append(Moment("mid", round(rng.uniform(0.0, 1.2), 2)))
    return chosen


@dataclass
class Tally:
    kills: int = 0
    early: int = 0
    mid: int = 0
    watermarks: list[int] = field(default_factory=list)
    refused: int = 0  # changed-source reruns refused
    changed_tried: int = 0
    refusals: list[str] = field(default_factory=list)


def _kill_at(process: subprocess.Popen, moment: Moment, watermark, start_mark: int, deadline: float = 120) -> bool:
    """Kill ``process`` at ``moment``; False if it ended first."""
    started = time.monotonic()
    if moment.kind == "early":
        while time.monotonic() - started < moment.delay:
            if process.poll() is not None:
                return False
            time.sleep(0.01)
    else:
        while watermark() <= start_mark:
            if process.poll() is not None:
                return False
            assert time.monotonic() - started < deadline, "the run recorded no progress"
            time.sleep(0.05)
        time.sleep(moment.delay)
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


# -- page blob ------------------------------------------------------------------------------------
def _page_blob_sequence(conn, container, tmp_path, capsys, *, count: int, honest_wait: bool, changed: bool,
                        seed_value: int, size: int, bandwidth: str) -> Tally:
    rng = random.Random(seed_value)
    image = tmp_path / "crash.img"
    runs = dense_runs(size, run=768 * 1024, every=MIB)
    content = write_random(image, size, runs=runs, seed=seed_value)
    copy = tmp_path / "copy.img"  # "the file replaced by a copy": another inode, same bytes but the flip
    copy.write_bytes(image.read_bytes())
    dest = f"{container}/crash.vhd"
    client = blob_client(conn, dest)
    base = ["upload", "--raw", "--connection-string", conn, "--no-progress", "--lease-seconds", "15"]

    def watermark() -> int:
        try:
            return int(client.get_blob_properties().metadata.get("vhdupload_watermark", "0"))
        except Exception:  # noqa: BLE001 - not made yet
            return 0

    def free_the_lease() -> None:
        try:
            props = client.get_blob_properties()
        except Exception:  # noqa: BLE001 - never made
            return
        if props.lease.state != "leased":
            return
        if honest_wait:
            deadline = time.monotonic() + 20
            while client.get_blob_properties().lease.state == "leased":
                assert time.monotonic() < deadline, "the dead upload's lease did not expire"
                time.sleep(0.2)
        else:
            BlobLeaseClient(client).break_lease(lease_break_period=0)

    tally = Tally()
    for moment in moments(rng, count):
        start_mark = watermark()
        process = subprocess.Popen(
            cli_command(*base[:1], str(image), dest, *base[1:], "--threads", "2", "--max-bandwidth", bandwidth),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        killed = _kill_at(process, moment, watermark, start_mark)
        assert killed, f"the upload ended before the moment {moment}: make the image larger ({process.stderr.read()!r})"
        tally.kills += 1
        setattr(tally, moment.kind, getattr(tally, moment.kind) + 1)
        mark = watermark()
        assert mark >= (tally.watermarks[-1] if tally.watermarks else 0), "the watermark went back"
        if moment.kind == "mid":
            assert mark > start_mark
        tally.watermarks.append(mark)
        free_the_lease()
        if changed and mark > 0:
            page = page_to_flip(rng, size, runs, mark)
            for target, keep in ((image, True), (copy, False)):
                flip(target, page, keep_mtime=keep)
                code = main([*base[:1], str(target), dest, *base[1:]])
                err = capsys.readouterr().err
                flip(target, page, keep_mtime=keep)  # back as it was (mtime too, in place)
                tally.changed_tried += 1
                if code == 1 and one_line(err) and f"[0, {mark})" in err and "--overwrite" in err:
                    tally.refused += 1
                tally.refusals.append(err.strip())
                assert code == 1, err
                assert one_line(err) and f"[0, {mark})" in err and "--overwrite" in err, err
                assert watermark() == mark  # the refusal changed nothing on the blob
    # The last run, unkilled, finishes it.
    assert main([*base[:1], str(image), dest, *base[1:], "--wait"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    blob = read_blob(conn, dest)
    assert blob[: len(content)] == content and blob[-512:-504] == b"conectix"
    assert verify(image, page_blob(conn, dest), raw=True).identical
    return tally


def test_kill_9_at_three_moments_then_the_page_blob_is_exact_and_a_changed_source_refused(
    conn, container_name, tmp_path, capsys
):
    tally = _page_blob_sequence(conn, container_name, tmp_path, capsys, count=3, honest_wait=False, changed=True,
                                seed_value=seed(), size=40 * MIB, bandwidth="3MB/s")
    assert tally.kills == 3 and tally.refused == tally.changed_tried >= 2


@pytest.mark.reliability
def test_long_kill_9_at_twenty_moments_page_blob(request, conn, container_name, tmp_path, capsys):
    long_run(request)
    started = time.monotonic()
    tally = _page_blob_sequence(conn, container_name, tmp_path, capsys, count=20, honest_wait=True, changed=True,
                                seed_value=seed(), size=480 * MIB, bandwidth="4MB/s")
    record("crashes", destination="page blob", seed=seed(), kills=tally.kills, early=tally.early, mid=tally.mid,
           watermarks=tally.watermarks, changed_tried=tally.changed_tried, refused=tally.refused,
           sample_refusal=tally.refusals[0] if tally.refusals else "", seconds=round(time.monotonic() - started),
           final="verified identical")
    assert tally.kills == 20 and tally.refused == tally.changed_tried


# -- managed disk ---------------------------------------------------------------------------------
def _arm_args(double) -> list[str]:
    return ["-g", RG, "-l", "westeurope", "--subscription", SUB, "--arm-endpoint", double.url]


def _disk_script(double, image: Path, name: str, bandwidth: int) -> list[str]:
    script = (
        "from tests.support.registration import FakeCredential, SUB\n"
        "from vhdupload import ArmConnection, ManagedDisk, TransferSettings, upload\n"
        "from vhdupload.destinations import disk_tags\n"
        # ARM wants 15-20 s between tag writes; the double does not: a heartbeat (which carries
        # the watermark) every second records progress between the kills.
        "disk_tags.HEARTBEAT_SECONDS, disk_tags._MIN_TAG_WRITE_INTERVAL = 1, 0.5\n"
        f"arm = ArmConnection(SUB, credential=FakeCredential(), endpoint={double.url!r})\n"
        f"disk = ManagedDisk({name!r}, resource_group={RG!r}, arm=arm, location='westeurope')\n"
        f"upload({str(image)!r}, disk, raw=True, settings=TransferSettings(threads=2, max_bandwidth={bandwidth}))\n"
    )
    return [sys.executable, "-c", script]


def _managed_disk_sequence(double, tmp_path, capsys, *, count: int, changed: bool, seed_value: int, size: int,
                           bandwidth: int, name: str = "crash") -> Tally:
    rng = random.Random(seed_value + 1)
    image = tmp_path / "crash.img"
    runs = dense_runs(size, run=768 * 1024, every=MIB)
    content = write_random(image, size, runs=runs, seed=seed_value)
    copy = tmp_path / "copy.img"
    copy.write_bytes(image.read_bytes())

    def watermark() -> int:
        try:
            return int(double.disk(name)["tags"].get("vhdupload_watermark", "0"))
        except KeyError:
            return 0

    tally = Tally()
    for moment in moments(rng, count):
        start_mark = watermark()
        process = subprocess.Popen(_disk_script(double, image, name, bandwidth), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        killed = _kill_at(process, moment, watermark, start_mark)
        assert killed, f"the upload ended before the moment {moment}: make the image larger ({process.stderr.read()!r})"
        tally.kills += 1
        setattr(tally, moment.kind, getattr(tally, moment.kind) + 1)
        mark = watermark()
        assert mark >= (tally.watermarks[-1] if tally.watermarks else 0), "the watermark went back"
        if moment.kind == "mid":
            assert mark > start_mark
        tally.watermarks.append(mark)
        double.clock_offset += 120  # a minute later by ARM's clock: the dead upload's heartbeat is stale
        if changed and mark > 0:
            page = page_to_flip(rng, size, runs, mark)
            for target, keep in ((image, True), (copy, False)):
                flip(target, page, keep_mtime=keep)
                code = main(["upload", str(target), "--managed-disk", name, *_arm_args(double), "--raw", "--no-progress"])
                err = capsys.readouterr().err
                flip(target, page, keep_mtime=keep)
                tally.changed_tried += 1
                tally.refusals.append(err.strip())
                assert code == 1, err
                assert one_line(err) and f"[0, {mark})" in err and "--overwrite" in err, err
                tally.refused += 1
                assert watermark() == mark
                # No clock move here: a refused rerun must not leave a heartbeat keeping the next one out.
    code = main(["upload", str(image), "--managed-disk", name, *_arm_args(double), "--raw", "--no-progress", "--json"])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    data = double.disk_bytes(name)
    assert data[: len(content)] == content and not any(data[len(content):-512]) and data[-512:-504] == b"conectix"
    assert double.disk_state(name) == "Unattached"
    return tally


def test_kill_9_at_two_moments_then_the_managed_disk_is_exact_and_a_changed_source_refused(
    stub_az, managed_disk_double, tmp_path, capsys
):
    tally = _managed_disk_sequence(managed_disk_double, tmp_path, capsys, count=2, changed=True, seed_value=seed(),
                                   size=40 * MIB, bandwidth=6 * MIB)
    assert tally.kills == 2 and tally.refused == tally.changed_tried >= 2


@pytest.mark.reliability
def test_long_kill_9_at_twenty_moments_managed_disk(request, stub_az, managed_disk_double, tmp_path, capsys):
    long_run(request)
    started = time.monotonic()
    tally = _managed_disk_sequence(managed_disk_double, tmp_path, capsys, count=20, changed=True, seed_value=seed(),
                                   size=480 * MIB, bandwidth=4 * MIB)
    record("crashes", destination="managed disk", seed=seed(), kills=tally.kills, early=tally.early, mid=tally.mid,
           watermarks=tally.watermarks, changed_tried=tally.changed_tried, refused=tally.refused,
           sample_refusal=tally.refusals[0] if tally.refusals else "", seconds=round(time.monotonic() - started),
           final="byte-identical, Unattached")
    assert tally.kills == 20 and tally.refused == tally.changed_tried

