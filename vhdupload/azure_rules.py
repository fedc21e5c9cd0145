"""Azure's rules: the sizes Azure enforces, and the readiness check that applies them to a disk.

They sit above the format packages and apply to any disk they produce. The numbers are Azure's
own: a page blob holds at most 8 TiB *including* the
512-byte footer, and its size must be a multiple of 512; Azure also insists the virtual size
is a whole number of MiB, so the largest usable virtual size is 8 TiB - 1 MiB.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import InputError
from .vhd.footer import FOOTER_SIZE
from .virtual_disk import VirtualDisk

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
TIB = 1024 * GIB

PAGE_BLOB_MAX_SIZE = 8 * TIB
#: Whole MiB, and room left for the footer inside the 8 TiB page blob.
PAGE_BLOB_MAX_VIRTUAL_SIZE = PAGE_BLOB_MAX_SIZE - MIB
#: Managed-disk direct upload: the upload size counts the footer (20 MiB + 512 bytes ...).
MANAGED_DISK_MIN_UPLOAD_SIZE = 20 * MIB + FOOTER_SIZE  # 20,972,032
MANAGED_DISK_MAX_UPLOAD_SIZE = 32767 * GIB + FOOTER_SIZE  # 35,183,298,347,520
OS_DISK_MAX_VIRTUAL_SIZE = 4095 * GIB


def round_up_to_mib(n: int) -> int:
    """The smallest whole number of MiB that is >= ``n``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InputError(f"a size must be a whole number of bytes, not negative; got {n!r}")
    return -(-n // MIB) * MIB


def format_size(n: int) -> str:
    """``n`` bytes in words a person reads at a glance, e.g. ``10737418240 bytes (10 GiB)``."""
    for unit, scale in (("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= scale:
            value = n / scale
            text = f"{value:.0f}" if n % scale == 0 else f"{value:.2f}"
            return f"{n} bytes ({text} {unit})"
    return f"{n} bytes"


@dataclass(frozen=True)
class Readiness:
    """Whether Azure would take the disk as a page blob, and if not, why and what to do."""

    ready: bool
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def azure_readiness(disk: VirtualDisk) -> Readiness:
    """Apply Azure's checks to ``disk``.

    ``problems`` make a page-blob upload fail (each names its fix); ``warnings`` are limits of
    managed disks and OS disks, which only some uses hit.
    """
    # Anything shaped like a disk will do (callers judge planned disks too); anything else is
    # the caller's mistake, said as such rather than as an AttributeError.
    for attr, kind in (("path", object), ("disk_type", str), ("virtual_size", int), ("file_size", int)):
        value = getattr(disk, attr, None)
        if value is None or not isinstance(value, kind) or isinstance(value, bool):
            raise InputError(
                f"azure_readiness takes a disk (from open_disk); {type(disk).__name__} has no usable {attr}"
            )
    if disk.virtual_size < 0:
        raise InputError(f"azure_readiness: virtual size {disk.virtual_size} is negative")
    problems: list[str] = []
    warnings: list[str] = []
    name = str(disk.path)
    size = disk.virtual_size
    rounded = round_up_to_mib(size)
    convert_hint = f"run `vhdupload convert {name} OUT.vhd` or upload with `vhdupload upload`, which converts on the fly"

    if disk.disk_type == "raw":
        problems.append(
            f"{name} is a raw image without a VHD footer: Azure needs a fixed VHD; {convert_hint}"
        )
    elif disk.disk_type != "fixed":
        problems.append(f"{name} is a {disk.disk_type} VHD: Azure needs a fixed VHD; {convert_hint}")

    if size == 0:
        problems.append(f"{name} has a virtual size of 0 bytes: there is no disk to upload")
    elif size % MIB:
        problems.append(
            f"virtual size {size} bytes is not a whole number of MiB, which Azure refuses; "
            f"{convert_hint} (it rounds up to {rounded} bytes)"
        )
    if size > PAGE_BLOB_MAX_VIRTUAL_SIZE:
        problems.append(
            f"virtual size {format_size(size)} exceeds the page-blob limit of "
            f"{PAGE_BLOB_MAX_VIRTUAL_SIZE} bytes (8 TiB - 1 MiB, leaving room for the footer); "
            "shrink the disk's partitions and the image before uploading"
        )

    if disk.disk_type == "fixed":
        file_size = disk.file_size
        expected = size + FOOTER_SIZE
        if file_size != expected:
            problems.append(
                f"file length {file_size} bytes does not match the footer (virtual size {size} "
                f"+ 512-byte footer = {expected} bytes); {convert_hint}"
            )

    upload_size = rounded + FOOTER_SIZE
    if size and upload_size < MANAGED_DISK_MIN_UPLOAD_SIZE:
        warnings.append(
            f"too small for a managed-disk upload: upload size {upload_size} bytes is below "
            f"{MANAGED_DISK_MIN_UPLOAD_SIZE} (20 MiB + 512); a page blob is fine"
        )
    if upload_size > MANAGED_DISK_MAX_UPLOAD_SIZE:
        warnings.append(
            f"too big for a managed-disk upload: upload size {upload_size} bytes is above "
            f"{MANAGED_DISK_MAX_UPLOAD_SIZE} (32,767 GiB + 512)"
        )
    if rounded > OS_DISK_MAX_VIRTUAL_SIZE:
        warnings.append(
            f"too big for an OS disk: {format_size(rounded)} is above 4095 GiB; "
            "it can only be a data disk"
        )
    return Readiness(ready=not problems, problems=problems, warnings=warnings)
