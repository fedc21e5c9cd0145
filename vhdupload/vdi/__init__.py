"""The VDI format layer (VirtualBox's disk images), read natively: dynamic, static and
differencing images; the block map's unallocated and zero blocks are holes. VDI only: the
factory (:func:`vhdupload.open_disk`) recognises it and opens a differencing image's parent.
"""

from __future__ import annotations

from .disk import VdiDisk
from .header import is_vdi
from .open import open_vdi

__all__ = ["VdiDisk", "is_vdi", "open_vdi"]
