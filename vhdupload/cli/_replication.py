"""Watching a gallery image version replicate: one bar per region on a terminal, one line per
change otherwise; the states are ARM's (``replicationStatus.summary[]``)."""

from __future__ import annotations

import sys
from typing import Any

from ..printable import printable
from ..registration import ReplicationStatus
from ._common import say
from ._progress import stderr_size


class ReplicationBars:
    """Feeds :func:`vhdupload.registration.watch_replication`'s readings to the screen."""

    def __init__(self, *, enabled: bool) -> None:
        self._tty = enabled and sys.stderr.isatty()
        self._enabled = enabled
        self._bars: dict[str, Any] = {}
        self._said: dict[str, tuple[str, int]] = {}

    def __call__(self, status: ReplicationStatus) -> None:
        if not self._enabled:
            return
        width = max((len(printable(r.region)) for r in status.regions), default=0)  # bars one under another
        for region in status.regions:
            if self._tty:
                self._bar(region.region, len(self._bars), width).update(region.progress - self._bars[region.region].n)
                bar = self._bars[region.region]
                # The state in the format itself: tqdm's postfix comes with a ", " before it.
                state = printable(region.state).replace("{", "{{").replace("}", "}}")
                bar.bar_format = "{desc}: {percentage:3.0f}%|{bar}| " + state
                bar.refresh()
            elif self._said.get(region.region) != (region.state, region.progress):
                self._said[region.region] = (region.state, region.progress)
                say(f"replication: {region.region} {region.progress}% ({region.state})", err=True)  # ARM's words, escaped

    def _bar(self, region: str, position: int, width: int) -> Any:
        if region not in self._bars:
            from tqdm import tqdm

            columns, rows = stderr_size()  # a terminal saying 0 rows would get no bar drawn at all
            self._bars[region] = tqdm(total=100, desc=f"replicating to {printable(region):<{width}}", unit="%", position=position,
                                      file=sys.stderr, leave=True, ncols=columns, nrows=rows, bar_format="{desc}: {percentage:3.0f}%|{bar}|")
        return self._bars[region]

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
