"""Pre-flight: refuse a source blob before Azure does, with the reason and the fix.

Reads the blob's properties and its last 512 bytes (one small ranged read); never the disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..azure.page_blob import is_page_blob
from ..azure.state import KEY_STATE, PREFIX, STATE_COMPLETE
from ..errors import FormatError, PreflightError
from . import _vhd
from .blobs import BlobReader

Role = Literal["os", "data"]

_GIB = 1024**3


@dataclass(frozen=True)
class BlobCheck:
    """What pre-flight learnt about one blob that passed."""

    url: str
    blob_size: int
    virtual_size: int
    written_by_vhdupload: bool


def check_blob(reader: BlobReader, *, role: Role) -> BlobCheck:
    """Check one blob the way Azure will; raise :class:`PreflightError` saying what to do."""
    props = reader.properties()
    url = reader.url
    blob_type = str(getattr(props, "blob_type", "") or "")
    if not is_page_blob(props):
        kind = blob_type.lower().replace("blobtype.", "").replace("blob", " blob").strip() or "not a page blob"
        raise PreflightError(
            f"{url} is a {kind}, and Azure makes disks only from page blobs: "
            "upload the VHD with `vhdupload upload`, which writes a page blob"
        )
    metadata = {k.lower(): v for k, v in (getattr(props, "metadata", None) or {}).items()}
    ours = any(k.startswith(PREFIX) for k in metadata)  # the upload engine's state (vhdupload.azure.state)
    if ours and str(metadata.get(KEY_STATE, "")).lower() != STATE_COMPLETE:
        raise PreflightError(
            f"{url} is an unfinished vhdupload upload: run the same `vhdupload upload` again to finish it"
        )
    size = int(props.size)
    if size < _vhd.FOOTER_SIZE or size % 512:
        raise PreflightError(
            f"{url} is {size} bytes, not a whole number of 512-byte sectors, so it is not a VHD: "
            "upload the image with `vhdupload upload`"
        )
    try:
        facts = _vhd.read_footer(reader.read(size - _vhd.FOOTER_SIZE, _vhd.FOOTER_SIZE))
    except FormatError as exc:
        raise PreflightError(
            f"{url} does not end with a valid VHD footer ({exc}): upload the image with "
            "`vhdupload upload`, which writes a fixed VHD (use `--raw` for a raw image)"
        ) from exc
    if facts.disk_type != "fixed":
        raise PreflightError(
            f"{url} is a {facts.disk_type} VHD, and Azure takes only fixed ones: upload the image "
            "with `vhdupload upload`, which converts on the fly"
        )
    virtual = facts.virtual_size
    if virtual % _vhd.MIB:
        raise PreflightError(
            f"{url} has a virtual size of {virtual} bytes, not a whole number of MiB: upload the image "
            "with `vhdupload upload`, which rounds the size up to a whole MiB"
        )
    if size != virtual + _vhd.FOOTER_SIZE:
        raise PreflightError(
            f"{url} is {size} bytes but its footer says the disk is {virtual} bytes (expected "
            f"{virtual + _vhd.FOOTER_SIZE}): upload the image again with `vhdupload upload`"
        )
    if virtual > _vhd.PAGE_BLOB_MAX_VIRTUAL_SIZE:
        raise PreflightError(
            f"{url} holds a {virtual} byte disk, over Azure's limit of "
            f"{_vhd.PAGE_BLOB_MAX_VIRTUAL_SIZE} bytes (8 TiB - 1 MiB): shrink the disk"
        )
    if role == "os" and virtual > _vhd.OS_DISK_MAX_VIRTUAL_SIZE:
        raise PreflightError(
            f"{url} holds a {virtual / _GIB:.0f} GiB disk, but an OS disk can be at most "
            f"{_vhd.OS_DISK_MAX_VIRTUAL_SIZE // _GIB} GiB: shrink it, or register it as a data disk"
        )
    return BlobCheck(url=url, blob_size=size, virtual_size=virtual, written_by_vhdupload=ours)
