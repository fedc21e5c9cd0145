"""A Linux swap area: its first page (the header with signature, UUID, label and the bad-page
list) is kept; the pages after it, up to the header's last page, hold only what a running
system swapped out, which no later boot reads. An area a hibernated system wrote (another
signature than ``SWAPSPACE2``) is kept whole.
"""

from __future__ import annotations

import struct

from .bitmap import Range, ReadAt, Unreadable, read_exact

_PAGE_SIZES = (4096, 8192, 16384, 65536)


def swap_free(read: ReadAt, size: int) -> list[Range]:
    for page in _PAGE_SIZES:
        if page > size:
            break
        if read(page - 10, 10) == b"SWAPSPACE2":
            version, last_page = struct.unpack_from("<II", read_exact(read, 1024, 8, what="swap header"), 0)
            if version != 1:
                raise Unreadable(f"its swap header version {version} is not known")
            stop = min(size - size % page, (last_page + 1) * page)
            return [(page, stop)] if stop > page else []
    raise Unreadable("no swap signature (a hibernation image, or not swap)")
