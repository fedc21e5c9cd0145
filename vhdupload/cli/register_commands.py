"""``vhdupload register``: turn uploaded blobs into an image, a gallery image version or a disk.

A thin layer over :mod:`vhdupload.registration`: options in, a plan printed (``--dry-run``) or
run, a spinner on stderr while Azure works, the resource ID (or ``--json``) on stdout.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from ..errors import InputError
from ..registration.bodies import parse_tags
from ..registration import (
    CaptureSpec,
    DiskImportSpec,
    GalleryVersionSpec,
    ImageSpec,
    Registrar,
    Registration,
    RegistrationPlan,
)
from . import app
from ..azure.arm import ArmConnection
from ..printable import printable
from ._arm_options import (
    ArmEndpointOption,
    ArmTimeoutOption,
    AudienceOption,
    CloudOption,
    SubscriptionOption,
    arm_connection,
    dry_run as plan_dry_run,
    offline_note,
    storage_account_placeholder,
)
from ._common import DEFAULT_RETRIES, MaxRetriesOption, TimeoutOption, echo_json, say
from ._replication import ReplicationBars
from ._storage_options import (
    AccountKeyOption,
    AccountNameOption,
    SasTokenOption,
    AccountUrlOption,
    ConnectionStringOption,
    EmulatorOption,
    StorageOptions,
    blob_client_from_options,
)

register_app = typer.Typer(
    name="register",
    help="Register uploaded VHD blobs in Azure as a managed image, a gallery image version or a managed disk.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(register_app, name="register")

DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Run the pre-flight reads and print the ARM request body and the az command; create nothing.")
]
NoWaitOption = Annotated[bool, typer.Option("--no-wait", help="Start the operation, print the resource ID and return at once.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the resulting resource in its REST (camelCase) form.")]
SkipPreflightOption = Annotated[
    bool, typer.Option("--skip-preflight", help="Do not read the source blobs (for blobs you cannot read); Azure still checks them.")
]
SkipGuestCheckOption = Annotated[
    bool,
    typer.Option(
        "--skip-guest-check",
        help="Do not refuse an OS disk that looks not generalized (its file systems are still read for --os-type auto).",
    ),
]
TagOption = Annotated[Optional[list[str]], typer.Option("--tag", help="A tag KEY=VALUE (repeatable).")]
DataDiskOption = Annotated[
    Optional[list[str]],
    typer.Option(
        "--data-disk",
        help="A data disk BLOB_URL or managed disk ID, [,lun=N][,caching=None|ReadOnly|ReadWrite] (repeatable); "
        "without lun, the lowest free LUN.",
    ),
]
ResourceGroupOption = Annotated[str, typer.Option("--resource-group", "-g", help="Resource group of the new resource.")]
NameOption = Annotated[Optional[str], typer.Option("--name", "-n", metavar="NAME", help="The name, as az takes it (or give NAME).")]


def _name(argument: str | None, option: str | None) -> str:
    """NAME, given as an argument or as az's ``-n/--name``."""
    if argument and option and argument != option:
        raise typer.BadParameter(f"NAME {argument!r} and --name {option!r} differ: give one", param_hint="--name")
    name = argument or option
    if not name:
        raise typer.BadParameter("give the NAME, or -n NAME", param_hint="NAME")
    return name



def _blob_factory(account_url: str | None, connection_string: str | None, account_key: str | None, emulator: bool,
                  account_name: str | None = None, sas_token: str | None = None, *, timeout: float | None = None,
                  max_retries: int = DEFAULT_RETRIES) -> Callable[[str], Any]:
    storage = StorageOptions(account_url, connection_string, account_key, account_name, sas_token, emulator)

    def factory(url: str) -> Any:
        return blob_client_from_options(url, storage, timeout=timeout, retry_total=max_retries)

    return factory


