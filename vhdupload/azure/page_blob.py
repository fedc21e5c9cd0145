"""The page-blob sink: the few Azure Storage calls an upload makes, with errors translated.

Put Page carries the CRC64 computed by the engine (``x-ms-content-crc64``), which the service
checks; the engine owns retries, so every call here is a single attempt.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, ContentSettings

from ..errors import StorageError
from ..redact import strip_query
from .direct_put import DirectPageWriter
from .errors import classify, error_code, translate

#: Get Page Ranges is asked window by window: a heavily fragmented giant blob answered in one
#: call can time out on the service.
RANGE_WINDOW = 1 << 36  # 64 GiB


class PageBlobSink:
    def __init__(self, client: BlobClient, *, timeout: float | None = None) -> None:
        self.client = client
        self.url = strip_query(client.url)
        self._timeout = {"timeout": int(timeout)} if timeout else {}
        self.container_missing = True  # until properties() learns otherwise
        # The hot path: Put Page without the SDK's per-request pipeline (see direct_put).
        self._direct = None if os.environ.get("VHDUPLOAD_SDK_PUT") else DirectPageWriter.for_client(client, timeout=timeout)

    # -- properties and creation ------------------------------------------------------
    def properties(self) -> tuple[Any | None, float | None]:
        """``(BlobProperties or None if absent, the server's clock in Unix seconds)``."""
        seen: dict[str, str] = {}

        def hook(response: Any) -> None:
            seen["date"] = response.http_response.headers.get("Date", "")

        try:
            props = self.client.get_blob_properties(raw_response_hook=hook, **self._timeout)
        except ResourceNotFoundError as exc:
            self.container_missing = error_code(exc) != "BlobNotFound"  # unknown: maybe
            return None, _parse_http_date(seen.get("date"))
        except HttpResponseError as exc:
            raise translate(exc, action=f"reading the properties of {self.url}") from None
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
            container.create_container(**self._timeout)
        except ResourceExistsError:
            return
        except HttpResponseError as exc:
            if exc.status_code == 403:
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
            self.client.create_page_blob(size, metadata=metadata, **kwargs)
        except ResourceExistsError:
            raise
        except HttpResponseError as exc:
            if error_code(exc) in ("BlobAlreadyExists", "ConditionNotMet"):
                raise ResourceExistsError(message=str(exc)) from None
            raise translate(exc, action=f"creating {self.url}") from None

    # -- pages -------------------------------------------------------------------------
    def put_page(self, data: bytes, *, offset: int, crc64_bytes: bytes, lease: Any) -> None:
        """One Put Page; raises the SDK's error (the engine classifies it)."""
        if self._direct is not None:
            self._direct.put_page(data, offset=offset, crc64_bytes=crc64_bytes, lease_id=getattr(lease, "id", lease))
            return
        self.client.upload_page(
            data,
            offset=offset,
            length=len(data),
            transactional_content_crc64=crc64_bytes,
            lease=lease,
            **self._timeout,
        )

    def held_ranges(self, *, size: int) -> Iterator[tuple[int, int]]:
        """Half-open ranges the blob holds, window by window."""
        for window in range(0, size, RANGE_WINDOW):
            length = min(RANGE_WINDOW, size - window)
            try:
                pages = self.client.list_page_ranges(offset=window, length=length, **self._timeout)
                for page in pages:
                    if not getattr(page, "cleared", False):
                        yield page.start, page.end + 1
            except HttpResponseError as exc:
                raise translate(exc, action=f"listing the pages of {self.url}") from None

    def download(self, offset: int, length: int) -> bytes:
        try:
            return self.client.download_blob(offset=offset, length=length, max_concurrency=1, **self._timeout).readall()
        except Exception as exc:
            raise translate(exc, action=f"reading {length} bytes at offset {offset} of {self.url}") from None

    # -- finishing ---------------------------------------------------------------------
    def set_metadata(self, metadata: dict[str, str], *, lease: Any = None) -> None:
        try:
            self.client.set_blob_metadata(metadata, lease=lease, **self._timeout)
        except HttpResponseError as exc:
            raise translate(exc, action=f"writing the metadata of {self.url}") from None

    def set_content_md5(self, md5: bytes, *, lease: Any = None) -> None:
        try:
            props = self.client.get_blob_properties(lease=lease, **self._timeout)
            settings = props.content_settings or ContentSettings()
            settings.content_md5 = bytearray(md5)
            self.client.set_http_headers(settings, lease=lease, **self._timeout)
        except HttpResponseError as exc:
            raise translate(exc, action=f"setting Content-MD5 on {self.url}") from None


def retryable(exc: BaseException):
    """Re-exported for the engine: a Retryable for a transient failure, else None."""
    return classify(exc)


def _parse_http_date(value: str | None) -> float | None:
    if not value:
        return None
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


__all__ = ["PageBlobSink", "StorageError", "RANGE_WINDOW"]
