"""Watching a gallery image version replicate: one bar per region on a terminal, one line per
change otherwise; the states are ARM's (``replicationStatus.summary[]``)."""

from __future__ import annotations

import sys
from typing import Any

import typer

from ..registration import ReplicationStatus


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
        for region in status.regions:
            if self._tty:
                self._bar(region.region, len(self._bars)).update(region.progress - self._bars[region.region].n)
                self._bars[region.region].set_postfix_str(region.state, refresh=True)
            elif self._said.get(region.region) != (region.state, region.progress):
                self._said[region.region] = (region.state, region.progress)
                typer.echo(f"replication: {region.region} {region.progress}% ({region.state})", err=True)

    def _bar(self, region: str, position: int) -> Any:
        if region not in self._bars:
            from tqdm import tqdm

            self._bars[region] = tqdm(total=100, desc=f"replicating to {region}", unit="%", position=position,
                                      file=sys.stderr, leave=True, bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")
        return self._bars[region]

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
