"""A finished managed disk read back (verify, with a read grant the session revokes when it
closes), and what a disk's state and tags say of an upload (status, with no grant at all)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InputError, StorageError
from .base import Readback, UploadStatus
from .disk_arm import UPLOADABLE
from .disk_tags import STALE_SECONDS, recorded_state
from .page_blob import SinkReadback

if TYPE_CHECKING:
    from .disk_session import ManagedDiskSession

#: How long a read grant for verify lasts (it is revoked as soon as verify ends).
READ_GRANT_SECONDS = 3600


def open_disk_for_reading(session: ManagedDiskSession) -> Readback:
    """The finished disk, readable through a read grant (ended by the session's close)."""
    disk = session.arm.get()
    if disk is None:
        raise StorageError(f"{session.url} does not exist: nothing to verify")
    if session.arm.state != "Unattached":
        what = ("an upload to it is not finished: run the upload again to finish it"
                if session.arm.state in UPLOADABLE else "only an unattached disk can be read (detach it first)")
        raise StorageError(f"{session.url} is {session.arm.state}: {what}")
    mode = getattr(disk, "data_access_auth_mode", None)
    entra_only = mode is not None and str(getattr(mode, "value", mode)).lower() == "azureactivedirectory"
    if entra_only and session.spec.arm.credential is None:
        raise InputError(f"{session.url} allows data access with an Entra ID token only: give a credential")
    sink = session.sink_for(session.grant("Read", READ_GRANT_SECONDS), entra_only=entra_only)
    props, _ = sink.properties()
    if props is None:
        raise StorageError(f"{session.url}: its read access URL answers that there is no disk behind it")
    return SinkReadback(sink, size=props.size, state=recorded_state(dict(disk.tags or {}))[0])

def disk_status(session: ManagedDiskSession) -> UploadStatus:
    """What the disk and its tags say of an upload (no access is granted to read it)."""
    disk = session.arm.get()
    if disk is None:
        return UploadStatus(url=session.url, exists=False)
    state = recorded_state(dict(disk.tags or {}))[0]
    age = round(session.arm.clock.now() - state.heartbeat, 1) if state and state.heartbeat else None
    writer = None
    if state is not None and age is not None and not state.complete and session.arm.state == "ActiveUpload":
        writer = f"heartbeat {age:.0f} s ago" + (" (an upload is running)" if age < STALE_SECONDS else "")
    size = getattr(getattr(disk, "creation_data", None), "upload_size_bytes", None) or 0
    return UploadStatus.recorded(session.url, state, size=size, writer=writer, disk_id=getattr(disk, "id", None),
                                 disk_state=session.arm.state)

