"""An in-memory :class:`vhdupload.destinations.Destination`: the upload session and the engine's
pump tested without a server. It keeps pages in a dict and records every call."""

from __future__ import annotations

import threading
from typing import Any

from vhdupload.azure.state import UploadState
from vhdupload.errors import LeaseHeldError
from vhdupload.upload_decision import Existing


class MemoryDestination:
    def __init__(self, *, url: str = "memory://disk", held_by_other: bool = False) -> None:
        self.url = url
        self.notes: list[str] = []
        self.retries = 0
        self.lost: BaseException | None = None
        self.can_read_back = True
        self.size: int | None = None
        self.pages: dict[int, bytes] = {}  # offset -> data, as written
        self.state: UploadState | None = None
        self.calls: list[str] = []
        self.held_by_other = held_by_other
        self.fail_after: int | None = None  # raise after this many Put Pages
        self._lock = threading.Lock()

    # what is there
    def look(self) -> Existing:
        self.calls.append("look")
        if self.size is None:
            return Existing(exists=False)
        return Existing(exists=True, state=self.state, foreign="memory that vhdupload did not write")

    def create(self, *, size: int, state: UploadState) -> bool:
        self.calls.append("create")
        self.size, self.state, self.pages = size, state, {}
        return True

    def claim(self, *, wait: bool, cancel: threading.Event, wait_timeout: float) -> None:
        self.calls.append("claim")
        if self.held_by_other:
            raise LeaseHeldError("held by another writer", expires_in=1.0)

    def release(self) -> None:
        self.calls.append("release")

    def replace(self, *, size: int, state: UploadState) -> None:
        self.calls.append("replace")
        self.size, self.state, self.pages = size, state, {}

    def open_for_writing(self, *, state: Any, seconds_hint: float) -> None:
        self.calls.append("open_for_writing")

    def held_ranges(self, *, size: int) -> list[tuple[int, int]]:
        with self._lock:
            return sorted((o, o + len(d)) for o, d in self.pages.items() if o < size)

    def put_page(self, data: bytes, *, offset: int, crc: bytes) -> None:
        with self._lock:
            if self.fail_after is not None and len(self.pages) >= self.fail_after:
                raise ConnectionResetError("the memory went away")
            assert offset % 512 == 0 and len(data) % 512 == 0 and len(data) <= 4 * 1024 * 1024
            self.pages[offset] = bytes(data)

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

    def failure_note(self, *, cancelled: bool) -> str:
        return "memory kept"

    def close(self) -> None:
        self.calls.append("close")

    def summary(self) -> dict[str, Any]:
        return {}

    def image(self) -> bytes:
        out = bytearray(self.size or 0)
        for offset, data in self.pages.items():
            out[offset : offset + len(data)] = data
        return bytes(out)
