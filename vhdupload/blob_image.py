"""What a page blob made from a disk holds (docs/CONTRACTS.md, "Blob layout").

``[0, virtual_size)`` the disk; zeros up to ``round_up_to_mib(virtual_size)``; a 512-byte fixed
footer. A fixed VHD that is already a whole MiB keeps its own footer bytes; everything else
gets a fresh fixed footer made from the source's (UUID kept). A raw image gets a fresh footer
whose UUID and timestamp the caller may pin, so that a resumed upload writes the same footer.
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Iterator
import dataclasses
from dataclasses import dataclass

from . import planning
from .azure_rules import PAGE_BLOB_MAX_VIRTUAL_SIZE, format_size, round_up_to_mib
from .errors import NotAzureReadyError
from .vhd.footer import FOOTER_SIZE, make_fixed_footer  # FOOTER_SIZE: the one definition, re-exported
from .virtual_disk import VirtualDisk


#: Azure's own words for a size that is not a whole MiB (what users meet when they upload
#: such a VHD with other tools).
AZURE_SIZE_REASON = (
    "has an unsupported virtual size of {size} bytes. The size must be a whole number (in MBs)"
)


@dataclass(frozen=True)
class BlobImage:
    """A disk seen as the page blob it becomes; reads are thread-safe."""

    disk: VirtualDisk
    data_size: int  # virtual size rounded up to a whole MiB: where the footer starts
    footer: bytes  # the 512 bytes written last
    resized: bool  # True when the virtual size was rounded up

    @property
    def size(self) -> int:
        """The blob's size: data, padding and footer."""
        return self.data_size + FOOTER_SIZE

    @property
    def virtual_size(self) -> int:
        return self.disk.virtual_size

    def extents(self) -> Iterator[tuple[int, int]]:
        """Ranges of the data region that may hold nonzero bytes; the padding never does."""
        return self.disk.extents(0, self.disk.virtual_size)

    def examined_bytes(self) -> int:
        """Bytes an upload reads and examines: the extents of the data region, widened to whole
        pages and cut at 4 MiB chunks exactly as the pump reads them. Known before any read (from
        the allocation map, or a sparse file's holes), it bounds the data sent from above, and
        progress is counted against it."""
        return sum(planning.total(pieces) for pieces in planning.chunk_pieces(self.extents(), stop=self.data_size))

    def with_footer(self, *, footer_uuid: uuid_module.UUID | None, footer_timestamp: int | None) -> "BlobImage":
        """The same layout with a fresh fixed footer of that identity (a raw image's footer is
        pinned by the first upload, so that reruns write the same one)."""
        footer = make_fixed_footer(
            virtual_size=self.data_size, uuid=footer_uuid or uuid_module.uuid4(), timestamp=footer_timestamp
        ).to_bytes()
        return dataclasses.replace(self, footer=footer)

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes of the blob's data region at ``offset`` (padding reads as zeros)."""
        end = offset + length
        if offset < 0 or end > self.data_size:
            raise ValueError(f"read of {length} bytes at {offset} is outside the data region")
        disk_end = self.disk.virtual_size
        if end <= disk_end:
            return self.disk.read(offset, length)
        if offset >= disk_end:
            return bytes(length)
        return self.disk.read(offset, disk_end - offset) + bytes(end - disk_end)


def blob_image(
    disk: VirtualDisk,
    *,
    resize: bool = True,
    footer_uuid: uuid_module.UUID | None = None,
    footer_timestamp: int | None = None,
    minimum_size: int = 0,
    maximum_size: int = PAGE_BLOB_MAX_VIRTUAL_SIZE,
    destination_kind: str = "a page blob",
) -> BlobImage:
    """The blob layout for ``disk``; refuses (NotAzureReadyError) what Azure would refuse.

    ``footer_uuid``/``footer_timestamp`` pin the fresh footer of a raw image (a resumed upload
    passes what the blob recorded). ``minimum_size``/``maximum_size`` bound the data region
    (the virtual size Azure sees): a smaller disk is padded with zeros up to the minimum (a
    managed disk takes at least 20 MiB), a larger one is refused, naming ``destination_kind``.
    Raises before anything remote happens.
    """
    size = disk.virtual_size
    name = disk.path.name
    if size <= 0:
        raise NotAzureReadyError(f"{name} is empty: there is no disk to upload", problems=["empty disk"])
    data_size = max(round_up_to_mib(size), minimum_size)
    if data_size != size and not resize and round_up_to_mib(size) == size:
        problem = f"{name} is {format_size(size)}; {destination_kind} takes at least {format_size(minimum_size)}"
        raise NotAzureReadyError(
            f"{problem}: drop --no-resize to pad it with zeros to {format_size(minimum_size)} on the fly",
            problems=[problem],
        )
    if data_size != size and not resize:
        reason = f"{name} " + AZURE_SIZE_REASON.format(size=size)
        raise NotAzureReadyError(
            f"{reason}; Azure refuses it. Drop --no-resize to round it up to "
            f"{data_size} bytes on the fly (zero padding, new footer)",
            problems=[reason],
        )
    if data_size > maximum_size:
        problem = (
            f"{name} is {format_size(size)}; {destination_kind} holds at most {format_size(maximum_size)} "
            "of disk plus the footer"
        )
        raise NotAzureReadyError(f"{problem}: shrink the disk first", problems=[problem])
    if disk.disk_type == "fixed" and data_size == size and disk.footer_bytes is not None:
        footer = bytes(disk.footer_bytes)
        if len(footer) == 511:  # very old Virtual PC: the missing reserved byte is zero
            footer += b"\0"
    elif disk.footer is not None:
        footer = make_fixed_footer(
            virtual_size=data_size,
            template=disk.footer,
            uuid=footer_uuid,
            timestamp=footer_timestamp,
        ).to_bytes()
    else:
        footer = make_fixed_footer(
            virtual_size=data_size,
            uuid=footer_uuid or uuid_module.uuid4(),
            timestamp=footer_timestamp,
        ).to_bytes()
    return BlobImage(disk=disk, data_size=data_size, footer=footer, resized=data_size != size)
