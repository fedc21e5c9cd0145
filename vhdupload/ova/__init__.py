"""OVA archives read in place: the OVF's disks (VMDKs) opened as byte ranges of the tar, never
extracted. It sits above the format packages because an OVA's disks are VMDKs (the OVF
standard's disk format is the stream-optimized VMDK): it opens them with :mod:`vhdupload.vmdk`.
"""

from __future__ import annotations

from .archive import is_ova_path
from .open import OvaDisk, list_disks, open_member, open_ova, split_member_path

__all__ = ["OvaDisk", "is_ova_path", "list_disks", "open_member", "open_ova", "split_member_path"]
