"""``inspect`` and ``convert``: the commands that read VHDs without touching Azure."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import typer

from .. import convert_image, inspect_disk
from ..azure_rules import format_size
from . import app
from ._exit import EXIT_FINDING, EXIT_OK

if TYPE_CHECKING:  # annotations only
    from ..guest import GuestReport
    from ..inspect import DiskReport


@app.command("inspect")
def inspect_command(
    path: str = typer.Argument(..., metavar="PATH", help="The VHD to inspect.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    strict: bool = typer.Option(
        False, "--strict", help="Exit 3 when the VHD is readable but not ready for Azure, or its OS would not provision."
    ),
) -> int:
    """Show a VHD's type, size, geometry, allocated data, parent chain and whether Azure will take it."""
    # The path is a plain string (not typer.Path(exists=True)) so that a missing path is an
    # error the library words (exit 1), not a usage error (exit 2).
    report = inspect_disk(path)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), sort_keys=True))  # one object on one line, like every --json
    else:
        typer.echo(_human(report))
    if strict and (not report.azure_ready or (report.guest is not None and report.guest.would_provision is False)):
        return EXIT_FINDING
    return EXIT_OK


def _human(report: DiskReport) -> str:
    lines: list[tuple[str, object]] = [
        ("path", report.path),
        ("type", report.disk_type),
        ("virtual size", format_size(report.virtual_size)),
        ("file size", format_size(report.file_size)),
        ("allocated data", format_size(report.allocated_bytes)),
        ("creator", f"{report.creator_application} {report.creator_version} on {report.creator_host_os}"),
        ("created", report.created),
        ("uuid", report.uuid),
        ("geometry", "{}/{}/{} (CHS, {} bytes); spec CHS for the size: {}/{}/{}".format(
            *report.geometry, report.geometry_size, *report.spec_geometry)),
    ]
    if getattr(report, "format", "vhd") == "vhdx":
        # a VHDX has no timestamp, CHS geometry or VHD UUID: show its own facts instead
        lines = [line for line in lines if line[0] not in ("created", "uuid", "geometry", "creator")]
        lines.insert(1, ("format", "VHDX"))
        lines += [
            ("creator", report.creator_application or "(not recorded)"),
            ("disk ID", f"{report.uuid} (page 83); DataWriteGuid {report.data_write_guid}"),
            ("sector size", f"{report.logical_sector_size} logical, {report.physical_sector_size} physical"),
            ("log", report.log_state),
        ]
    if report.block_size is not None:
        lines.append(("block size", format_size(report.block_size)))
    if report.parents:
        lines.append(("parents", " -> ".join(report.parents)))
    verdict = "ready for Azure" if report.azure_ready else "NOT ready for Azure"
    lines.append(("verdict", verdict))
    width = max(len(k) for k, _ in lines) + 1
    out = [f"{k + ':':<{width}} {v}" for k, v in lines]
    out += [f"  problem: {p}" for p in report.problems]
    out += [f"  warning: {w}" for w in report.warnings]
    if report.guest is not None:
        out += _inside(report.guest)
    return "\n".join(out)


def _inside(guest: GuestReport) -> list[str]:
    """The "inside" section: what the file systems say about the OS."""
    def tell(value: bool | None, yes: str = "yes", no: str = "no") -> str:
        return "can't tell" if value is None else (yes if value else no)

    os_text = f"{guest.os_name} ({guest.os_type})" if guest.os_type else "none found"
    lines: list[tuple[str, object]] = [
        ("OS", os_text),
        ("architecture", guest.architecture or "unknown"),
        ("generalized", tell(guest.generalized)),
        ("would provision", tell(guest.would_provision, "yes", "NO")),
        ("volumes", "; ".join(
            f"{v.where}: {v.content}" + (f" ({v.role})" if v.role else "") for v in guest.volumes) or "none"),
    ]
    width = max(len(k) for k, _ in lines) + 1
    out = ["inside:"] + [f"  {k + ':':<{width}} {v}" for k, v in lines]
    out += [f"  sign: {s}" for s in guest.signs]
    out += [f"  problem: {p}" for p in guest.problems]
    out += [f"  warning: {w}" for w in guest.warnings]
    return out


@app.command("convert")
def convert_command(
    src: str = typer.Argument(..., metavar="SRC", help="A VHD of any type, or a raw disk image.", show_default=False),
    dst: str = typer.Argument(..., metavar="DST", help="Where to write the fixed VHD.", show_default=False),
    force: bool = typer.Option(False, "--force", help="Replace DST if it exists."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object on stdout."),
) -> int:
    """Write SRC as a fixed VHD whose size is a whole MiB, sparse, ready for Azure."""
    result = convert_image(src, dst, force=force)
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(result), sort_keys=True))
        return EXIT_OK
    rounded = (
        f" (rounded up from {result.source_size})" if result.virtual_size != result.source_size else ""
    )
    typer.echo(
        f"wrote {result.destination}: fixed VHD of {format_size(result.virtual_size)}{rounded} "
        f"from a {result.source_type} source, {format_size(result.data_bytes)} of data, UUID {result.uuid}"
    )
    return EXIT_OK
