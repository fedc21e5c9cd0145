"""``vhdupload bench`` against Azurite at small sizes: the table, the JSON object, the clean-up,
the plot (and its message without matplotlib), and one-line errors for bad options."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from vhdupload.cli import main

KEYS = {"tool", "threads", "seconds", "data_rate", "effective_rate", "bytes_sent", "requests", "retries"}


def blobs(conn: str, container: str) -> list[str]:
    client = ContainerClient.from_connection_string(conn, container)
    return [b.name for b in client.list_blobs()] if client.exists() else []


def test_json_has_the_runs_recommendation_and_image_and_blobs_are_deleted(azurite, container_name, capsys):
    conn = azurite.connection_string
    BlobServiceClient.from_connection_string(conn).create_container(container_name)
    code = main(["bench", container_name, "--connection-string", conn, "--size", "64MiB", "--fill", "25%",
                 "--threads", "2,4", "--repeat", "2", "--compare", "sdk", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)
    assert report["image"] == {"size": 64 * 2**20, "fill": 0.25, "pattern": "random-blocks", "data_bytes": 16 * 2**20}
    runs = report["runs"]
    assert [(r["tool"], r["threads"]) for r in runs] == [("vhdupload", 2), ("vhdupload", 4), ("sdk", 4)] * 2
    for run in runs:
        assert set(run) == KEYS
        assert run["seconds"] > 0 and run["requests"] > 0
        assert run["data_rate"] == pytest.approx(16 * 2**20 / run["seconds"], rel=0.01)
        assert run["effective_rate"] == pytest.approx(64 * 2**20 / run["seconds"], rel=0.01)
    ours = [r for r in runs if r["tool"] == "vhdupload"]
    # random-blocks: vhdupload sends the data (within 10 %), the SDK whole 4 MiB chunks around it.
    assert all(16 * 2**20 <= r["bytes_sent"] <= 1.1 * 16 * 2**20 for r in ours)
    assert all(r["bytes_sent"] > 16 * 2**20 for r in runs if r["tool"] == "sdk")
    assert report["recommended_threads"] in (2, 4)
    assert "sdk" in report["ratios"]
    assert blobs(conn, container_name) == []  # every blob it made is gone; the container stays


def test_table_and_plot_and_a_container_it_made_is_removed(azurite, container_name, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    conn = azurite.connection_string
    png = tmp_path / "bench.png"
    code = main(["bench", container_name, "--connection-string", conn, "--size", "32MiB", "--pattern",
                 "scattered-pages", "--threads", "1,3", "--plot", str(png)])
    out = capsys.readouterr().out
    assert code == 0
    header = next(line for line in out.splitlines() if line.startswith("tool"))
    for column in ("threads", "seconds", "data rate", "effective rate", "requests/s", "bytes sent", "retries"):
        assert column in header
    assert "recommended: --threads " in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not ContainerClient.from_connection_string(conn, container_name).exists()


def test_auto_runs_the_adaptive_default_beside_pinned_counts(azurite, container_name, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    conn = azurite.connection_string
    png = tmp_path / "bench.png"
    code = main(["bench", container_name, "--connection-string", conn, "--size", "32MiB", "--threads", "4,auto",
                 "--compare", "sdk", "--json", "--plot", str(png)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    # auto first (JSON null: vhdupload chose), then the pinned counts; the SDK at the largest pinned one
    assert [(r["tool"], r["threads"]) for r in report["runs"]] == [("vhdupload", None), ("vhdupload", 4), ("sdk", 4)]
    assert report["recommended_threads"] == 4  # a --threads value, never "auto"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code = main(["bench", container_name, "--connection-string", conn, "--size", "16MiB", "--threads", "auto"])
    out = capsys.readouterr().out
    assert code == 0
    assert any(line.split()[:2] == ["vhdupload", "auto"] for line in out.splitlines()), out


def test_keep_keeps_the_blobs(azurite, container_name, capsys):
    conn = azurite.connection_string
    code = main(["bench", container_name, "--connection-string", conn, "--size", "16MiB", "--threads", "2", "--keep",
                 "--json"])
    assert code == 0
    assert len(blobs(conn, container_name)) == 1


def test_a_failure_midway_still_deletes_what_was_made(azurite, container_name, capsys, monkeypatch):
    conn = azurite.connection_string
    BlobServiceClient.from_connection_string(conn).create_container(container_name)
    import vhdupload.bench.competitors as competitors

    def broken(*args, **kwargs):
        raise KeyboardInterrupt  # what Ctrl-C raises in the middle of a run

    monkeypatch.setattr(competitors, "run_sdk", broken)
    code = main(["bench", container_name, "--connection-string", conn, "--size", "16MiB", "--threads", "2",
                 "--compare", "sdk"])
    err = capsys.readouterr().err
    assert code == 130
    assert "interrupted" in err
    assert blobs(conn, container_name) == []


def run_cli(*args: str, block_matplotlib: bool = False) -> subprocess.CompletedProcess:
    prelude = "import sys; sys.modules['matplotlib'] = None; " if block_matplotlib else "import sys; "
    code = prelude + "from vhdupload.cli import main; sys.exit(main())"
    env = {k: v for k, v in os.environ.items() if k != "AZURE_STORAGE_CONNECTION_STRING"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60)


def test_plot_without_matplotlib_says_how_to_install_it_before_any_work(tmp_path):
    # No server behind this account: the message must come before anything is tried.
    done = run_cli("bench", "c1", "--account-url", "http://127.0.0.1:9/devstoreaccount1", "--emulator",
                   "--plot", str(tmp_path / "x.png"), block_matplotlib=True)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: --plot needs matplotlib: pip install 'vhdupload[bench]'"
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--size", "lots"], "--size"),
        (["--fill", "150%"], "--fill"),
        (["--threads", "0,4"], "--threads"),
        (["--threads", "a,b"], "--threads"),
        (["--compare", "rclone"], "--compare"),
        (["--pattern", "stripes"], "--pattern"),
        (["--size", "10000000"], "MiB"),
        (["--disks", "0"], "--disks"),
        (["--disks", "99"], "--disks"),
    ],
)
def test_bad_options_give_one_line(args, needle):
    done = run_cli("bench", "c1", "--emulator", "--account-url", "http://127.0.0.1:9/devstoreaccount1", *args)
    assert done.returncode in (1, 2)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert needle in lines[0]
    assert "Traceback" not in done.stderr


def test_disks_sends_a_set_side_by_side_and_counts_the_whole_set(azurite, container_name, capsys):
    # --disks 3: the 64 MiB disk and two 32 MiB scattered data disks, sent at once as publish
    # sends a VM's disks; the run's bytes and data are the set's, and every blob is deleted.
    conn = azurite.connection_string
    BlobServiceClient.from_connection_string(conn).create_container(container_name)
    code = main(["bench", container_name, "--connection-string", conn, "--size", "64MiB", "--fill", "25%",
                 "--threads", "auto,4", "--disks", "3", "--compare", "sdk", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    image = report["image"]
    assert image["size"] == (64 + 32 + 32) * 2**20
    assert image["pattern"] == "3 disks side by side: random-blocks + scattered-pages"
    assert 16 * 2**20 < image["data_bytes"] < 16 * 2**20 + 2 * 0.12 * 32 * 2**20
    runs = {(r["tool"], r["threads"]): r for r in report["runs"]}
    assert set(runs) == {("vhdupload", None), ("vhdupload", 4), ("sdk", 4)}
    for key in (("vhdupload", None), ("vhdupload", 4)):
        assert image["data_bytes"] <= runs[key]["bytes_sent"] <= 1.6 * image["data_bytes"]
    assert runs[("sdk", 4)]["bytes_sent"] > runs[("vhdupload", 4)]["bytes_sent"]
    assert blobs(conn, container_name) == []
