"""Running registrations: :func:`connect` to ARM, :func:`run_plan` to send a plan's requests,
and the :class:`Registration` that follows the last one. The library's entry point is
:class:`vhdupload.Registrar` (:mod:`.client`), which plans with :mod:`.prepare` and runs here."""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from .arm import arm_errors, make_compute_client
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
