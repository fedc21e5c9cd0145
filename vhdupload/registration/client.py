"""``Registrar``: one client for every registration, shaped like an Azure SDK client.

Build it once from a credential and a subscription (or a ready ``ComputeManagementClient``),
then describe what to register with a typed spec and call :meth:`Registrar.plan` (a dry run:
pre-flight and the exact ARM bodies, nothing created), :meth:`Registrar.begin_register` (a
started :class:`Registration`) or :meth:`Registrar.register` (wait for the resource)::

    registrar = Registrar(credential=credential, subscription_id=SUB)
    image = registrar.register(ImageSpec(name="app", resource_group="rg", location="westeurope",
                                         os_disk=blob_url, os_type="linux"))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from ..errors import InputError
from .bodies import DataDisk
from .operations import Registration, connect, run_plan
from .plans import RegistrationPlan
from .prepare import plan_capture, plan_disk, plan_gallery_version, plan_image

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.mgmt.compute import ComputeManagementClient
    from azure.storage.blob import BlobClient


@dataclass(frozen=True, kw_only=True)
class ImageSpec:
    """A managed image from uploaded disks: an OS image (one generalized OS disk) or a VM image
    (with data disks).

    :param name: the image's name.
    :param resource_group: its resource group.
    :param location: its Azure region.
    :param os_disk: the OS disk: a page blob URL or a managed disk's resource ID.
    :param os_type: ``linux``, ``windows``, or ``auto`` (what the disk holds).
    :param data_disks: data disks: URLs or disk IDs, ``"URL,lun=N,caching=ReadOnly"`` strings or
        :class:`DataDisk`; a disk without a LUN gets the lowest free one.
    :param os_state: ``generalized`` (a managed image cannot be specialized).
    :param hyper_v_generation: ``V1``, ``V2`` or ``auto`` (read from the OS disk).
    :param zone_resilient: keep the image in zone-redundant storage.
    :param storage_sku: the image's storage account type, e.g. ``Premium_LRS``.
    :param os_caching: the OS disk's caching: ``None``, ``ReadOnly`` or ``ReadWrite``.
    :param tags: the image's tags.
    :param skip_preflight: do not read the sources first (Azure still checks them).
    :param skip_guest_check: do not refuse an OS disk that is clearly not generalized.
    """

    name: str
    resource_group: str
    location: str
    os_disk: str
    os_type: str
    data_disks: Iterable[str | DataDisk] = ()
    os_state: str = "generalized"
    hyper_v_generation: str | None = "auto"
    zone_resilient: bool = False
    storage_sku: str | None = None
    os_caching: str | None = None
    tags: dict[str, str] | None = None
    skip_preflight: bool = False
    skip_guest_check: bool = False


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


@dataclass(frozen=True, kw_only=True)
class GalleryVersionSpec:
    """An Azure Compute Gallery image version (the gallery and definition are created when
    missing).

    :param gallery: the gallery's name.
    :param image_definition: the image definition's name.
    :param version: ``MAJOR.MINOR.PATCH``.
    :param resource_group: the gallery's resource group.
    :param location: the gallery's region.
    :param os_disk: the OS disk: a page blob URL or a managed disk's resource ID.
    :param data_disks: as for :class:`ImageSpec`.
    :param storage_account_id: the source blobs' storage account ID (found through ARM if None).
    :param target_regions: regions (names, or ARM ``targetRegions`` dicts) to replicate to.
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
    os_disk: str
    data_disks: Iterable[str | DataDisk] = ()
    storage_account_id: str | None = None
    target_regions: Iterable[str | dict[str, Any]] = ()
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
    source: str
    sku: str | None = None
    os_type: str | None = None
    hyper_v_generation: str | None = None
    storage_account_id: str | None = None
    tags: dict[str, str] | None = None
    skip_preflight: bool = False


RegistrationSpec = Union[ImageSpec, CaptureSpec, GalleryVersionSpec, DiskImportSpec]


class Registrar:
    """Registrations in one subscription (see the module docstring).

    :param credential: an Entra ID ``TokenCredential`` (e.g. ``DefaultAzureCredential()``).
    :param subscription_id: the subscription to register in.
    :param compute_client: a ready ``ComputeManagementClient`` instead of ``credential``.
    :param arm_endpoint: an ARM endpoint URL (Azure Stack Hub...): https, plain http on loopback only.
    :param cloud: ``public``, ``china`` or ``usgov``.
    :param audience: the token audience of a custom ``arm_endpoint``.
    :param blob_client_factory: makes a ``BlobClient`` for a source URL, for the pre-flight
        reads (e.g. ``lambda url: vhdupload.resolve_blob_client(url, credential=...)``); without
        it, blob sources are not pre-flighted.
    :param polling_interval: seconds between polls when Azure does not say.
    """

    def __init__(
        self,
        *,
        credential: "TokenCredential | None" = None,
        subscription_id: str | None = None,
        compute_client: "ComputeManagementClient | None" = None,
        arm_endpoint: str | None = None,
        cloud: str | None = None,
        audience: str | None = None,
        blob_client_factory: "Callable[[str], BlobClient] | None" = None,
        polling_interval: float | None = None,
    ) -> None:
        self.compute_client, self.subscription_id = connect(
            credential=credential, subscription_id=subscription_id, compute_client=compute_client,
            arm_endpoint=arm_endpoint, cloud=cloud, audience=audience,
        )
        self.blob_client_factory = blob_client_factory
        self.polling_interval = polling_interval

    def plan(self, spec: RegistrationSpec) -> RegistrationPlan:
        """Pre-flight ``spec`` and build its ARM requests; nothing is created (reads only)."""
        if not isinstance(spec, (ImageSpec, CaptureSpec, GalleryVersionSpec, DiskImportSpec)):
            raise InputError(
                f"cannot register a {type(spec).__name__}: give an ImageSpec, CaptureSpec, GalleryVersionSpec "
                "or DiskImportSpec"
            )
        fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
        common = {"subscription_id": self.subscription_id, "compute_client": self.compute_client}
        if isinstance(spec, ImageSpec):
            return plan_image(**fields, **common, blob_client_factory=self.blob_client_factory)
        if isinstance(spec, CaptureSpec):
            return plan_capture(**fields, **common)
        if isinstance(spec, GalleryVersionSpec):
            return plan_gallery_version(**fields, **common, blob_client_factory=self.blob_client_factory)
        return plan_disk(**fields, **common, blob_client_factory=self.blob_client_factory)

    def begin_register(self, spec: RegistrationSpec) -> Registration:
        """Plan ``spec``, create what it needs first, and start the last request: a
        :class:`Registration` to wait on (``result()``) or poll (``done()``, ``status()``)."""
        return run_plan(self.plan(spec), compute_client=self.compute_client, polling_interval=self.polling_interval)

    def register(self, spec: RegistrationSpec) -> Any:
        """Register ``spec`` and wait: the created resource (an ``azure.mgmt.compute`` model;
        ``.as_dict()`` is its REST form). Failures raise :class:`vhdupload.RegistrationError`."""
        return self.begin_register(spec).result()
