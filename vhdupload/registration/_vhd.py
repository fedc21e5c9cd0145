"""The few VHD facts registration needs, from the format layer (:mod:`vhdupload.vhd`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..azure_rules import MIB, OS_DISK_MAX_VIRTUAL_SIZE, PAGE_BLOB_MAX_VIRTUAL_SIZE
from ..vhd import Footer
from ..vhd.footer import FOOTER_SIZE  # the one definition

__all__ = ["FOOTER_SIZE", "MIB", "OS_DISK_MAX_VIRTUAL_SIZE", "PAGE_BLOB_MAX_VIRTUAL_SIZE", "FooterFacts", "read_footer"]


@dataclass(frozen=True)
class FooterFacts:
    disk_type: str  # "fixed" | "dynamic" | "differencing"
    virtual_size: int


def read_footer(data: bytes) -> FooterFacts:
    """Parse a 512-byte footer; raises the FormatError tree when it is not a valid one."""
    footer = Footer.parse(data)
    return FooterFacts(disk_type=footer.disk_type_name, virtual_size=int(footer.current_size))
