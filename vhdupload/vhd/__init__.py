"""The VHD format: footers, dynamic headers, BATs, bitmaps, parent chains, and the disks that
show a fixed, dynamic or differencing VHD as the flat :class:`vhdupload.virtual_disk.VirtualDisk`.

VHD only: it knows nothing of other formats (the factory :func:`vhdupload.open_disk` picks the
reader), of guests, of Azure's rules, HTTP or threads (reads are thread-safe ``pread``s). The
footer builder (:func:`make_fixed_footer`) is also what the fixed-VHD blob view writes.
"""

from __future__ import annotations

from .dynamic import DifferencingDisk, DynamicDisk
from .fixed import FixedDisk
from .footer import FOOTER_SIZE, Footer, make_fixed_footer
from .geometry import Geometry, chs_for_size
from .open import open_vhd

__all__ = [
    "open_vhd",
    "FixedDisk",
    "DynamicDisk",
    "DifferencingDisk",
    "Footer",
    "FOOTER_SIZE",
    "make_fixed_footer",
    "Geometry",
    "chs_for_size",
]
