"""Source blobs as registration sees them: where a blob URL points, and small ranged reads.

Registration never downloads a disk: it reads a blob's properties and a few sectors (the
footer, the partition table) through a :class:`BlobReader`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobProperties

from ..azure.credentials import is_loopback, parse_destination
from ..azure.error_map import package_error
from ..errors import InputError, PreflightError, VhdUploadError
from ..redact import redact, strip_query

#: Makes a ``BlobClient`` for a blob URL (credentials are the factory's business).
BlobClientFactory = Callable[[str], BlobClient]

__all__ = ["BlobClientFactory", "BlobLocation", "BlobReader", "is_loopback", "parse_blob_url"]


@dataclass(frozen=True)
class BlobLocation:
    """A blob URL taken apart. ``url`` never carries the query (a SAS stays out of bodies)."""

    url: str
    account: str
    container: str
    name: str


def parse_blob_url(url: str) -> BlobLocation:
    """Split ``https://ACCOUNT.blob.../CONTAINER/BLOB`` (or the path-style emulator form)."""
    if "://" not in url:
        raise InputError(f"{redact(url)!r} is not a blob URL: give https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB")
    dest = parse_destination(url)
    return BlobLocation(url=strip_query(url), account=dest.account_name or "", container=dest.container, name=dest.blob)


class BlobReader:
    """Properties and ranged reads of one blob, with storage errors in plain words."""

    def __init__(self, blob_client: BlobClient, *, url: str) -> None:
        self._client = blob_client
        self.url = strip_query(url)
        self._properties: BlobProperties | None = None

    def properties(self) -> BlobProperties:
        if self._properties is None:
            try:
                self._properties = self._client.get_blob_properties()
            except ResourceNotFoundError as exc:
                raise PreflightError(
                    f"{self.url} does not exist: upload it with `vhdupload upload`, or check the URL"
                ) from exc
            except HttpResponseError as exc:
                raise self._unreadable(exc) from exc
            except AzureError as exc:
                raise self._unreadable(exc) from exc
        return self._properties

    @property
    def size(self) -> int:
        return int(self.properties().size)

    def read(self, offset: int, length: int) -> bytes:
        """Exactly the bytes of ``[offset, offset + length)`` clipped to the blob."""
        length = max(0, min(length, self.size - offset))
        if length == 0:
            return b""
        try:
            return self._client.download_blob(offset=offset, length=length).readall()
        except HttpResponseError as exc:
            raise self._unreadable(exc) from exc
        except AzureError as exc:
            raise self._unreadable(exc) from exc

    def _unreadable(self, exc: BaseException) -> VhdUploadError:
        return package_error(exc, side="preflight", url=self.url)
