"""Running registrations: the library entry points.

Each ``register_*`` takes either ``credential`` + ``subscription_id`` or a ready
``compute_client``, waits for Azure and returns the created resource (an ``azure.mgmt.compute``
model; ``resource.as_dict()`` is its REST form). ``begin_*`` returns a :class:`Registration`
at once, for callers that show progress or do not wait.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from .arm import arm_errors, make_compute_client
from .prepare import plan_capture, plan_disk, plan_gallery_version, plan_image
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
        """Wait up to ``timeout`` seconds (for ever if None); a failure raises :class:`~vhdupload.ArmError`."""
        with arm_errors(f"create the {self.plan.target.description}"):
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
    arm_options = {k: v for k, v in arm_options.items() if v is not None}
    if compute_client is not None:
        # ComputeManagementClient has no public accessor for the subscription it was made for
        # (azure-mgmt-compute 39 keeps it only in ``_config``), so a ready client given without
        # subscription_id is asked through that attribute, and refused if it lacks one.
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


def _begin(
    planner: Any,
    *,
    credential: Any = None,
    subscription_id: str | None = None,
    compute_client: Any = None,
    polling_interval: float | None = None,
    arm_endpoint: str | None = None,
    cloud: str | None = None,
    audience: str | None = None,
    **options: Any,
) -> Registration:
    arm_options = {"arm_endpoint": arm_endpoint, "cloud": cloud, "audience": audience}
    client, sub = _client(compute_client, credential, subscription_id, arm_options)
    if planner is not plan_image:
        options["compute_client"] = client
    plan = planner(subscription_id=sub, **options)
    return run_plan(plan, compute_client=client, polling_interval=polling_interval)


_CONNECTION = """

    Azure is reached with ``compute_client``, or with ``credential`` + ``subscription_id`` (and
    optionally ``arm_endpoint``, ``cloud``, ``audience``, see :func:`make_compute_client`);
    ``polling_interval`` overrides the seconds between polls when Azure does not say.
"""


def begin_register_image(**kwargs: Any) -> Registration:
    """Start creating a managed image; the options are :func:`plan_image`'s."""
    return _begin(plan_image, **kwargs)


def register_image(**kwargs: Any) -> Any:
    """Create a managed image: an OS image from ``os_disk``, a VM image when ``data_disks`` are given.

    Options: ``name``, ``resource_group``, ``location``, ``os_disk``, ``os_type``, ``data_disks``
    (URLs or :class:`DataDisk`, ``"URL,lun=N,caching=ReadOnly"``), ``hyper_v_generation``
    (``"auto"`` reads the OS disk's partition table), ``zone_resilient``, ``storage_sku``,
    ``tags``, ``blob_client_factory`` (URL -> ``BlobClient``, for the pre-flight reads),
    ``skip_preflight`` (see :func:`plan_image`). Returns the ``Image``.
    """
    return begin_register_image(**kwargs).result()


def begin_capture_vm_image(**kwargs: Any) -> Registration:
    """Start capturing a generalized, deallocated VM; the options are :func:`plan_capture`'s."""
    return _begin(plan_capture, **kwargs)


def capture_vm_image(**kwargs: Any) -> Any:
    """Capture an existing VM (``source_vm``: a name in ``resource_group``, or an ID) as a managed image.

    Refuses a VM that is not deallocated or not marked generalized (``az vm generalize``).
    Returns the ``Image``.
    """
    return begin_capture_vm_image(**kwargs).result()


def begin_register_gallery_version(**kwargs: Any) -> Registration:
    """Start creating a gallery image version; the options are :func:`plan_gallery_version`'s."""
    return _begin(plan_gallery_version, **kwargs)


def register_gallery_version(**kwargs: Any) -> Any:
    """Create an Azure Compute Gallery image version from blobs; returns the ``GalleryImageVersion``.

    A missing gallery is created; a missing image definition is created when ``publisher``,
    ``offer``, ``sku`` and ``os_type`` are given (refused, naming what is missing, otherwise).
    """
    return begin_register_gallery_version(**kwargs).result()


def begin_register_disk(**kwargs: Any) -> Registration:
    """Start importing a blob as a managed disk; the options are :func:`plan_disk`'s."""
    return _begin(plan_disk, **kwargs)


def register_disk(**kwargs: Any) -> Any:
    """Import a blob as a managed disk (``createOption: Import``); returns the ``Disk``.

    ``storage_account_id`` is found through ARM when not given, and asked for when it cannot be.
    """
    return begin_register_disk(**kwargs).result()


for _function in (
    begin_register_image, register_image, begin_capture_vm_image, capture_vm_image,
    begin_register_gallery_version, register_gallery_version, begin_register_disk, register_disk,
):
    _function.__doc__ = (_function.__doc__ or "") + _CONNECTION
