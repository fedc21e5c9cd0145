"""The VHDX format layer ([MS-VHDX]): one small module per on-disk structure, and a
``VhdxDisk`` that shows any VHDX (fixed, dynamic, differencing, with a pending log) as the flat
``VirtualDisk`` view every format produces, so upload, convert and verify take it as is. VHDX
only: the factory (:func:`vhdupload.open_disk`) recognises it and opens its parents.

Read-only: a pending log is replayed into memory, never into the user's file.
"""

from __future__ import annotations

from .disk import VhdxDisk
from .identifier import is_vhdx
from .open import is_vhd_set, open_vhdx
from .sector_layout import partition_sector_size

__all__ = ["VhdxDisk", "is_vhdx", "is_vhd_set", "open_vhdx", "partition_sector_size"]
