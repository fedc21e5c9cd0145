"""``inspect`` and ``convert``: the commands that read VHDs without touching Azure."""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import TYPE_CHECKING

import typer

from .. import convert_image, inspect_disk
from ..azure_rules import format_size
from ..inspect import inspect_archive
from ..ova import is_ova_path
from . import app
from ._common import FormatOption, RawFlag, say, source_is_raw, suggest_raw_first
from ._exit import EXIT_FINDING, EXIT_OK
from ._free_space import SKIP_FREE_HELP, free_space_line

if TYPE_CHECKING:  # annotations only
    from ..guest import GuestReport
    from ..inspect import DiskReport


@app.command("inspect")
@suggest_raw_first
def inspect_command(
    path: str = typer.Argument(..., metavar="PATH", help="The disk to inspect (VHD, VHDX, VMDK, qcow2, VDI, raw), an OVA, or an OVA's disk (app.ova/disk1.vmdk).", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    strict: bool = typer.Option(
        False, "--strict", help="Exit 3 when the VHD is readable but not ready for Azure, or its OS would not provision."
    ),
    raw: RawFlag = False,
    source_format: FormatOption = None,
) -> int:
    """Show a VHD's type, size, geometry, allocated data, parent chain and whether Azure will take it."""
    # The path is a plain string (not typer.Path(exists=True)) so that a missing path is an
    # error the library words (exit 1), not a usage error (exit 2).
    as_raw = source_is_raw(raw, source_format)
    if not as_raw and is_ova_path(pathlib.Path(path)) and pathlib.Path(path).is_file():
        return _inspect_ova(path, as_json=as_json)
    report = inspect_disk(path, raw=as_raw)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), sort_keys=True))  # one object on one line, like every --json
    else:
        say(*_human(report))
    if strict and (not report.azure_ready or (report.guest is not None and report.guest.would_provision is False)):
        return EXIT_FINDING
    return EXIT_OK


def _inspect_ova(path: str, *, as_json: bool) -> int:
    """An OVA: its disks in the VM's order, each with its role; ``inspect ARCHIVE/MEMBER`` tells more."""
    disks = inspect_archive(path)
    if as_json:
        typer.echo(json.dumps({"path": path, "format": "ova", "disks": [d.to_dict() for d in disks]}, sort_keys=True))
        return EXIT_OK
    lines = [f"{path}: OVA with {len(disks)} disk{'s' if len(disks) != 1 else ''} (the first is the OS disk)"]
    for d in disks:
        r = d.report
        role = "OS disk" if d.role == "os" else f"data disk, LUN {d.lun}"
        lines.append(f"  {d.path}: {role}; {r.format.upper()} {r.subformat or r.disk_type}, "
                     f"{format_size(r.virtual_size)}, {format_size(r.allocated_bytes)} of data; {d.address or 'not placed'}")
    say(*lines)
    return EXIT_OK


def _human(report: DiskReport) -> list[str]:
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
    if report.format in ("vmdk", "raw"):  # no VHD footer: no timestamp, CHS or UUID recorded
        lines = [line for line in lines if line[0] not in ("created", "uuid", "geometry", "creator")]
        lines.insert(1, ("format", f"VMDK ({report.subformat}, adapter {report.adapter_type or 'not recorded'})"
                         if report.format == "vmdk" else "raw"))
    if report.format in ("qcow2", "vdi"):  # no timestamp, creator or CHS geometry of their own
        lines = [line for line in lines if line[0] not in ("created", "uuid", "geometry", "creator")]
        lines.insert(1, ("format", report.format))
        if report.uuid:
            lines.append(("uuid", report.uuid))
    if report.block_size is not None:
        lines.append(("block size", format_size(report.block_size)))
    if report.parents:
        lines.append(("parents", " -> ".join(report.parents)))
    lines.append(("verdict", _verdict(report)))
    width = max(len(k) for k, _ in lines) + 1
    out = [f"{k + ':':<{width}} {v}" for k, v in lines]
    out += [f"  problem: {p}" for p in report.problems]
    out += [f"  warning: {w}" for w in report.warnings]
    if report.guest is not None:
        out += _inside(report.guest)
    return out


