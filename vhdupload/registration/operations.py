"""Running registrations: the library entry points.

Each ``register_*`` takes either ``credential`` + ``subscription_id`` or a ready
``compute_client``, waits for Azure and returns the created resource (an ``azure.mgmt.compute``
model; ``resource.as_dict()`` is its REST form). ``begin_*`` returns a :class:`Registration`
at once, for callers that show progress or do not wait.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..errors import InputError
from .arm import arm_errors, make_compute_client
from .bodies import DataDisk
from .blobs import BlobClientFactory
from .planning import plan_capture, plan_disk, plan_gallery_version, plan_image
from .plans import RegistrationPlan


class Registration:
    """A started registration: its plan and the poller of the resource's long-running operation."""

    def __init__(self, plan: RegistrationPlan, poller: Any) -> None:
        self.plan = plan
        self.poller = poller

    @property
    def resource_id(self) -> str:
        return self.plan.resource_id

    def done(self) -> bool:
        return self.poller.done()

    def wait(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds (for ever if None); errors surface in :meth:`result`."""
        self.poller.wait(timeout)

    def status(self) -> str:
        return str(self.poller.status())

    def result(self, timeout: float | None = None) -> Any:
        """The created resource; an :class:`~vhdupload.ArmError` when Azure reports a failure."""
        with arm_errors(f"create the {self.plan.target.description}"):
            return self.poller.result(timeout)


def _client(
    compute_client: Any, credential: Any, subscription_id: str | None, arm_options: dict[str, Any]
) -> tuple[Any, str]:
    if compute_client is not None:
        sub = subscription_id or getattr(getattr(compute_client, "_config", None), "subscription_id", None)
        if not sub:
            raise InputError("give subscription_id together with compute_client")
        return compute_client, sub
    if credential is None or not subscription_id:
        raise InputError("give either compute_client, or credential and subscription_id")
    return make_compute_client(credential=credential, subscription_id=subscription_id, **arm_options), subscription_id


def run_plan(plan: RegistrationPlan, *, compute_client: Any, polling_interval: float | None = None) -> Registration:
    """Send the plan's requests: every prerequisite is waited for; the last one is returned running."""
    polling = {} if polling_interval is None else {"polling_interval": polling_interval}
    for request in plan.requests[:-1]:
        with arm_errors(f"create the {request.description}"):
            request.begin(compute_client, request.body, **polling).result()
    target = plan.target
    with arm_errors(f"create the {target.description}"):
        poller = target.begin(compute_client, target.body, **polling)
    return Registration(plan, poller)


def begin_register_image(
    *,
    name: str,
    resource_group: str,
    location: str,
    os_disk: str,
    os_type: str,
    data_disks: Iterable[DataDisk | str] = (),
    os_state: str = "generalized",
    hyper_v_generation: str | None = "auto",
    zone_resilient: bool = False,
    storage_sku: str | None = None,
    tags: dict[str, str] | Iterable[str] | None = None,
    blob_client_factory: BlobClientFactory | None = None,
    skip_preflight: bool = False,
    credential: Any = None,
    subscription_id: str | None = None,
    compute_client: Any = None,
    polling_interval: float | None = None,
    **arm_options: Any,
) -> Registration:
    """Start creating a managed image from blobs (see :func:`register_image`)."""
    client, sub = _client(compute_client, credential, subscription_id, arm_options)
    plan = plan_image(
        name=name, resource_group=resource_group, location=location, os_disk=os_disk, os_type=os_type,
        subscription_id=sub, data_disks=data_disks, os_state=os_state, hyper_v_generation=hyper_v_generation,
        zone_resilient=zone_resilient, storage_sku=storage_sku, tags=tags,
        blob_client_factory=blob_client_factory, skip_preflight=skip_preflight,
    )
    return run_plan(plan, compute_client=client, polling_interval=polling_interval)


def register_image(**kwargs: Any) -> Any:
    """Create a managed image: an OS image from ``os_disk``, a VM image when ``data_disks`` are given.

    Every source blob is pre-flighted first (``blob_client_factory(url)`` makes a ``BlobClient``)
    unless ``skip_preflight``; ``hyper_v_generation="auto"`` reads the OS disk's partition table.
    Returns the ``Image``.
    """
    return begin_register_image(**kwargs).result()


def begin_capture_vm_image(
    *,
    name: str,
    resource_group: str,
    source_vm: str,
    location: str | None = None,
    hyper_v_generation: str | None = None,
    zone_resilient: bool = False,
    tags: dict[str, str] | Iterable[str] | None = None,
    credential: Any = None,
    subscription_id: str | None = None,
    compute_client: Any = None,
    polling_interval: float | None = None,
    **arm_options: Any,
) -> Registration:
    """Start capturing a generalized, deallocated VM as a managed image."""
    client, sub = _client(compute_client, credential, subscription_id, arm_options)
    plan = plan_capture(
        name=name, resource_group=resource_group, source_vm=source_vm, subscription_id=sub, compute_client=client,
        location=location, hyper_v_generation=hyper_v_generation, zone_resilient=zone_resilient, tags=tags,
    )
    return run_plan(plan, compute_client=client, polling_interval=polling_interval)


def capture_vm_image(**kwargs: Any) -> Any:
    """Capture an existing VM (name in ``resource_group``, or ID) as a managed image; returns the ``Image``.

    Refuses a VM that is not deallocated or not marked generalized (``az vm generalize``).
    """
    return begin_capture_vm_image(**kwargs).result()


def begin_register_gallery_version(
    *,
    gallery: str,
    image_definition: str,
    version: str,
    resource_group: str,
    location: str,
    os_disk: str,
    data_disks: Iterable[DataDisk | str] = (),
    storage_account_id: str | None = None,
    target_regions: Iterable[str | dict] = (),
    os_state: str = "generalized",
    os_type: str | None = None,
    hyper_v_generation: str | None = "auto",
    publisher: str | None = None,
    offer: str | None = None,
    sku: str | None = None,
    tags: dict[str, str] | Iterable[str] | None = None,
    blob_client_factory: BlobClientFactory | None = None,
    skip_preflight: bool = False,
    credential: Any = None,
    subscription_id: str | None = None,
    compute_client: Any = None,
    polling_interval: float | None = None,
    **arm_options: Any,
) -> Registration:
    """Start creating a gallery image version (the gallery and definition first, when missing)."""
    client, sub = _client(compute_client, credential, subscription_id, arm_options)
    plan = plan_gallery_version(
        gallery=gallery, image_definition=image_definition, version=version, resource_group=resource_group,
        location=location, os_disk=os_disk, subscription_id=sub, compute_client=client, data_disks=data_disks,
        storage_account_id=storage_account_id, target_regions=target_regions, os_state=os_state, os_type=os_type,
        hyper_v_generation=hyper_v_generation, publisher=publisher, offer=offer, sku=sku, tags=tags,
        blob_client_factory=blob_client_factory, skip_preflight=skip_preflight,
    )
    return run_plan(plan, compute_client=client, polling_interval=polling_interval)


def register_gallery_version(**kwargs: Any) -> Any:
    """Create an Azure Compute Gallery image version from blobs; returns the ``GalleryImageVersion``.

    A missing gallery is created; a missing image definition is created when ``publisher``,
    ``offer``, ``sku`` and ``os_type`` are given (refused, naming what is missing, otherwise).
    """
    return begin_register_gallery_version(**kwargs).result()


def begin_register_disk(
    *,
    name: str,
    resource_group: str,
    location: str,
    source: str,
    sku: str | None = None,
    os_type: str | None = None,
    hyper_v_generation: str | None = None,
    storage_account_id: str | None = None,
    tags: dict[str, str] | Iterable[str] | None = None,
    blob_client_factory: BlobClientFactory | None = None,
    skip_preflight: bool = False,
    credential: Any = None,
    subscription_id: str | None = None,
    compute_client: Any = None,
    polling_interval: float | None = None,
    **arm_options: Any,
) -> Registration:
    """Start importing a blob as a managed disk."""
    client, sub = _client(compute_client, credential, subscription_id, arm_options)
    plan = plan_disk(
        name=name, resource_group=resource_group, location=location, source=source, subscription_id=sub,
        compute_client=client, sku=sku, os_type=os_type, hyper_v_generation=hyper_v_generation,
        storage_account_id=storage_account_id, tags=tags,
        blob_client_factory=blob_client_factory, skip_preflight=skip_preflight,
    )
    return run_plan(plan, compute_client=client, polling_interval=polling_interval)


def register_disk(**kwargs: Any) -> Any:
    """Import a blob as a managed disk (``createOption: Import``); returns the ``Disk``.

    ``storage_account_id`` is found through ARM when not given, and asked for when it cannot be.
    """
    return begin_register_disk(**kwargs).result()
