"""The CRC64 of a prefix of the blob a source makes, computed locally at local-disk speed.

An upload records on its destination a watermark *W* and the CRC64 of the destination's bytes
over ``[0, W)``; a rerun recomputes that CRC from the local source and resumes only when they
agree, so a source that was replaced or edited since (whatever its stat says) is never resumed
into a mix. Only the source's data extents are read; zeros between them are composed.
"""

from __future__ import annotations

import threading

from . import crc64, planning
from .blob_image import BlobImage
from .errors import CancelledError


def prefix_crc(image: BlobImage, stop: int, *, cancel: threading.Event | None = None) -> int:
    """CRC64 of the blob's bytes ``[0, stop)`` (``stop`` at most the data region's end)."""
    stop = min(stop, image.data_size)
    crc = crc64.EMPTY
    position = 0
    for start, end in image.extents():
        if start >= stop:
            break
        end = min(end, stop)
        crc = crc64.append_zeros(crc, start - position)
        for offset in range(start, end, planning.CHUNK):
            if cancel is not None and cancel.is_set():
                raise CancelledError("cancelled while checking the source; run the same command again")
            crc = crc64.compute(image.read(offset, min(planning.CHUNK, end - offset)), crc)
        position = end
    return crc64.append_zeros(crc, stop - position)


def whole_crc(image: BlobImage, *, cancel: threading.Event | None = None) -> int:
    """CRC64 of the whole blob: the data region, then the footer."""
    return crc64.combine(prefix_crc(image, image.data_size, cancel=cancel), crc64.compute(image.footer), len(image.footer))
