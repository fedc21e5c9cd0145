"""The VHD format layer: footers, dynamic headers, BATs, bitmaps, parent chains, and a
``VirtualDisk`` view that makes any VHD (or a raw image) look like one flat disk.

It knows nothing of HTTP, Azure Storage or threads (reads are thread-safe ``pread``s).
"""

from __future__ import annotations

from .convert import ConvertResult, convert_image
from .disk import VirtualDisk
from .dynamic import DifferencingDisk, DynamicDisk
from .flat import FixedDisk, RawDisk
from .footer import Footer, make_fixed_footer
from .geometry import Geometry, chs_for_size
from .inspect import DiskReport, inspect_disk
from .limits import (
    MANAGED_DISK_MAX_UPLOAD_SIZE,
    MANAGED_DISK_MIN_UPLOAD_SIZE,
    MIB,
    OS_DISK_MAX_VIRTUAL_SIZE,
    PAGE_BLOB_MAX_SIZE,
    PAGE_BLOB_MAX_VIRTUAL_SIZE,
    Readiness,
    azure_readiness,
    round_up_to_mib,
)
from .open import open_disk

__all__ = [
    "open_disk",
    "VirtualDisk",
    "FixedDisk",
    "RawDisk",
    "DynamicDisk",
    "DifferencingDisk",
    "inspect_disk",
    "DiskReport",
    "convert_image",
    "ConvertResult",
    "Footer",
    "make_fixed_footer",
    "Geometry",
    "chs_for_size",
    "Readiness",
    "azure_readiness",
    "MIB",
    "PAGE_BLOB_MAX_SIZE",
    "PAGE_BLOB_MAX_VIRTUAL_SIZE",
    "MANAGED_DISK_MIN_UPLOAD_SIZE",
    "MANAGED_DISK_MAX_UPLOAD_SIZE",
    "OS_DISK_MAX_VIRTUAL_SIZE",
    "round_up_to_mib",
]
