"""A page blob as the destination: state in its metadata, a 60 s lease as writer guard."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import ResourceExistsError

from ..azure.lease import MAX_LEASE_SECONDS, LeaseKeeper
from ..azure.page_blob import PageBlobSink, is_page_blob
from ..azure.state import UploadState
from ..planning import STANDARD_PAGE_BLOB
from ..upload_decision import Existing


#: How often the resume watermark is written to the blob's metadata while data flows.
_PROGRESS_SECONDS = 2.0


class PageBlobDestination:
    def __init__(self, sink: PageBlobSink, *, lease_seconds: int = MAX_LEASE_SECONDS) -> None:
        self.sink = sink
        self.url = sink.url
        self.notes: list[str] = []
        self.limits = STANDARD_PAGE_BLOB  # what one page blob takes: sizes the zero-gap merging
        self._state: UploadState | None = None
        self._last_save = 0.0
        self.keeper = LeaseKeeper(sink, duration=lease_seconds, metadata=self._metadata)

    @property
    def lease_seconds(self) -> int:
        return self.keeper.duration

    def _metadata(self) -> dict[str, str]:
        assert self._state is not None
        return self._state.to_metadata()

    @property
    def retries(self) -> int:
        return self.sink.retries

    @property
    def lost(self) -> BaseException | None:
        return self.keeper.lost

    @property
    def can_read_back(self) -> bool:
        return True

    def look(self) -> Existing:
        props, _ = self.sink.properties()
        if props is None:
            return Existing(exists=False)
        return Existing(
            exists=True,
            state=UploadState.from_metadata(props.metadata),
            writable=is_page_blob(props),
            foreign="a blob that vhdupload did not make",
        )

    def create(self, *, size: int, state: UploadState) -> bool:
        self.sink.ensure_container()
        self._state = state
        try:
            self.sink.create(size=size, metadata=state.to_metadata(), replace=False)
        except ResourceExistsError:
            return False
        self.keeper.acquire(wait=False)
        return True

    def claim(self, *, wait: bool, cancel: threading.Event, wait_timeout: float) -> None:
        self.keeper.acquire(wait=wait, cancel=cancel, wait_timeout=wait_timeout)

    def release(self) -> None:
        self.keeper.stop(release=True)

    def replace(self, *, size: int, state: UploadState) -> None:
        self._state = state
        self.sink.create(size=size, metadata=state.to_metadata(), replace=True, lease=self.keeper.lease)

    def open_for_writing(self, *, state: Callable[[], UploadState | None], seconds_hint: float) -> None:
        self._state = state()
        self.keeper.start()

    def held_ranges(self, *, size: int) -> list[tuple[int, int]] | None:
        return list(self.sink.held_ranges(size=size))

    def put_page(self, data: bytes, *, offset: int, crc: bytes) -> None:
        if self.keeper.lost is not None:
            raise self.keeper.lost
        self.sink.put_page(data, offset=offset, crc64_bytes=crc, lease=self.keeper.lease)

    def read(self, offset: int, length: int) -> bytes:
        return self.sink.download(offset, length)

    def save_state(self, state: UploadState, *, once: bool = False) -> None:
        self._state = state
        self.keeper.write_metadata(state.to_metadata(), once=once)
        self._last_save = time.monotonic()

    def record_progress(self, state: UploadState) -> None:
        # One Set Metadata every few seconds: a crash then re-sends at most that much.
        if time.monotonic() - self._last_save >= _PROGRESS_SECONDS:
            self.save_state(state)

    def confirm_complete(self, state: UploadState) -> None:
        pass  # a finished page blob needs nothing more

    def finish(self, state: UploadState, *, md5: bytes | None) -> None:
        self.save_state(state)
        if md5 is not None:
            self.sink.set_content_md5(md5, lease=self.keeper.lease)

    def failure_note(self, *, cancelled: bool) -> str:
        return ""

    def close(self) -> None:
        self.keeper.stop(release=True)

    def summary(self) -> dict[str, Any]:
        return {}
