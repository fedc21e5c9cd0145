"""The destination protocol: what :func:`vhdupload.upload`, :func:`vhdupload.verify` and
:func:`vhdupload.status` need of the place a disk goes, whatever kind it is.

A :class:`Destination` is a value (:class:`~vhdupload.PageBlob`, :class:`~vhdupload.ManagedDisk`)
that names the place and how to reach it; :meth:`Destination.open` connects and returns a
:class:`DestinationSession`, which holds what one operation learns and owns (a lease, a grant,
a heartbeat) and undoes it in :meth:`DestinationSession.close`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from ..azure.state import UploadState
from ..blob_image import BlobImage
from ..planning import DestinationLimits
from ..transfer.settings import TransferSettings
from ..upload_decision import Existing
from ..virtual_disk import VirtualDisk


def canonical_uuid(text: str | None) -> str | None:
    """A UUID as every output writes it, ``8-4-4-4-12`` lowercase hex (the metadata keeps the
    32 bare hex digits); None for none."""
    if not text:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return text


@dataclass(frozen=True)
class UploadStatus:
    """What a destination holds of an upload (read without writing anything). ``to_dict`` is
    the ``status --json`` object; ``state`` is one of ``absent``, ``foreign`` (not made by
    vhdupload), ``partial``, ``source-changed`` and ``complete``, for every kind of destination."""

    url: str  # never carries a secret
    exists: bool
    made_by_vhdupload: bool = False
    complete: bool = False
    size: int = 0  # the blob's size, or the disk's upload size (virtual size + 512)
    bytes_present: int | None = None  # bytes in the written page ranges; None where it cannot be read without a grant
    source_name: str | None = None
    source_type: str | None = None
    source_size: int | None = None
    source_uuid: str | None = None  # 8-4-4-4-12 lowercase hex
    crc64: str | None = None
    source_changed: bool = False  # the source changed mid-upload: only an overwrite continues
    writer: str | None = None  # who holds the writer guard now, in words, or None
    last_modified: str | None = None  # ISO 8601, where the destination says
    disk_id: str | None = None  # a managed disk's ARM resource ID
    disk_state: str | None = None  # a managed disk's diskState, as ARM says it
    skip_free: bool | None = None  # the upload leaves free space home (reads zeros there); None: not vhdupload's

    @classmethod
    def recorded(cls, url: str, state: UploadState | None, **found: Any) -> "UploadStatus":
        """The status of an existing destination whose recorded upload state is ``state`` (None:
        not made by vhdupload); ``found`` are what the destination itself says (size...)."""
        if state is None:
            return cls(url=url, exists=True, **found)
        return cls(
            url=url, exists=True, made_by_vhdupload=True, complete=state.complete, source_name=state.source.name,
            source_type=state.source.disk_type, source_size=state.source.virtual_size,
            source_uuid=canonical_uuid(state.source.uuid), crc64=state.crc64, source_changed=state.source_changed,
            skip_free=state.skip_free, **found,
        )

    @property
    def state(self) -> str:
        if not self.exists:
            return "absent"
        if not self.made_by_vhdupload:
            return "foreign"
        if self.source_changed:
            return "source-changed"
        return "complete" if self.complete else "partial"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state
        return data


class Readback(Protocol):
    """A finished destination opened for reading (verify)."""

    url: str
    #: The destination's whole size in bytes (data region + footer).
    size: int
    #: The upload state recorded on it, or None when vhdupload did not make it.
    state: UploadState | None

    def held_ranges(self, *, size: int) -> list[tuple[int, int]]:
        """Half-open ranges of ``[0, size)`` that hold written pages."""

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset``."""


class DestinationSession(Protocol):
    """One operation's connection to a destination.

    An upload calls, in order: :meth:`layout`; :meth:`look`; then :meth:`create` (new),
    :meth:`claim` and :meth:`replace` (overwrite), or :meth:`claim` (resume); :meth:`open_for_writing`;
    then any number of :meth:`put_page`, :meth:`held_ranges`, :meth:`read`, :meth:`save_state`,
    :meth:`record_progress`; then :meth:`finish`. Verify calls :meth:`open_for_reading`, status
    :meth:`status`. :meth:`close` always comes last: it undoes what the session made that must
    not outlive it (a lease, a heartbeat, a read grant) and, after a failure, cleans up what the
    destination's options say and returns what the user should know.
    """

    #: Shown and stored: never carries a secret.
    url: str
    #: Things worth telling the user that are not errors (one line each).
    notes: list[str]
    #: Whether the upload should compute the whole image's MD5 for :meth:`finish`.
    wants_md5: bool

    @property
    def lease_seconds(self) -> int:
        """How long the writer guard outlives a crashed writer (recorded for a rerun; 0: none)."""

    @property
    def retries(self) -> int:
        """Retried control calls (Put Page retries are the engine's to count)."""

    @property
    def lost(self) -> BaseException | None:
        """Set when the writer guard was lost: the upload must stop with it."""

    @property
    def can_read_back(self) -> bool:
        """Whether :meth:`read` and :meth:`held_ranges` work before :meth:`open_for_writing`."""

    @property
    def limits(self) -> DestinationLimits:
        """What the destination takes at most (bytes/s, requests/s): sizes the zero-gap merging."""

    def layout(self, disk: VirtualDisk, *, resize: bool, state: UploadState | None = None) -> BlobImage:
        """The image this destination receives for ``disk`` (its size rules applied; a raw
        disk's footer pinned to ``state``'s when given); refuses before anything remote."""

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

    def open_for_reading(self) -> Readback:
        """The finished destination, readable until :meth:`close` (StorageError when there is
        nothing finished to read)."""

    def status(self) -> UploadStatus:
        """What the destination holds of an upload, without writing."""

    def delete(self) -> None:
        """Delete the destination, if it exists (``publish --cleanup``, once the image holds its
        own copy)."""

    def close(self, *, failed: bool = False, cancelled: bool = False) -> str:
        """Stop keeping the guard alive and give up what the session holds; after a failure
        (``failed``; ``cancelled`` when the user stopped it) also clean up what must be, and
        return what was left, in words (or "")."""

    def summary(self) -> dict[str, Any]:
        """Destination-specific keys for the upload result (e.g. ``disk_id``)."""


class Destination(Protocol):
    """Where a disk goes: a value that names the place and how to reach it."""

    def describe(self) -> str:
        """The destination in words, without secrets."""

    def open(self, *, settings: TransferSettings, cancel: threading.Event) -> DestinationSession:
        """Connect (no request is sent yet) for one operation with these transfer settings."""