def _say(plan: RegistrationPlan) -> None:
    for note in plan.notes:
        say(f"note: {note}", err=True)
    for warning in plan.warnings:
        say(f"warning: {warning}", err=True)


def _print_dry_run(plan: RegistrationPlan, as_json: bool, *, compared: bool = True) -> None:
    if as_json:
        echo_json(plan.to_dict() | {"compared": compared})  # one object on one line, like every --json
        return
    for request in plan.requests:
        say(f"# {request.description}: PUT {request.resource_id}")
        say(*json.dumps(request.body, indent=2).splitlines())  # JSON escapes its strings: these breaks are its own
    say("# the same with the Azure CLI:")
    for request in plan.requests:
        say(request.az_command)
        if request.az_note:
            say(f"# note: {request.az_note}")


def _interrupted(what: str, resource_ids: list[str]) -> None:
    """Ctrl-C: Azure carries on regardless; say so, and how to look at it."""
    say(
        f"interrupted: {what}; check it with "
        f"`az resource show --ids {' '.join(resource_ids)} --query properties.provisioningState`",
        err=True,
    )
    raise typer.Exit(130)


def _wait(registration: Registration) -> Any:
    """Wait with a spinner on stderr; on Ctrl-C say that Azure carries on and how to check."""
    description = registration.plan.target.description
    tty = sys.stderr.isatty()
    if not tty:
        say(f"waiting for Azure to create the {description}...", err=True)
    frames, tick = "|/-\\", 0
    try:
        while not registration.done():
            if tty:
                sys.stderr.write(f"\r{frames[tick % 4]} creating the {description} ({printable(registration.status())})")
                sys.stderr.flush()
            registration.wait(0.2)
            tick += 1
    except KeyboardInterrupt:
        if tty:
            sys.stderr.write("\n")
        _interrupted("the operation continues in Azure", [registration.resource_id])
    finally:
        if tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
    return registration.result()


def _watch(registrar: Registrar, registration: Registration, *, as_json: bool, timeout: float | None) -> dict[str, Any]:
    """Watch a new gallery version replicate; its last reading, in ARM's form, for ``--json``."""
    bars = ReplicationBars(enabled=not as_json or sys.stderr.isatty())
    try:
        status = registrar.watch_replication(registration.resource_id, on_status=bars, timeout=timeout)
    except KeyboardInterrupt:
        bars.close()
        _interrupted("the replication continues in Azure (run the same command again to watch it)",
                     [registration.resource_id])
    finally:
        bars.close()
    return status.to_dict()


@dataclass(frozen=True)
class _Arm:
    """The ARM options, to connect once the command knows whether it is a dry run."""

    subscription: str | None
    endpoint: str | None
    cloud: str | None
    audience: str | None
    timeout: float | None
    max_retries: int
    arm_timeout: float | None = None

    def connect(self) -> ArmConnection:
        return arm_connection(self.subscription, self.endpoint, self.cloud, self.audience, timeout=self.timeout,
                              max_retries=self.max_retries, arm_timeout=self.arm_timeout)


