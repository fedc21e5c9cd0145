"""``upload``, ``verify`` and ``status``: thin commands over the public API.

Results go to stdout (with ``--json``, one JSON object and nothing else); progress, logs and
errors go to stderr. The tqdm bar appears only when stderr is a terminal.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import sys
import threading
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..destinations import SKUS, Destination, UploadStatus
from ..errors import InputError
from ..status import status as upload_status
from ..transfer import TransferSettings
from ..transfer.bandwidth import describe_rate, parse_rate
from ..transfer.settings import DEFAULT_MAX_RETRIES, DEFAULT_WAIT_TIMEOUT
from ..upload import RESUME_HINT, UploadResult
from ..upload import upload as upload_disk
from ..verify import VerifyResult
from ..verify import verify as verify_disk
from ..azure_rules import format_size
from . import app
from ._arm_options import ArmEndpointOption, ArmTimeoutOption, AudienceOption, CloudOption, SubscriptionOption
from ._common import (FormatOption, MaxRetriesOption, ThreadsOption, parse_threads, say, setup_logging, source_is_raw,
                      suggest_raw_first)
from ._destination import ArmOptions, DiskOptions, destination, given
from ._exit import EXIT_FINDING, EXIT_OK
from ._free_space import SKIP_FREE_HELP, VERIFY_SKIP_FREE_HELP, free_space_line
from ._progress import ProgressBar as _ProgressBar
from ._progress import wanted
from ._storage_options import (
    AccountKeyOption,
    AccountNameOption,
    AccountUrlOption,
    ConnectionStringOption,
    EmulatorOption,
    SasTokenOption,
    StorageOptions,
)

SourceArg = Annotated[str, typer.Argument(help="The VHD, VHDX or VMDK (any type), an OVA's disk (app.ova/disk1.vmdk), or a raw image with --raw.")]
DestArg = Annotated[
    str,
    typer.Argument(help="Blob URL (a SAS in the query allowed), or CONTAINER/NAME with --account-url/--connection-string/--emulator."),
]
OptionalDestArg = Annotated[
    Optional[str],
    typer.Argument(
        metavar="[DEST]",
        help="Blob URL (a SAS in the query allowed), or CONTAINER/NAME with --account-url/--connection-string/--emulator; "
        "not given with --managed-disk.",
        show_default=False,
    ),
]
RawOption = Annotated[bool, typer.Option("--raw", help="SOURCE is a raw disk image; its footer is made on the fly.")]
NoResizeOption = Annotated[
    bool, typer.Option("--no-resize", help="Refuse a virtual size that is not a whole MiB instead of rounding it up.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")]
TimeoutOption = Annotated[
    Optional[float], typer.Option("--timeout", min=1, help="Seconds one request may take before it is retried.")
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Log requests and retries to stderr (secrets redacted).")]
_DISK = "Managed disk"
ManagedDiskOption = Annotated[
    Optional[str],
    typer.Option("--managed-disk", metavar="NAME", help="Upload into (or verify, show) the managed disk NAME instead of a blob.", rich_help_panel=_DISK),
]
DiskResourceGroupOption = Annotated[
    Optional[str], typer.Option("--resource-group", "-g", help="Resource group of the managed disk.", rich_help_panel=_DISK)
]
#: Options of ``upload --managed-disk`` that ``verify``/``status`` accept and ignore, so the same
#: line can be reused with another verb. Hidden: they mean nothing there.
_Ignored = lambda flag: typer.Option(flag, hidden=True)  # noqa: E731
IgnoredText = Annotated[Optional[str], _Ignored("--sku")]
IgnoredZone = Annotated[Optional[str], _Ignored("--zone")]
IgnoredOsType = Annotated[Optional[str], _Ignored("--os-type")]
IgnoredGeneration = Annotated[Optional[str], _Ignored("--hyper-v-generation")]
IgnoredSecurity = Annotated[Optional[str], _Ignored("--security-type")]
IgnoredGuestState = Annotated[Optional[str], _Ignored("--vm-guest-state")]
IgnoredMetadata = Annotated[Optional[str], _Ignored("--security-metadata")]
IgnoredAuthMode = Annotated[Optional[str], _Ignored("--data-access-auth-mode")]
IgnoredTags = Annotated[Optional[list[str]], _Ignored("--tag")]
IgnoredFlag = Annotated[bool, _Ignored("--delete-on-failure")]
DiskLocationOption = Annotated[
    Optional[str], typer.Option("--location", "-l", help="Azure region of a new managed disk (ignored where not needed).", rich_help_panel=_DISK)
]


@app.command()
@suggest_raw_first
def upload(
    source: SourceArg,
    dest: OptionalDestArg = None,
    raw: RawOption = False,
    source_format: FormatOption = None,
    no_resize: NoResizeOption = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a finished or foreign blob, or an unattached disk (created afresh).")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="If another upload is writing to the blob or disk, wait for it (see --wait-timeout).")] = False,
    threads: ThreadsOption = "auto",
    content_md5: Annotated[
        bool, typer.Option("--content-md5", help="Also compute the whole-file MD5 and set the blob's Content-MD5 (CPU ~ virtual size).")
    ] = False,
    as_json: JsonOption = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    max_bandwidth: Annotated[
        Optional[str],
        typer.Option("--max-bandwidth", metavar="RATE", help="Cap the upload rate: a bare number is megabits/s (AzCopy's --cap-mbps); "
                     "b is a bit and B a byte: 400Mbps, 400Mbit/s, 50MB/s, 50MBps, 50MiB/s."),
    ] = None,
    max_retries: Annotated[int, typer.Option("--max-retries", min=0, help="Retries of one request before giving up.")] = DEFAULT_MAX_RETRIES,
    timeout: TimeoutOption = None,
    verbose: VerboseOption = False,
    account_url: AccountUrlOption = None,
    connection_string: ConnectionStringOption = None,
    account_key: AccountKeyOption = None,
    account_name: AccountNameOption = None,
    sas_token: SasTokenOption = None,
    emulator: EmulatorOption = False,
    max_gap: Annotated[Optional[int], typer.Option("--max-gap", hidden=True, min=0)] = None,
    lease_seconds: Annotated[int, typer.Option("--lease-seconds", hidden=True, min=15, max=60)] = 60,
    wait_timeout: Annotated[
        float, typer.Option("--wait-timeout", metavar="SECONDS", min=0, help="How long --wait waits for another upload.")
    ] = DEFAULT_WAIT_TIMEOUT,
    trust_stat: Annotated[
        bool,
        typer.Option("--trust-stat", help="Take a finished upload of this very, unmodified file (size, mtime, inode) as done without recomputing its CRC64."),
    ] = False,
    skip_free: Annotated[bool, typer.Option("--skip-free", help=SKIP_FREE_HELP)] = False,
    verify_after: Annotated[
        Optional[str], typer.Option("--verify", metavar="ranges|full", help="Check the destination after the upload: ranges "
                                    "(page map, footer, recorded CRC64; downloads only the footer and zero gaps) or full "
                                    "(downloads every byte again). Exit 3 if it differs.")
    ] = None,
    managed_disk: ManagedDiskOption = None,
    resource_group: DiskResourceGroupOption = None,
    location: DiskLocationOption = None,
    subscription: SubscriptionOption = None,
    arm_endpoint: ArmEndpointOption = None,
    cloud: CloudOption = None,
    arm_audience: AudienceOption = None,
    arm_timeout: ArmTimeoutOption = None,
    sku: Annotated[Optional[str], typer.Option("--sku", help="The disk's storage type: " + ", ".join(SKUS) + ".", rich_help_panel=_DISK)] = None,
    zone: Annotated[Optional[str], typer.Option("--zone", metavar="N", help="Availability zone of the disk.", rich_help_panel=_DISK)] = None,
    os_type: Annotated[Optional[str], typer.Option("--os-type", metavar="linux|windows|auto", help="linux, windows or auto (what the disk holds): an OS disk (else a data disk).", rich_help_panel=_DISK)] = None,
    hyper_v_generation: Annotated[
        Optional[str], typer.Option("--hyper-v-generation", help="auto (from the partition table, the default), V1 or V2; OS disks only.", rich_help_panel=_DISK)
    ] = None,
    security_type: Annotated[
        Optional[str],
        typer.Option("--security-type", help="TrustedLaunch, or ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey / "
                     "ConfidentialVM_DiskEncryptedWithPlatformKey (with --vm-guest-state); Generation 2 OS disks only.",
                     rich_help_panel=_DISK),
    ] = None,
    vm_guest_state: Annotated[
        Optional[Path],
        typer.Option("--vm-guest-state", metavar="GUEST.vhd", help="The VM guest state (VMGS) to upload with a "
                     "--security-type disk (created UploadPreparedSecure).", rich_help_panel=_DISK),
    ] = None,
    security_metadata: Annotated[
        Optional[Path],
        typer.Option("--security-metadata", metavar="FILE", help="A Confidential VM disk's security metadata, sent "
                     "beside --vm-guest-state.", rich_help_panel=_DISK),
    ] = None,
    data_access_auth_mode: Annotated[
        Optional[str],
        typer.Option("--data-access-auth-mode", help="AzureActiveDirectory: data access needs an Entra ID token too.", rich_help_panel=_DISK),
    ] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", metavar="KEY=VALUE", help="A tag for the disk (repeatable).", rich_help_panel=_DISK)] = None,
    delete_on_failure: Annotated[
        bool, typer.Option("--delete-on-failure", help="Delete the disk on failure if this command created it.", rich_help_panel=_DISK)
    ] = False,
) -> int:
    """Upload a VHD to a page blob or straight into a managed disk, sending only its data; rerun the same command to resume."""
    setup_logging(verbose)
    if verify_after is not None and verify_after not in ("ranges", "full"):
        raise typer.BadParameter(f"{verify_after!r} is not ranges or full", param_hint="--verify")
    as_raw = source_is_raw(raw, source_format)  # a bad --format: a usage error before any sign-in
    bandwidth = parse_bandwidth(max_bandwidth) if max_bandwidth else None
    settings = transfer_settings(threads=parse_threads(threads), max_retries=max_retries, timeout=timeout,
                                 max_bandwidth=bandwidth, max_gap=max_gap, wait_timeout=wait_timeout)
    disk = None
    if managed_disk is not None:
        if content_md5:
            raise typer.BadParameter("a managed disk's upload endpoint cannot set Content-MD5", param_hint="--content-md5")
        details = dict(sku=sku, zone=zone, os_type=os_type, hyper_v_generation=hyper_v_generation or "auto",
                       security_type=security_type, vm_guest_state=vm_guest_state, security_metadata=security_metadata,
                       data_access_auth_mode=data_access_auth_mode,
                       tags=parse_tags(tag), delete_on_failure=delete_on_failure)
        disk = DiskOptions(managed_disk, resource_group, location=_required(location, "--location") if dest is None else location,
                           details=details)
    target = destination(
        dest, disk=disk, blob={"content_md5": content_md5, "lease_seconds": lease_seconds},
        storage=StorageOptions(account_url, connection_string, account_key, account_name, sas_token, emulator),
        arm=ArmOptions(subscription, arm_endpoint, cloud, arm_audience, arm_timeout),
        disk_only=given(resource_group=resource_group, location=location, sku=sku, zone=zone, os_type=os_type,
                        hyper_v_generation=hyper_v_generation, security_type=security_type,
                        vm_guest_state=vm_guest_state, security_metadata=security_metadata,
                        data_access_auth_mode=data_access_auth_mode, tag=tag, delete_on_failure=delete_on_failure),
    )
    cancel = threading.Event()
    bar = _ProgressBar(enabled=not no_progress and sys.stderr.isatty())
    try:
        result = upload_disk(source, target, raw=as_raw, resize=not no_resize, overwrite=overwrite, wait=wait,
                             trust_stat=trust_stat, settings=settings, progress=bar.update, cancel=cancel,
                             skip_free=skip_free)
        bar.finish()
    except KeyboardInterrupt:
        cancel.set()
        bar.close()
        where = f"; nothing was deleted: run the same command again to continue the disk {managed_disk}" if managed_disk \
            else f"; {RESUME_HINT}"
        say(f"error: interrupted{where}", err=True)
        return 130
    finally:
        bar.close()
    cap = bandwidth_line(max_bandwidth, bandwidth)
    if verify_after is None:
        if as_json:
            typer.echo(json.dumps(result.to_dict(), sort_keys=True))
        else:
            say(*summary(result, cap=cap))
        return EXIT_OK
    check = verify_disk(source, target, raw=as_raw, resize=not no_resize, settings=dataclasses.replace(settings, max_bandwidth=None),
                        mode=verify_after, skip_free=skip_free)
    if as_json:
        typer.echo(json.dumps(result.to_dict() | {"verify": check.to_dict()}, sort_keys=True))
    else:
        say(*summary(result, cap=cap), f"verified ({check.mode}): " + ("identical" if check.ok else f"DIFFERENT: {check.problem}")
            + f", {format_size(check.bytes_compared)} downloaded")
    return EXIT_OK if check.ok else EXIT_FINDING


@app.command()
@suggest_raw_first
def verify(
    source: SourceArg,
    dest: OptionalDestArg = None,
    raw: RawOption = False,
    source_format: FormatOption = None,
    no_resize: NoResizeOption = False,
    threads: ThreadsOption = "auto",
    as_json: JsonOption = False,
    timeout: TimeoutOption = None,
    max_retries: MaxRetriesOption = DEFAULT_MAX_RETRIES,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    verbose: VerboseOption = False,
    account_url: AccountUrlOption = None,
    connection_string: ConnectionStringOption = None,
    account_key: AccountKeyOption = None,
    account_name: AccountNameOption = None,
    sas_token: SasTokenOption = None,
    emulator: EmulatorOption = False,
    skip_free: Annotated[bool | None, typer.Option("--skip-free/--no-skip-free", help=VERIFY_SKIP_FREE_HELP)] = None,
    managed_disk: ManagedDiskOption = None,
    resource_group: DiskResourceGroupOption = None,
    location: DiskLocationOption = None,
    subscription: SubscriptionOption = None,
    arm_endpoint: ArmEndpointOption = None,
    cloud: CloudOption = None,
    arm_audience: AudienceOption = None,
    _sku: IgnoredText = None,
    _zone: IgnoredZone = None,
    _os_type: IgnoredOsType = None,
    _generation: IgnoredGeneration = None,
    _security: IgnoredSecurity = None,
    _guest_state: IgnoredGuestState = None,
    _metadata: IgnoredMetadata = None,
    _auth_mode: IgnoredAuthMode = None,
    _tags: IgnoredTags = None,
    _delete_on_failure: IgnoredFlag = False,
) -> int:
    """Compare a blob or managed disk with the local disk without downloading zeros: exit 0 identical, 3 not, 1 could not compare."""
    setup_logging(verbose)
    as_raw = source_is_raw(raw, source_format)  # a bad --format: a usage error before any sign-in
    settings = transfer_settings(threads=parse_threads(threads), timeout=timeout, max_retries=max_retries)
    target = _target(dest, managed_disk, resource_group, StorageOptions(account_url, connection_string, account_key,
                     account_name, sas_token, emulator), ArmOptions(subscription, arm_endpoint, cloud, arm_audience),
                     disk_only=given(resource_group=resource_group, location=location, sku=_sku, zone=_zone,
                                     os_type=_os_type, hyper_v_generation=_generation, security_type=_security,
                                     data_access_auth_mode=_auth_mode, tag=_tags, delete_on_failure=_delete_on_failure))
    bar = _ProgressBar(enabled=wanted(no_progress), label="verify", moved="read", field="bytes_received")
    try:
        result = verify_disk(source, target, raw=as_raw, resize=not no_resize, settings=settings, progress=bar.update,
                             skip_free=skip_free)
        bar.finish()
    finally:
        bar.close()
    if as_json:
        typer.echo(json.dumps(result.to_dict(), sort_keys=True))
    elif result.identical:
        say(f"identical: {result.blob_url} matches {source} (CRC64 {result.crc64})", *verify_reads(result),
            *verify_free_space_lines(result))
    else:
        offset = result.first_difference
        said = offset is None or f"offset {offset}" in (result.problem or "")  # the problem may name it already
        say(f"different: {result.problem}" + ("" if said else f" (first difference at offset {offset})"), err=True)
    return EXIT_OK if result.identical else EXIT_FINDING


@app.command()
def status(
    dest: OptionalDestArg = None,
    as_json: JsonOption = False,
    _no_progress: Annotated[
        bool, typer.Option("--no-progress", help="Accepted as upload and verify take it (status draws no bar).")
    ] = False,
    timeout: TimeoutOption = None,
    max_retries: MaxRetriesOption = DEFAULT_MAX_RETRIES,
    verbose: VerboseOption = False,
    account_url: AccountUrlOption = None,
    connection_string: ConnectionStringOption = None,
    account_key: AccountKeyOption = None,
    account_name: AccountNameOption = None,
    sas_token: SasTokenOption = None,
    emulator: EmulatorOption = False,
    managed_disk: ManagedDiskOption = None,
    resource_group: DiskResourceGroupOption = None,
    location: DiskLocationOption = None,
    subscription: SubscriptionOption = None,
    arm_endpoint: ArmEndpointOption = None,
    cloud: CloudOption = None,
    arm_audience: AudienceOption = None,
    _sku: IgnoredText = None,
    _zone: IgnoredZone = None,
    _os_type: IgnoredOsType = None,
    _generation: IgnoredGeneration = None,
    _security: IgnoredSecurity = None,
    _guest_state: IgnoredGuestState = None,
    _metadata: IgnoredMetadata = None,
    _auth_mode: IgnoredAuthMode = None,
    _tags: IgnoredTags = None,
    _delete_on_failure: IgnoredFlag = False,
) -> int:
    """Show what a blob or managed disk holds of an upload: how much, from which source, whether complete."""
    setup_logging(verbose)
    target = _target(dest, managed_disk, resource_group, StorageOptions(account_url, connection_string, account_key,
                     account_name, sas_token, emulator), ArmOptions(subscription, arm_endpoint, cloud, arm_audience),
                     disk_only=given(resource_group=resource_group, location=location, sku=_sku, zone=_zone,
                                     os_type=_os_type, hyper_v_generation=_generation, security_type=_security,
                                     data_access_auth_mode=_auth_mode, tag=_tags, delete_on_failure=_delete_on_failure))
    result = upload_status(target, settings=transfer_settings(threads=2, timeout=timeout, max_retries=max_retries))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), sort_keys=True))
    else:  # metadata and tags are the server's: say escapes each line whole
        say(*status_lines(result))
    return EXIT_OK


def _target(dest: str | None, managed_disk: str | None, resource_group: str | None, storage: StorageOptions,
            arm: ArmOptions, *, disk_only: list[str]) -> Destination:
    disk = DiskOptions(managed_disk, resource_group) if managed_disk is not None else None
    return destination(dest, disk=disk, storage=storage, arm=arm, disk_only=disk_only)


def status_lines(result: UploadStatus) -> list[str]:
    """What ``status`` prints for a person: the same lines for a blob and a disk (unescaped: a
    value from the server may hold any character)."""
    lines = [f"{result.url}: {result.state}"]
    if result.disk_state:
        lines += [f"  disk state:    {result.disk_state}", f"  id:            {result.disk_id}"]
    if result.exists and result.size:
        lines.append(f"  size:          {format_size(result.size)}")
    if result.bytes_present is not None and result.exists:
        lines.append(f"  pages present: {format_size(result.bytes_present)}")
    if result.made_by_vhdupload:
        uuid = f", UUID {result.source_uuid}" if result.source_uuid else ""
        lines.append(f"  source:        {result.source_name} ({result.source_type}, {result.source_size} bytes{uuid})")
        if result.source_changed:
            lines.append("  complete:      no: the source changed during the upload; upload again with --overwrite")
        else:
            lines.append(f"  complete:      {'yes' if result.complete else 'no: rerun the upload to finish it'}")
        if result.crc64:
            lines.append(f"  CRC64:         {result.crc64}")
        if result.skip_free:
            lines.append("  free space:    left home (--skip-free): the destination reads zeros there")
    if result.writer:
        lines.append(f"  writer:        {result.writer}")
    return lines


def verify_reads(result: Any) -> list[str]:
    """What a verify read: the blob's data ranges and the source's extents; zeros were not read."""
    return [
        f"  blob size:     {format_size(result.blob_size)}",
        f"  read:          {format_size(result.bytes_compared)} from the blob, "
        f"{format_size(result.source_bytes_read)} from the source (the rest is zeros on both sides)",
        f"  duration:      {result.seconds:.1f} s",
    ]


def verify_free_space_lines(result: Any) -> list[str]:
    """How a verify compared free space, and why (said only where the disk's free space mattered)."""
    if result.skip_free and result.skip_free_recorded:
        return ["  free space:    compared as zeros, used blocks byte for byte (the upload left it home: --skip-free)"]
    if result.skip_free:
        return ["  free space:    compared as zeros, used blocks byte for byte (--skip-free)"]
    if result.skip_free_recorded:
        return ["  free space:    compared bit for bit (--no-skip-free), though the upload left it home"]
    return []


def transfer_settings(**knobs: Any) -> TransferSettings:
    """The library's settings from the options, its complaints in the options' names."""
    try:
        return TransferSettings(**knobs)
    except InputError as exc:
        text = str(exc)
        for name in knobs:
            text = re.sub(rf"^{name}\b", "--" + name.replace("_", "-"), text)
        raise InputError(text) from None


def parse_tags(values: list[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for value in values or []:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--tag")
        tags[key.strip()] = text
    return tags


def _required(value: str | None, flag: str) -> str:
    if not value:
        raise typer.BadParameter(f"{flag} is needed with --managed-disk", param_hint=flag)
    return value


def summary(result: UploadResult, *, cap: str = "") -> list[str]:
    """The closing summary a person reads, line by line (a warning the upload noted says so);
    ``cap``: the bandwidth cap's line, if one was set."""
    notes = [note if note.startswith("warning: ") else f"note: {note}" for note in result.notes]
    if result.already_complete:
        where = f"the disk {result.disk_id} ({result.disk_state})" if result.disk_id else result.blob_url
        checked = (f"the file's own recomputed in {result.check_seconds:.1f} s" if result.check_seconds
                   else "taken on the file's unchanged stat")
        return [
            f"already uploaded: {where} holds this source and is complete "
            f"(CRC64 {result.crc64}, {checked}); nothing sent", *notes,
        ]
    rate = result.bytes_sent / result.seconds / 2**20 if result.seconds > 0 else 0.0
    lines = [
        f"uploaded {result.source} -> {result.blob_url}" + (" (resumed)" if result.resumed else ""),
        f"  virtual size:  {format_size(result.virtual_size)}" + (" (rounded up to a whole MiB)" if result.resized else ""),
        f"  data found:    {format_size(result.data_bytes)}",
        f"  bytes sent:    {format_size(result.bytes_sent)}",
        f"  bytes skipped: {format_size(result.bytes_skipped)}",
    ]
    if result.free_bytes_skipped is not None:
        lines.append(free_space_line(result.free_bytes_skipped))
    if result.bytes_present:
        lines.append(f"  already there: {format_size(result.bytes_present)}")
    lines += [
        f"  requests:      {result.requests} ({result.retries} retries)",
        f"  threads:       {result.threads} ({result.concurrency})",
        f"  zero gaps:     sent when under {result.max_gap // 1024} KiB ({result.merging})",
        f"  duration:      {result.seconds:.1f} s ({rate:.1f} MiB/s sent)",
    ]
    if cap:
        lines.append(cap)
    lines += [
        f"  CRC64:         {result.crc64}",
    ]
    if result.content_md5:
        lines.append(f"  Content-MD5:   {result.content_md5}")
    if result.disk_id:
        lines.append(f"  disk:          {result.disk_id}")
        lines.append(f"  disk state:    {result.disk_state}")
    return lines + notes


def parse_bandwidth(text: str) -> float:
    """Bytes per second from ``--max-bandwidth`` (``400``: megabits, ``400Mbps``, ``50MB/s``, ``50MiB/s``)."""
    try:
        return parse_rate(text)
    except InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="--max-bandwidth") from None


def bandwidth_line(text: str | None, rate: float | None) -> str:
    """The summary's line for the cap, in the user's words and in MiB/s (what the rate line says)."""
    if not text or not rate:
        return ""
    return f"  bandwidth cap: {text.strip()} = {describe_rate(rate)}"
