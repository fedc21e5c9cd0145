"""``upload``, ``verify`` and ``status``: thin commands over the public API.

Results go to stdout (with ``--json``, one JSON object and nothing else); progress, logs and
errors go to stderr. The tqdm bar appears only when stderr is a terminal.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import threading
from typing import Annotated, Any, Optional

import typer

from .. import planning
from ..redact import RedactingFilter
from ..status import upload_status
from ..transfer.settings import DEFAULT_MAX_RETRIES, DEFAULT_THREADS
from ..upload import RESUME_HINT, UploadResult, upload_vhd
from ..verify import verify_upload
from ..vhd.limits import format_size
from . import app
from ._exit import EXIT_FINDING, EXIT_OK
from ._storage_options import (
    AccountKeyOption,
    AccountUrlOption,
    ConnectionStringOption,
    EmulatorOption,
    blob_client_from_options,
)

SourceArg = Annotated[str, typer.Argument(help="The VHD (fixed, dynamic or differencing), or a raw image with --raw.")]
DestArg = Annotated[
    str,
    typer.Argument(help="Blob URL (a SAS in the query allowed), or CONTAINER/NAME with --account-url/--connection-string/--emulator."),
]
RawOption = Annotated[bool, typer.Option("--raw", help="SOURCE is a raw disk image; its footer is made on the fly.")]
NoResizeOption = Annotated[
    bool, typer.Option("--no-resize", help="Refuse a virtual size that is not a whole MiB instead of rounding it up.")
]
ThreadsOption = Annotated[int, typer.Option("--threads", min=1, max=256, help="Requests in flight at once.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")]
TimeoutOption = Annotated[
    Optional[float], typer.Option("--timeout", min=1, help="Seconds one request may take before it is retried.")
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Log requests and retries to stderr (secrets redacted).")]


@app.command()
def upload(
    source: SourceArg,
    dest: DestArg,
    raw: RawOption = False,
    no_resize: NoResizeOption = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a finished or foreign blob (created afresh).")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="If another upload holds the blob's lease, wait for it.")] = False,
    threads: ThreadsOption = DEFAULT_THREADS,
    content_md5: Annotated[
        bool, typer.Option("--content-md5", help="Also compute the whole-file MD5 and set the blob's Content-MD5 (CPU ~ virtual size).")
    ] = False,
    as_json: JsonOption = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    max_bandwidth: Annotated[
        Optional[str],
        typer.Option("--max-bandwidth", help="Cap the upload rate: a number of megabits/s like AzCopy's --cap-mbps, or with a unit: 50MB/s, 400Mbps, 1GiB/s."),
    ] = None,
    max_retries: Annotated[int, typer.Option("--max-retries", min=0, help="Retries of one request before giving up.")] = DEFAULT_MAX_RETRIES,
    timeout: TimeoutOption = None,
    verbose: VerboseOption = False,
    account_url: AccountUrlOption = None,
    connection_string: ConnectionStringOption = None,
    account_key: AccountKeyOption = None,
    emulator: EmulatorOption = False,
    max_gap: Annotated[int, typer.Option("--max-gap", hidden=True, min=0)] = planning.DEFAULT_MAX_GAP,
    lease_seconds: Annotated[int, typer.Option("--lease-seconds", hidden=True, min=15, max=60)] = 60,
) -> int:
    """Upload a VHD to a page blob, sending only its data; rerun the same command to resume."""
    _setup_logging(verbose)
    bandwidth = parse_bandwidth(max_bandwidth) if max_bandwidth else None
    client = blob_client_from_options(
        dest, account_url=account_url, connection_string=connection_string, account_key=account_key,
        emulator=emulator, threads=threads, timeout=timeout,
    )
    cancel = threading.Event()
    bar = _ProgressBar(enabled=not no_progress and sys.stderr.isatty())
    try:
        result = upload_vhd(
            source, blob_client=client, raw=raw, resize=not no_resize, overwrite=overwrite, wait=wait,
            threads=threads, max_retries=max_retries, timeout=timeout, max_bandwidth=bandwidth,
            content_md5=content_md5, max_gap=max_gap, progress=bar.update, cancel=cancel,
            lease_seconds=lease_seconds,
        )
    except KeyboardInterrupt:
        cancel.set()
        bar.close()
        typer.echo(f"error: interrupted; {RESUME_HINT}", err=True)
        return 130
    finally:
        bar.close()
    if as_json:
        typer.echo(json.dumps(result.to_dict(), sort_keys=True))
    else:
        typer.echo(summary(result))
    return EXIT_OK


@app.command()
def verify(
    source: SourceArg,
    dest: DestArg,
    raw: RawOption = False,
    no_resize: NoResizeOption = False,
    threads: ThreadsOption = DEFAULT_THREADS,
    as_json: JsonOption = False,
    timeout: TimeoutOption = None,
    verbose: VerboseOption = False,
    account_url: AccountUrlOption = None,
    connection_string: ConnectionStringOption = None,
    account_key: AccountKeyOption = None,
    emulator: EmulatorOption = False,
) -> int:
    """Compare a blob with the local disk without downloading zeros: exit 0 identical, 3 not, 1 could not compare."""
    _setup_logging(verbose)
    client = blob_client_from_options(
        dest, account_url=account_url, connection_string=connection_string, account_key=account_key,
        emulator=emulator, threads=threads, timeout=timeout,
    )
    result = verify_upload(source, blob_client=client, raw=raw, resize=not no_resize, threads=threads, timeout=timeout)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), sort_keys=True))
    elif result.identical:
        typer.echo(
            f"identical: {result.blob_url} matches {source} ({format_size(result.blob_size)}, "
            f"{format_size(result.bytes_compared)} compared, CRC64 {result.crc64})"
        )
    else:
        where = f" (first difference at offset {result.first_difference})" if result.first_difference is not None else ""
        typer.echo(f"different: {result.problem}{where}", err=True)
    return EXIT_OK if result.identical else EXIT_FINDING


@app.command()
def status(
    dest: DestArg,
    as_json: JsonOption = False,
    timeout: TimeoutOption = None,
    verbose: VerboseOption = False,
    account_url: AccountUrlOption = None,
    connection_string: ConnectionStringOption = None,
    account_key: AccountKeyOption = None,
    emulator: EmulatorOption = False,
) -> int:
    """Show what a blob holds of an upload: how much, from which source, whether complete."""
    _setup_logging(verbose)
    client = blob_client_from_options(
        dest, account_url=account_url, connection_string=connection_string, account_key=account_key,
        emulator=emulator, threads=2, timeout=timeout,
    )
    result = upload_status(blob_client=client, timeout=timeout)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), sort_keys=True))
        return EXIT_OK
    lines = [f"{result.blob_url}: {result.state}"]
    if result.exists:
        lines.append(f"  blob size:     {format_size(result.blob_size)}")
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
    if result.lease == "leased":
        lines.append("  lease:         held (an upload is running, or crashed less than a minute ago)")
    typer.echo("\n".join(lines))
    return EXIT_OK


def summary(result: UploadResult) -> str:
    """The closing summary a person reads."""
    if result.already_complete:
        return (
            f"already uploaded: {result.blob_url} holds this source and is complete "
            f"(CRC64 {result.crc64}); nothing sent"
        )
    rate = result.bytes_sent / result.seconds / 1e6 if result.seconds > 0 else 0.0
    lines = [
        f"uploaded {result.source} -> {result.blob_url}" + (" (resumed)" if result.resumed else ""),
        f"  virtual size:  {format_size(result.virtual_size)}" + (" (rounded up to a whole MiB)" if result.resized else ""),
        f"  data found:    {format_size(result.data_bytes)}",
        f"  bytes sent:    {format_size(result.bytes_sent)}",
        f"  bytes skipped: {format_size(result.bytes_skipped)}",
    ]
    if result.bytes_present:
        lines.append(f"  already there: {format_size(result.bytes_present)}")
    lines += [
        f"  requests:      {result.requests} ({result.retries} retries)",
        f"  duration:      {result.seconds:.1f} s ({rate:.1f} MB/s sent)",
        f"  CRC64:         {result.crc64}",
    ]
    if result.content_md5:
        lines.append(f"  Content-MD5:   {result.content_md5}")
    return "\n".join(lines)


_UNITS = {
    "": 1e6 / 8,  # a bare number: megabits per second, as AzCopy's --cap-mbps
    "bps": 1 / 8, "kbps": 1e3 / 8, "mbps": 1e6 / 8, "gbps": 1e9 / 8,
    "b/s": 1, "kb/s": 1e3, "mb/s": 1e6, "gb/s": 1e9,
    "kib/s": 1024, "mib/s": 1024**2, "gib/s": 1024**3,
    "k": 1e3, "m": 1e6, "g": 1e9, "kb": 1e3, "mb": 1e6, "gb": 1e9,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}


def parse_bandwidth(text: str) -> float:
    """Bytes per second from ``50``, ``400Mbps``, ``50MB/s``, ``1GiB/s``..."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z/]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS or float(match.group(1)) <= 0:
        raise typer.BadParameter(f"{text!r} is not a bandwidth like 400 (Mbit/s), 400Mbps or 50MB/s", param_hint="--max-bandwidth")
    return float(match.group(1)) * _UNITS[unit]


