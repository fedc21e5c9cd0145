"""What a registration will send: the ordered ARM requests, plus what to tell the user.

A plan is built before anything is created (that is what ``--dry-run`` prints); running it is
:mod:`vhdupload.registration.operations`' job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .bodies import Body
from .disk_sources import DiskCheck
from .preflight import BlobCheck


@dataclass
class ArmRequest:
    """One ``PUT`` of a resource: what it is, where, the exact body and the equivalent ``az`` line."""

    description: str
    resource_id: str
    body: Body
    az_command: str
    begin: Callable[..., Any] = field(repr=False, compare=False)  # (compute_client, **polling) -> LROPoller
    az_note: str | None = None  # where the az line cannot say what the body says


@dataclass
class RegistrationPlan:
    """The requests of one registration, in order; the last creates the resource asked for."""

    kind: str  # "image" | "gallery-version" | "disk"
    requests: list[ArmRequest]
    checks: list[BlobCheck | DiskCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The target resource as ARM already has it with this very body (a rerun): running the plan
    #: sends nothing for it, and its ``Registration`` is done at once.
    existing: Body | None = None

    @property
    def target(self) -> ArmRequest:
        return self.requests[-1]

    @property
    def resource_id(self) -> str:
        return self.target.resource_id

    @property
    def body(self) -> Body:
        return self.target.body

    def to_dict(self) -> Body:
        """The dry-run view: every request with its body, and the ``az`` lines."""
        return {
            "requests": [
                {"method": "PUT", "description": r.description, "id": r.resource_id, "body": r.body}
                for r in self.requests
            ],
            "az": [r.az_command for r in self.requests],
            "notes": [*self.notes, *(f"az: {r.az_note}" for r in self.requests if r.az_note)],
            "warnings": list(self.warnings),
        }