def _finish(arm: _Arm, factory: Callable[[str], Any], spec: Any, *, dry_run: bool, no_wait: bool,
            as_json: bool, replication_timeout: float | None = None, poll_seconds: float | None = None) -> None:
    if dry_run:  # without a sign-in: the plan and its bodies all the same, nothing compared
        def planned(connection: ArmConnection, online: bool) -> RegistrationPlan:
            offline_spec = spec
            source = getattr(spec, "os_disk", None) or getattr(spec, "source", None)
            if not online and getattr(spec, "storage_account_id", "given") is None and isinstance(source, str):
                # ARM would say which account holds the blobs: without it, a placeholder
                placeholder = storage_account_placeholder(connection.subscription_id, source)
                offline_spec = dataclasses.replace(spec, storage_account_id=placeholder)
            return Registrar(connection, blob_client_factory=factory).plan(offline_spec)

        plan, online = plan_dry_run(planned, arm.subscription, arm.endpoint, arm.cloud, arm.audience, timeout=arm.timeout,
                               max_retries=arm.max_retries)
        _say(plan)
        if not online:
            note = offline_note(bool(arm.subscription or os.environ.get("AZURE_SUBSCRIPTION_ID")))
            say(f"note: {note}", err=True)
            if not as_json:
                say(f"# {note}")
        _print_dry_run(plan, as_json, compared=online)
        return
    registrar = Registrar(arm.connect(), blob_client_factory=factory, polling_interval=poll_seconds)
    plan = registrar.plan(spec)
    _say(plan)
    try:
        registration = registrar.run(plan)
    except KeyboardInterrupt:  # e.g. while a new gallery or image definition is being created
        _interrupted(
            "whatever was already sent continues in Azure (a resource not yet sent will not be found)",
            [r.resource_id for r in plan.requests],
        )
    if no_wait:
        if as_json:
            echo_json({"id": registration.resource_id, "status": "InProgress"})
        else:
            say(registration.resource_id)
        say("started; Azure carries on without waiting", err=True)
        return
    resource = _wait(registration)
    found = resource.as_dict()
    if plan.kind == "gallery-version":
        found.setdefault("properties", {})["replicationStatus"] = _watch(
            registrar, registration, as_json=as_json, timeout=replication_timeout)
    if as_json:
        echo_json(found)
    else:
        say(found.get("id") or registration.resource_id)


