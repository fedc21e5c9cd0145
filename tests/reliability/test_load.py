"""Load: eight uploads at once, through the library in one process (threads) and as eight
``vhdupload`` processes, every blob verified; two uploads of one source to one blob at once:
exactly one finishes, the other is refused (the lease), and the blob is verified."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from tests.support.uploads import cli_command, page_blob, read_blob
from vhdupload import TransferSettings, upload, verify
from vhdupload.errors import LeaseHeldError

from .figures import MIB, long_run, one_line, record, scattered_image, seed


def _images(tmp_path, count: int, *, size: int, runs: int, base: int):
    made = []
    for i in range(count):
        path = tmp_path / f"load{i}.img"
        content, _ = scattered_image(path, size=size, runs=runs, seed_value=base + i)
        made.append((path, content))
    return made


def _verified(conn: str, dest: str, path, content: bytes) -> bool:
    blob = read_blob(conn, dest)
    return (blob[: len(content)] == content and not any(blob[len(content):-512])
            and verify(path, page_blob(conn, dest), raw=True).identical)


def eight_in_one_process(conn, container, tmp_path, *, size: int, runs: int, base: int) -> dict:
    (tmp_path / "threads").mkdir()
    images = _images(tmp_path / "threads", 8, size=size, runs=runs, base=base)
    results: dict[int, object] = {}

    def one(i: int) -> None:
        try:
            results[i] = upload(images[i][0], page_blob(conn, f"{container}/t{i}.vhd"), raw=True,
                                settings=TransferSettings(threads=4))
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[i] = exc

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    seconds = time.monotonic() - started
    failed = {i: r for i, r in results.items() if isinstance(r, BaseException)}
    assert not failed and len(results) == 8, failed
    verified = sum(_verified(conn, f"{container}/t{i}.vhd", *images[i]) for i in range(8))
    assert verified == 8
    return {"mode": "8 threads, one process", "uploads": 8, "verified": verified, "seconds": round(seconds, 1),
            "bytes": sum(r.bytes_sent for r in results.values())}


def eight_processes(conn, container, tmp_path, *, size: int, runs: int, base: int) -> dict:
    (tmp_path / "procs").mkdir()
    images = _images(tmp_path / "procs", 8, size=size, runs=runs, base=base)
    started = time.monotonic()
    processes = [
        subprocess.Popen(cli_command("upload", str(path), f"{container}/p{i}.vhd", "--raw", "--connection-string", conn,
                                     "--no-progress", "--threads", "4"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for i, (path, _) in enumerate(images)
    ]
    errors = [p.communicate(timeout=300)[1] for p in processes]
    seconds = time.monotonic() - started
    assert [p.returncode for p in processes] == [0] * 8, errors
    verified = sum(_verified(conn, f"{container}/p{i}.vhd", *images[i]) for i in range(8))
    assert verified == 8
    return {"mode": "8 processes", "uploads": 8, "verified": verified, "seconds": round(seconds, 1)}


def two_to_one_blob(conn, container, tmp_path, *, processes: bool, base: int, name: str = "both.vhd") -> dict:
    path = tmp_path / f"two-{name}.img"
    content, _ = scattered_image(path, size=24 * MIB, runs=12, seed_value=base)
    dest = f"{container}/{name}"
    if processes:
        both = [
            subprocess.Popen(cli_command("upload", str(path), dest, "--raw", "--connection-string", conn, "--no-progress",
                                         "--threads", "2", "--max-bandwidth", "4MB/s"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        errors = [p.communicate(timeout=300)[1] for p in both]
        codes = sorted(p.returncode for p in both)
        assert codes == [0, 1], errors
        refusal = next(e for p, e in zip(both, errors) if p.returncode == 1)
        assert one_line(refusal) and "another upload is writing" in refusal, refusal
    else:
        barrier = threading.Barrier(2)
        outcomes: list[object] = []

        def one() -> None:
            barrier.wait()
            try:
                outcomes.append(upload(path, page_blob(conn, dest), raw=True,
                                       settings=TransferSettings(threads=2, max_bandwidth=4e6)))
            except BaseException as exc:  # noqa: BLE001 - inspected below
                outcomes.append(exc)

        threads = [threading.Thread(target=one) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(outcomes) == 2 and len(refused) == 1, outcomes
        assert isinstance(refused[0], LeaseHeldError), refused
        refusal = str(refused[0])
    assert _verified(conn, dest, path, content)
    return {"mode": "two to one blob, " + ("processes" if processes else "threads"), "refused": 1, "finished": 1,
            "verified": 1, "refusal": refusal.strip()}


def test_eight_uploads_in_one_process_all_verified(conn, container_name, tmp_path):
    eight_in_one_process(conn, container_name, tmp_path, size=8 * MIB, runs=8, base=seed())


def test_eight_upload_processes_all_verified(conn, container_name, tmp_path):
    eight_processes(conn, container_name, tmp_path, size=8 * MIB, runs=8, base=seed())


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_two_uploads_to_one_blob_one_refused(conn, container_name, tmp_path, processes):
    two_to_one_blob(conn, container_name, tmp_path, processes=processes, base=seed())


@pytest.mark.reliability
def test_long_load(request, conn, tmp_path):
    long_run(request)
    base = seed()
    outcomes = []
    for round_ in range(3):
        folder = tmp_path / f"round{round_}"
        folder.mkdir()
        outcomes.append(eight_in_one_process(conn, f"loadt{round_}x{base % 100000}", folder, size=64 * MIB, runs=48,
                                             base=base + 10 * round_))
        outcomes.append(eight_processes(conn, f"loadp{round_}x{base % 100000}", folder, size=64 * MIB, runs=48,
                                        base=base + 10 * round_ + 100))
    for i in range(10):
        outcomes.append(two_to_one_blob(conn, f"loadb{i}x{base % 100000}", tmp_path, processes=bool(i % 2),
                                        base=base + 1000 + i, name=f"both{i}.vhd"))
    record("load", seed=base, outcomes=outcomes)
