"""Running registrations: the library entry points.

Each ``register_*`` takes its plan's options (those of the ``plan_*`` function in
:mod:`.prepare`) and the connection options, either ``credential`` + ``subscription_id`` or a
ready ``compute_client``; it waits for Azure and returns the created resource (an
``azure.mgmt.compute`` model; ``resource.as_dict()`` is its REST form). ``begin_*`` takes the same
keywords and returns a :class:`Registration` at once, for callers that show progress or do not wait.

The signatures are written out so that ``help()``, IDEs and type checkers see them; the bodies
only forward their arguments (``locals()``): the options to the plan, the rest to :func:`connect`.
``tests/registration/test_signatures.py`` keeps each signature equal to its plan's.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ..errors import InputError
from .arm import arm_errors, make_compute_client
from .blobs import BlobClientFactory
from .prepare import DataDisks, Tags, plan_capture, plan_disk, plan_gallery_version, plan_image
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


def connect(
    *,
    credential: Any = None,
    subscription_id: str | None = None,
    compute_client: Any = None,
    arm_endpoint: str | None = None,
    cloud: str | None = None,
    audience: str | None = None,
) -> tuple[Any, str]:
    """The compute client and subscription the connection keywords name: ``compute_client`` as given,
    or one made by :func:`make_compute_client` from ``credential`` + ``subscription_id``."""
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
    client = make_compute_client(
        credential=credential, subscription_id=subscription_id, arm_endpoint=arm_endpoint, cloud=cloud, audience=audience
    )
    return client, subscription_id


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


CONNECTION_KEYWORDS = ("credential", "subscription_id", "compute_client", "arm_endpoint", "cloud", "audience")


def _start(planner: Callable[..., RegistrationPlan], arguments: dict[str, Any], *, planner_reads_arm: bool = True) -> Registration:
    """Run a ``begin_*`` function: ``arguments`` are its parameters (its ``locals()``), the plan's
    options plus the connection keywords; ``planner_reads_arm`` planners get the client for lookups."""
    options = dict(arguments)
    polling_interval = options.pop("polling_interval")
    client, sub = connect(**{name: options.pop(name) for name in CONNECTION_KEYWORDS})
    if planner_reads_arm:
        options["compute_client"] = client
    plan = planner(subscription_id=sub, **options)
    return run_plan(plan, compute_client=client, polling_interval=polling_interval)


_CONNECTION = """

    Azure is reached with ``compute_client``, or with ``credential`` + ``subscription_id`` (and
    optionally ``arm_endpoint``, ``cloud``, ``audience``, see :func:`make_compute_client`);
    ``polling_interval`` overrides the seconds between polls when Azure does not say.
"""


def begin_register_image(
    *,
    name: str,
    resource_group: str,
    location: str,
    os_disk: str,
    os_type: str,
    data_disks: DataDisks = (),
    os_state: str = "generalized",
    hyper_v_generation: str | None = "auto",
    zone_resilient: bool = False,
    storage_sku: str | None = None,
    os_caching: str | None = None,
    tags: Tags = None,
    blob_client_factory: BlobClientFactory | None = None,
    skip_preflight: bool = False,
    skip_guest_check: bool = False,
    credential: Any = None,
    subscription_id: str | None = None,
    compute_client: Any = None,
    polling_interval: float | None = None,
    arm_endpoint: str | None = None,
    cloud: str | None = None,
    audience: str | None = None,
) -> Registration:
    """Start creating a managed image: :func:`register_image`'s keywords; returns a :class:`Registration` at once."""
    return _start(plan_image, locals())  # the client reads managed disk sources in the pre-flight


