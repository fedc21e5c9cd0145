"""``status``: what a destination holds of an upload, read without writing anything."""

from __future__ import annotations

import threading

from .destinations.base import Destination, UploadStatus
from .endpoints import package_errors
from .transfer.settings import TransferSettings

__all__ = ["UploadStatus", "status"]


@package_errors("reading the upload status")
def status(destination: Destination, *, settings: TransferSettings | None = None) -> UploadStatus:
    """The state of the upload at ``destination``: how much is there, from which source, and
    whether it is complete (it never writes, and grants no access).

    :param destination: a :class:`vhdupload.PageBlob` or :class:`vhdupload.ManagedDisk`.
    :param settings: of :class:`vhdupload.TransferSettings` only the timeout and retries matter.
    :returns: an :class:`vhdupload.UploadStatus` (``to_dict()`` is what ``status --json`` prints).
    """
    settings = settings or TransferSettings(threads=2)
    session = destination.open(settings=settings, cancel=threading.Event())
    try:
        return session.status()
    finally:
        session.close()
