"""The CLI in a fresh interpreter with its stderr on a real pseudo-terminal (what a person sees:
the progress bar) or on a pipe."""

from __future__ import annotations

import os
import pty
import subprocess

from tests.support.uploads import cli_command


def run_cli(args: list[str], *, tty: bool) -> tuple[int, str, str]:
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