def register_image(
    *,
    name: str,
    resource_group: str,
    location: str,
    os_disk: str,
    os_type: str,
    data_disks: DataDisks = (),
    os_state: str = "generalized",
    hyper_v_generation: str | None = "auto",
    zone_resilient: bool = False,
    storage_sku: str | None = None,
    os_caching: str | None = None,
    tags: Tags = None,
    blob_client_factory: BlobClientFactory | None = None,
    skip_preflight: bool = False,
    skip_guest_check: bool = False,
    credential: Any = None,
    subscription_id: str | None = None,
    compute_client: Any = None,
    polling_interval: float | None = None,
    arm_endpoint: str | None = None,
    cloud: str | None = None,
    audience: str | None = None,
) -> Any:
    """Create the managed image ``name`` in ``resource_group`` at ``location``; returns the ``Image``.

    An OS image from the blob URL (or managed disk ID) ``os_disk`` (``os_type`` ``"linux"`` or ``"windows"``), a VM
    image when ``data_disks`` are given too (URLs, ``"URL,lun=N,caching=ReadOnly"`` or
    :class:`DataDisk`; a disk without a LUN gets the lowest free one). ``hyper_v_generation`` is
    ``"V1"``, ``"V2"`` or ``"auto"`` (read from the OS disk's partition table). ``os_state`` can
    only be generalized. ``zone_resilient``, ``storage_sku`` (``"Premium_LRS"``...), ``os_caching``
    and ``tags`` (a dict or ``"key=value"`` strings) go into the body. Each blob is pre-flighted
    through ``blob_client_factory(url)`` (URL -> ``BlobClient``) unless ``skip_preflight``. The OS
    disk's file systems are read too (:func:`vhdupload.guest.examine_blob`, a few MB of ranged
    reads): a disk that clearly was not generalized raises :class:`~vhdupload.errors.NotGeneralizedError`
    before any ARM call unless ``skip_guest_check``; ``os_type="auto"`` takes the OS found inside.
    """
    return begin_register_image(**locals()).result()


def begin_capture_vm_image(
    *,
    name: str,
    resource_group: str,
    source_vm: str,
    location: str | None = None,
    hyper_v_generation: str | None = None,
    zone_resilient: bool = False,
    tags: Tags = None,
    os_state: str = "generalized",
    credential: Any = None,
    subscription_id: str | None = None,
    compute_client: Any = None,
    polling_interval: float | None = None,
    arm_endpoint: str | None = None,
    cloud: str | None = None,
    audience: str | None = None,
) -> Registration:
    """Start capturing a VM: :func:`capture_vm_image`'s keywords; returns a :class:`Registration` at once."""
    return _start(plan_capture, locals())


def capture_vm_image(
    *,
    name: str,
    resource_group: str,
    source_vm: str,
    location: str | None = None,
    hyper_v_generation: str | None = None,
    zone_resilient: bool = False,
    tags: Tags = None,
    os_state: str = "generalized",
    credential: Any = None,
    subscription_id: str | None = None,
    compute_client: Any = None,
    polling_interval: float | None = None,
    arm_endpoint: str | None = None,
    cloud: str | None = None,
    audience: str | None = None,
) -> Any:
    """Capture an existing VM as the managed image ``name`` in ``resource_group``; returns the ``Image``.

    ``source_vm`` is a VM name in ``resource_group`` or a VM resource ID; the VM must be
    deallocated and marked generalized (``az vm generalize``), and is refused otherwise.
    ``location`` and ``hyper_v_generation`` default to the VM's; ``os_state`` can only be
    generalized; ``zone_resilient`` and ``tags`` go into the body.
    """
    return begin_capture_vm_image(**locals()).result()


def begin_register_gallery_version(
    *,
    gallery: str,
    image_definition: str,
    version: str,
    resource_group: str,
    location: str,
    os_disk: str,
    data_disks: DataDisks = (),
    storage_account_id: str | None = None,
    target_regions: Iterable[str | dict] = (),
    os_state: str = "generalized",
    os_type: str | None = None,
    hyper_v_generation: str | None = "auto",
    publisher: str | None = None,
    offer: str | None = None,
    sku: str | None = None,
    tags: Tags = None,
    blob_client_factory: BlobClientFactory | None = None,
    skip_preflight: bool = False,
    architecture: str | None = "auto",
    skip_guest_check: bool = False,
    credential: Any = None,
    subscription_id: str | None = None,
    compute_client: Any = None,
    polling_interval: float | None = None,
    arm_endpoint: str | None = None,
    cloud: str | None = None,
    audience: str | None = None,
) -> Registration:
    """Start creating a gallery image version: :func:`register_gallery_version`'s keywords; returns a
    :class:`Registration` at once (a missing gallery or image definition is created first, waited for)."""
    return _start(plan_gallery_version, locals())


