"""The GUIDs [MS-VHDX] names. VHDX stores GUIDs in their Windows binary form
(first three fields little-endian), which is ``uuid.UUID(bytes_le=...)``."""

from __future__ import annotations

import uuid

ZERO = uuid.UUID(int=0)

# Region table (2.2.3.2)
BAT_REGION = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
METADATA_REGION = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")

# Metadata items (2.6.2)
FILE_PARAMETERS = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
VIRTUAL_DISK_SIZE = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
VIRTUAL_DISK_ID = uuid.UUID("BECA12AB-B2E6-4523-93EF-C309E000C746")  # "page 83 data"
LOGICAL_SECTOR_SIZE = uuid.UUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
PHYSICAL_SECTOR_SIZE = uuid.UUID("CDA348C7-445D-4471-9CC9-E9885251C556")
PARENT_LOCATOR = uuid.UUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")

# Parent locator types (2.6.2.6.3)
VHDX_PARENT_LOCATOR = uuid.UUID("B04AEFB7-D19E-4A81-B789-25B8E9445913")


def from_le(data: bytes) -> uuid.UUID:
    return uuid.UUID(bytes_le=bytes(data[:16]))
