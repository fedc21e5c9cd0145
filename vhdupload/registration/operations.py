"""Running registrations: :func:`run_plan` sends a plan's requests,
and the :class:`Registration` that follows the last one. The library's entry point is
:class:`vhdupload.Registrar` (:mod:`.client`), which plans with :mod:`.prepare` and runs here."""

from __future__ import annotations

from typing import Any

from azure.core.polling import LROPoller

from ..azure.arm import arm_errors
from .plans import RegistrationPlan


class _Found(dict[str, Any]):
    """A resource ARM already had, shaped like the models a poller returns (``as_dict()``)."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self)


class Registration:
    """A started registration: its plan and the poller of the resource's long-running operation
    (None when the resource already existed with the plan's body: then it is done)."""

    def __init__(self, plan: RegistrationPlan, poller: LROPoller[Any] | None) -> None:
        self.plan = plan
        self.poller = poller

    @property
    def resource_id(self) -> str:
        return self.plan.resource_id

    def done(self) -> bool:
        return self.poller is None or self.poller.done()

    def wait(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds (for ever if None); a failure raises :class:`~vhdupload.ArmError`."""
        if self.poller is None:
            return
        with arm_errors(f"create the {self.plan.target.description}"):
            self.poller.wait(timeout)

    def status(self) -> str:
        return "Succeeded" if self.poller is None else str(self.poller.status())

    def result(self, timeout: float | None = None) -> Any:
        """The created resource; an :class:`~vhdupload.ArmError` when Azure reports a failure."""
        if self.poller is None:
            return _Found(self.plan.existing or {})
        with arm_errors(f"create the {self.plan.target.description}"):
            return self.poller.result(timeout)


def run_plan(plan: RegistrationPlan, *, compute_client: Any, polling_interval: float | None = None) -> Registration:
    """Send the plan's requests: every prerequisite is waited for; the last one is returned running."""
    polling = {} if polling_interval is None else {"polling_interval": polling_interval}
    for request in plan.requests[:-1]:
        with arm_errors(f"create the {request.description}"):
            request.begin(compute_client, request.body, **polling).result()
    target = plan.target
    if plan.existing is not None:
        return Registration(plan, None)
    with arm_errors(f"create the {target.description}"):
        poller = target.begin(compute_client, target.body, **polling)
    return Registration(plan, poller)
