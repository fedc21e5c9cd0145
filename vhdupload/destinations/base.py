"""The destination protocol the upload session drives (see :mod:`vhdupload.upload`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from ..azure.state import UploadState
from ..upload_decision import Existing


class Destination(Protocol):
    """What an upload needs of the place it writes to.

    The session calls, in order: :meth:`look`; then :meth:`create` (new), :meth:`claim` and
    :meth:`replace` (overwrite), or :meth:`claim` (resume); :meth:`open_for_writing`; then any
    number of :meth:`put_page`, :meth:`held_ranges`, :meth:`read`, :meth:`save_state`; then
    :meth:`finish`; and :meth:`close` always, last.
    """

    #: Shown and stored: never carries a secret.
    url: str
    #: Things worth telling the user that are not errors (one line each).
    notes: list[str]

    @property
    def retries(self) -> int:
        """Retried control calls (Put Page retries are the engine's to count)."""

    @property
    def lost(self) -> BaseException | None:
        """Set when the writer guard was lost: the upload must stop with it."""

    @property
    def can_read_back(self) -> bool:
        """Whether :meth:`read` and :meth:`held_ranges` work before :meth:`open_for_writing`."""

    def look(self) -> Existing:
        """What is there now (no side effect)."""

    def create(self, *, size: int, state: UploadState) -> bool:
        """Make it afresh with ``state`` recorded and the writer guard held; False when someone
        else made it meanwhile (look again)."""

    def claim(self, *, wait: bool, cancel: threading.Event, wait_timeout: float) -> None:
        """Take the writer guard of an existing destination, or raise LeaseHeldError (or with
        ``wait``, wait for it, at most ``wait_timeout`` seconds)."""

    def release(self) -> None:
        """Give up the guard taken by :meth:`claim` without writing (another upload finished)."""

    def replace(self, *, size: int, state: UploadState) -> None:
        """Under the guard, make it afresh so that no old page survives beside skipped zeros."""

    def open_for_writing(self, *, state: Callable[[], UploadState | None], seconds_hint: float) -> None:
        """Get ready for Put Page and keep the guard alive until :meth:`close` (``state`` gives
        what a heartbeat records; ``seconds_hint`` is the expected upload time)."""

    def held_ranges(self, *, size: int) -> list[tuple[int, int]] | None:
        """Half-open ranges already written, or None when the destination cannot say."""

    def put_page(self, data: bytes, *, offset: int, crc: bytes) -> None:
        """One Put Page; raises what the SDK raised (the engine classifies it)."""

    def read(self, offset: int, length: int) -> bytes:
        """Bytes written at ``offset``."""

    def save_state(self, state: UploadState, *, once: bool = False) -> None:
        """Record ``state`` on the destination, under the guard; ``once``: a single try, no
        retries (a best-effort note after the upload already failed)."""

    def record_progress(self, state: UploadState) -> None:
        """The resume watermark of ``state`` advanced: record it when the destination's write
        budget allows (called often, from the pool; it must be quick or do nothing)."""

    def confirm_complete(self, state: UploadState) -> None:
        """The destination holds a finished upload: complete anything left (a grant not yet
        revoked)."""

    def finish(self, state: UploadState, *, md5: bytes | None) -> None:
        """Record the complete ``state`` (its footer page is written) and make it usable."""

    def failure_note(self, *, cancelled: bool) -> str:
        """After a failure: clean up what must be and say what was left (or "")."""

    def close(self) -> None:
        """Stop keeping the guard alive and give it up."""

    def summary(self) -> dict[str, Any]:
        """Destination-specific keys for the upload result (e.g. ``disk_id``)."""
