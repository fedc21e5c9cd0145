"""Where an upload goes: the one seam between the upload session and a kind of destination.

:class:`Destination` is the protocol; :mod:`.page_blob` (state in blob metadata, a lease as
writer guard) and :mod:`.managed_disk` (state in the disk's tags, a heartbeat tag and the
disk's state as writer guard, write access granted and revoked through ARM) implement it.
"""

from __future__ import annotations

from .base import Destination

__all__ = ["Destination"]
