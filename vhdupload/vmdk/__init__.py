"""The VMDK format layer: a VMDK (monolithicSparse, streamOptimized, twoGbMaxExtentSparse/Flat,
monolithicFlat, vmfs flat, ZERO extents, a ``parentFileNameHint`` chain) as the flat
``VirtualDisk`` view every format produces. Read natively, read-only; compressed grains are
inflated when read. The factory (:func:`vhdupload.open_disk`) recognises it and opens its parents.
"""

from __future__ import annotations

from .disk import VmdkDisk
from .open import is_vmdk, open_vmdk, open_vmdk_span
from .span import Span

__all__ = ["Span", "VmdkDisk", "is_vmdk", "open_vmdk", "open_vmdk_span"]
