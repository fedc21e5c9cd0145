"""A managed disk's upload state in its tags, and the heartbeat that keeps a second writer out.

The disk endpoint takes no metadata, so the state lives in the disk resource's tags, changed
with PATCH only (never by PUT of an existing disk). The running upload renews a heartbeat tag
every 20 s (ARM throttles writes: never more often than every 15 s); its age, judged on ARM's
clock, tells a rerun whether the writer is still alive. Untried against real Azure: whether a
tag update is accepted while a disk is ``ActiveUpload``; both answers are handled.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from ..azure.state import KEY_HEARTBEAT, PREFIX, UploadState
from ..errors import ArmError
from .disk_arm import DiskArm, compute_models

log = logging.getLogger("vhdupload.managed_disk")

#: Heartbeat period and the age past which a heartbeat's writer is taken for stopped.
HEARTBEAT_SECONDS = 20
STALE_SECONDS = 60
_MIN_TAG_WRITE_INTERVAL = 15
_TAG_VALUE_MAX = 256


def recorded_state(tags: dict[str, str] | None) -> tuple[UploadState | None, str | None]:
    """The upload state the disk's tags record, or ``(None, problem)`` when vhdupload's tags are
    there but corrupt (anyone with tag rights can edit them): such a disk is taken as foreign,
    never resumed, and ``problem`` says why in one line."""
    state = UploadState.from_metadata(tags)
    if state is None:
        ours = any(k.lower().startswith(PREFIX) for k in (tags or {}))
        return None, ("its vhdupload_* tags are incomplete, or hold values vhdupload never writes" if ours else None)
    if state.footer_uuid:
        try:
            uuid.UUID(hex=state.footer_uuid)
        except ValueError:
            return None, "its tag vhdupload_footer_uuid is not a UUID (edited by hand?)"
    return state, None


class DiskTags:
    """Writes the upload state (and the heartbeat) into the disk's tags, beside the user's."""

    def __init__(self, arm: DiskArm, *, user_tags: dict[str, str], uploading: Callable[[], bool],
                 notes: list[str]) -> None:
        self.arm = arm
        self.user_tags = dict(user_tags)
        self.refused = False  # ARM would not update tags while the disk is ActiveUpload
        self._uploading = uploading
        self._notes = notes
        self._lock = threading.Lock()
        self._last_write = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state: Callable[[], UploadState | None] = lambda: None
        #: vhdupload's tags beside the state's (the guest check's verdict), written with it.
        self.extra: dict[str, str] = {}

    def learn_existing(self, tags: dict[str, str], spec_tags: dict[str, str]) -> None:
        """Keep the user tags the disk already has (ours are rewritten), the given ones over them."""
        self.user_tags = {k: v for k, v in tags.items() if not k.lower().startswith(PREFIX)} | dict(spec_tags)

    def wrote_now(self) -> None:
        self._last_write = time.monotonic()

    def tags_for(self, state: UploadState, *, heartbeat: bool) -> dict[str, str]:
        meta = state.to_metadata()
        meta.pop(KEY_HEARTBEAT, None)
        if heartbeat:
            meta[KEY_HEARTBEAT] = str(int(self.arm.clock.now()))
        tags = dict(self.user_tags)
        meta.update(self.extra)
        tags.update({k: v[:_TAG_VALUE_MAX] for k, v in meta.items() if k.lower().startswith(PREFIX)})
        return tags

    def write(self, state: UploadState, *, heartbeat: bool, once: bool = False) -> None:
        with self._lock:
            if self.refused and self._uploading():
                return
            update = compute_models().DiskUpdate(tags=self.tags_for(state, heartbeat=heartbeat))
            try:
                self.arm.update(update, once=once,
                                action=f"record the upload's state in the tags of the managed disk {self.arm.name}")
            except ArmError as exc:
                if exc.status != 409 or not self._uploading():
                    raise
                self.refused = True
                self._notes.append(
                    "Azure did not update the disk's tags while it was uploading: no heartbeat kept a second "
                    "writer out, and the complete mark was written after the upload"
                )
                log.warning("tags cannot change while %s is ActiveUpload (%s); going on without them", self.arm.name, exc)
            self._last_write = time.monotonic()

    def start_heartbeat(self, state: Callable[[], UploadState | None]) -> None:
        self._state = state
        self._thread = threading.Thread(target=self._loop, name="vhdupload-heartbeat", daemon=True)
        self._thread.start()

    def stop_heartbeat(self) -> bool:
        """Stop renewing; True when a heartbeat was running."""
        self._stop.set()
        running = self._thread is not None
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        return running

    def _loop(self) -> None:
        while not self._stop.wait(max(0.0, self._last_write + HEARTBEAT_SECONDS - time.monotonic())):
            state = self._state()
            if state is None or time.monotonic() - self._last_write < _MIN_TAG_WRITE_INTERVAL:
                continue
            try:
                self.write(state, heartbeat=True)
            except Exception as exc:  # noqa: BLE001 - a transient ARM failure: try again soon
                log.warning("could not renew the heartbeat of %s: %s", self.arm.name, exc)
                self._last_write = time.monotonic() - HEARTBEAT_SECONDS + 5
