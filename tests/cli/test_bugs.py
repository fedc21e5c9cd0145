"""The bugs issue 12 found, each pinned by a test that failed before its fix."""

from __future__ import annotations

import json
import threading
import time

import pytest

from vhdupload.engine import make_sender
from vhdupload.errors import CancelledError
from vhdupload.transfer import BandwidthLimiter, ProgressTracker, RetryPolicy
from vhdupload import TransferSettings

MIB = 1 << 20


# -- a cancel with max_bandwidth set: nothing held back by the limiter goes out afterwards ------

def test_cancel_ends_the_bandwidth_wait_and_no_request_starts_after_it():
    cancel = threading.Event()
    puts: list[float] = []
    tracker = ProgressTracker(total=4 * 500_000)
    send = make_sender(
        put=lambda data, offset, crc: puts.append(time.monotonic()),
        classify=lambda exc: None,
        translate=lambda exc, offset, n: exc,
        reread=lambda offset, n: b"",
        is_checksum_mismatch=lambda exc: False,
        policy=RetryPolicy(max_retries=0, cancel=cancel, cancel_message="upload cancelled"),
        limiter=BandwidthLimiter(1_000_000, cancel=cancel, cancel_message="upload cancelled"),
        tracker=tracker,
    )
    outcomes: list[BaseException | None] = []

    def worker(index: int) -> None:
        try:
            send(bytes(500_000), index * 500_000, 0)
            outcomes.append(None)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            outcomes.append(exc)

    # Four requests of 0.5 MB at 1 MB/s from an empty bucket: they may go at 0.5, 1, 1.5, 2 s.
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.75)
    cancelled_at = time.monotonic()
    cancel.set()
    for thread in threads:
        thread.join(timeout=5)
    finished = time.monotonic()
    assert len(puts) == 1, "only the request due before the cancel went out"
    assert all(at < cancelled_at for at in puts)
    assert finished - cancelled_at < 0.3, "the held-back requests stopped waiting at once"
    assert sum(isinstance(o, CancelledError) and "upload cancelled" in str(o) for o in outcomes) == 3
    assert tracker.snapshot.bytes_sent == 500_000


# -- register with a CONTAINER/NAME disk: the full blob URL in every body -----------------------

from tests.support.azurite import DEV_KEY  # noqa: E402
from tests.support.registration import LOC, RG, SUB  # noqa: E402
from vhdupload.cli import main  # noqa: E402


def _bodies(out: str) -> list[dict]:
    """The JSON bodies of a text ``--dry-run`` (each after its ``# ...: PUT ...`` line)."""
    text = out.split("# the same with the Azure CLI:")[0]
    decoder = json.JSONDecoder()
    found, index = [], 0
    while True:
        start = text.find("{", index)
        if start < 0:
            return found
        body, index = decoder.raw_decode(text, start)
        found.append(body)


def test_container_slash_name_becomes_the_full_blob_url_in_every_body(stub_az, arm, azurite, blobs, capsys):
    os_url = blobs.page_blob("gpt-os.vhd")
    data_url = blobs.page_blob("data.vhd")
    names = f"{blobs.container}/gpt-os.vhd", f"{blobs.container}/data.vhd"
    storage = ["--account-url", azurite.account_url, "--account-key", DEV_KEY, "--subscription", SUB,
               "--arm-endpoint", arm.url, "--dry-run"]
    commands = {
        "image": ["register", "image", "img", "-g", RG, "-l", LOC, "--os-disk", names[0], "--os-type", "linux",
                  "--hyper-v-generation", "V1", "--data-disk", f"{names[1]},lun=2"],
        "gallery": ["register", "gallery-version", "--gallery", "gal", "--image-definition", "def", "--version", "1.0.0",
                    "-g", RG, "-l", LOC, "--os-disk", names[0], "--data-disk", names[1], "--publisher", "p",
                    "--offer", "o", "--sku", "s", "--os-type", "linux", "--hyper-v-generation", "V1"],
        "disk": ["register", "disk", "d", "--source", names[1], "-g", RG, "-l", LOC],
    }
    uris = {}
    for kind, args in commands.items():
        code = main(args + storage)
        out, err = capsys.readouterr()
        assert code == 0, err
        body = _bodies(out)[-1]
        props = body["properties"]
        if kind == "image":
            profile = props["storageProfile"]
            uris[kind] = [profile["osDisk"]["blobUri"], profile["dataDisks"][0]["blobUri"]]
        elif kind == "gallery":
            profile = props["storageProfile"]
            uris[kind] = [profile["osDiskImage"]["source"]["uri"], profile["dataDiskImages"][0]["source"]["uri"]]
        else:
            uris[kind] = [props["creationData"]["sourceUri"]]
        assert names[0] not in out.replace(os_url, "") and " " + names[1] not in out.replace(data_url, ""), out
    assert uris == {"image": [os_url, data_url], "gallery": [os_url, data_url], "disk": [data_url]}
    assert arm.writes() == []


