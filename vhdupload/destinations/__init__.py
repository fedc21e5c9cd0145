"""Where an upload goes: the one seam between upload/verify/status and a kind of destination.

:class:`Destination` is the protocol of the values (:class:`PageBlob`, :class:`ManagedDisk`),
:class:`DestinationSession` the protocol of one operation on one of them. :mod:`.page_blob`
keeps the upload's state in blob metadata with a lease as writer guard; :mod:`.managed_disk`
(with :mod:`.disk_session`, :mod:`.disk_arm`, :mod:`.disk_tags`, :mod:`.disk_layout`,
:mod:`.disk_security` for a VM guest state, :mod:`.disk_verdict` for the guest check's tag) in the
disk's tags, with a heartbeat tag and the disk's state as writer guard and access granted and
revoked through ARM. A new kind of destination is one new module implementing both protocols.
"""

from __future__ import annotations

from .base import Destination, DestinationSession, Readback, UploadStatus
from .managed_disk import SKUS, ManagedDisk
from .page_blob import PageBlob

__all__ = ["SKUS", "Destination", "DestinationSession", "ManagedDisk", "PageBlob", "Readback", "UploadStatus"]