@register_app.command("image")
def image_command(
    resource_group: ResourceGroupOption,
    name: Annotated[Optional[str], typer.Argument(metavar="[NAME]", help="Name of the managed image (or -n NAME).", show_default=False)] = None,
    name_option: NameOption = None,
    location: Annotated[Optional[str], typer.Option("--location", "-l", help="Azure region (a captured VM's own by default).")] = None,
    os_disk: Annotated[
        Optional[str], typer.Option("--os-disk", help="URL of the generalized OS disk's page blob, or a managed disk's resource ID.")
    ] = None,
    os_type: Annotated[Optional[str], typer.Option("--os-type", metavar="linux|windows|auto", help="linux, windows or auto (read inside the OS disk).")] = None,
    data_disk: DataDiskOption = None,
    os_state: Annotated[str, typer.Option("--os-state", help="generalized (a managed image cannot be specialized).")] = "generalized",
    hyper_v_generation: Annotated[
        Optional[str], typer.Option("--hyper-v-generation", help="V1, V2 or auto (read from the OS disk's partition table).")
    ] = None,
    zone_resilient: Annotated[bool, typer.Option("--zone-resilient", help="Keep the image in zone-redundant storage.")] = False,
    storage_sku: Annotated[
        Optional[str], typer.Option("--storage-sku", help="Storage type of disks later made from the image, e.g. Premium_LRS.")
    ] = None,
    source_vm: Annotated[
        Optional[str], typer.Option("--source-vm", help="Capture this deallocated, generalized VM (name or ID) instead of blobs.")
    ] = None,
    security_type: Annotated[
        Optional[str], typer.Option("--security-type", help="Standard only: a managed image cannot back a Trusted Launch or "
                                    "Confidential VM (use `register gallery-version`).")
    ] = None,
    tag: TagOption = None,
    subscription: SubscriptionOption = None,
    arm_endpoint: ArmEndpointOption = None,
    cloud: CloudOption = None,
    arm_audience: AudienceOption = None,
    arm_timeout: ArmTimeoutOption = None,
    dry_run: DryRunOption = False,
    no_wait: NoWaitOption = False,
    as_json: JsonOption = False,
    skip_preflight: SkipPreflightOption = False,
    skip_guest_check: SkipGuestCheckOption = False,
    account_url: AccountUrlOption = None,
    connection_string: ConnectionStringOption = None,
    account_key: AccountKeyOption = None,
    account_name: AccountNameOption = None,
    sas_token: SasTokenOption = None,
    emulator: EmulatorOption = False,
    timeout: TimeoutOption = None,
    max_retries: MaxRetriesOption = DEFAULT_RETRIES,
) -> None:
    """Create a managed image: an OS image from --os-disk alone, a VM image when --data-disk is given too.

    A managed image must be generalized (Sysprep on Windows, `waagent -deprovision+user` on Linux,
    before the upload); for a specialized disk set use `register gallery-version --os-state specialized`.
    With --source-vm, capture an existing deallocated VM that was generalized and marked so (`az vm generalize`).
    """
    name = _name(name, name_option)
    tags = parse_tags(tag)
    factory = _blob_factory(account_url, connection_string, account_key, emulator, account_name, sas_token,
                            timeout=timeout, max_retries=max_retries)
    spec: ImageSpec | CaptureSpec
    if source_vm:
        if security_type:
            raise InputError("--security-type applies to an image from blobs; a captured image is the VM's own")
        if os_disk or data_disk:
            raise InputError("give either --source-vm or --os-disk/--data-disk, not both")
        ignored = [o for o, v in (("--os-type", os_type), ("--storage-sku", storage_sku)) if v]
        if ignored:
            raise InputError(f"{', '.join(ignored)} apply to an image from blobs; a captured image takes the VM's own")
        arm = _Arm(subscription, arm_endpoint, cloud, arm_audience, timeout, max_retries, arm_timeout)
        spec = CaptureSpec(
            name=name, resource_group=resource_group, source_vm=source_vm,
            location=location, hyper_v_generation=hyper_v_generation, zone_resilient=zone_resilient, tags=tags,
            os_state=os_state,
        )
    else:
        missing = [o for o, v in (("--os-disk", os_disk), ("--location", location)) if not v]
        if missing:
            raise InputError(f"an image from blobs needs {', '.join(missing)} (or --source-vm to capture a VM)")
        assert os_disk is not None and location is not None
        # Managed disk sources are pre-flighted through ARM (read-only in a dry run); blob sources
        # are read through storage only, so a dry run of them sends nothing to ARM.
        arm = _Arm(subscription, arm_endpoint, cloud, arm_audience, timeout, max_retries, arm_timeout)
        spec = ImageSpec(
            name=name, resource_group=resource_group, location=location, os_disk=os_disk, os_type=os_type or "auto",
            data_disks=data_disk or [], os_state=os_state,
            hyper_v_generation=hyper_v_generation or "auto", zone_resilient=zone_resilient, storage_sku=storage_sku,
            tags=tags, skip_preflight=skip_preflight, skip_guest_check=skip_guest_check, security_type=security_type,
        )
    _finish(arm, factory, spec, dry_run=dry_run, no_wait=no_wait, as_json=as_json)


