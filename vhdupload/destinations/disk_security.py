"""A Trusted Launch or Confidential VM OS disk uploaded with its VM guest state (and metadata).

How the public clients do it: the az CLI's ``disk create --upload-type UploadWithSecurityData``
creates the disk with ``createOption: UploadPreparedSecure`` and its ``securityProfile``; its
``disk grant-access`` then asks for ``getSecureVMGuestStateSAS`` by itself for such a disk
(azure-cli src/azure-cli/azure/cli/command_modules/vm/operations/disk.py, ``DiskGrantAccess``),
and the answer (azure-mgmt-compute ``AccessUri``) carries ``accessSAS`` for the OS disk,
``securityDataAccessSAS`` for the VM guest state (VMGS, a VHD) and, for a Confidential VM disk,
``securityMetadataAccessSAS``; AzCopy copies each file to its URL as a page blob. Azure refuses a
Confidential security type with a plain ``Upload``, and every secure type on a Generation 1 disk.

Here the guest state (and metadata) go through the same engine as the OS disk (Put Page with a
CRC64 each, retried), are read back and compared whole (they are a few MB), before the upload's
complete mark: a crash before it is resumed by the same command, which sends them again. Untried
against real Azure: the size Azure gives the guest-state blob (the files must match it; a
mismatch is refused before any byte is sent) and when it returns the metadata URL.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Callable

from .. import crc64, planning
from ..azure.error_map import translate
from ..azure.errors import classify, is_checksum_mismatch
from ..azure.page_blob import PageBlobSink
from ..blob_image import BlobImage, blob_image
from ..disks import open_disk
from ..engine import Stream, make_sender, pump
from ..errors import InputError, StorageError
from ..transfer import BandwidthLimiter, ProgressTracker, RetryPolicy, TransferSettings
from ..vhd.footer import FOOTER_SIZE

#: The security types an upload can make, as azure-mgmt-compute's ``DiskSecurityTypes`` spells
#: them (``ConfidentialVM_NonPersistedTPM`` has no guest state to upload, so it is not one).
SECURITY_TYPES = (
    "TrustedLaunch",
    "ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey",
    "ConfidentialVM_DiskEncryptedWithPlatformKey",
    "ConfidentialVM_DiskEncryptedWithCustomerKey",
)
#: Bytes read back at most to compare a sent guest state or metadata file whole.
_READ_BACK_LIMIT = 256 * 1024 * 1024


def security_type(value: str | None) -> str | None:
    """``value`` spelled as Azure spells it, or None; refuses what cannot be uploaded."""
    if value is None:
        return None
    match = [t for t in SECURITY_TYPES if t.lower() == value.lower()]
    if not match:
        raise InputError(f"security type {value!r} is not one of {', '.join(SECURITY_TYPES)}")
    return match[0]


def is_confidential(security: str | None) -> bool:
    return bool(security) and str(security).startswith("ConfidentialVM_")


@dataclass(frozen=True)
class SecurityData:
    """What a Trusted Launch or Confidential VM OS disk is uploaded with (``UploadPreparedSecure``):
    its VM guest state file (VMGS, a VHD, as exported with the disk) and, where its security type
    takes one, a Confidential VM disk's security metadata file (a VHD)."""

    vm_guest_state: Path
    metadata: Path | None = None

    @classmethod
    def of(cls, vm_guest_state: "str | PathLike[str] | None",
           metadata: "str | PathLike[str] | None") -> "SecurityData | None":
        """The files given to a :class:`~vhdupload.ManagedDisk`, checked to exist; None for none."""
        if vm_guest_state is None:
            if metadata is not None:
                raise InputError("security metadata goes with the VM guest state it was made with: give both")
            return None
        return cls(_file(vm_guest_state, "VM guest state"), _file(metadata, "security metadata") if metadata else None)

    def check(self, security: str | None) -> None:
        """Refuse locally what Azure refuses for ``security``, saying what to give instead."""
        if security is None:
            raise InputError("a VM guest state is uploaded with a security type (TrustedLaunch or ConfidentialVM_*): "
                             "give one, or upload without the guest state")
        if self.metadata is not None and not is_confidential(security):
            raise InputError(f"security metadata belongs to a Confidential VM disk, not {security}: "
                             "give a ConfidentialVM_* security type, or upload without the metadata")
        if security == "ConfidentialVM_DiskEncryptedWithCustomerKey":
            # Azure refuses it without securityProfile.secureVMDiskEncryptionSetId, which is not given here yet.
            raise InputError(f"{security} needs the disk encryption set that holds the customer key, which vhdupload "
                             "cannot set yet: upload as ConfidentialVM_DiskEncryptedWithPlatformKey, or set the "
                             "encryption set on a disk made with az")


