"""A page blob as the destination: state in its metadata, a 60 s lease as writer guard."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobClient

from ..azure.credentials import client_options, resolve_blob_client
from ..azure.lease import MAX_LEASE_SECONDS, LeaseKeeper
from ..azure.page_blob import PageBlobSink, is_page_blob
from ..azure.state import UploadState
from ..blob_image import BlobImage, blob_image
from ..errors import InputError, StorageError
from ..keywords import refuse_unknown_keywords
from ..planning import STANDARD_PAGE_BLOB, DestinationLimits, RangeSet
from ..redact import strip_query
from ..transfer.settings import TransferSettings
from ..upload_decision import Existing
from ..virtual_disk import VirtualDisk
from .base import UploadStatus

#: How often the resume watermark is written to the blob's metadata while data flows.
_PROGRESS_SECONDS = 2.0

#: Builds the ``BlobClient`` for an operation from the SDK's client options (pool, timeout).
ClientFactory = Callable[[dict[str, Any]], BlobClient]


def page_blob_image(disk: VirtualDisk, *, resize: bool, state: UploadState | None = None) -> BlobImage:
    """The image a page blob takes for ``disk`` (a raw disk's footer pinned to ``state``'s)."""
    if state is None or disk.footer is not None:
        return blob_image(disk, resize=resize)
    return blob_image(disk, resize=resize, footer_uuid=state.footer_uuid_value, footer_timestamp=state.footer_timestamp)


@refuse_unknown_keywords
class PageBlob:
    """A page blob in a storage account: the destination of an upload to blob storage.

    :param url: the blob's URL (a SAS in its query allowed: then no ``credential`` is needed).
    :param credential: what the storage SDK takes: an Entra ID ``TokenCredential``, an
        ``AzureNamedKeyCredential`` (account key) or a SAS token string. None: a SAS in the URL,
        else the environment as ``az storage`` reads it (``AZURE_STORAGE_CONNECTION_STRING``,
        ``AZURE_STORAGE_KEY``, ``AZURE_STORAGE_SAS_TOKEN``), else ``DefaultAzureCredential``.
    :param lease_seconds: the blob lease's length while uploading, 15..60 seconds (a crashed
        upload's lease blocks a rerun at most that long).
    :param content_md5: on upload, also compute the whole blob's MD5 and set its Content-MD5,
        as Add-AzVhd does (costs CPU in proportion to the virtual size).
    """

    def __init__(self, url: str, *, credential: Any = None, lease_seconds: int = MAX_LEASE_SECONDS,
                 content_md5: bool = False) -> None:
        if not url:
            raise InputError("a page blob needs a URL (or CONTAINER/NAME with from_connection_string)")
        if not 15 <= lease_seconds <= MAX_LEASE_SECONDS:
            raise InputError(f"lease_seconds must be 15..{MAX_LEASE_SECONDS}, got {lease_seconds}")
        self.url = url
        self.credential = credential
        self.lease_seconds = lease_seconds
        self.content_md5 = content_md5
        self._factory: ClientFactory = self._from_url

    @classmethod
    def from_connection_string(cls, conn_str: str, container: str, blob: str, *,
                               lease_seconds: int = MAX_LEASE_SECONDS, content_md5: bool = False) -> "PageBlob":
        """The blob ``blob`` in ``container`` of the account a connection string names.

        :param conn_str: the storage account's connection string (``AccountKey`` or
            ``SharedAccessSignature``; ``BlobEndpoint`` for an emulator).
        :param container: the container (created on upload when missing).
        :param blob: the blob's name.
        :param lease_seconds: as for :class:`PageBlob`.
        :param content_md5: as for :class:`PageBlob`.
        """
        return cls.from_client_factory(
            lambda options: resolve_blob_client(f"{container}/{blob}", connection_string=conn_str, **options),
            name=f"{container}/{blob}", lease_seconds=lease_seconds, content_md5=content_md5,
        )

    @classmethod
    def from_client(cls, client: BlobClient, *, lease_seconds: int = MAX_LEASE_SECONDS,
                    content_md5: bool = False) -> "PageBlob":
        """A ready ``azure.storage.blob.BlobClient`` (its own pool and retry options are kept:
        give it ``retry_total=0`` and a pool as large as the threads, as
        :func:`vhdupload.client_options` does)."""
        return cls.from_client_factory(lambda _options: client, name=client.url, lease_seconds=lease_seconds,
                                       content_md5=content_md5)

    @classmethod
    def from_client_factory(cls, factory: ClientFactory, *, name: str, lease_seconds: int = MAX_LEASE_SECONDS,
                            content_md5: bool = False) -> "PageBlob":
        """A blob whose ``BlobClient`` ``factory`` builds from the SDK's client options (the CLI's
        way: its credential options resolved as ``az storage`` resolves them)."""
        blob = cls(name, lease_seconds=lease_seconds, content_md5=content_md5)
        blob._factory = factory
        return blob

    def describe(self) -> str:
        return strip_query(self.url)

    def __repr__(self) -> str:  # never the SAS or the credential
        return f"PageBlob({self.describe()!r})"

    def client(self, *, threads: int, timeout: float | None) -> BlobClient:
        """A ``BlobClient`` with a pool of ``threads`` connections and the SDK's retries off
        (the package retries each call itself)."""
        return self._factory(client_options(threads=threads, timeout=timeout))

    def open(self, *, settings: TransferSettings, cancel: threading.Event) -> "PageBlobSession":
        sink = PageBlobSink(self.client(threads=settings.pool_threads, timeout=settings.timeout),
                            timeout=settings.timeout, max_retries=settings.max_retries, cancel=cancel)
        return PageBlobSession(sink, lease_seconds=self.lease_seconds, content_md5=self.content_md5)

    def _from_url(self, options: dict[str, Any]) -> BlobClient:
        # One way for every credential, so that every URL gets the same checks (plain http only
        # to loopback, no token over http).
        credential = self.credential
        sas = credential if isinstance(credential, str) else None
        return resolve_blob_client(self.url, credential=None if sas else credential, sas_token=sas, **options)


class SinkReadback:
    """A finished destination read through a page-blob sink (a blob's, or a disk's read grant)."""

    def __init__(self, sink: PageBlobSink, *, size: int, state: UploadState | None) -> None:
        self.url = sink.url
        self.size = size
        self.state = state
        self._sink = sink

    def held_ranges(self, *, size: int) -> list[tuple[int, int]]:
        return list(self._sink.held_ranges(size=size))

    def read(self, offset: int, length: int) -> bytes:
        return self._sink.download(offset, length)


class PageBlobSession:
    """One operation on a page blob (see :class:`vhdupload.destinations.DestinationSession`)."""

    def __init__(self, sink: PageBlobSink, *, lease_seconds: int = MAX_LEASE_SECONDS, content_md5: bool = False) -> None:
        self.sink = sink
        self.url = sink.url
        self.notes: list[str] = []
        self.wants_md5 = content_md5
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

    @property
    def limits(self) -> DestinationLimits:
        return STANDARD_PAGE_BLOB

    def layout(self, disk: VirtualDisk, *, resize: bool, state: UploadState | None = None) -> BlobImage:
        return page_blob_image(disk, resize=resize, state=state)

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

    def open_for_reading(self) -> SinkReadback:
        props, _ = self.sink.properties()
        if props is None:
            raise StorageError(f"{self.url} does not exist: nothing to verify")
        return SinkReadback(self.sink, size=props.size, state=UploadState.from_metadata(props.metadata))

    def status(self) -> UploadStatus:
        props, _ = self.sink.properties()
        if props is None:
            return UploadStatus(url=self.url, exists=False)
        state = UploadState.from_metadata(props.metadata)
        present = RangeSet(list(self.sink.held_ranges(size=props.size))).size() if is_page_blob(props) else props.size
        lease = str(getattr(getattr(props, "lease", None), "state", None) or "") or None
        return UploadStatus.recorded(
            self.url, state, size=props.size, bytes_present=present,
            writer="an upload holds the blob's lease (it is running, or crashed less than a minute ago)"
            if lease == "leased" else None,
            last_modified=props.last_modified.isoformat() if props.last_modified else None,
        )

    def delete(self) -> None:
        self.sink.delete()

    def close(self, *, failed: bool = False, cancelled: bool = False) -> str:
        self.keeper.stop(release=True)
        return ""

    def summary(self) -> dict[str, Any]:
        return {}
