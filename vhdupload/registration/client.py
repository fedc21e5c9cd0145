"""``Registrar``: one client for every registration, shaped like an Azure SDK client.

Build it once from an :class:`~vhdupload.ArmConnection`,
then describe what to register with a typed spec and call :meth:`Registrar.plan` (a dry run:
pre-flight and the exact ARM bodies, nothing created), :meth:`Registrar.begin_register` (a
started :class:`Registration`) or :meth:`Registrar.register` (wait for the resource)::

    registrar = Registrar(ArmConnection(SUB, credential=credential))
    image = registrar.register(ImageSpec(name="app", resource_group="rg", location="westeurope",
                                         os_disk=blob_url, os_type="linux"))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from ..azure.arm import ArmConnection
from ..destinations import ManagedDisk, PageBlob
from ..errors import InputError
from ..redact import strip_query
from . import resource_ids
from ..keywords import refuse_unknown_keywords
from .bodies import DataDisk
from .operations import Registration, run_plan
from .plans import RegistrationPlan
from .prepare import plan_capture, plan_disk, plan_gallery_version, plan_image

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient


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
    os_disk: str | Source
    data_disks: Iterable[str | DataDisk | Source] = ()
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


#: A destination an upload went to, given as a registration's source.
Source = Union[PageBlob, ManagedDisk]


class _Sources:
    """Destination values among a spec's sources, named as ARM wants them (a blob's URL, a
    disk's resource ID); a page blob's pre-flight reads go through the blob's own client."""

    def __init__(self) -> None:
        self.blobs: dict[str, Any] = {}

    def named(self, value: Any) -> Any:
        if isinstance(value, PageBlob):
            client = value.client(threads=2, timeout=None)
            url = strip_query(client.url)
            self.blobs[url] = client
            return url
        if isinstance(value, ManagedDisk):
            return resource_ids.disk_id(value.arm.subscription_id, value.resource_group, value.name)
        if isinstance(value, (list, tuple)):
            return [self.named(item) for item in value]
        return value

    def factory(self, fallback: "Callable[[str], BlobClient] | None") -> "Callable[[str], BlobClient] | None":
        if not self.blobs:
            return fallback
        blobs = self.blobs

        def client(url: str) -> Any:
            found = blobs.get(strip_query(url))
            if found is not None:
                return found
            if fallback is None:
                raise InputError(f"pre-flight needs to read {strip_query(url)}: give it as a PageBlob, or a "
                                 "blob_client_factory")
            return fallback(url)

        return client


RegistrationSpec = Union[ImageSpec, CaptureSpec, GalleryVersionSpec, DiskImportSpec]


@refuse_unknown_keywords
class Registrar:
    """Registrations in one subscription (see the module docstring).

    :param arm: how to reach Azure Resource Manager (:class:`vhdupload.ArmConnection`).
    :param blob_client_factory: makes a ``BlobClient`` for a source URL, for the pre-flight
        reads (e.g. ``lambda url: vhdupload.PageBlob(url, credential=...).client(threads=2,
        timeout=None)``); without it, blob sources are not pre-flighted.
    :param polling_interval: seconds between polls when Azure does not say.
    :param read_only: send nothing but GET and HEAD (a dry run's promise, kept by the pipeline):
        :meth:`plan` works, :meth:`register` is refused before anything leaves.
    """

    def __init__(
        self,
        arm: ArmConnection,
        *,
        blob_client_factory: "Callable[[str], BlobClient] | None" = None,
        polling_interval: float | None = None,
        read_only: bool = False,
    ) -> None:
        if not isinstance(arm, ArmConnection):
            raise InputError("a Registrar needs an ArmConnection (vhdupload.ArmConnection(subscription_id, credential=...))")
        self.arm = arm
        self.compute_client = arm.compute(read_only=read_only)
        self.subscription_id = arm.subscription_id
        self.blob_client_factory = blob_client_factory
        self.polling_interval = polling_interval

    def plan(self, spec: RegistrationSpec) -> RegistrationPlan:
        """Pre-flight ``spec`` and build its ARM requests; nothing is created (reads only)."""
        if not isinstance(spec, (ImageSpec, CaptureSpec, GalleryVersionSpec, DiskImportSpec)):
            raise InputError(
                f"cannot register a {type(spec).__name__}: give an ImageSpec, CaptureSpec, GalleryVersionSpec "
                "or DiskImportSpec"
            )
        sources = _Sources()
        fields = {f.name: sources.named(getattr(spec, f.name)) for f in dataclasses.fields(spec)}
        common = {"subscription_id": self.subscription_id, "compute_client": self.compute_client}
        if isinstance(spec, CaptureSpec):
            return plan_capture(**fields, **common)
        factory = sources.factory(self.blob_client_factory)
        if isinstance(spec, ImageSpec):
            return plan_image(**fields, **common, blob_client_factory=factory)
        if isinstance(spec, GalleryVersionSpec):
            return plan_gallery_version(**fields, **common, blob_client_factory=factory)
        return plan_disk(**fields, **common, blob_client_factory=factory)

    def begin_register(self, spec: RegistrationSpec) -> Registration:
        """Plan ``spec``, create what it needs first, and start the last request: a
        :class:`Registration` to wait on (``result()``) or poll (``done()``, ``status()``)."""
        return self.run(self.plan(spec))

    def run(self, plan: RegistrationPlan) -> Registration:
        """Send a plan made by :meth:`plan`: create what it needs first, start the last request."""
        return run_plan(plan, compute_client=self.compute_client, polling_interval=self.polling_interval)

    def register(self, spec: RegistrationSpec) -> Any:
        """Register ``spec`` and wait: the created resource (an ``azure.mgmt.compute`` model;
        ``.as_dict()`` is its REST form). Failures raise :class:`vhdupload.RegistrationError`."""
        return self.begin_register(spec).result()