def register_gallery_version(
    *,
    gallery: str,
    image_definition: str,
    version: str,
    resource_group: str,
    location: str,
    os_disk: str,
    data_disks: DataDisks = (),
    storage_account_id: str | None = None,
    target_regions: Iterable[str | dict] = (),
    os_state: str = "generalized",
    os_type: str | None = None,
    hyper_v_generation: str | None = "auto",
    publisher: str | None = None,
    offer: str | None = None,
    sku: str | None = None,
    tags: Tags = None,
    blob_client_factory: BlobClientFactory | None = None,
    skip_preflight: bool = False,
    architecture: str | None = "auto",
    skip_guest_check: bool = False,
    credential: Any = None,
    subscription_id: str | None = None,
    compute_client: Any = None,
    polling_interval: float | None = None,
    arm_endpoint: str | None = None,
    cloud: str | None = None,
    audience: str | None = None,
) -> Any:
    """Create version ``version`` (``MAJOR.MINOR.PATCH``) of ``image_definition`` in ``gallery`` from
    blobs; returns the ``GalleryImageVersion``.

    ``os_disk`` and ``data_disks`` are as for :func:`register_image`; ``target_regions`` are
    ``"NAME"`` or ``"NAME=REPLICAS"`` strings (or ``targetRegions`` dicts); ``storage_account_id`` is
    found through ARM when not given. A missing gallery is created; a missing image definition is
    created from ``publisher``, ``offer``, ``sku``, ``os_type`` (detected from the OS disk when it
    can be), ``os_state`` (``"generalized"`` or ``"specialized"``) and ``hyper_v_generation``, and
    refused, naming what is missing, without them. An existing definition that contradicts
    ``os_type``, ``os_state`` or an explicit generation is refused. ``tags``,
    ``blob_client_factory``, ``skip_preflight`` and ``skip_guest_check`` as for :func:`register_image`
    (a specialized version of a generalized disk is a warning); ``architecture`` (``"x64"``,
    ``"Arm64"`` or ``"auto"``, read inside the OS disk) goes into a new definition, and an existing
    definition of another architecture is refused.
    """
    return begin_register_gallery_version(**locals()).result()


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
    tags: Tags = None,
    blob_client_factory: BlobClientFactory | None = None,
    skip_preflight: bool = False,
    credential: Any = None,
    subscription_id: str | None = None,
    compute_client: Any = None,
    polling_interval: float | None = None,
    arm_endpoint: str | None = None,
    cloud: str | None = None,
    audience: str | None = None,
) -> Registration:
    """Start importing a blob as a managed disk: :func:`register_disk`'s keywords; returns a :class:`Registration` at once."""
    return _start(plan_disk, locals())


def register_disk(
    *,
    name: str,
    resource_group: str,
    location: str,
    source: str,
    sku: str | None = None,
    os_type: str | None = None,
    hyper_v_generation: str | None = None,
    storage_account_id: str | None = None,
    tags: Tags = None,
    blob_client_factory: BlobClientFactory | None = None,
    skip_preflight: bool = False,
    credential: Any = None,
    subscription_id: str | None = None,
    compute_client: Any = None,
    polling_interval: float | None = None,
    arm_endpoint: str | None = None,
    cloud: str | None = None,
    audience: str | None = None,
) -> Any:
    """Import the blob URL ``source`` as the managed disk ``name`` (``createOption: Import``); returns the ``Disk``.

    ``sku`` is the disk's storage SKU (``"Premium_LRS"``...). With ``os_type`` it is an OS disk,
    whose ``hyper_v_generation`` is read from its partition table unless given (``"V1"``/``"V2"``);
    without, a data disk. ``storage_account_id`` is found through ARM when not given, and asked
    for when it cannot be. ``tags``, ``blob_client_factory`` and ``skip_preflight`` as for
    :func:`register_image`.
    """
    return begin_register_disk(**locals()).result()


for _function in (
    begin_register_image, register_image, begin_capture_vm_image, capture_vm_image,
    begin_register_gallery_version, register_gallery_version, begin_register_disk, register_disk,
):
    _function.__doc__ = (_function.__doc__ or "").rstrip() + _CONNECTION
