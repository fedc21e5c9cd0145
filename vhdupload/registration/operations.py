"""Running registrations: :func:`run_plan` sends a plan's requests,
and the :class:`Registration` that follows the last one. The library's entry point is
:class:`vhdupload.Registrar` (:mod:`.client`), which plans with :mod:`.prepare` and runs here.

Every wait is bounded: each long-running operation has a deadline (its kind's own, or the
connection's ``operation_timeout``) and is announced through the connection's ``on_wait`` once it
lasts more than a few seconds (:class:`~vhdupload.azure.arm.OperationWatch`).
"""

from __future__ import annotations

import re
from typing import Any

from azure.core.polling import LROPoller

from ..azure.arm import OPERATION_DEADLINES, ArmConnection, OperationWatch, arm_errors, wait_for
from .plans import RegistrationPlan

_KINDS = {"images": "image", "galleries": "gallery", "galleries/images": "gallery image definition",
          "galleries/images/versions": "gallery image version", "disks": "managed disk"}


def resource_kind(resource_id: str) -> str:
    """``gallery image version`` for ``…/galleries/G/images/D/versions/V``: a key of
    :data:`~vhdupload.azure.arm.OPERATION_DEADLINES` (``image`` when not recognised)."""
    match = re.search(r"/providers/Microsoft\.Compute/(.+)$", resource_id, re.I)
    types = "/".join(match[1].split("/")[0::2]).lower() if match else ""
    return _KINDS.get(types, "image")


def _watch(arm: ArmConnection | None, resource_id: str, action: str) -> OperationWatch:
    kind = resource_kind(resource_id)
    if arm is not None:
        return arm.watch(kind, action)
    return OperationWatch(action, deadline=OPERATION_DEADLINES[kind])


class _Found(dict[str, Any]):
    """A resource ARM already had, shaped like the models a poller returns (``as_dict()``)."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self)


class Registration:
    """A started registration: its plan and the poller of the resource's long-running operation
    (None when the resource already existed with the plan's body: then it is done), waited for
    under ``watch`` (announced after a few seconds, refused past its deadline)."""

    def __init__(self, plan: RegistrationPlan, poller: LROPoller[Any] | None, watch: OperationWatch | None = None) -> None:
        self.plan = plan
        self.poller = poller
        self.watch = watch or _watch(None, plan.resource_id, f"create the {plan.target.description}")

    @property
    def resource_id(self) -> str:
        return self.plan.resource_id

    def done(self) -> bool:
        return self.poller is None or self.poller.done()

    def wait(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds (None: until it ends); a failure, or the operation's
        deadline passing, raises :class:`~vhdupload.ArmError`."""
        if self.poller is None:
            return
        with arm_errors(f"create the {self.plan.target.description}"):
            if timeout is None:
                wait_for(self.poller, self.watch)
                return
            self.poller.wait(min(timeout, max(0.05, self.watch.remaining())))
            if not self.poller.done():
                self.watch.check(self.status)

    def status(self) -> str:
        return "Succeeded" if self.poller is None else str(self.poller.status())

    def result(self, timeout: float | None = None) -> Any:
        """The created resource; an :class:`~vhdupload.ArmError` when Azure reports a failure or
        the operation's deadline passes."""
        if self.poller is None:
            return _Found(self.plan.existing or {})
        with arm_errors(f"create the {self.plan.target.description}"):
            if timeout is None:
                return wait_for(self.poller, self.watch)
            return self.poller.result(timeout)


def run_plan(plan: RegistrationPlan, *, compute_client: Any, polling_interval: float | None = None,
             arm: ArmConnection | None = None) -> Registration:
    """Send the plan's requests: every prerequisite is waited for; the last one is returned running.
    ``arm`` gives the waits their deadlines and ``on_wait`` (each kind's default deadline if None)."""
    polling = {} if polling_interval is None else {"polling_interval": polling_interval}
    for request in plan.requests[:-1]:
        action = f"create the {request.description}"
        with arm_errors(action):
            wait_for(request.begin(compute_client, request.body, **polling), _watch(arm, request.resource_id, action))
    target = plan.target
    action = f"create the {target.description}"
    if plan.existing is not None:
        return Registration(plan, None)
    with arm_errors(action):
        poller = target.begin(compute_client, target.body, **polling)
    return Registration(plan, poller, _watch(arm, target.resource_id, action))