def _file(path: "str | PathLike[str]", what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"the {what} file {path} does not exist or is not a file")
    return path


def check_security(security: str | None, data: SecurityData | None) -> None:
    """Azure's rules on a disk's security type and what comes with it, checked before anything
    remote: a Confidential VM disk cannot be a plain ``Upload`` (it needs its guest state)."""
    if data is not None:
        data.check(security)
    elif is_confidential(security):
        raise InputError(
            f"a {security} disk is uploaded with its VM guest state (Azure refuses a Confidential VM security "
            "type on a plain upload): give the guest state file (and its metadata) it was made with"
        )


@dataclass(frozen=True)
class Companion:
    """One file sent beside the OS disk: what it is, its image, and the URL it goes to."""

    what: str  # "VM guest state" / "security metadata"
    image: BlobImage

    def matches(self, sink: PageBlobSink, *, disk: str) -> None:
        """Refuse (before any byte is sent) a file that is not the size of Azure's blob for it."""
        props, _ = sink.properties()
        size = getattr(props, "size", None) if props is not None else None
        if size is None:
            raise StorageError(f"the {self.what} URL Azure granted for {disk} answers that there is no blob behind it")
        if int(size) != self.image.size:
            raise InputError(
                f"the {self.what} file {self.image.disk.path.name} is {self.image.size} bytes as a fixed VHD, but Azure's "
                f"{self.what} blob of {disk} is {size} bytes: give the file exported with this kind of disk"
            )


def companions(data: SecurityData) -> list[Companion]:
    """The guest state (and metadata) as the fixed VHDs Azure receives; raises before anything
    remote when one cannot be read or is not a whole MiB."""
    found = [("VM guest state", data.vm_guest_state)]
    if data.metadata is not None:
        found.append(("security metadata", data.metadata))
    result = []
    for what, path in found:
        disk = open_disk(path)
        result.append(Companion(what, blob_image(disk, resize=False, destination_kind=f"the {what} blob")))
    return result


def send_companion(companion: Companion, sink: PageBlobSink, *, settings: TransferSettings,
                   cancel: threading.Event) -> str:
    """Send ``companion`` through the engine (CRC64 on every Put Page, retries), then read it
    back and compare it whole; its CRC64 (hex)."""
    image = companion.image
    tracker = ProgressTracker(total=image.examined_bytes() + FOOTER_SIZE)
    hint = "nothing was deleted: run the same command again to send it again"
    policy = RetryPolicy(max_retries=settings.max_retries, cancel=cancel, base=settings.backoff_base,
                         cap=settings.backoff_cap, cancel_message=f"cancelled; {hint}", failure_hint=hint)

    def put(data: bytes, offset: int, crc: int) -> None:
        sink.put_page(data, offset=offset, crc64_bytes=crc64.to_header(crc), lease=None)

    def reread(offset: int, length: int) -> bytes:
        return image.footer if offset >= image.data_size else image.read(offset, length)

    send = make_sender(
        put=put, classify=classify, reread=reread, is_checksum_mismatch=is_checksum_mismatch, policy=policy,
        translate=lambda exc, offset, n: translate(exc, action=f"writing the {companion.what} ({n} bytes at {offset})",
                                                   hint=hint),
        limiter=BandwidthLimiter(settings.max_bandwidth, cancel=cancel, cancel_message=f"cancelled; {hint}"),
        tracker=tracker,
    )
    result = pump(Stream(image, send=send, held=planning.RangeSet(), tracker=tracker), settings=settings,
                  max_gap=planning.default_max_gap(planning.standard_hdd_limits(image.size)), cancel=cancel,
                  cancel_message=f"cancelled; {hint}")
    footer_crc = crc64.compute(image.footer)
    send(image.footer, image.data_size, footer_crc)
    _read_back(companion, sink.download)
    return crc64.to_hex(crc64.combine(result.data_crc, footer_crc, FOOTER_SIZE))


def _read_back(companion: Companion, download: Callable[[int, int], bytes]) -> None:
    image = companion.image
    if image.size > _READ_BACK_LIMIT:
        return  # the CRC64 of every request stands for it
    step = 4 * 1024 * 1024
    for offset in range(0, image.size, step):
        length = min(step, image.size - offset)
        expected = image.footer if offset >= image.data_size else image.read(offset, min(length, image.data_size - offset))
        if offset < image.data_size < offset + length:
            expected += image.footer[: offset + length - image.data_size]
        if download(offset, length) != expected:
            raise StorageError(f"the {companion.what} read back from Azure differs from {image.disk.path.name} at "
                               f"offset {offset}: run the same command again to send it again")
