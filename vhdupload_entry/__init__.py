"""The ``vhdupload`` console command's entry point (``[project.scripts]`` in pyproject.toml).

It lives outside the ``vhdupload`` package on purpose: importing anything inside that package
runs ``vhdupload/__init__.py`` first, which imports the Azure SDKs and typer (about 0.6 s, more
on a cold cache). A Ctrl-C in that time used to print a Python traceback; caught here, before
any of it is imported, it gives the usual ``error: interrupted`` line and exit code 130, the
same as a Ctrl-C while a command runs (``vhdupload.cli.main`` handles that case itself).

Only the standard library is imported here, so the unguarded window is the interpreter's own
start-up (a few tens of milliseconds).
"""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C


def main() -> int:
    try:
        from vhdupload.cli import main as cli_main  # the heavy part: the SDKs, typer, every command

        return cli_main()
    except KeyboardInterrupt:
        return _interrupted()


def _interrupted() -> int:
    import signal

    try:  # a second Ctrl-C while we leave must not print a traceback either
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):  # not the main thread, or no such signal here
        pass
    try:
        sys.stderr.write("error: interrupted\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed or gone: the exit code still says it
        pass
    sys.exit(EXIT_INTERRUPTED)
