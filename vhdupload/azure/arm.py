"""Reaching Azure Resource Manager: the compute client, and ARM errors in plain words."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, Iterator
from urllib.parse import urlsplit

from azure.core import AzureClouds
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.core.tools import get_arm_endpoints

from .error_map import arm_error
from .name_lookup import ArmRetryPolicy
from ..errors import ArmError, InputError
from ..keywords import refuse_unknown_keywords
from ..printable import printable
from ..redact import redact, strip_query
from .credentials import is_loopback

CLOUDS = {
    "public": AzureClouds.AZURE_PUBLIC_CLOUD,
    "china": AzureClouds.AZURE_CHINA_CLOUD,
    "usgov": AzureClouds.AZURE_US_GOVERNMENT,
}


class LoopbackHttpPolicy(SansIOHTTPPolicy[Any, Any]):
    """Let the bearer-token policy send a token over plain http, to a loopback address only.

    ``enforce_https=False`` is azure-core's documented per-request opt-out; this policy sets it
    for each request (the LRO polls included) whose URL is ``http://`` on loopback, so a token
    can never travel unencrypted anywhere else.
    """

    def on_request(self, request: Any) -> None:
        parts = urlsplit(request.http_request.url)
        if parts.scheme == "http" and is_loopback(parts.hostname):
            request.context.options["enforce_https"] = False


class ReadOnlyPolicy(SansIOHTTPPolicy[Any, Any]):
    """Refuse, before it leaves the process, any request that could change something in Azure.

    ``--dry-run`` still reads (a VM, a gallery, the storage accounts); this makes sure that
    nothing else is sent, not even the resource-provider registration ``POST`` that
    azure-mgmt-core sends on its own when a subscription lacks a provider.
    """

    SAFE_METHODS = frozenset({"GET", "HEAD"})

    def on_request(self, request: Any) -> None:
        method = request.http_request.method.upper()
        if method not in self.SAFE_METHODS:
            match = re.search(r"/providers/([^/?]+)/register\b", request.http_request.url, re.I)
            if match:
                raise ArmError(
                    f"the subscription is not registered for {match[1]}, and registering it would change it, "
                    f"which a dry run does not do: run `az provider register --namespace {match[1]}` "
                    "(or the command without --dry-run, which registers it)",
                    code="DryRun",
                )
            raise ArmError(
                f"refusing to send {method} {redact(request.http_request.url)} during a dry run: "
                "a dry run changes nothing in Azure",
                code="DryRun",
            )


#: The longest single wait an ARM answer may impose (its ``Retry-After``, on a 429 or an LRO's
#: poll): a throttled subscription's 429 with ``Retry-After: 100000`` slept 28 hours. Longer asks
#: are cut to this; the retry budget (azure-core's ``retry_total``) then decides how often.
MAX_RETRY_AFTER_SECONDS = 60
#: A wait longer than this is announced (``on_wait``): silence past it looks like a hang.
WAIT_NOTICE_SECONDS = 5.0
#: Then again every so often, saying how long it has been.
WAIT_REMINDER_SECONDS = 60.0
#: How long each kind of long-running operation may take before the wait gives up: generous, as
#: Terraform's azurerm provider's defaults are (managed disk, gallery and image definition 30 min;
#: managed image 90 min; gallery image version 60 min, doubled here because a version replicates
#: to every target region before it succeeds). ``ArmConnection(operation_timeout=)`` sets one
#: for all.
OPERATION_DEADLINES = {
    "managed disk": 30 * 60.0,
    "gallery": 30 * 60.0,
    "gallery image definition": 30 * 60.0,
    "image": 90 * 60.0,
    "gallery image version": 120 * 60.0,
}
_RETRY_AFTER_HEADERS = (("retry-after", 1.0), ("retry-after-ms", 1000.0), ("x-ms-retry-after-ms", 1000.0))


def _seconds(value: str, unit: float) -> float | None:
    """A ``Retry-After`` value in seconds (a number, or an HTTP date for ``retry-after``), as
    azure-core reads it; None when it is neither."""
    try:
        return max(0.0, float(value) / unit)
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


class RetryAfterCapPolicy(SansIOHTTPPolicy[Any, Any]):
    """Cut every ``Retry-After`` ARM sends to :data:`MAX_RETRY_AFTER_SECONDS`, before azure-core's
    retry policy (which sleeps for a 429's) and its LRO poller (which waits between polls) read
    it; and say, through ``on_wait``, when Azure asks a throttled request to wait long."""

    def __init__(self, *, on_wait: Callable[[str], None] | None = None, cap: float | None = None) -> None:
        self._on_wait = on_wait
        self._cap = MAX_RETRY_AFTER_SECONDS if cap is None else cap

    def on_response(self, request: Any, response: Any) -> None:
        headers = response.http_response.headers
        asked = None
        for name, unit in _RETRY_AFTER_HEADERS:
            value = headers.get(name)
            if value:
                asked = _seconds(str(value), unit)
                if asked is not None and asked > self._cap:
                    headers[name] = str(int(self._cap * unit))  # azure-core reads the headers after this
                break
        status = response.http_response.status_code
        if asked is None or status not in (429, 503) or self._on_wait is None:
            return
        waits = min(asked, self._cap)
        if waits >= WAIT_NOTICE_SECONDS:
            cut = f", cut to {waits:.0f} s" if asked > self._cap else ""
            method = request.http_request.method
            where = printable(strip_query(request.http_request.url))
            self._on_wait(f"Azure Resource Manager is busy ({status}) and asks {method} {where} to wait "
                          f"{asked:.0f} s{cut} before it is retried")


class OperationWatch:
    """The clock of one long-running ARM operation: ``on_wait`` hears of it after a few seconds
    (what it waits for), and :meth:`check` raises an :class:`ArmError` past its deadline."""

    def __init__(self, action: str, *, deadline: float, on_wait: Callable[[str], None] | None = None) -> None:
        self.action = action
        self.deadline = deadline
        self._on_wait = on_wait
        self._started = time.monotonic()
        self._next_notice = WAIT_NOTICE_SECONDS

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def remaining(self) -> float:
        return max(0.0, self.deadline - self.elapsed())

    def check(self, status: Callable[[], str]) -> None:
        """Call while the operation runs: announce it when due, give up past the deadline."""
        elapsed = self.elapsed()
        if elapsed >= self.deadline:
            raise ArmError(
                f"gave up waiting for Azure to {self.action} after {self.deadline:.0f} s (its status: {status()}); "
                "the operation may still finish in Azure: look at the resource before running again",
                code="OperationTimedOut",
            )
        if self._on_wait is not None and elapsed >= self._next_notice:
            self._next_notice = elapsed + WAIT_REMINDER_SECONDS
            self._on_wait(f"waiting for Azure to {self.action} ({status()}, {elapsed:.0f} s so far; "
                          f"giving up after {self.deadline:.0f} s)")


def wait_for(poller: Any, watch: OperationWatch) -> Any:
    """The result of an LRO ``poller``, waited for under ``watch`` (announced, with a deadline)."""
    while not poller.done():
        watch.check(lambda: str(poller.status()))
        poller.wait(min(1.0, max(0.05, watch.remaining())))
    return poller.result()


def check_arm_endpoint(arm_endpoint: str) -> str:
    """An ARM endpoint URL: https anywhere, plain http only on loopback."""
    parts = urlsplit(arm_endpoint)
    if parts.scheme == "https" and parts.hostname:
        return arm_endpoint.rstrip("/")
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return arm_endpoint.rstrip("/")
    raise InputError(
        f"--arm-endpoint {arm_endpoint!r} must be an https:// URL (plain http:// only for a loopback address)"
    )


def cloud_setting(cloud: str | None) -> AzureClouds | None:
    if cloud is None:
        return None
    try:
        return CLOUDS[cloud.lower()]
    except KeyError:
        raise InputError(f"--cloud {cloud!r} is not one of {', '.join(CLOUDS)}") from None


def make_compute_client(
    *,
    credential: Any,
    subscription_id: str,
    arm_endpoint: str | None = None,
    cloud: str | None = None,
    audience: str | None = None,
    read_only: bool = False,
    on_wait: Callable[[str], None] | None = None,
    **client_options: Any,
) -> Any:
    """A ``ComputeManagementClient`` for ``cloud`` (public, china, usgov) or ``arm_endpoint``.

    ``audience`` is the token audience of a custom endpoint (Azure Stack Hub publishes it at
    ``ARM/metadata/endpoints``); it defaults to the cloud's own. ``read_only`` makes a client
    that sends only GET/HEAD (anything else raises :class:`ArmError` unsent): the dry-run client.
    ``on_wait`` hears when Azure makes a request wait long (a throttled 429); every
    ``Retry-After`` is cut to :data:`MAX_RETRY_AFTER_SECONDS`.
    """
    from azure.mgmt.compute import ComputeManagementClient

    if not subscription_id:
        raise InputError("no subscription: pass --subscription or set AZURE_SUBSCRIPTION_ID")
    setting = cloud_setting(cloud)
    kwargs: dict[str, Any] = {"cloud_setting": setting} if setting else {}
    if arm_endpoint:
        kwargs["base_url"] = check_arm_endpoint(arm_endpoint)
    if audience:
        scope = audience.rstrip("/")
        kwargs["credential_scopes"] = [scope if scope.endswith("/.default") else f"{scope}/.default"]
    else:
        kwargs["credential_scopes"] = get_arm_endpoints(setting or AzureClouds.AZURE_PUBLIC_CLOUD)["credential_scopes"]
    # Per-retry, not per-call: the policies must see every request that leaves, including the
    # resource-provider registration POST and GET that azure-mgmt-core's auto-registration policy
    # (which sits after the per-call policies) builds by itself, and they must run before the
    # bearer-token policy.
    per_retry = list(client_options.pop("per_retry_policies", []) or [])
    guard = [ReadOnlyPolicy()] if read_only else []
    retry_options = {k: v for k, v in client_options.items() if k.startswith("retry_")}
    client_options.setdefault("retry_policy", ArmRetryPolicy(**retry_options))  # a mistyped host: no retries
    return ComputeManagementClient(
        credential, subscription_id,
        per_retry_policies=[*guard, LoopbackHttpPolicy(), RetryAfterCapPolicy(on_wait=on_wait), *per_retry], **kwargs,
        **client_options,
    )


@contextlib.contextmanager
def arm_errors(action: str) -> Iterator[None]:
    """Turn any azure-core error raised inside into an :class:`ArmError` about ``action``."""
    from azure.core.exceptions import AzureError

    try:
        yield
    except ArmError:
        raise
    except AzureError as exc:
        raise arm_error(exc, action=action) from exc


@refuse_unknown_keywords
class ArmConnection:
    """How to reach Azure Resource Manager: one value shared by managed disks, registration and
    publish, which builds its ``ComputeManagementClient`` once, when first needed.

    :param subscription_id: the subscription the resources live in.
    :param credential: an Entra ID ``TokenCredential`` (``azure.identity``); it also signs the
        data requests of a managed disk whose data access is Entra-ID-only. None: only with
        ``compute_client`` (see :meth:`from_client`).
    :param cloud: ``public``, ``china`` or ``usgov``.
    :param endpoint: an ARM endpoint of another cloud or Azure Stack Hub (``https://``; plain
        ``http://`` only on loopback), instead of ``cloud``'s.
    :param audience: the token audience of ``endpoint`` (Azure Stack Hub publishes it at
        ``ENDPOINT/metadata/endpoints``); the cloud's own when None.
    :param compute_client: a ready ``azure.mgmt.compute.ComputeManagementClient`` to use as it is.
    :param operation_timeout: seconds any long-running operation (creating a disk, an image, a
        gallery version...) may take before the wait gives up with an :class:`ArmError`; None:
        each kind's own generous deadline (:data:`OPERATION_DEADLINES`).
    :param on_wait: called with one line of text when a wait on ARM lasts (an operation still
        running after a few seconds, then every minute; a throttled request told to wait): what
        is waited for. Called from the waiting thread.
    """

    def __init__(
        self,
        subscription_id: str,
        *,
        credential: Any = None,
        cloud: str = "public",
        endpoint: str | None = None,
        audience: str | None = None,
        compute_client: Any = None,
        operation_timeout: float | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        if not subscription_id:
            raise InputError("an ArmConnection needs the subscription ID the resources live in")
        if compute_client is None and credential is None:
            raise InputError("an ArmConnection needs a credential (or a ready compute_client)")
        cloud_setting(cloud)  # refuse a misspelt cloud now, not at the first request
        if endpoint:
            check_arm_endpoint(endpoint)
        if operation_timeout is not None and not operation_timeout > 0:
            raise InputError(f"operation_timeout must be a number of seconds above 0, not {operation_timeout!r}")
        self.operation_timeout = operation_timeout
        self.on_wait = on_wait
        self.subscription_id = subscription_id
        self.credential = credential
        self.cloud = cloud
        self.endpoint = endpoint
        self.audience = audience
        self._given = compute_client  # a ready client is used as it is, read_only or not
        self._clients: dict[bool, Any] = {}  # built ones, by read_only

    @classmethod
    def from_client(cls, compute_client: Any, *, credential: Any = None) -> "ArmConnection":
        """A connection over a ready ``ComputeManagementClient`` (its subscription is the one it
        was made for); ``credential`` signs Entra-ID-only disk data, when needed."""
        # ComputeManagementClient has no public accessor for its subscription (azure-mgmt-compute
        # keeps it only in ``_config``).
        subscription = getattr(getattr(compute_client, "_config", None), "subscription_id", None)
        if not subscription:
            raise InputError("the compute client does not say its subscription: build an ArmConnection(subscription_id, ...)")
        return cls(str(subscription), credential=credential, compute_client=compute_client)

    def compute(self, *, read_only: bool = False) -> Any:
        """The compute client (built once); ``read_only``: one that sends only GET and HEAD."""
        if self._given is not None:
            return self._given
        if read_only not in self._clients:
            self._clients[read_only] = make_compute_client(
                credential=self.credential, subscription_id=self.subscription_id, arm_endpoint=self.endpoint,
                cloud=self.cloud, audience=self.audience, read_only=read_only, on_wait=self.on_wait,
            )
        return self._clients[read_only]

    def watch(self, kind: str, action: str) -> OperationWatch:
        """The clock of one long-running operation on a ``kind`` of resource (a key of
        :data:`OPERATION_DEADLINES`), e.g. ``watch("image", "create the image web")``."""
        deadline = self.operation_timeout or OPERATION_DEADLINES.get(kind, max(OPERATION_DEADLINES.values()))
        return OperationWatch(action, deadline=deadline, on_wait=self.on_wait)

    def __repr__(self) -> str:  # never the credential: it may print a secret
        where = self.endpoint or self.cloud
        return f"ArmConnection({self.subscription_id!r}, {where})"