def _setup_logging(verbose: bool) -> None:
    if not verbose:
        return
    root = logging.getLogger("vhdupload")
    if any(getattr(h, "_vhdupload_cli", False) for h in root.handlers):
        return  # main() may run several times in one process (tests, embedding programs)
    handler = logging.StreamHandler(sys.stderr)
    handler._vhdupload_cli = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name, level in (("vhdupload", logging.DEBUG), ("azure", logging.INFO)):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.addHandler(handler)


def _stderr_size() -> tuple[int, int]:
    """Columns and lines of the terminal on stderr (the bar's), else of ``COLUMNS``/``LINES``,
    else 80 x 24. A terminal that reports 0 x 0 (a fresh pseudo-terminal, some CI runners)
    counts as unknown: tqdm given 0 rows draws nothing at all."""
    fallback = shutil.get_terminal_size()  # COLUMNS/LINES, stdout's terminal, or 80 x 24
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (AttributeError, ValueError, OSError):
        return fallback.columns, fallback.lines
    return (size.columns or fallback.columns), (size.lines or fallback.lines)


class _ProgressBar:
    """A tqdm bar on stderr fed by progress snapshots (from worker threads)."""

    def __init__(self, *, enabled: bool) -> None:
        self._enabled = enabled
        self._bar: Any = None
        self._wide = False
        self._lock = threading.Lock()

    def update(self, progress: Any) -> None:
        if not self._enabled:
            return
        with self._lock:
            if self._bar is None:
                from tqdm import tqdm

                # Decimal units throughout, as in the summary: the bar's rate and ETA are of the
                # disk covered (zeros skipped count), the postfix says what actually went out.
                columns, lines = _stderr_size()
                self._bar = tqdm(total=progress.total, unit="B", unit_scale=True, unit_divisor=1000,
                                 desc="covered", file=sys.stderr, ncols=columns, nrows=lines, leave=False)
                self._wide = self._bar.ncols is None or self._bar.ncols >= 96
            sent = f"sent {progress.bytes_sent / 1e6:.0f} MB"
            if self._wide:  # room for the send rate too (at 80 columns it would push the bar out)
                rate = progress.bytes_sent / progress.elapsed / 1e6 if progress.elapsed > 0 else 0.0
                sent += f", {rate:.1f} MB/s"
            if progress.retries:
                sent += f", {progress.retries} retries"
            self._bar.set_postfix_str(sent, refresh=False)
            delta = progress.covered - self._bar.n
            if delta > 0:
                self._bar.update(delta)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
