"""The page-blob sink: the few Azure Storage calls an upload makes, with errors translated.

Put Page carries the CRC64 computed by the engine (``x-ms-content-crc64``), which the service
checks; it is a single attempt here, since the engine retries it (re-reading the data after a
``Crc64Mismatch``). The other calls (properties, creation, page ranges, metadata, the lease)
are retried here with the same policy, since the SDK's own retries are off: a transient 500
on the final metadata write must not fail a finished upload. Every retry is counted in
:attr:`PageBlobSink.retries`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypedDict, TypeVar

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, ContentSettings

from ..errors import StorageError, VhdUploadError
from ..redact import strip_query
from ..transfer import RetryPolicy
from ..transfer.settings import DEFAULT_MAX_RETRIES
from .direct_put import DirectPageWriter
from .error_map import translate
from .errors import classify, describe, error_code

log = logging.getLogger("vhdupload.storage")
T = TypeVar("T")

#: Get Page Ranges is asked window by window: a heavily fragmented giant blob answered in one
#: call can time out on the service.
RANGE_WINDOW = 1 << 36  # 64 GiB


class _Timeout(TypedDict, total=False):
    """The ``timeout`` keyword of every SDK call: present only when a timeout was given."""

    timeout: int


def is_page_blob(props: Any) -> bool:
    """Whether blob properties describe a page blob (the SDK gives an enum or a string)."""
    return str(getattr(props, "blob_type", "") or "").lower().endswith("pageblob")


class PageBlobSink:
    def __init__(
        self,
        client: BlobClient,
        *,
        timeout: float | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        cancel: threading.Event | None = None,
        disk_credential: Any = None,
    ) -> None:
        self.client = client
        self.url = strip_query(client.url)
        self._timeout: _Timeout = {"timeout": int(timeout)} if timeout else {}
        self.retries = 0  # retried control calls (Put Page retries are the engine's to count)
        self._retries_lock = threading.Lock()
        self._policy = RetryPolicy(
            max_retries=max_retries, cancel=cancel or threading.Event(), on_retry=self._count_retry,
            cancel_message="cancelled; run the same command again to resume", always_try_once=True,
        )
        self.container_missing = True  # until properties() learns otherwise
        self._container_refusal: str | None = None  # why creating the container was refused
        # The hot path: Put Page without the SDK's per-request pipeline (see direct_put).
        self._direct = (
            None if os.environ.get("VHDUPLOAD_SDK_PUT") and disk_credential is None
            else DirectPageWriter.for_client(client, timeout=timeout, disk_credential=disk_credential)
        )
        if disk_credential is not None and self._direct is None:
            raise StorageError(
                f"{self.url} wants an Entra ID token beside its SAS, which this connection cannot add "
                "(a proxy or client certificate is configured); upload from a machine without them"
            )

    def _count_retry(self, _exc: BaseException) -> None:
        with self._retries_lock:
            self.retries += 1

    def call(self, operation: Callable[[], T], *, what: str) -> T:
        """``operation()`` retried on transient failures (5xx, 408/429, timeouts, resets);
        anything else (and the last failure) is raised as the SDK raised it."""

        def attempt(_number: int) -> T:
            try:
                return operation()
            except Exception as exc:
                retry = classify(exc)
                if retry is None:
                    raise
                log.warning("retrying %s: %s", what, retry)
                raise retry from exc

        return self._policy.call(attempt, what=what)

    # -- properties and creation ------------------------------------------------------
    def properties(self) -> tuple[Any | None, float | None]:
        """``(BlobProperties or None if absent, the server's clock in Unix seconds)``."""
        seen: dict[str, str] = {}

        def hook(response: Any) -> None:
            seen["date"] = response.http_response.headers.get("Date", "")

        try:
            props = self.call(lambda: self.client.get_blob_properties(raw_response_hook=hook, **self._timeout),
                              what=f"reading the properties of {self.url}")
        except ResourceNotFoundError as exc:
            self.container_missing = error_code(exc) != "BlobNotFound"  # unknown: maybe
            return None, _parse_http_date(seen.get("date"))
        except HttpResponseError as exc:
            raise translate(exc, action=f"reading the properties of {self.url}") from None
        except VhdUploadError:
            raise  # retries spent, or cancelled
        except Exception as exc:  # credential failures surface here first
            raise translate(exc, action=f"reading the properties of {self.url}") from None
        return props, _parse_http_date(seen.get("date"))

    def ensure_container(self) -> None:
        """Create the container if it is missing; a SAS that may not create it is fine when
        it exists (a refused creation is then left for the blob's creation to report)."""
        if not self.container_missing:
            return
        # The SDK's own helper shares the blob client's pipeline, credential and SAS.
        container = self.client._get_container_client()
        try:
            self.call(lambda: container.create_container(**self._timeout), what=f"creating the container of {self.url}")
        except ResourceExistsError:
            return
        except HttpResponseError as exc:
            if exc.status_code == 403:
                self._container_refusal = describe(exc)
                return  # may exist; if not, creating the blob says so
            raise translate(exc, action=f"creating the container of {self.url}") from None

    def create(self, *, size: int, metadata: dict[str, str], replace: bool, lease: Any = None) -> None:
        """Create the page blob afresh (``replace`` lets it replace an existing blob, which
        clears every old page)."""
        kwargs: dict[str, Any] = dict(self._timeout)
        if not replace:
            kwargs["if_none_match"] = "*"
        if lease is not None:
            kwargs["lease"] = lease
        try:
            self.call(lambda: self.client.create_page_blob(size, metadata=metadata, **kwargs), what=f"creating {self.url}")
        except ResourceExistsError:
            raise
        except HttpResponseError as exc:
            if error_code(exc) in ("BlobAlreadyExists", "ConditionNotMet"):
                raise ResourceExistsError(message=str(exc)) from None
            if error_code(exc) == "ContainerNotFound" and self._container_refusal:
                container = self.url.rsplit("/", 2)[-2]
                raise StorageError(
                    f"the container {container!r} of {self.url} does not exist and this credential may not "
                    f"create it ({self._container_refusal}): create the container first, or use a credential "
                    "that may (a key, a connection string, or an account SAS with the container resource type)"
                ) from None
            raise translate(exc, action=f"creating {self.url}") from None

    # -- pages -------------------------------------------------------------------------
    def put_page(self, data: bytes, *, offset: int, crc64_bytes: bytes | None, lease: Any) -> None:
        """One Put Page (without ``x-ms-content-crc64`` when ``crc64_bytes`` is None); raises
        the SDK's error (the engine classifies it)."""
        if self._direct is not None:
            self._direct.put_page(data, offset=offset, crc64_bytes=crc64_bytes, lease_id=getattr(lease, "id", lease))
            return
        if crc64_bytes is None:
            self.client.upload_page(data, offset=offset, length=len(data), lease=lease, **self._timeout)
        else:
            self.client.upload_page(data, offset=offset, length=len(data), transactional_content_crc64=crc64_bytes,
                                    lease=lease, **self._timeout)

    def held_ranges(self, *, size: int) -> Iterator[tuple[int, int]]:
        """Half-open ranges the blob holds, window by window."""
        for window in range(0, size, RANGE_WINDOW):
            length = min(RANGE_WINDOW, size - window)
            try:
                pages = self.call(
                    lambda: list(self.client.list_page_ranges(offset=window, length=length, **self._timeout)),
                    what=f"listing the pages of {self.url}",
                )
            except HttpResponseError as exc:
                if exc.status_code in (403, 405, 501):
                    raise PageRangesRefusedError(translate(exc, action=f"listing the pages of {self.url}").args[0]) from None
                raise translate(exc, action=f"listing the pages of {self.url}") from None
            for page in pages:
                # The service always sends both ends; the SDK's model merely allows None.
                if not getattr(page, "cleared", False) and page.start is not None and page.end is not None:
                    yield page.start, page.end + 1

    def download(self, offset: int, length: int) -> bytes:
        try:
            return self.call(
                lambda: self.client.download_blob(offset=offset, length=length, max_concurrency=1, **self._timeout).readall(),
                what=f"reading {length} bytes at offset {offset} of {self.url}",
            )
        except Exception as exc:
            raise translate(exc, action=f"reading {length} bytes at offset {offset} of {self.url}") from None

    # -- finishing ---------------------------------------------------------------------
    def set_metadata(self, metadata: dict[str, str], *, lease: Any = None, once: bool = False) -> None:
        """Set the blob's metadata (``once``: a single try, for best-effort notes)."""
        def write() -> None:
            self.client.set_blob_metadata(metadata, lease=lease, **self._timeout)

        try:
            if once:
                write()
            else:
                self.call(write, what=f"writing the metadata of {self.url}")
        except HttpResponseError as exc:
            raise translate(exc, action=f"writing the metadata of {self.url}") from None

    def delete(self) -> None:
        """Delete the blob; one that is already gone is fine."""
        self.call(lambda: _delete_if_there(self.client), what="delete the blob")

    def set_content_md5(self, md5: bytes, *, lease: Any = None) -> None:
        def set_it() -> None:
            props = self.client.get_blob_properties(lease=lease, **self._timeout)
            settings = props.content_settings or ContentSettings()
            settings.content_md5 = bytearray(md5)
            self.client.set_http_headers(settings, lease=lease, **self._timeout)

        try:
            self.call(set_it, what=f"setting Content-MD5 on {self.url}")
        except HttpResponseError as exc:
            raise translate(exc, action=f"setting Content-MD5 on {self.url}") from None


def _delete_if_there(client: BlobClient) -> None:
    try:
        client.delete_blob()
    except ResourceNotFoundError:
        pass


class PageRangesRefusedError(StorageError):
    """The endpoint does not answer Get Page Ranges (a managed disk's may not): a resume then
    cannot know what is there and sends everything."""


def _parse_http_date(value: str | None) -> float | None:
    if not value:
        return None
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


__all__ = ["PageBlobSink", "PageRangesRefusedError", "StorageError", "RANGE_WINDOW"]
