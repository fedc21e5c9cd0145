"""The options that reach Azure Resource Manager, shared by every command that does
(``upload --managed-disk``, ``verify``, ``status``, ``register``, ``publish``), and the one place
the CLI turns them into a credential, a compute client and an :class:`~vhdupload.ArmConnection`."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any, Optional

import typer

from ..azure.arm import ArmConnection, make_compute_client
from ..errors import InputError
from ._common import DEFAULT_RETRIES, say

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
