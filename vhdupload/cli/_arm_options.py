"""The options that reach Azure Resource Manager, shared by every command that does
(``upload --managed-disk``, ``verify``, ``status``, ``register``, ``publish``), and the one place
the CLI turns them into a credential, a compute client and an :class:`~vhdupload.ArmConnection`."""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit
from collections.abc import Callable
from typing import Annotated, Any, Optional, TypeVar

import typer

from ..azure.arm import ArmConnection, make_compute_client
from ..azure.offline import SUBSCRIPTION_PLACEHOLDER, offline_transport, placeholder_credential
from ..errors import ArmError, InputError
from ._common import DEFAULT_RETRIES, say

T = TypeVar("T")
_ARM = "Azure Resource Manager"
SubscriptionOption = Annotated[
    Optional[str], typer.Option("--subscription", help="Subscription ID (else AZURE_SUBSCRIPTION_ID).", rich_help_panel=_ARM)
]
ArmEndpointOption = Annotated[
    Optional[str],
    typer.Option(
        "--arm-endpoint",
        help="ARM endpoint URL for Azure Stack Hub or another cloud (https; plain http only on loopback).",
        rich_help_panel=_ARM,
    ),
]
CloudOption = Annotated[
    Optional[str], typer.Option("--cloud", help="public, china or usgov (endpoint, audience and sign-in authority).", rich_help_panel=_ARM)
]
AudienceOption = Annotated[
    Optional[str], typer.Option("--arm-audience", help="Token audience of a custom --arm-endpoint (Azure Stack Hub).", rich_help_panel=_ARM)
]

ArmTimeoutOption = Annotated[
    Optional[float],
    typer.Option("--arm-timeout", min=1, metavar="SECONDS", rich_help_panel=_ARM,
                 help="Seconds any Azure operation (creating a disk, an image, a gallery version) may take before "
                      "giving up (default: 30 min for disks and galleries, 90 for an image, 120 for a gallery version)."),
]


def say_wait(text: str) -> None:
    """What a long wait on ARM waits for, on stderr (after a spinner's line, if one is drawn)."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
    say(f"note: {text}", err=True)


def subscription_id(value: str | None) -> str:
    sub = value or os.environ.get("AZURE_SUBSCRIPTION_ID")
    if not sub:
        raise InputError("no subscription: pass --subscription ID or set AZURE_SUBSCRIPTION_ID")
    return sub


def credential(cloud: str | None) -> Any:
    from azure.identity import AzureAuthorityHosts, DefaultAzureCredential

    authority = {"china": AzureAuthorityHosts.AZURE_CHINA, "usgov": AzureAuthorityHosts.AZURE_GOVERNMENT}.get((cloud or "").lower())
    return DefaultAzureCredential(authority=authority) if authority else DefaultAzureCredential()


def compute_client(
    subscription: str, arm_endpoint: str | None, cloud: str | None, audience: str | None, *, read_only: bool,
    timeout: float | None = None, max_retries: int = DEFAULT_RETRIES,
) -> Any:
    """The compute client; for ``--dry-run`` one that can only read (GET), never create."""
    return make_compute_client(
        credential=credential(cloud), subscription_id=subscription, arm_endpoint=arm_endpoint, cloud=cloud,
        audience=audience, read_only=read_only, **arm_client_options(timeout=timeout, max_retries=max_retries),
    )


def arm_client_options(*, timeout: float | None, max_retries: int) -> dict[str, Any]:
    """azure-core's keywords for ``--timeout`` and ``--max-retries`` (ARM calls are retried by the SDK)."""
    options: dict[str, Any] = {"retry_total": max_retries}
    if timeout:
        options.update(connection_timeout=min(timeout, 20), read_timeout=timeout)
    return options


def dry_run(run: Callable[[ArmConnection, bool], T], subscription: str | None, arm_endpoint: str | None, cloud: str | None,
            audience: str | None, *, timeout: float | None = None, max_retries: int = DEFAULT_RETRIES) -> tuple[T, bool]:
    """``run(connection, online)`` for a ``--dry-run``, and whether ARM was reachable (``online``): read-only when a
    subscription is given and the sign-in works (existing resources are compared; the sign-in is
    tried only if ARM is asked at all), else again offline, where nothing exists and nothing is
    sent, the subscription a placeholder unless given."""
    sub = subscription or os.environ.get("AZURE_SUBSCRIPTION_ID")
    if sub:
        try:
            return run(arm_connection(sub, arm_endpoint, cloud, audience, read_only=True, timeout=timeout,
                                      max_retries=max_retries), True), True
        except ArmError as exc:
            if not (exc.code == "AuthenticationFailed" and exc.status is None):  # not "no credential": a real answer
                raise
    client = make_compute_client(
        credential=placeholder_credential(), subscription_id=sub or SUBSCRIPTION_PLACEHOLDER, arm_endpoint=arm_endpoint,
        cloud=cloud, audience=audience, read_only=True, transport=offline_transport(), retry_total=0,
    )
    return run(ArmConnection(sub or SUBSCRIPTION_PLACEHOLDER, compute_client=client), False), False


def storage_account_placeholder(subscription: str, blob_url: str) -> str | None:
    """What stands for the storage account ID of ``blob_url`` in a plan made without ARM (None
    for a managed disk's resource ID, which needs none)."""
    host = urlsplit(blob_url).hostname or ""
    if not blob_url.startswith(("https://", "http://")):
        return None
    account = host.split(".", 1)[0] if not host.replace(".", "").isdigit() and host != "localhost" else \
        urlsplit(blob_url).path.strip("/").split("/")[0]
    return (f"/subscriptions/{subscription}/resourceGroups/<storage-account-resource-group>/providers/"
            f"Microsoft.Storage/storageAccounts/{account}")


def offline_note(subscription_given: bool) -> str:
    """What a dry run without a sign-in says about its plan."""
    placeholder = "" if subscription_given else f"; {SUBSCRIPTION_PLACEHOLDER} stands for the subscription"
    return ("no Azure sign-in: Azure Resource Manager was not asked, so existing resources were not compared (the plan "
            f"assumes none exist){placeholder}; run `az login` and give --subscription to compare")


def arm_connection(subscription: str | None, arm_endpoint: str | None, cloud: str | None, audience: str | None, *,
                   read_only: bool = False, timeout: float | None = None,
                   max_retries: int = DEFAULT_RETRIES, arm_timeout: float | None = None) -> ArmConnection:
    """The connection the ARM options name, signed in as ``az`` signs in."""
    sub = subscription_id(subscription)
    signed_in = credential(cloud)
    client = make_compute_client(
        credential=signed_in, subscription_id=sub, arm_endpoint=arm_endpoint, cloud=cloud, audience=audience,
        read_only=read_only, on_wait=say_wait, **arm_client_options(timeout=timeout, max_retries=max_retries),
    )
    return ArmConnection(sub, credential=signed_in, compute_client=client, operation_timeout=arm_timeout,
                         on_wait=say_wait)
