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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..azure.arm import ArmConnection
from ..destinations import ManagedDisk, PageBlob
from ..errors import InputError
from ..keywords import refuse_unknown_keywords
from ..redact import strip_query
from . import resource_ids
from .operations import Registration, run_plan
from .plans import RegistrationPlan
from ..errors import ReplicationFailedError
from .replication import ReplicationStatus, watch_replication
from .gallery import plan_gallery_version
from .prepare import plan_capture, plan_disk, plan_image
from .specs import CaptureSpec, DiskImportSpec, GalleryVersionSpec, ImageSpec, PlanContext, RegistrationSpec

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient


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




@refuse_unknown_keywords
class Registrar:
    """Registrations in one subscription (see the module docstring).

    :param arm: how to reach Azure Resource Manager (:class:`vhdupload.ArmConnection`).
    :param blob_client_factory: makes a ``BlobClient`` for a source URL, for the pre-flight
        reads (e.g. ``lambda url: vhdupload.PageBlob(url, credential=...).client(threads=2,
        timeout=None)``). Not needed for sources given as :class:`~vhdupload.PageBlob` values (their
        own client reads them); without either, a blob source given as a URL is refused unless its
        spec says ``skip_preflight``.
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
        named = dataclasses.replace(spec, **{f.name: sources.named(getattr(spec, f.name)) for f in dataclasses.fields(spec)})
        context = PlanContext(self.subscription_id, self.compute_client, sources.factory(self.blob_client_factory))
        if isinstance(named, ImageSpec):
            return plan_image(named, context=context)
        if isinstance(named, CaptureSpec):
            return plan_capture(named, context=context)
        if isinstance(named, GalleryVersionSpec):
            return plan_gallery_version(named, context=context)
        return plan_disk(named, context=context)

    def begin_register(self, spec: RegistrationSpec) -> Registration:
        """Plan ``spec``, create what it needs first, and start the last request: a
        :class:`Registration` to wait on (``result()``) or poll (``done()``, ``status()``)."""
        return self.run(self.plan(spec))

    def run(self, plan: RegistrationPlan) -> Registration:
        """Send a plan made by :meth:`plan`: create what it needs first, start the last request."""
        return run_plan(plan, compute_client=self.compute_client, polling_interval=self.polling_interval)

    def watch_replication(
        self,
        version: "str | Registration",
        *,
        on_status: "Callable[[ReplicationStatus], None] | None" = None,
        poll_seconds: float | None = None,
        timeout: float | None = None,
    ) -> ReplicationStatus:
        """Poll a gallery image version's replication until every target region is done.

        :param version: the version's resource ID, or the :class:`Registration` that made it.
        :param on_status: called with each :class:`ReplicationStatus` read (per region: state,
            progress, ARM's details).
        :param poll_seconds: between reads (default: the Registrar's ``polling_interval``, else 15).
        :param timeout: give up watching after this many seconds (the replication goes on in
            Azure); None waits until every region is final.
        :returns: the final status; a failed region raises :class:`ReplicationFailedError`
            naming it with ARM's message.
        """
        resource_id = version.resource_id if isinstance(version, Registration) else version
        interval = poll_seconds if poll_seconds is not None else self.polling_interval if self.polling_interval is not None else 15.0
        return watch_replication(self.compute_client, resource_id, on_status=on_status, poll_seconds=interval,
                                 timeout=timeout)

    def register(self, spec: RegistrationSpec) -> Any:
        """Register ``spec`` and wait: the created resource (an ``azure.mgmt.compute`` model;
        ``.as_dict()`` is its REST form). Failures raise :class:`vhdupload.RegistrationError`."""
        return self.begin_register(spec).result()
