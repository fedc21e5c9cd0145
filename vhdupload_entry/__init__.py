"""The ``vhdupload`` console command's entry point (``[project.scripts]`` in pyproject.toml).

It lives outside the ``vhdupload`` package on purpose: importing anything inside that package
runs ``vhdupload/__init__.py`` first, which imports the Azure SDKs and typer (about 0.6 s, more
on a cold cache). A Ctrl-C in that time used to print a Python traceback (or, caught at the
wrong moment, nothing). Here the command owns SIGINT in three phases:

1. while the modules load, a Ctrl-C prints the usual ``error: interrupted`` line and exits
   130 at once (nothing has been done yet, so there is nothing to clean up);
2. while the command runs, Python's own handler is back, so a Ctrl-C is a KeyboardInterrupt
   that the command turns into a cancellation (``vhdupload.cli.main`` prints the same line);
3. once the command is over, a Ctrl-C is ignored, so it cannot replace the command's exit
   code or print a traceback from the interpreter's shutdown.

Only the standard library is imported here, so the unguarded window is the interpreter's own
start-up (a few tens of milliseconds).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C
_LINE = b"error: interrupted\n"


def main() -> int:
    _set_sigint(_interrupted_while_loading)
    try:
        from vhdupload.cli import main as cli_main  # the heavy part: the SDKs, typer, every command

        _set_sigint(signal.default_int_handler)
        return cli_main()
    except KeyboardInterrupt:  # raised before the command's own handling took over
        _set_sigint(signal.SIG_IGN)
        _write_line()
        sys.exit(EXIT_INTERRUPTED)
    finally:
        _set_sigint(signal.SIG_IGN)


def _interrupted_while_loading(signum: int, frame: FrameType | None) -> None:
    _write_line()
    os._exit(EXIT_INTERRUPTED)  # mid-import there is no state worth unwinding


def _write_line() -> None:
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    try:
        os.write(2, _LINE)
    except OSError:  # stderr closed or gone: the exit code still says it
        pass


def _set_sigint(handler: Callable[[int, FrameType | None], object] | signal.Handlers) -> None:
    try:
        signal.signal(signal.SIGINT, handler)
    except (ValueError, OSError):  # not the main thread, or no SIGINT on this platform
        pass