def test_container_slash_name_without_an_account_is_refused_in_one_line(capsys):
    code = main(["register", "image", "img", "-g", RG, "-l", LOC, "--os-disk", "vhds/os.vhd", "--os-type", "linux",
                 "--subscription", SUB, "--dry-run", "--skip-preflight"])
    _, err = capsys.readouterr()
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "names no account" in err or "is not a blob URL" in err


# -- upload --json of an already-complete blob agrees with status ------------------------------

def _write_sparse(path, size: int, runs: list[tuple[int, int]]) -> None:
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, length in runs:
            f.seek(offset)
            f.write(bytes([offset // MIB % 251 + 1]) * length)


def test_upload_json_of_a_complete_blob_agrees_with_status(azurite, container_name, tmp_path, capsys):
    image = tmp_path / "disk.img"
    _write_sparse(image, 32 * MIB, [(0, MIB), (8 * MIB, 2 * MIB), (20 * MIB, MIB)])  # gaps wider than --max-gap
    dest = [f"{container_name}/disk.vhd", "--connection-string", azurite.connection_string]
    assert main(["upload", str(image), *dest, "--raw", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["upload", str(image), *dest, "--raw", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert main(["status", *dest, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert again["already_complete"] and again["bytes_sent"] == 0
    assert again["bytes_present"] == status["bytes_present"] == 4 * MIB + 512
    assert again["data_bytes"] == first["data_bytes"] == 4 * MIB
    assert again["bytes_skipped"] == again["blob_size"] - again["bytes_present"]


# -- progress counts the data to send, and the bar ends at 100 % ------------------------------

def test_progress_counts_the_data_to_examine_and_ends_at_its_total(azurite, container_name, tmp_path):
    from vhdupload import PageBlob, upload

    image = tmp_path / "disk.img"
    # 6 MiB of data at the start of a 64 MiB disk: counted by offset, the upload looked 10 % done
    # when only the footer was left (and the ETA said so); counted by data, it is 100 %.
    _write_sparse(image, 64 * MIB, [(0, 6 * MIB)])
    seen = []
    blob = PageBlob.from_connection_string(azurite.connection_string, container_name, "p.vhd")
    upload(image, blob, raw=True, progress=seen.append, settings=TransferSettings(threads=2))
    totals = {p.total for p in seen}
    assert totals == {6 * MIB + 512}
    assert [p.covered for p in seen] == sorted(p.covered for p in seen)
    assert seen[-1].covered == seen[-1].total


def test_the_bar_on_a_terminal_counts_data_in_mib_and_ends_full(azurite, container_name, tmp_path):
    import re

    from tests.support.terminal import run_cli

    image = tmp_path / "disk.img"
    _write_sparse(image, 96 * MIB, [(0, 3 * MIB), (40 * MIB, MIB)])
    code, out, err = run_cli(["upload", str(image), f"{container_name}/bar.vhd", "--raw", "--connection-string",
                           azurite.connection_string], tty=True)
    assert code == 0, err
    frames = [f for f in re.split(r"[\r\n]", err) if "upload:" in f]
    assert frames and "100%" in frames[-1] and " 4.0/4.0 MiB " in frames[-1], frames[-1:]
    assert not re.search(r"\d(k|M|G)?B\b|MB/s", err), err  # one unit family: MiB, never MB
    assert "MiB/s sent" in out and " MB/s" not in out
