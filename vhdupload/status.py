"""``upload_status``: what a blob holds of an upload, read from its metadata and page ranges."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any, Unpack

from azure.storage.blob import BlobClient

from . import planning
from .azure.page_blob import PageBlobSink, is_page_blob
from .azure.state import UploadState
from .transfer.settings import TransferSettings
from .endpoints import StorageCredentials, destination_client, package_errors


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
    blob_url: str
    exists: bool
    made_by_vhdupload: bool
    complete: bool
    blob_size: int
    bytes_present: int  # bytes in the blob's written page ranges
    source_name: str | None
    source_type: str | None
    source_size: int | None
    source_uuid: str | None
    crc64: str | None
    lease: str | None  # "leased" while an upload (or a crashed one) holds it
    last_modified: str | None
    source_changed: bool = False  # the source changed mid-upload: only --overwrite continues

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


@package_errors("reading the upload status")
def upload_status(
    destination: str | None = None,
    *,
    blob_client: BlobClient | None = None,
    settings: TransferSettings | None = None,
    **storage: Unpack[StorageCredentials],
) -> UploadStatus:
    """The state of the upload at ``destination``: how much is there, from which source, and
    whether it is complete (it never writes).

    :param destination: the blob URL or ``CONTAINER/NAME``, as for :func:`vhdupload.upload_vhd`.
    :param blob_client: a ready ``BlobClient`` instead of ``destination``.
    :param settings: of :class:`vhdupload.TransferSettings` only the timeout and retries matter.
    :param storage: the credential keywords, as for :func:`vhdupload.upload_vhd`.
    :returns: an ``UploadStatus`` (``to_dict()`` is what ``status --json`` prints).
    """
    settings = settings or TransferSettings()
    client = destination_client(
        destination, blob_client=blob_client, **storage,
        threads=2, timeout=settings.timeout,
    )
    sink = PageBlobSink(client, timeout=settings.timeout, max_retries=settings.max_retries)
    props, _ = sink.properties()
    if props is None:
        return UploadStatus(sink.url, False, False, False, 0, 0, None, None, None, None, None, None, None)
    state = UploadState.from_metadata(props.metadata)
    present = planning.RangeSet(sink.held_ranges(size=props.size)).size() if is_page_blob(props) else props.size
    lease = getattr(props, "lease", None)
    return UploadStatus(
        blob_url=sink.url,
        exists=True,
        made_by_vhdupload=state is not None,
        complete=bool(state and state.complete),
        blob_size=props.size,
        bytes_present=present,
        source_name=state.source.name if state else None,
        source_type=state.source.disk_type if state else None,
        source_size=state.source.virtual_size if state else None,
        source_uuid=canonical_uuid(state.source.uuid) if state else None,
        crc64=state.crc64 if state else None,
        lease=str(getattr(lease, "state", None) or "") or None,
        last_modified=props.last_modified.isoformat() if props.last_modified else None,
        source_changed=bool(state and state.source_changed),
    )
