"""The progress bar of ``upload`` and ``verify``: tqdm on stderr, in MiB like every size the
commands print, only when stderr is a terminal.

The bar counts what the command has to read (``Progress.total``: the source's allocated data,
not its virtual size), so its percentage and time left mean something; on success it is
filled to 100 % and left on screen, on failure it is wiped before the error line.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from typing import Any

MIB = 1024 * 1024


def stderr_size() -> tuple[int, int]:
    """Columns and lines of the terminal on stderr (the bar's), else of ``COLUMNS``/``LINES``,
    else 80 x 24. A terminal that reports 0 x 0 (a fresh pseudo-terminal, some CI runners)
    counts as unknown: tqdm given 0 rows draws nothing at all."""
    fallback = shutil.get_terminal_size()  # COLUMNS/LINES, stdout's terminal, or 80 x 24
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (AttributeError, ValueError, OSError):
        return fallback.columns, fallback.lines
    return (size.columns or fallback.columns), (size.lines or fallback.lines)


def wanted(no_progress: bool) -> bool:
    """Whether to draw a bar: not turned off, and stderr is a terminal."""
    return not no_progress and sys.stderr.isatty()


class ProgressBar:
    """A tqdm bar fed by :class:`vhdupload.Progress` snapshots (from worker threads).

    ``label`` names the work (``upload``, ``verify``); the postfix says how much went over
    the network, the snapshot's ``field`` (``bytes_sent``; a verify's ``bytes_received``),
    named ``moved`` (``sent``, ``read``)."""

    def __init__(self, *, enabled: bool, label: str = "upload", moved: str = "sent", field: str = "bytes_sent") -> None:
        self._enabled = enabled
        self._label = label
        self._moved = moved
        self._field = field
        self._bar: Any = None
        self._wide = False
        self._lock = threading.Lock()

    def update(self, progress: Any) -> None:
        if not self._enabled:
            return
        with self._lock:
            if self._bar is None:
                self._bar = self._open(progress.total)
            moved = getattr(progress, self._field)
            postfix = f"{self._moved} {moved / MIB:.1f} MiB"
            if self._wide:  # room for the send rate too (at 80 columns it would push the bar out)
                rate = moved / progress.elapsed / MIB if progress.elapsed > 0 else 0.0
                postfix += f" at {rate:.1f} MiB/s"
            if progress.retries:
                postfix += f", {progress.retries} retries"
            self._bar.set_postfix_str(postfix, refresh=False)
            self._bar.this_run = (progress.covered - progress.bytes_present, progress.elapsed)
            target = min(progress.covered, progress.total) / MIB
            if target > self._bar.n:
                self._bar.update(target - self._bar.n)

    def _open(self, total: int) -> Any:
        columns, lines = stderr_size()
        bar = _bar_class()(
            total=total / MIB, unit="MiB", desc=self._label, file=sys.stderr, ncols=columns, nrows=lines,
            leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} MiB "
            "[{elapsed}<{left}, {speed}{postfix}]",
        )
        self._wide = bar.ncols is None or bar.ncols >= 96
        return bar

    def finish(self) -> None:
        """The work is done: fill the bar to 100 % and leave it on screen."""
        with self._lock:
            if self._bar is not None:
                if self._bar.n < self._bar.total:
                    self._bar.update(self._bar.total - self._bar.n)
                self._bar.leave = True
                self._bar.close()
                self._bar = None

    def close(self) -> None:
        """Wipe the bar (after a failure or an interrupt; a no-op after :meth:`finish`)."""
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None


def _bar_class() -> Any:
    """tqdm, with the rate and the time left from what this run moves.

    tqdm's own rate counts every step of the bar, and after a resume the bar steps through what
    the destination already holds at the speed of a local read, nothing sent: the rate was
    wrong, and so the time left (``4.0/700.0 MiB [00:04<12:29, 1.08s/MiB]`` while sending fast).
    Here the bytes already present are on the bar (its percentage is the whole) but not in the
    rate; ``this_run`` is (bytes covered by this run's own work, seconds)."""
    from tqdm import tqdm  # noqa: PLC0415 - only when a bar is drawn

    class Bar(tqdm):  # type: ignore[misc]
        this_run: tuple[int, float] = (0, 0.0)

        @property
        def format_dict(self) -> dict[str, Any]:
            values = dict(super().format_dict)
            moved, seconds = self.this_run
            rate = moved / seconds / MIB if seconds > 0 and moved > 0 else 0.0
            left = (values["total"] or 0) - values["n"]
            values["speed"] = f"{rate:.2f}MiB/s" if rate else "?MiB/s"
            values["left"] = tqdm.format_interval(left / rate) if rate and left > 0 else ("00:00" if left <= 0 else "?")
            return values

    return Bar
