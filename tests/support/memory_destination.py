"""An in-memory destination: the upload session and the engine's pump tested without a server.

:class:`MemoryDestination` implements both protocols of :mod:`vhdupload.destinations.base`: it
is a :class:`~vhdupload.destinations.DestinationSession` (what
``vhdupload.upload_session.UploadSession(dest=...)`` drives), and a
:class:`~vhdupload.destinations.Destination` value whose :meth:`MemoryDestination.open` returns
itself, so that ``vhdupload.upload(source, MemoryDestination())``, ``vhdupload.verify`` and
``vhdupload.status`` work end to end. It keeps pages in a dict and records the calls an upload
makes (``look``, ``create``, ``claim``, ``release``, ``replace``, ``open_for_writing``,
``save_state``, ``confirm_complete``, ``finish``, ``close``).
"""

from __future__ import annotations

import threading
from typing import Any

from vhdupload.azure.state import UploadState
from vhdupload.blob_image import BlobImage
from vhdupload.destinations import UploadStatus
from vhdupload.destinations.page_blob import page_blob_image
from vhdupload.errors import LeaseHeldError, StorageError
from vhdupload.planning import STANDARD_PAGE_BLOB, DestinationLimits, RangeSet
from vhdupload.transfer import TransferSettings
from vhdupload.upload_decision import Existing
from vhdupload import VirtualDisk

#: What :meth:`MemoryDestination.close` says after a failure (it rides on the error raised).
FAILURE_NOTE = "memory kept"


class _MemoryReadback:
    """A finished memory destination opened for reading (verify)."""

    def __init__(self, dest: "MemoryDestination") -> None:
        self.url = dest.url
        self.size = dest.size or 0
        self.state = dest.state
        self._dest = dest

    def held_ranges(self, *, size: int) -> list[tuple[int, int]]:
        return self._dest.held_ranges(size=size)

    def read(self, offset: int, length: int) -> bytes:
        return self._dest.read(offset, length)


class MemoryDestination:
    def __init__(self, *, url: str = "memory://disk", held_by_other: bool = False, lease_seconds: int = 60,
                 content_md5: bool = False) -> None:
        self.url = url
        self.notes: list[str] = []
        self.wants_md5 = content_md5
        self.retries = 0
        self.lost: BaseException | None = None
        self.can_read_back = True
        self.size: int | None = None
        self.pages: dict[int, bytes] = {}  # offset -> data, the last write at each offset
        self.writes: list[tuple[int, bytes]] = []  # every write in order: a later one wins where they overlap
        self.state: UploadState | None = None
        self.md5: bytes | None = None  # what finish() was given
        self.calls: list[str] = []
        self.held_by_other = held_by_other
        self.fail_after: int | None = None  # raise after this many Put Pages
        self.closed: list[dict[str, bool]] = []  # the keywords of each close()
        self._lease_seconds = lease_seconds
        self._lock = threading.Lock()

    # -- the value (vhdupload.destinations.Destination) ------------------------------------------
    def describe(self) -> str:
        return self.url

    def open(self, *, settings: TransferSettings, cancel: threading.Event) -> "MemoryDestination":
        """The memory is its own session: what one operation wrote, the next one finds."""
        return self

    # -- the session (vhdupload.destinations.DestinationSession) ---------------------------------
    @property
    def lease_seconds(self) -> int:
        return self._lease_seconds

    @property
    def limits(self) -> DestinationLimits:
        return STANDARD_PAGE_BLOB

    def layout(self, disk: VirtualDisk, *, resize: bool, state: UploadState | None = None) -> BlobImage:
        return page_blob_image(disk, resize=resize, state=state)  # memory takes what a page blob takes

    # what is there
    def look(self) -> Existing:
        self.calls.append("look")
        if self.size is None:
            return Existing(exists=False)
        return Existing(exists=True, state=self.state, foreign="memory that vhdupload did not write")

    def create(self, *, size: int, state: UploadState) -> bool:
        self.calls.append("create")
        self.size, self.state, self.pages, self.writes = size, state, {}, []
        return True

    def claim(self, *, wait: bool, cancel: threading.Event, wait_timeout: float) -> None:
        self.calls.append("claim")
        if self.held_by_other:
            raise LeaseHeldError("held by another writer", expires_in=1.0)

    def release(self) -> None:
        self.calls.append("release")

    def replace(self, *, size: int, state: UploadState) -> None:
        self.calls.append("replace")
        self.size, self.state, self.pages, self.writes = size, state, {}, []

    def open_for_writing(self, *, state: Any, seconds_hint: float) -> None:
        self.calls.append("open_for_writing")

    def held_ranges(self, *, size: int) -> list[tuple[int, int]]:
        with self._lock:
            return sorted({(o, min(o + len(d), size)) for o, d in self.writes if o < size})

    def put_page(self, data: bytes, *, offset: int, crc: bytes) -> None:
        with self._lock:
            if self.fail_after is not None and len(self.writes) >= self.fail_after:
                raise ConnectionResetError("the memory went away")
            assert offset % 512 == 0 and len(data) % 512 == 0 and len(data) <= 4 * 1024 * 1024
            self.pages[offset] = bytes(data)
            self.writes.append((offset, bytes(data)))

    def read(self, offset: int, length: int) -> bytes:
        return self.image()[offset : offset + length]

    def save_state(self, state: UploadState, *, once: bool = False) -> None:
        self.calls.append("save_state")
        self.state = state

    def record_progress(self, state: UploadState) -> None:
        self.state = state

    def confirm_complete(self, state: UploadState) -> None:
        self.calls.append("confirm_complete")

    def finish(self, state: UploadState, *, md5: bytes | None) -> None:
        self.calls.append("finish")
        self.state = state
        self.md5 = md5

    # verify and status
    def open_for_reading(self) -> _MemoryReadback:
        if self.size is None:
            raise StorageError(f"{self.url} does not exist: nothing to verify")
        return _MemoryReadback(self)

    def status(self) -> UploadStatus:
        if self.size is None:
            return UploadStatus(url=self.url, exists=False)
        state = self.state
        return UploadStatus.recorded(self.url, state, size=self.size,
                                     bytes_present=RangeSet(self.held_ranges(size=self.size)).size(),
                                     writer="held by another writer" if self.held_by_other else None)

    def delete(self) -> None:
        self.calls.append("delete")
        self.size, self.state, self.pages, self.writes = None, None, {}, []

    # the end
    def close(self, *, failed: bool = False, cancelled: bool = False) -> str:
        self.calls.append("close")
        self.closed.append({"failed": failed, "cancelled": cancelled})
        return FAILURE_NOTE if failed else ""

    def summary(self) -> dict[str, Any]:
        return {}

    def image(self) -> bytes:
        out = bytearray(self.size or 0)
        for offset, data in self.writes:
            out[offset : offset + len(data)] = data
        return bytes(out)
