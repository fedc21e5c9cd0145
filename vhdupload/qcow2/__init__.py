"""The qcow2 format layer (qemu's docs/interop/qcow2.txt), read natively: versions 2 and 3, L1/L2
tables (standard and extended, with subclusters), zero and compressed clusters (deflate, zstd),
a backing file chain and an external data file. Encrypted and corrupt images are refused;
internal snapshots are ignored (the active layer is read) and said in ``Qcow2Disk.notes``.

qcow2 only: the factory (:func:`vhdupload.open_disk`) recognises it and opens its backing files.
"""

from __future__ import annotations

from .disk import Qcow2Disk
from .header import is_qcow2
from .open import open_qcow2

__all__ = ["Qcow2Disk", "is_qcow2", "open_qcow2"]
