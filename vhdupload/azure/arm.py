"""Reaching Azure Resource Manager: the compute client, and ARM errors in plain words."""

from __future__ import annotations

import contextlib
import re
from typing import Any, Iterator
from urllib.parse import urlsplit

from azure.core import AzureClouds
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.core.tools import get_arm_endpoints

from .error_map import arm_error
from .name_lookup import ArmRetryPolicy
from ..errors import ArmError, InputError
from ..keywords import refuse_unknown_keywords
from ..redact import redact
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
    **client_options: Any,
) -> Any:
    """A ``ComputeManagementClient`` for ``cloud`` (public, china, usgov) or ``arm_endpoint``.

    ``audience`` is the token audience of a custom endpoint (Azure Stack Hub publishes it at
    ``ARM/metadata/endpoints``); it defaults to the cloud's own. ``read_only`` makes a client
    that sends only GET/HEAD (anything else raises :class:`ArmError` unsent): the dry-run client.
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
        credential, subscription_id, per_retry_policies=[*guard, LoopbackHttpPolicy(), *per_retry], **kwargs,
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
    ) -> None:
        if not subscription_id:
            raise InputError("an ArmConnection needs the subscription ID the resources live in")
        if compute_client is None and credential is None:
            raise InputError("an ArmConnection needs a credential (or a ready compute_client)")
        cloud_setting(cloud)  # refuse a misspelt cloud now, not at the first request
        if endpoint:
            check_arm_endpoint(endpoint)
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
                cloud=self.cloud, audience=self.audience, read_only=read_only,
            )
        return self._clients[read_only]

    def __repr__(self) -> str:  # never the credential: it may print a secret
        where = self.endpoint or self.cloud
        return f"ArmConnection({self.subscription_id!r}, {where})"