@register_app.command("gallery-version")
def gallery_version_command(
    gallery: Annotated[str, typer.Option("--gallery", "--gallery-name", "-r", help="Azure Compute Gallery (created when missing).")],
    image_definition: Annotated[str, typer.Option("--image-definition", "--gallery-image-definition", "-i", help="Image definition (created when missing, given --publisher --offer --sku --os-type).")],
    version: Annotated[str, typer.Option("--version", "--gallery-image-version", "-e", help="Version MAJOR.MINOR.PATCH.")],
    resource_group: ResourceGroupOption,
    location: Annotated[str, typer.Option("--location", "-l", help="Azure region of the gallery resources.")],
    os_disk: Annotated[str, typer.Option("--os-disk", help="URL of the OS disk's page blob, or a managed disk's resource ID.")],
    data_disk: DataDiskOption = None,
    storage_account_id: Annotated[
        Optional[str], typer.Option("--storage-account-id", help="ID of the blobs' storage account (found through ARM when not given).")
    ] = None,
    target_region: Annotated[
        Optional[list[str]],
        typer.Option("--target-region", help="Replicate to REGION[=REPLICAS][=STORAGE_TYPE], e.g. eastus=2=Standard_ZRS "
                     "(repeatable; --location is always one; default: --location only)."),
    ] = None,
    replica_count: Annotated[
        Optional[int], typer.Option("--replica-count", min=1, max=100, help="Replicas per region where a region does not say (default 1).")
    ] = None,
    storage_account_type: Annotated[
        Optional[str], typer.Option("--storage-account-type", help="Standard_LRS (default), Standard_ZRS, Premium_LRS or "
                                    "PremiumV2_LRS, where a region does not say.")
    ] = None,
    replication_mode: Annotated[
        Optional[str], typer.Option("--replication-mode", help="Full (default) or Shallow (no copy, --location only: for tests).")
    ] = None,
    exclude_from_latest: Annotated[
        bool, typer.Option("--exclude-from-latest", help="VMs asking for the latest version do not get this one.")
    ] = False,
    end_of_life: Annotated[
        Optional[str], typer.Option("--end-of-life", help="When the version stops being offered, e.g. 2027-12-31.")
    ] = None,
    security_type: Annotated[
        Optional[str], typer.Option("--security-type", help="A new definition's security type: TrustedLaunchSupported "
                                    "(default on Generation 2), TrustedLaunchAndConfidentialVmSupported or Standard.")
    ] = None,
    replication_timeout: Annotated[
        Optional[float], typer.Option("--replication-timeout", min=1, help="Stop watching the replication after this many "
                                      "seconds (it goes on in Azure; default: until every region is done).")
    ] = None,
    poll_seconds: Annotated[Optional[float], typer.Option("--poll-seconds", hidden=True, min=0)] = None,
    os_state: Annotated[str, typer.Option("--os-state", help="generalized or specialized.")] = "generalized",
    os_type: Annotated[
        Optional[str], typer.Option("--os-type", metavar="linux|windows|auto", help="linux, windows or auto (read inside the OS disk; the default), for a new definition.")
    ] = None,
    architecture: Annotated[
        Optional[str], typer.Option("--architecture", help="x64, Arm64 or auto (read inside the OS disk), for a new definition.")
    ] = "auto",
    hyper_v_generation: Annotated[
        Optional[str], typer.Option("--hyper-v-generation", help="V1, V2 or auto, for a new definition.")
    ] = "auto",
    publisher: Annotated[Optional[str], typer.Option("--publisher", help="Publisher of a new image definition.")] = None,
    offer: Annotated[Optional[str], typer.Option("--offer", help="Offer of a new image definition.")] = None,
    sku: Annotated[Optional[str], typer.Option("--sku", help="SKU of a new image definition.")] = None,
    tag: TagOption = None,
    subscription: SubscriptionOption = None,
    arm_endpoint: ArmEndpointOption = None,
    cloud: CloudOption = None,
    arm_audience: AudienceOption = None,
    arm_timeout: ArmTimeoutOption = None,
    dry_run: DryRunOption = False,
    no_wait: NoWaitOption = False,
    as_json: JsonOption = False,
    skip_preflight: SkipPreflightOption = False,
    skip_guest_check: SkipGuestCheckOption = False,
    account_url: AccountUrlOption = None,
    connection_string: ConnectionStringOption = None,
    account_key: AccountKeyOption = None,
    account_name: AccountNameOption = None,
    sas_token: SasTokenOption = None,
    emulator: EmulatorOption = False,
    timeout: TimeoutOption = None,
    max_retries: MaxRetriesOption = DEFAULT_RETRIES,
) -> None:
    """Create an Azure Compute Gallery image version from blobs (generalized or specialized), then
    watch it replicate to every target region (--no-wait: return once the version exists).

    A missing definition is created with what the OS disk can do: Trusted Launch supported on
    Generation 2, NVMe and accelerated networking when their drivers are inside. With --dry-run the
    gallery and definition are still looked up (read-only) to show what would be created.
    """
    arm = _Arm(subscription, arm_endpoint, cloud, arm_audience, timeout, max_retries, arm_timeout)
    spec = GalleryVersionSpec(
        gallery=gallery, image_definition=image_definition, version=version, resource_group=resource_group,
        location=location, os_disk=os_disk, data_disks=data_disk or [],
        storage_account_id=storage_account_id, target_regions=target_region or [], os_state=os_state,
        os_type=None if (os_type or "").strip().lower() == "auto" else os_type,  # None: what the disk holds
        hyper_v_generation=hyper_v_generation, publisher=publisher, offer=offer, sku=sku, tags=parse_tags(tag),
        skip_preflight=skip_preflight, architecture=architecture, skip_guest_check=skip_guest_check,
        replica_count=replica_count, storage_account_type=storage_account_type, replication_mode=replication_mode,
        exclude_from_latest=exclude_from_latest, end_of_life=end_of_life, security_type=security_type,
    )
    factory = _blob_factory(account_url, connection_string, account_key, emulator, account_name, sas_token,
                            timeout=timeout, max_retries=max_retries)
    _finish(arm, factory, spec, dry_run=dry_run, no_wait=no_wait, as_json=as_json,
            replication_timeout=replication_timeout, poll_seconds=poll_seconds)


