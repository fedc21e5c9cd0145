"""Preparing each registration: the ``plan_*`` functions run the pre-flight, choose the
generation and build the bodies and ``az`` lines into a :class:`~.plans.RegistrationPlan`.

Nothing here creates anything in Azure; the lookups it makes (a VM, a gallery, storage
accounts) are read-only GETs.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Literal, TypeAlias, cast, overload

from azure.core.exceptions import ResourceNotFoundError

from ..errors import InputError, PreflightError
from ..redact import strip_query
from . import az_command, bodies, resource_ids
from ..azure.arm import arm_errors
from .blobs import BlobClientFactory, BlobReader
from .disk_sources import DiskCheck, check_managed_disk, check_os_type, disk_generation, is_disk_id, source_guest
from ..guest.generation import GenerationChoice, choose_generation, detect_os_type, normalize_generation
from .sector_layout import refuse_4k_sector_layout
from .plans import ArmRequest, RegistrationPlan
from .preflight import BlobCheck, check_blob
from .specs import CaptureSpec, DiskImportSpec, GalleryVersionSpec, ImageSpec, PlanContext
from .storage_accounts import storage_account_ids

#: ``{"team": "infra"}``, ``["team=infra"]`` or None.
Tags: TypeAlias = dict[str, str] | Iterable[str] | None
#: Blob URLs, ``"URL,lun=N,caching=ReadOnly"`` strings or :class:`~.bodies.DataDisk`.
DataDisks: TypeAlias = Iterable[bodies.DataDisk | str]

GENERALIZE_HINT = (
    "generalize the OS before uploading (Windows: `sysprep /generalize /oobe /shutdown`; "
    "Linux: `sudo waagent -deprovision+user`)"
)


def _named(source: object) -> str:
    """A source as ARM names it; destination values are named by the Registrar before planning."""
    if not isinstance(source, str):
        raise InputError(f"{source!r} is not a blob URL or a disk ID: plan it through vhdupload.Registrar")
    return source


def refuse_specialized_image(os_state: str | None) -> None:
    """Managed images are generalized only (Azure's API says so): point at the gallery instead."""
    if bodies.os_state(os_state) == "Specialized":
        raise InputError(
            "a managed image must be generalized, so --os-state specialized is refused: "
            "register a specialized disk set with `vhdupload register gallery-version --os-state specialized`"
        )


MANAGED_IMAGE_LIMIT = (
    "register a gallery image version instead (`vhdupload register gallery-version`, or kind = \"gallery-version\" "
    "in a publish manifest)"
)


def refuse_secure_image(security: str | None) -> None:
    """A managed image backs Standard VMs only (Trusted Launch and Confidential VMs need a
    gallery image or a disk): refuse the request before anything is uploaded or sent."""
    if security is not None and security.strip() and security.strip().lower() != "standard":
        raise InputError(f"a managed image cannot back a {security.strip()} VM: {MANAGED_IMAGE_LIMIT}")


def refuse_arm64_image(architecture: str | None) -> None:
    """Managed images have no architecture and are x64 only: an Arm64 OS disk needs a gallery version."""
    if (architecture or "").lower() == "arm64":
        raise InputError(f"the OS disk is Arm64, and a managed image can only back x64 VMs: {MANAGED_IMAGE_LIMIT}")


def _data_disks(data_disks: DataDisks, os_disk: str | None) -> list[bodies.DataDisk]:
    if isinstance(data_disks, (str, bytes)) or not hasattr(data_disks, "__iter__"):
        raise InputError(f"data_disks must be a list of blob URLs or DataDisk, got {type(data_disks).__name__}")
    specs = []
    for index, d in enumerate(data_disks):
        if not isinstance(d, (bodies.DataDisk, str)):  # a bad argument is an InputError, not an AttributeError
            raise InputError(f"data_disks[{index}] is {type(d).__name__}: give a blob URL (str) or a DataDisk")
        specs.append(d if isinstance(d, bodies.DataDisk) else bodies.parse_data_disk(d))
    return bodies.assign_luns(specs, os_disk=os_disk)


@overload
def _blob_urls(
    os_disk: str, data: list[bodies.DataDisk], factory: BlobClientFactory | None
) -> tuple[str, list[bodies.DataDisk], BlobClientFactory | None]: ...


@overload
def _blob_urls(
    os_disk: None, data: list[bodies.DataDisk], factory: BlobClientFactory | None
) -> tuple[None, list[bodies.DataDisk], BlobClientFactory | None]: ...


def _blob_urls(
    os_disk: str | None, data: list[bodies.DataDisk], factory: BlobClientFactory | None
) -> tuple[str | None, list[bodies.DataDisk], BlobClientFactory | None]:
    """Sources given as ``CONTAINER/NAME`` made full blob URLs, which is what Azure needs in a
    body: the URL the factory's client points at (built only, nothing is sent). The factory
    returned still gets the name as given, so a SAS on its account URL keeps working."""
    given: dict[str, str] = {}

    def full(source: str) -> str:
        if "://" in source or is_disk_id(source):
            return source
        if factory is None:
            raise InputError(
                f"{source!r} is not a blob URL: give https://ACCOUNT.blob.core.windows.net/CONTAINER/NAME, "
                "or a blob client factory that knows the account"
            )
        url = strip_query(factory(source).url)
        given[url] = source
        return url

    os_disk = full(os_disk) if os_disk is not None else None
    data = [dataclasses.replace(d, url=full(d.url)) for d in data]
    if not given or factory is None:
        return os_disk, data, factory
    inner = factory
    return os_disk, data, lambda url: inner(given.get(strip_query(url), url))


def _preflight(
    os_disk: str | None,
    data: list[bodies.DataDisk],
    *,
    factory: BlobClientFactory | None,
    skip: bool,
    compute_client: Any = None,
    subscription_id: str | None = None,
) -> tuple[list[BlobCheck | DiskCheck], BlobReader | None]:
    """Check every source (a blob, or a managed disk through ARM); return the checks and a
    reader of the OS disk (None if skipped, or if it is a managed disk: see :func:`_os_disk_check`)."""
    if skip:
        return [], None
    sources: list[tuple[str, Literal["os", "data"]]] = [(os_disk, "os")] if os_disk else []
    sources += [(d.url, "data") for d in data]
    if factory is None and any(not is_disk_id(url) for url, _ in sources):
        raise InputError("pre-flight needs to read the blobs: give blob_client_factory, or skip_preflight=True")
    checks: list[BlobCheck | DiskCheck] = []
    os_reader = None
    for url, role in sources:
        if is_disk_id(url):
            checks.append(check_managed_disk(compute_client, url, role=role, subscription_id=subscription_id))
            continue
        assert factory is not None  # refused above when a source is a blob
        reader = BlobReader(factory(url), url=url)
        checks.append(check_blob(reader, role=role))
        if role == "os":
            os_reader = reader
    return checks, os_reader


def _generation(requested: str | None, reader: BlobReader | None) -> GenerationChoice:
    if reader is not None:
        refuse_4k_sector_layout(reader)
    return choose_generation(requested, reader.read if reader is not None else None)


def _os_disk_check(checks: list[BlobCheck | DiskCheck]) -> DiskCheck | None:
    """The pre-flight of the OS disk when it is a managed disk (its generation and OS type are its own)."""
    return next((c for c in checks if isinstance(c, DiskCheck) and c.role == "os"), None)


def _put(operations: str, *path: str) -> Callable[..., Any]:
    """A ``begin`` callable: ``client.<operations>.begin_create_or_update(*path, body, **polling)``."""

    def begin(client: Any, body: bodies.Body, **polling: Any) -> Any:
        return getattr(client, operations).begin_create_or_update(*path, body, **polling)

    return begin


def plan_image(spec: ImageSpec, *, context: PlanContext) -> RegistrationPlan:
    """Plan a managed image: an OS image (only ``os_disk``) or a VM image (with ``data_disks``).

    ``data_disks`` are URLs, ``"URL,lun=N,caching=ReadOnly"`` strings or :class:`DataDisk`; a disk
    without a LUN gets the lowest free one. ``hyper_v_generation`` is ``"V1"``, ``"V2"`` or
    ``"auto"`` (read from the OS disk). Each blob is pre-flighted through
    ``blob_client_factory(url)`` unless ``skip_preflight``. Only a generalized image is possible.
    A source may also be a managed disk's resource ID (referenced as ``managedDisk.id``); its
    pre-flight reads it through ``compute_client``, and ``auto`` takes the disk's own generation.
    """
    name, resource_group, location = spec.name, spec.resource_group, spec.location
    os_disk = _named(spec.os_disk)
    os_type = spec.os_type
    data_disks = cast(DataDisks, spec.data_disks)  # checked item by item below; the Registrar names destinations
    os_state, hyper_v_generation, zone_resilient = spec.os_state, spec.hyper_v_generation, spec.zone_resilient
    storage_sku, os_caching, tags, skip_preflight = spec.storage_sku, spec.os_caching, spec.tags, spec.skip_preflight
    skip_guest_check, subscription_id = spec.skip_guest_check, context.subscription_id
    blob_client_factory, compute_client = context.blob_client_factory, context.compute_client
    refuse_specialized_image(os_state)
    refuse_secure_image(spec.security_type)
    kind_os = None if (os_type or "auto").strip().lower() == "auto" else bodies.os_type(os_type)
    data = _data_disks(data_disks, os_disk)
    os_disk, data, blob_client_factory = _blob_urls(os_disk, data, blob_client_factory)
    checks, reader = _preflight(os_disk, data, factory=blob_client_factory, skip=skip_preflight,
                                compute_client=compute_client, subscription_id=subscription_id)
    # Look inside the OS disk before any ARM call: refuse one that clearly was not generalized.
    guest = source_guest(reader, checks, compute_client, os_state="generalized", skip=skip_guest_check)
    guest.check_os_type(kind_os)
    refuse_arm64_image(guest.report.architecture if guest.report is not None else None)
    kind_os = kind_os or guest.os_type
    os_check = _os_disk_check(checks)
    if kind_os is None and os_check is not None:
        kind_os = os_check.os_type  # "auto" and nothing read inside: the OS type the managed disk records
    if kind_os is None:
        raise InputError("--os-type is required for an image (the OS disk did not tell): linux or windows")
    if os_check is not None:
        check_os_type(os_check, kind_os)
        generation = disk_generation(hyper_v_generation, os_check)
    else:
        generation = _generation(hyper_v_generation, reader)
    body = bodies.image_body(
        location=location,
        os_disk=os_disk,
        os_type=kind_os,
        os_state="Generalized",
        data_disks=data,
        hyper_v_generation=generation.generation,
        zone_resilient=zone_resilient,
        storage_sku=bodies.storage_sku(storage_sku),
        os_caching=bodies.caching(os_caching),
        tags=bodies.parse_tags(tags),
    )
    what = f"VM image {name} (OS disk + {len(data)} data disks)" if data else f"OS image {name}"
    request = ArmRequest(
        description=what,
        resource_id=resource_ids.image_id(subscription_id, resource_group, name),
        body=body,
        az_command=az_command.az_image_create(name=name, resource_group=resource_group, body=body, subscription=subscription_id),
        begin=_put("images", resource_group, name),
        az_note=az_command.az_image_note(body),
    )
    return RegistrationPlan(
        kind="image", requests=[request], checks=checks, notes=guest.notes + generation.notes,
        warnings=guest.warnings + generation.warnings,
    )


def _power_and_state(vm: bodies.Body) -> tuple[str | None, bool]:
    statuses = ((vm.get("properties") or {}).get("instanceView") or {}).get("statuses") or []
    codes = [str(s.get("code", "")) for s in statuses]
    power = next((c.split("/", 1)[1].lower() for c in codes if c.lower().startswith("powerstate/")), None)
    generalized = any(c.lower() == "osstate/generalized" for c in codes)
    return power, generalized


def plan_capture(spec: CaptureSpec, *, context: PlanContext) -> RegistrationPlan:
    """Plan capturing a generalized, deallocated VM as a managed image (never a specialized one)."""
    name, resource_group, source_vm, location = spec.name, spec.resource_group, spec.source_vm, spec.location
    hyper_v_generation, zone_resilient, tags = spec.hyper_v_generation, spec.zone_resilient, spec.tags
    os_state, subscription_id, compute_client = spec.os_state, context.subscription_id, context.compute_client
    refuse_specialized_image(os_state)
    sub, vm_rg, vm_name = resource_ids.split_vm(source_vm, subscription_id=subscription_id, resource_group=resource_group)
    vm_id = resource_ids.vm_id(sub, vm_rg, vm_name)
    with arm_errors(f"read the VM {vm_name}"):
        try:
            vm = compute_client.virtual_machines.get(vm_rg, vm_name, expand="instanceView").as_dict()
        except ResourceNotFoundError:
            raise InputError(f"there is no VM {vm_name!r} in resource group {vm_rg!r}: check --source-vm") from None
    power, generalized = _power_and_state(vm)
    deallocate = f"az vm deallocate --resource-group {vm_rg} --name {vm_name}"
    if power != "deallocated":
        state = f"is {power}" if power else "reports no power state"
        raise PreflightError(
            f"the VM {vm_name} {state}; only a deallocated VM can be captured: "
            f"generalize it, then run `{deallocate}` and try again"
        )
    if not generalized:
        raise PreflightError(
            f"the VM {vm_name} is not marked generalized: inside it, {GENERALIZE_HINT}; then "
            f"`{deallocate}` and `az vm generalize --resource-group {vm_rg} --name {vm_name}`"
        )
    instance = (vm.get("properties") or {}).get("instanceView") or {}
    generation = bodies.generation_or_none(hyper_v_generation) or instance.get("hyperVGeneration")
    body = bodies.capture_body(
        location=location or vm["location"],
        vm_id=vm_id,
        hyper_v_generation=generation,
        zone_resilient=zone_resilient,
        tags=bodies.parse_tags(tags),
    )
    request = ArmRequest(
        description=f"image {name} captured from VM {vm_name}",
        resource_id=resource_ids.image_id(subscription_id, resource_group, name),
        body=body,
        az_command=az_command.az_image_create(name=name, resource_group=resource_group, body=body, subscription=subscription_id),
        begin=_put("images", resource_group, name),
    )
    note = f"capturing VM {vm_name}: it must have been generalized inside ({GENERALIZE_HINT}) and marked so with `az vm generalize`"
    return RegistrationPlan(kind="image", requests=[request], notes=[note])


def _existing(getter: Callable[..., Any], *path: str, action: str) -> bodies.Body | None:
    with arm_errors(action):
        try:
            found: bodies.Body = getter(*path).as_dict()
            return found
        except ResourceNotFoundError:
            return None


def plan_disk(spec: DiskImportSpec, *, context: PlanContext) -> RegistrationPlan:
    """Plan a managed disk imported from a blob; an OS disk (``os_type``) gets a generation (auto by default)."""
    name, resource_group, location = spec.name, spec.resource_group, spec.location
    source = _named(spec.source)
    sku, os_type, hyper_v_generation = spec.sku, spec.os_type, spec.hyper_v_generation
    storage_account_id, tags, skip_preflight = spec.storage_account_id, spec.tags, spec.skip_preflight
    subscription_id, compute_client = context.subscription_id, context.compute_client
    blob_client_factory = context.blob_client_factory
    kind_os = bodies.os_type(os_type)
    hyper_v_generation = normalize_generation(hyper_v_generation)
    source, _, blob_client_factory = _blob_urls(source, [], blob_client_factory)
    if kind_os is None and hyper_v_generation not in (None, "auto"):
        raise InputError("--hyper-v-generation applies to an OS disk: give --os-type too")
    if kind_os is not None:
        checks, reader = _preflight(source, [], factory=blob_client_factory, skip=skip_preflight)
        choice = _generation(hyper_v_generation or "auto", reader)
    else:
        checks, _ = _preflight(None, [bodies.DataDisk(url=source)], factory=blob_client_factory, skip=skip_preflight)
        choice = GenerationChoice(None)
    ids = storage_account_ids(compute_client, subscription_id=subscription_id, urls=[source], given=storage_account_id)
    body = bodies.disk_import_body(
        location=location,
        source=source,
        storage_account_id=next(iter(ids.values())),
        sku=bodies.storage_sku(sku, "--sku"),
        os_type=kind_os,
        hyper_v_generation=choice.generation,
        tags=bodies.parse_tags(tags),
    )
    request = ArmRequest(
        description=f"disk {name}",
        resource_id=resource_ids.disk_id(subscription_id, resource_group, name),
        body=body,
        az_command=az_command.az_disk_create(name=name, resource_group=resource_group, body=body, subscription=subscription_id),
        begin=_put("disks", resource_group, name),
    )
    return RegistrationPlan(kind="disk", requests=[request], checks=checks, notes=choice.notes, warnings=choice.warnings)
