"""``vhdupload publish MANIFEST``: a thin command over :func:`vhdupload.publish.publish`.

The result goes to stdout (``--json``: one object); progress (one bar per disk plus a total,
on a terminal only), notes, warnings and errors go to stderr. Every problem found before
anything remote is one ``error:`` line; Ctrl-C exits 130 and deletes nothing.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..azure.arm import ArmConnection
from ..errors import PublishCheckError
from ..publish import PublishOptions, PublishResult, publish
from ..publish.runner import RERUN_HINT
from ..transfer.settings import ADAPTIVE_MAX, DEFAULT_MAX_RETRIES
from ..azure_rules import format_size
from . import app
from ._exit import EXIT_ERROR, EXIT_OK
from ._arm_options import (
    ArmEndpointOption,
    ArmTimeoutOption,
    AudienceOption,
    CloudOption,
    SubscriptionOption,
    arm_connection,
    dry_run as plan_dry_run,
    offline_note,
)
from ._progress import stderr_size
from ._replication import ReplicationBars
from ._common import ThreadsOption, parse_threads, say, setup_logging
from ._storage_options import (
    AccountKeyOption,
    AccountNameOption,
    AccountUrlOption,
    ConnectionStringOption,
    EmulatorOption,
    SasTokenOption,
    StorageOptions,
    blob_client_from_options,
)
from .upload_commands import bandwidth_line, parse_bandwidth, transfer_settings


#: Problems listed one to a line before the rest are counted: enough to fix in one pass.
MAX_PROBLEMS_SHOWN = 20


@app.command("publish")
def publish_command(
    manifest: Annotated[Path, typer.Argument(metavar="MANIFEST", help="The TOML manifest (see docs/publish.md).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and print the plan (disks, bytes, ARM bodies, az lines); create nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")] = False,
    threads: ThreadsOption = "auto",
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bars.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing image with another body (deleted, then created), and a blob or disk holding another source.")
    ] = False,
    cleanup: Annotated[bool, typer.Option("--cleanup", help="Delete the uploaded blobs or disks once the image is registered.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="If another upload is writing to a disk, wait for it.")] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once a gallery version exists; do not watch it replicate (it goes on in Azure).")
    ] = False,
    skip_guest_check: Annotated[
        bool, typer.Option("--skip-guest-check", help="Do not look inside the OS disk for signs that it was not generalized.")
    ] = False,
    max_bandwidth: Annotated[
        Optional[str], typer.Option("--max-bandwidth", help="Cap the upload rate of all disks together: 400 (Mbit/s), 400Mbps, 50MB/s...")
    ] = None,
    max_retries: Annotated[int, typer.Option("--max-retries", min=0, help="Retries of one request before giving up.")] = DEFAULT_MAX_RETRIES,
    timeout: Annotated[Optional[float], typer.Option("--timeout", min=1, help="Seconds one request may take before it is retried.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log requests and retries to stderr (secrets redacted).")] = False,
    connection_string: ConnectionStringOption = None,
    account_key: AccountKeyOption = None,
    account_name: AccountNameOption = None,
    sas_token: SasTokenOption = None,
    account_url: AccountUrlOption = None,
    emulator: EmulatorOption = False,
    subscription: SubscriptionOption = None,
    arm_endpoint: ArmEndpointOption = None,
    cloud: CloudOption = None,
    arm_audience: AudienceOption = None,
    verify: Annotated[
        Optional[str], typer.Option("--verify", metavar="ranges|full|none", help="How each upload is checked: ranges (default: "
                                    "page map, footer and recorded CRC64; downloads only the footer and zero gaps), full "
                                    "(downloads every byte again), none. Default: the manifest's verify, else ranges.")
    ] = None,
    arm_timeout: ArmTimeoutOption = None,
    lease_seconds: Annotated[Optional[int], typer.Option("--lease-seconds", hidden=True, min=15, max=60)] = None,
    poll_seconds: Annotated[Optional[float], typer.Option("--poll-seconds", hidden=True, min=0)] = None,
) -> int:
    """Upload an OS disk and its data disks, verify them and register the image, from one manifest; rerun to continue."""
    setup_logging(verbose)
    bandwidth = parse_bandwidth(max_bandwidth) if max_bandwidth else None
    pinned = parse_threads(threads)  # a number is a budget the disks share; auto: they adapt together
    settings = transfer_settings(threads=pinned, max_retries=max_retries, timeout=timeout, max_bandwidth=bandwidth)
    storage = StorageOptions(account_url, connection_string, account_key, account_name, sas_token, emulator)
    options = PublishOptions(overwrite=overwrite, cleanup=cleanup, dry_run=dry_run, wait=wait,
                             skip_guest_check=skip_guest_check, lease_seconds=lease_seconds, watch_replication=not no_wait, verify=verify,
                             polling_interval=poll_seconds)

    def blob_client(url: str) -> Any:
        return blob_client_from_options(url, storage, threads=pinned or ADAPTIVE_MAX, timeout=timeout)

    cancel = threading.Event()
    bars = _Bars(enabled=not no_progress and not dry_run and sys.stderr.isatty())
    replication = ReplicationBars(enabled=not no_progress and not dry_run)

    def replicating(status: Any) -> None:
        bars.finish()  # the disks are registered: their bars make room for the regions'
        replication(status)

    try:
        def run(arm: ArmConnection, _online: bool = True) -> PublishResult:
            return publish(manifest, arm=arm, blob_client_factory=blob_client, settings=settings, options=options,
                           progress=bars.update, cancel=cancel, on_replication=replicating)

        online = True
        if dry_run:  # without a sign-in: the plan and its bodies all the same, nothing compared
            result, online = plan_dry_run(run, subscription, arm_endpoint, cloud, arm_audience)
        else:
            result = run(arm_connection(subscription, arm_endpoint, cloud, arm_audience, arm_timeout=arm_timeout))
            bars.finish()
    except PublishCheckError as exc:
        bars.close()
        shown = exc.problems[:MAX_PROBLEMS_SHOWN]  # a manifest of 10,000 bad disks is not 20,000 lines
        more = len(exc.problems) - len(shown)
        say(*(f"error: {problem}" for problem in shown), *([f"error: and {more} more problems"] if more else []),
            err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        cancel.set()
        bars.close()
        typer.echo(f"error: interrupted; {RERUN_HINT}", err=True)
        return 130
    finally:
        bars.close()
        replication.close()
    offline = [] if online else [offline_note(bool(subscription or os.environ.get("AZURE_SUBSCRIPTION_ID")))]
    for note in [*result.notes, *offline]:
        say(f"note: {note}", err=True)
    for warning in result.warnings:
        say(f"warning: {warning}", err=True)
    if as_json:
        typer.echo(json.dumps(result.to_dict() | ({"compared": online} if dry_run else {}), sort_keys=True))
    elif dry_run:
        say(*[f"# {line}" for line in offline], *_dry_run_text(result))
    else:
        say(*_summary(result), *([bandwidth_line(max_bandwidth, bandwidth).strip()] if bandwidth else []))
    return EXIT_OK


def _summary(result: PublishResult) -> list[str]:
    lines = []
    for disk in result.disks:
        where = f"lun {disk.lun}" if disk.lun is not None else "OS disk"
        if not result.created and not disk.verified:
            what = "already in the image"
        elif disk.already_complete:
            what = "already uploaded, verified"
        else:
            what = f"sent {format_size(disk.bytes_sent)}" + (" (resumed)" if disk.resumed else "") + ", verified"
        if disk.free_bytes_skipped:
            what += f"; free space left home: {format_size(disk.free_bytes_skipped)}"
        lines.append(f"{Path(disk.path).name} ({where}) -> {disk.destination}: {what}")
    state = "created" if result.created else "already registered with this body; nothing written"
    lines.append(f"image {result.image_id}: {state}")
    if result.replication is not None:
        lines.append("replicated: " + ", ".join(f"{r.region} {r.state.lower()}" for r in result.replication.regions))
    lines.append(f"sent {format_size(result.bytes_sent)} in {result.seconds:.1f} s"
                 + (", uploaded disks deleted (--cleanup)" if result.cleaned_up else ""))
    return lines


def _dry_run_text(result: PublishResult) -> list[str]:
    lines = ["# disks (nothing is created by a dry run):"]
    for disk in result.disks:
        role = f"data disk, lun {disk.lun}" if disk.role == "data" else "OS disk"
        send = "nothing to send (complete)" if disk.bytes_to_send == 0 else f"at most {format_size(disk.bytes_to_send or 0)} to send"
        lines.append(f"#   {disk.path} ({role}) -> {disk.destination}: {format_size(disk.upload_size)}, {send}")
    if result.existing == "same":
        lines.append("# the image already exists with this body: a run would write nothing")
    elif result.existing == "different":
        lines.append("# the image exists with another body: a run needs --overwrite (delete, then create)")
    assert result.plan is not None
    for request in result.plan.requests:
        lines.append(f"# {request.description}: PUT {request.resource_id}")
        lines += json.dumps(request.body, indent=2).splitlines()  # JSON escapes its strings: these breaks are its own
    lines.append("# the same with the Azure CLI:")
    lines += result.upload_az
    for request in result.plan.requests:
        lines.append(request.az_command)
        if request.az_note:
            lines.append(f"# note: {request.az_note}")
    return lines


_MIB = 1024 * 1024
_BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} MiB [{elapsed}<{remaining}, {rate_fmt}]"


class _Bars:
    """One tqdm bar per disk plus a total, on stderr, fed from worker threads."""

    def __init__(self, *, enabled: bool) -> None:
        self._enabled = enabled
        self._bars: dict[int, Any] = {}
        self._total: Any = None
        self._covered: dict[int, int] = {}
        self._sizes: dict[int, int] = {}
        self._lock = threading.Lock()

    def update(self, event: Any) -> None:
        if not self._enabled:
            return
        from tqdm import tqdm

        with self._lock:
            columns, rows = stderr_size()
            if self._total is None:
                self._total = tqdm(total=0, unit="MiB", desc="total", bar_format=_BAR_FORMAT,  # MiB, as upload's bar
                                   file=sys.stderr, ncols=columns, nrows=rows, position=0, leave=False)
            bar = self._bars.get(event.index)
            if bar is None:
                bar = tqdm(total=event.progress.total / _MIB, unit="MiB", bar_format=_BAR_FORMAT,
                           desc=Path(event.path).name[:20], file=sys.stderr, ncols=columns, nrows=rows,
                           position=event.index + 1, leave=False)
                self._bars[event.index] = bar
                self._sizes[event.index] = event.progress.total
                self._total.total = sum(self._sizes.values()) / _MIB
                self._total.refresh()
            delta = event.progress.covered - self._covered.get(event.index, 0)
            if delta > 0:
                self._covered[event.index] = event.progress.covered
                bar.update(delta / _MIB)
                self._total.update(delta / _MIB)

    def finish(self) -> None:
        """The uploads are done: wipe the moving bars and print each disk's final line (and the
        total's) where they were, so that they stay on screen above what follows (several tqdm
        bars left in place by their positions overwrote each other and the replication bars)."""
        with self._lock:
            if self._total is None:
                return
            lines = []
            for index in sorted(self._bars):
                bar = self._bars[index]
                bar.update(max(0.0, bar.total - bar.n))  # a disk done between two redraws showed 0 %
                lines.append(str(bar))
            self._total.update(max(0.0, self._total.total - self._total.n))
            lines.append(str(self._total))
        self.close()
        say(*lines, err=True)

    def close(self) -> None:
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            if self._total is not None:
                self._total.close()
            self._bars.clear()
            self._total = None
