"""``bench``: how fast this link and this account take a disk, the best ``--threads``, and the
ratio to the SDK and AzCopy. The work is in :mod:`vhdupload.bench`; this module parses,
prints, and turns Ctrl-C into a clean-up and exit 130."""

from __future__ import annotations

import json
import re
import sys
import threading
from typing import Annotated, Optional

import typer

from ..bench import BenchOptions, run_bench
from ..bench.runner import MAX_DISKS
from ..bench.images import PATTERNS
from ..bench.plot import require_matplotlib, write_plot
from . import app
from ._common import DEFAULT_RETRIES, MaxRetriesOption, TimeoutOption, say
from ._exit import EXIT_OK
from ._storage_options import AccountKeyOption, AccountUrlOption, ConnectionStringOption, EmulatorOption

_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kib": 1024, "m": 1024**2, "mib": 1024**2, "g": 1024**3, "gib": 1024**3,
               "t": 1024**4, "tib": 1024**4, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4}


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _SIZE_UNITS:
        raise typer.BadParameter(f"{text!r} is not a size like 4GiB, 512MiB or 1TiB", param_hint="--size")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def parse_fill(text: str) -> float:
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(%?)\s*", text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a fill like 25% or 0.25", param_hint="--fill")
    value = float(match.group(1)) / (100 if match.group(2) or float(match.group(1)) > 1 else 1)
    if not 0 < value <= 1:
        raise typer.BadParameter(f"{text!r} must be above 0% and at most 100%", param_hint="--fill")
    return value


def parse_threads(text: str) -> tuple[int | None, ...]:
    """``auto,2,4`` -> (None, 2, 4): ``auto`` is the adaptive default, first."""
    try:
        values = {None if part.strip().lower() == "auto" else int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        values = set()
    if not values or any(v is not None and not 1 <= v <= 256 for v in values):
        raise typer.BadParameter(f"{text!r} is not a list of thread counts 1-256 (or auto) like auto,2,4,8,16,32",
                                 param_hint="--threads")
    return tuple(sorted(values, key=lambda v: -1 if v is None else v))


def parse_compare(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    tools = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [t for t in tools if t not in ("sdk", "azcopy")]
    if unknown:
        raise typer.BadParameter(f"cannot compare with {', '.join(unknown)}: use sdk, azcopy or sdk,azcopy",
                                 param_hint="--compare")
    return tools


@app.command()
def bench(
    container: Annotated[
        str,
        typer.Argument(help="Container URL (a SAS in the query allowed), or CONTAINER with --account-url/--connection-string/--emulator."),
    ],
    size: Annotated[str, typer.Option("--size", help="Virtual size of the synthetic disk.")] = "4GiB",
    fill: Annotated[str, typer.Option("--fill", help="Share of the disk that holds data.")] = "25%",
    pattern: Annotated[
        str, typer.Option("--pattern", help="random-blocks (1 MiB blocks), scattered-pages (4-64 KiB runs) or filesystem (mkfs.ext4 -d).")
    ] = "random-blocks",
    image: Annotated[Optional[str], typer.Option("--image", help="Benchmark this disk instead of a synthetic one.")] = None,
    threads: Annotated[str, typer.Option("--threads", help="Thread counts to try, comma-separated; auto is the adaptive default.")] = "2,4,8,16,32",
    compare: Annotated[Optional[str], typer.Option("--compare", help="Also time sdk, azcopy or sdk,azcopy.")] = None,
    repeat: Annotated[int, typer.Option("--repeat", min=1, max=100, help="Uploads per thread count; the median is shown.")] = 1,
    disks: Annotated[int, typer.Option("--disks", min=1, max=MAX_DISKS, help=(
        "Send a set side by side, as publish sends a VM's disks: the disk above, then N-1 data disks "
        "(scattered 4-64 KiB runs, half its size, 9% data). Times and rates are the set's."))] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")] = False,
    plot: Annotated[Optional[str], typer.Option("--plot", help="Write a PNG of data rate against threads (needs vhdupload[bench]).")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the uploaded blobs (they are deleted otherwise).")] = False,
    timeout: TimeoutOption = None,
    max_retries: MaxRetriesOption = DEFAULT_RETRIES,
    account_url: AccountUrlOption = None,
    connection_string: ConnectionStringOption = None,
    account_key: AccountKeyOption = None,
    emulator: EmulatorOption = False,
) -> int:
    """Upload a synthetic disk (or --image) at several thread counts and print what this link does."""
    if pattern not in PATTERNS:
        raise typer.BadParameter(f"{pattern!r} is not one of {', '.join(PATTERNS)}", param_hint="--pattern")
    options = BenchOptions(
        container=container, size=parse_size(size), fill=parse_fill(fill), pattern=pattern, image=image,
        threads=parse_threads(threads), compare=parse_compare(compare), repeat=repeat, keep=keep,
        account_url=account_url, connection_string=connection_string, account_key=account_key, emulator=emulator,
        timeout=timeout, max_retries=max_retries, disks=disks,
    )
    if image is None and options.size % (1024 * 1024):
        raise typer.BadParameter(f"{size!r} is not a whole number of MiB", param_hint="--size")
    if plot:
        require_matplotlib()  # before any work: one line saying what to install
    terminal = sys.stderr.isatty()

    def progress(message: str) -> None:
        if terminal:
            say(f"bench: {message}", err=True)

    cancel = threading.Event()
    try:
        report = run_bench(options, progress=progress, cancel=cancel)
    except KeyboardInterrupt:
        cancel.set()
        typer.echo("error: interrupted; the blobs made so far were deleted" if not keep else "error: interrupted",
                   err=True)
        return 130
    if plot:
        write_plot(report, plot)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), sort_keys=True))
    else:
        typer.echo(report.table())
        if plot:
            typer.echo(f"plot: {plot}")
    return EXIT_OK
