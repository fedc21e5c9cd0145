"""``upload``: get a disk into any destination, sending only its data, resumable from anywhere.

The steps, in the order that keeps every promise of the command:

1. open the source and lay out the image the destination takes (refusals happen here, before
   anything remote);
2. look at the destination: absent -> create it; ours, same source, complete -> nothing to do;
   ours, same source, unfinished -> resume; anything else -> refuse unless ``overwrite``;
3. hold its writer guard (a lease, a heartbeat) so no second writer mixes in;
4. pump the data pages (see :mod:`vhdupload.engine`), skipping what it already holds;
5. check the source did not change, write the footer page last, then mark it complete with the
   whole image's CRC64 (and make it usable: a managed disk's access is revoked).

On failure nothing is deleted (unless the destination was told to); the error says to run the
same call again. How: :mod:`vhdupload.upload_session`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from os import PathLike

from . import planning
from .allocation import WithoutFreeSpace, without_free_space
from .azure.state import source_identity, stat_token
from .destinations.base import Destination
from .endpoints import open_source, package_errors
from .source_checks import OtherWay
from .transfer import TransferSettings
from .transfer.progress import ProgressCallback
from .upload_result import UploadResult
from .upload_session import RESUME_HINT, UploadRequest, UploadSession
from .virtual_disk import VirtualDisk

__all__ = ["RESUME_HINT", "UploadResult", "upload"]


@package_errors("the upload")
def upload(
    source: "str | PathLike[str]",
    destination: Destination,
    *,
    raw: bool = False,
    resize: bool = True,
    overwrite: bool = False,
    wait: bool = False,
    trust_stat: bool = False,
    skip_free: bool = False,
    settings: TransferSettings | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> UploadResult:
    """Upload the disk at ``source`` to ``destination``, sending only its data; call it again
    with the same arguments to resume after any failure or cancel.

    :param source: a VHD (fixed, dynamic, differencing), a VHDX, or with ``raw`` a raw image.
    :param destination: where it goes: a :class:`vhdupload.PageBlob` or a
        :class:`vhdupload.ManagedDisk`.
    :param raw: ``source`` is a raw disk image (its footer is made on the fly).
    :param resize: round a size that is not a whole MiB (or below a managed disk's 20 MiB) up
        with zeros; False refuses it.
    :param overwrite: replace a destination that holds something else (a finished upload,
        another source, one vhdupload did not make; a managed disk only when unattached); it is
        created afresh.
    :param wait: if another upload is writing to the destination, wait for it (at most
        ``settings.wait_timeout`` seconds) instead of refusing; a lease that never expires (a
        VM's disk) is never waited for.
    :param trust_stat: take a finished upload of this very, unmodified file (size, mtime, inode)
        as done without recomputing its CRC64.
    :param skip_free: send only what the disk's file systems use: their free blocks (deleted
        files' data included), swap past its header and space no partition covers become holes,
        neither read nor sent, and the destination reads zeros there. Volumes whose maps cannot be
        read are sent as they are (``notes`` say which); ``free_bytes_skipped`` says how much.
        False (the default) sends the disk bit for bit. The choice is recorded on the destination:
        :func:`vhdupload.verify` reads it. An unfinished upload made the other way is finished this
        way (what differs is written again); a finished one is done if it holds the very bytes this
        way leaves, else refused unless ``overwrite``.
    :param settings: how the data travels (:class:`vhdupload.TransferSettings`: threads,
        retries, timeout, bandwidth cap in bytes/s, zero-gap merging); its defaults when None.
    :param progress: called with :class:`vhdupload.Progress` snapshots, from worker threads;
        what it raises is ignored.
    :param cancel: set it to stop: :class:`vhdupload.CancelledError` is raised and the
        destination is left for a later call to resume.
    :returns: an :class:`vhdupload.UploadResult` (``to_dict()`` is what ``upload --json``
        prints; a managed disk's ``disk_id`` and ``disk_state`` are set).
    :raises vhdupload.VhdUploadError: only the package's errors; it never prints.
    """
    started = time.monotonic()
    settings = settings or TransferSettings()
    cancel = cancel or threading.Event()
    whole = open_source(source, raw=raw)
    try:
        stats = stat_token(whole.fingerprint_files())  # before any data is read: a change from here on is caught
        disk: VirtualDisk = whole
        free = None
        if skip_free:  # free space becomes holes: never read, never sent, zeros at the destination
            disk, free = without_free_space(whole)
        session = destination.open(settings=settings, cancel=cancel)
        image = session.layout(disk, resize=resize)  # refuses before anything remote happens

        def other_way() -> OtherWay:
            """Only when the destination holds an unfinished upload made the other way."""
            view = disk if isinstance(disk, WithoutFreeSpace) else without_free_space(whole)[0]
            other = whole if skip_free else view
            return OtherWay(image=dataclasses.replace(image, disk=other),
                            differ=planning.RangeSet(view.touched_pages))

        # The source's identity is the file's, however it is sent: a rerun with --skip-free
        # switched is the same source (what differs is settled by the session).
        request = UploadRequest(image=image, identity=source_identity(whole), stats=stats, overwrite=overwrite,
                                wait=wait, trust_stat=trust_stat, skip_free=skip_free, other_way=other_way)
        result = UploadSession(dest=session, request=request, settings=settings, cancel=cancel).run(
            progress=progress, started=started)
        if free is not None:
            result = dataclasses.replace(result, free_bytes_skipped=free.free_bytes, notes=[*result.notes, *free.kept()])
        return result
    finally:
        whole.close()
