"""Ctrl-C at any moment of the command, start-up included: exit 130 and one line, never a
traceback (issue 11, part 5)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENTRY = [sys.executable, "-m", "vhdupload_entry"]


def _interrupt_after(delay: float, *args: str, command=ENTRY) -> tuple[int, str, bool]:
    """Run the command, send SIGINT after ``delay`` s; (exit code, stderr, was it still running)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([*command, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    running = proc.poll() is None
    if running:
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, err, running


@pytest.mark.parametrize("delay", [0.08, 0.15, 0.25, 0.35, 0.5])
def test_ctrl_c_while_the_modules_load(delay, tmp_path):
    code, err, running = _interrupt_after(delay, "inspect", str(tmp_path / "missing.vhd"))
    if not running:
        pytest.skip(f"the command had already finished after {delay} s")
    assert "Traceback" not in err, err
    assert (code, err) == (130, "error: interrupted\n")


def test_ctrl_c_during_the_interpreters_first_moments_never_hangs(tmp_path):
    # Before the entry module runs, Python's own handler is in charge; at least it must end.
    code, _, _ = _interrupt_after(0.005, "inspect", str(tmp_path / "missing.vhd"))
    assert code != 0


def test_the_console_command_is_the_guarded_entry():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["vhdupload"] == "vhdupload_entry:main"


def test_the_entry_runs_commands_and_keeps_their_exit_codes(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([*ENTRY, "inspect", str(tmp_path / "missing.vhd")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    done = subprocess.run([*ENTRY, "--version"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("vhdupload ")