def _verdict(report: DiskReport) -> str:
    """The first verdict a reader sees: the file's, and the guest's when it is not a plain yes
    (a ready file holding an OS that would not provision is not "ready for Azure")."""
    guest = report.guest
    inside = None
    if guest is not None:
        if not guest.read:
            inside = "the OS inside could not be checked (the file-system readers are not installed)"
        elif guest.os_type is None:
            inside = None  # a data disk, or nothing readable: the inside section says which
        elif guest.generalized is False:
            inside = "the OS inside is not generalized"
        elif guest.would_provision is False:
            inside = "the OS inside would not provision"
        elif guest.would_provision is None:
            inside = "can't tell whether the OS inside would provision"
    if inside is None:
        return "ready for Azure" if report.azure_ready else "NOT ready for Azure"
    return f"{'the file is ready' if report.azure_ready else 'NOT ready for Azure'}; {inside} — see below"


def _tell(value: bool | None, yes: str = "yes", no: str = "no") -> str:
    return "can't tell" if value is None else (yes if value else no)


def _capabilities(guest: GuestReport) -> str:
    found = guest.capabilities
    controllers = ", ".join(found.disk_controller_types) if found.disk_controller_types else "can't tell"
    return f"disk controllers {controllers}; accelerated networking: {_tell(found.accelerated_network)}"


def _inside(guest: GuestReport) -> list[str]:
    """The "inside" section: what the file systems say about the OS."""
    if guest.os_type:
        os_text = f"{guest.os_name or 'unknown'} ({guest.os_type})"
    else:
        os_text = "could not be checked" if not guest.read else "none found"
    lines: list[tuple[str, object]] = [
        ("OS", os_text),
        ("architecture", guest.architecture or "unknown"),
        ("generalized", _tell(guest.generalized)),
        ("would provision", _tell(guest.would_provision, "yes", "NO")),
        ("capabilities", _capabilities(guest)),
        ("volumes", "; ".join(
            f"{v.where}: {v.content}" + (f" ({v.role})" if v.role else "") for v in guest.volumes) or "none"),
    ]
    width = max(len(k) for k, _ in lines) + 1
    out = ["inside:"] + [f"  {k + ':':<{width}} {v}" for k, v in lines]
    out += [f"  sign: {s}" for s in guest.signs]
    out += [f"  {v.where}: deleted data that an upload would carry: {format_size(v.free_bytes_with_data)}; "
            "--skip-free sends none of it" for v in guest.volumes if v.free_bytes_with_data]
    out += [f"  problem: {p}" for p in guest.problems]
    out += [f"  warning: {w}" for w in guest.warnings]
    return out


@app.command("convert")
@suggest_raw_first
def convert_command(
    src: str = typer.Argument(..., metavar="SRC", help="A VHD, VHDX, VMDK, qcow2 or VDI of any type, an OVA's disk (app.ova/disk1.vmdk), or a raw disk image.", show_default=False),
    dst: str = typer.Argument(..., metavar="DST", help="Where to write the fixed VHD.", show_default=False),
    force: bool = typer.Option(False, "--force", help="Replace DST if it exists."),
    raw: RawFlag = False,
    source_format: FormatOption = None,
    skip_free: bool = typer.Option(False, "--skip-free", help=SKIP_FREE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object on stdout."),
) -> int:
    """Write SRC as a fixed VHD whose size is a whole MiB, sparse, ready for Azure."""
    result = convert_image(src, dst, force=force, raw=source_is_raw(raw, source_format), skip_free=skip_free)
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(result), sort_keys=True))
        return EXIT_OK
    rounded = (
        f" (rounded up from {result.source_size})" if result.virtual_size != result.source_size else ""
    )
    say(
        f"wrote {result.destination}: fixed VHD of {format_size(result.virtual_size)}{rounded} "
        f"from a {result.source_type} source, {format_size(result.data_bytes)} of data, UUID {result.uuid}"
    )
    if result.free_bytes_skipped is not None:
        typer.echo(free_space_line(result.free_bytes_skipped, "left as holes"))
        for note in result.notes:
            typer.echo(f"note: {note}")
    return EXIT_OK
