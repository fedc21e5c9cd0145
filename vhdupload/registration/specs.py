"""What can be registered, one typed spec per kind, and the context a plan is made in."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Union

from azure.storage.blob import BlobClient

from ..destinations import ManagedDisk, PageBlob
from ..guest import Capabilities
from ..keywords import refuse_unknown_keywords
from .bodies import DataDisk
from .replication import TargetRegion

#: A destination an upload went to, given as a registration's source.
Source = Union[PageBlob, ManagedDisk]


@refuse_unknown_keywords
@dataclass(frozen=True, kw_only=True)
class ImageSpec:
    """A managed image from uploaded disks: an OS image (one generalized OS disk) or a VM image
    (with data disks).

    :param name: the image's name.
    :param resource_group: its resource group.
    :param location: its Azure region.
    :param os_disk: the OS disk: a page blob URL or a managed disk's resource ID, or the
        :class:`~vhdupload.PageBlob` or :class:`~vhdupload.ManagedDisk` it was uploaded to.
    :param os_type: ``linux``, ``windows``, or ``auto`` (what the disk holds).
    :param data_disks: data disks: URLs or disk IDs, ``"URL,lun=N,caching=ReadOnly"`` strings,
        :class:`DataDisk` or destination values; a disk without a LUN gets the lowest free one.
    :param os_state: ``generalized`` (a managed image cannot be specialized).
    :param hyper_v_generation: ``V1``, ``V2`` or ``auto`` (read from the OS disk).
    :param zone_resilient: keep the image in zone-redundant storage.
    :param storage_sku: the image's storage account type, e.g. ``Premium_LRS``.
    :param os_caching: the OS disk's caching: ``None``, ``ReadOnly`` or ``ReadWrite``.
    :param tags: the image's tags.
    :param skip_preflight: do not read the sources first (Azure still checks them).
    :param skip_guest_check: do not refuse an OS disk that is clearly not generalized.
    :param security_type: ``Standard`` or None; anything else (Trusted Launch, Confidential) is
        refused before anything is sent, because a managed image cannot back such a VM: register
        a :class:`GalleryVersionSpec` instead.
    """

    name: str
    resource_group: str
    location: str
    os_disk: str | Source
    os_type: str
    data_disks: Iterable[str | DataDisk | Source] = ()
    os_state: str = "generalized"
    hyper_v_generation: str | None = "auto"
    zone_resilient: bool = False
    storage_sku: str | None = None
    os_caching: str | None = None
    tags: dict[str, str] | None = None
    skip_preflight: bool = False
    skip_guest_check: bool = False
    security_type: str | None = None


@refuse_unknown_keywords
@dataclass(frozen=True, kw_only=True)
class CaptureSpec:
    """A managed image captured from a deallocated, generalized Azure VM.

    :param name: the image's name.
    :param resource_group: its resource group (and the VM's, unless ``source_vm`` is an ID).
    :param source_vm: the VM's name or resource ID.
    :param location: its region (the VM's by default).
    :param hyper_v_generation: ``V1`` or ``V2`` (the VM's by default).
    :param zone_resilient: keep the image in zone-redundant storage.
    :param tags: the image's tags.
    :param os_state: ``generalized``, the only state a managed image takes (``specialized`` is
        refused before any request).
    """

    name: str
    resource_group: str
    source_vm: str
    location: str | None = None
    hyper_v_generation: str | None = None
    zone_resilient: bool = False
    tags: dict[str, str] | None = None
    os_state: str = "generalized"


@refuse_unknown_keywords
@dataclass(frozen=True, kw_only=True)
class GalleryVersionSpec:
    """An Azure Compute Gallery image version (the gallery and definition are created when
    missing).

    :param gallery: the gallery's name.
    :param image_definition: the image definition's name.
    :param version: ``MAJOR.MINOR.PATCH``.
    :param resource_group: the gallery's resource group.
    :param location: the gallery's region.
    :param os_disk: the OS disk: a page blob URL or a managed disk's resource ID, or the
        :class:`~vhdupload.PageBlob` or :class:`~vhdupload.ManagedDisk` it was uploaded to.
    :param data_disks: as for :class:`ImageSpec`.
    :param storage_account_id: the source blobs' storage account ID (found through ARM if None).
    :param target_regions: regions to replicate to: ``"eastus"``, az's ``"eastus=2=Standard_ZRS"``
        (``REGION[=REPLICAS][=STORAGE_TYPE]``), ``{"name": ..., "replicas": ..., "storage_account_type":
        ...}`` or :class:`~vhdupload.TargetRegion`; default: ``location`` only.
    :param replica_count: replicas per region where a region does not say (default 1).
    :param storage_account_type: the replicas' storage where a region does not say:
        ``Standard_LRS`` (ARM's default), ``Standard_ZRS``, ``Premium_LRS`` or ``PremiumV2_LRS``.
    :param replication_mode: ``Full`` (default) or ``Shallow`` (no copy; for tests, one region).
    :param exclude_from_latest: VMs asking for the ``latest`` version do not get this one.
    :param end_of_life: when the version stops being offered: a date, or an ISO 8601 string.
    :param security_type: a new definition's ``SecurityType``: ``TrustedLaunchSupported`` (the
        default for Generation 2), ``TrustedLaunchAndConfidentialVmSupported``, ``Standard``, ...;
        checked against an existing definition's.
    :param capabilities: what the OS disk can drive, when the caller already looked inside it
        (:class:`vhdupload.guest.Capabilities`); None: read through the pre-flight.
    :param os_state: ``generalized`` or ``specialized``.
    :param os_type: ``linux``/``windows`` for a new definition; ``auto`` what the disk holds.
    :param hyper_v_generation: ``V1``, ``V2`` or ``auto``.
    :param publisher: a new definition's publisher.
    :param offer: a new definition's offer.
    :param sku: a new definition's SKU.
    :param architecture: ``x64``, ``Arm64`` or ``auto`` (what the disk holds).
    :param tags: the version's tags.
    :param skip_preflight: do not read the sources first.
    :param skip_guest_check: do not refuse an OS disk that is clearly not generalized.
    """

    gallery: str
    image_definition: str
    version: str
    resource_group: str
    location: str
    os_disk: str | Source
    data_disks: Iterable[str | DataDisk | Source] = ()
    storage_account_id: str | None = None
    target_regions: Iterable[str | Mapping[str, Any] | TargetRegion] = ()
    replica_count: int | None = None
    storage_account_type: str | None = None
    replication_mode: str | None = None
    exclude_from_latest: bool = False
    end_of_life: str | date | None = None
    security_type: str | None = None
    capabilities: Capabilities | None = None
    os_state: str = "generalized"
    os_type: str | None = None
    hyper_v_generation: str | None = "auto"
    publisher: str | None = None
    offer: str | None = None
    sku: str | None = None
    architecture: str | None = "auto"
    tags: dict[str, str] | None = None
    skip_preflight: bool = False
    skip_guest_check: bool = False


@refuse_unknown_keywords
@dataclass(frozen=True, kw_only=True)
class DiskImportSpec:
    """A managed disk imported from an uploaded page blob (``createOption: Import``).

    :param name: the disk's name.
    :param resource_group: its resource group.
    :param location: its region.
    :param source: the page blob's URL.
    :param sku: its storage type, e.g. ``Premium_LRS``.
    :param os_type: ``linux``/``windows`` for an OS disk.
    :param hyper_v_generation: ``V1``, ``V2`` or ``auto`` (OS disks only).
    :param storage_account_id: the blob's storage account ID (found through ARM if None).
    :param tags: the disk's tags.
    :param skip_preflight: do not read the blob first.
    """

    name: str
    resource_group: str
    location: str
    source: str | PageBlob
    sku: str | None = None
    os_type: str | None = None
    hyper_v_generation: str | None = None
    storage_account_id: str | None = None
    tags: dict[str, str] | None = None
    skip_preflight: bool = False


RegistrationSpec = Union[ImageSpec, CaptureSpec, GalleryVersionSpec, DiskImportSpec]


@dataclass(frozen=True)
class PlanContext:
    """Where a plan is made: the subscription, the compute client that reads what exists, and
    how the pre-flight reads a blob (None: blob sources cannot be pre-flighted)."""

    subscription_id: str
    compute_client: Any = None
    blob_client_factory: Callable[[str], BlobClient] | None = None
