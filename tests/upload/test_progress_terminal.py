"""The tqdm bar: drawn on stderr when it is a terminal (a real pseudo-terminal here), never
with --no-progress or when stderr is not a terminal; stdout keeps only the result."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess

import pytest

from .conftest import cli_command, write_random

MIB = 1 << 20


def _run(args: list[str], *, tty: bool) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (``tty``) or a pipe; returns (code, out, err)."""
    command = cli_command(*args)
    env = {**os.environ, "COLUMNS": "120"}
    if not tty:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        return done.returncode, done.stdout, done.stderr
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=slave, env=env)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        out = proc.stdout.read().decode()
        proc.wait(timeout=60)
    finally:
        os.close(master)
    return proc.returncode, out, b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "disk.img"
    write_random(path, 24 * MIB, runs=[(i * MIB, MIB) for i in range(0, 24, 3)])  # 8 MiB of data
    return path


def test_bar_on_a_terminal_shows_covered_sent_rate_and_eta(image, conn, container_name):
    args = ["upload", str(image), f"{container_name}/a.vhd", "--raw", "--connection-string", conn, "--json",
            "--max-bandwidth", "40MB/s", "--threads", "2"]
    code, out, err = _run(args, tty=True)
    assert code == 0, err
    assert json.loads(out)["bytes_sent"] == 8 * MIB + 512  # stdout: the JSON alone
    frames = [f for f in re.split(r"[\r\n]", err) if "upload:" in f]
    assert frames, err
    last = frames[-1]
    # "upload: 100%|##########| 8.0/8.0 MiB [00:00<00:00, 38.12MiB/s, sent 8.0 MiB at 12.3 MiB/s]": the
    # bar counts the 8 MiB of data (not the 24 MiB disk), in MiB throughout, and ends full.
    assert re.search(r"upload: 100%\|[^|]+\| 8\.0/8\.0 MiB \[\d\d:\d\d<\d\d:\d\d, +[\d.]+MiB/s, sent 8\.0 MiB at [\d.]+ MiB/s\]", last), last


@pytest.mark.parametrize("tty, flags", [(True, ["--no-progress"]), (False, [])], ids=["no-progress", "not-a-terminal"])
def test_no_bar_when_turned_off_or_not_a_terminal(image, conn, container_name, tty, flags):
    args = ["upload", str(image), f"{container_name}/b.vhd", "--raw", "--connection-string", conn, *flags]
    code, out, err = _run(args, tty=tty)
    assert code == 0, err
    assert "upload:" not in err and "\r" not in err and err.strip() == ""
    assert out.startswith("uploaded ")
