"""The tqdm bar: drawn on stderr when it is a terminal (a real pseudo-terminal here), never
with --no-progress or when stderr is not a terminal; stdout keeps only the result."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.terminal import run_cli
from tests.support.uploads import write_random

MIB = 1 << 20


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "disk.img"
    write_random(path, 24 * MIB, runs=[(i * MIB, MIB) for i in range(0, 24, 3)])  # 8 MiB of data
    return path


def test_bar_on_a_terminal_shows_covered_sent_rate_and_eta(image, conn, container_name):
    args = ["upload", str(image), f"{container_name}/a.vhd", "--raw", "--connection-string", conn, "--json",
            "--max-bandwidth", "40MB/s", "--threads", "2"]
    code, out, err = run_cli(args, tty=True)
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
    code, out, err = run_cli(args, tty=tty)
    assert code == 0, err
    assert "upload:" not in err and "\r" not in err and err.strip() == ""
    assert out.startswith("uploaded ")
