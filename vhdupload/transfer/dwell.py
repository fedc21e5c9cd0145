"""How long a setting that moves while uploading spent at each of its values, so that a summary
can say where it mostly was ("adaptive, mostly 16")."""

from __future__ import annotations


class Dwell:
    """Seconds spent at each value; the caller supplies the clock's readings (and the locking)."""

    def __init__(self, value: int, now: float) -> None:
        self._spent: dict[int, float] = {}
        self._value = value
        self._since = now

    def move(self, value: int, now: float) -> None:
        """The setting changed to ``value`` at ``now``."""
        self._spent[self._value] = self._spent.get(self._value, 0.0) + now - self._since
        self._value = value
        self._since = now

    def mostly(self, now: float) -> int:
        """The value held longest up to ``now`` (the larger one on a tie)."""
        spent = dict(self._spent)
        spent[self._value] = spent.get(self._value, 0.0) + now - self._since
        return max(spent, key=lambda value: (spent[value], value))