@register_app.command("disk")
def disk_command(
    source: Annotated[str, typer.Option("--source", help="URL of the page blob to import.")],
    resource_group: ResourceGroupOption,
    location: Annotated[str, typer.Option("--location", "-l", help="Azure region of the disk.")],
    name: Annotated[Optional[str], typer.Argument(metavar="[NAME]", help="Name of the managed disk (or -n NAME).", show_default=False)] = None,
    name_option: NameOption = None,
    sku: Annotated[Optional[str], typer.Option("--sku", help="The disk's storage type, e.g. Premium_LRS.")] = None,
    os_type: Annotated[Optional[str], typer.Option("--os-type", help="linux or windows, for an OS disk (not given: a data disk).")] = None,
    hyper_v_generation: Annotated[
        Optional[str], typer.Option("--hyper-v-generation", help="V1, V2 or auto (default auto with --os-type).")
    ] = None,
    storage_account_id: Annotated[
        Optional[str], typer.Option("--storage-account-id", help="ID of the blob's storage account (found through ARM when not given).")
    ] = None,
    tag: TagOption = None,
    subscription: SubscriptionOption = None,
    arm_endpoint: ArmEndpointOption = None,
    cloud: CloudOption = None,
    arm_audience: AudienceOption = None,
    arm_timeout: ArmTimeoutOption = None,
    dry_run: DryRunOption = False,
    no_wait: NoWaitOption = False,
    as_json: JsonOption = False,
    skip_preflight: SkipPreflightOption = False,
    account_url: AccountUrlOption = None,
    connection_string: ConnectionStringOption = None,
    account_key: AccountKeyOption = None,
    account_name: AccountNameOption = None,
    sas_token: SasTokenOption = None,
    emulator: EmulatorOption = False,
    timeout: TimeoutOption = None,
    max_retries: MaxRetriesOption = DEFAULT_RETRIES,
) -> None:
    """Import a page blob as a managed disk."""
    name = _name(name, name_option)
    arm = _Arm(subscription, arm_endpoint, cloud, arm_audience, timeout, max_retries, arm_timeout)
    spec = DiskImportSpec(
        name=name, resource_group=resource_group, location=location, source=source,
        sku=sku, os_type=os_type, hyper_v_generation=hyper_v_generation,
        storage_account_id=storage_account_id, tags=parse_tags(tag), skip_preflight=skip_preflight,
    )
    factory = _blob_factory(account_url, connection_string, account_key, emulator, account_name, sas_token,
                            timeout=timeout, max_retries=max_retries)
    _finish(arm, factory, spec, dry_run=dry_run, no_wait=no_wait, as_json=as_json)
