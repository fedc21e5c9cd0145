"""Ctrl-C at any moment of the command, start-up included: exit 130 and one line, never a
traceback (issue 11, part 5)."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
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


@pytest.mark.parametrize("delay", [0.06, 0.12, 0.2, 0.3, 0.45])
def test_ctrl_c_while_the_modules_load(delay, tmp_path):
    # -X importtime says (on stderr) which imports finished, so the test knows whether the signal
    # landed while vhdupload.cli was still loading, whatever the machine's speed.
    command = [sys.executable, "-X", "importtime", "-m", "vhdupload_entry"]
    code, err, running = _interrupt_after(delay, "inspect", str(tmp_path / "missing.vhd"), command=command)
    times = [line.rstrip() for line in err.splitlines() if line.startswith("import time:")]
    entry = next((i for i, line in enumerate(times) if line.endswith("| vhdupload_entry")), None)
    # Started: the entry module was imported and main() had begun importing the CLI after it.
    started = entry is not None and len(times) > entry + 1
    loaded = any(line.endswith("| vhdupload.cli") for line in times)
    err = "".join(line + "\n" for line in err.splitlines() if not line.startswith("import time:"))
    if not running or loaded:
        pytest.skip(f"the modules had finished loading after {delay} s")
    if not started:
        pytest.skip(f"the interpreter itself was still starting after {delay} s (a busy machine)")
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


def test_ctrl_c_while_a_command_waits_on_the_network():
    """A command that does not catch Ctrl-C itself (status, waiting on a server that never answers)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [*ENTRY, "status", "vhds/x.vhd", "--account-url", f"http://127.0.0.1:{port}/devstoreaccount1",
             "--emulator"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        server.settimeout(60)
        conn, _ = server.accept()  # the command is running: its request is here, unanswered
        with conn:
            time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert proc.returncode == 130 and err.endswith("error: interrupted\n"), (proc.returncode, err)
