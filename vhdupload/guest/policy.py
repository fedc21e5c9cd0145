"""What to do with a :class:`~.report.GuestReport` before a disk becomes an image.

- :func:`require_generalized` refuses an OS disk meant to be generalized that clearly is not,
  and returns warnings for "can't tell" and for a specialized use of a generalized disk;
- :func:`choose_os_type` and :func:`choose_architecture` turn ``auto`` (or None) into what was
  detected, and refuse a value that contradicts the disk.

Library code: no option names in messages beyond the keyword names, which the CLI shares.
"""

from __future__ import annotations

from ..errors import InputError, NotGeneralizedError
from .filesystems import install_hint, missing_readers
from .report import GuestReport

_OS_TYPES = {"linux": "Linux", "windows": "Windows"}
_ARCHITECTURES = {"x64": "x64", "arm64": "Arm64"}


def require_generalized(report: GuestReport, *, os_state: str | None = "generalized") -> list[str]:
    """Raise :class:`~vhdupload.errors.NotGeneralizedError` if ``os_state`` is generalized and the
    disk clearly is not; otherwise return the warnings to show (can't tell, state mismatch)."""
    state = (os_state or "generalized").strip().lower()
    warnings: list[str] = []
    if state == "generalized":
        if report.generalized is False:
            what = report.os_name or report.os_type or "the OS"
            problems = report.problems or ["the disk shows signs of a system that has run and was not generalized"]
            raise NotGeneralizedError(
                f"the OS disk ({what}) is not generalized, so VMs made from it would hang in provisioning: "
                f"{problems[0]}",
                problems=problems,
            )
        if report.generalized is None and report.os_type is not None:
            warnings.append(
                "can't tell whether the OS disk was generalized"
                + (f": {_cant_tell(report)}" if _cant_tell(report) else "")
            )
        elif report.os_type is None:
            warnings.append("no OS was recognised on the OS disk, so whether it was generalized was not checked"
                            if report.read else
                            "could not check whether the OS disk was generalized: the file-system readers are not installed")
    elif state == "specialized" and report.generalized is True:
        warnings.append(
            "the disk is generalized but registered as specialized: VMs made from it would start the "
            "out-of-box setup without provisioning data; register it as generalized"
        )
    return warnings


def readers_missing(report: GuestReport) -> str | None:
    """Why the disk "could not be checked" (a reader its file systems need is not installed), or
    None. Unlike a "can't tell" from what was read, nothing was judged: registration refuses it."""
    if report.read:
        return None
    return ("could not check: the file-system readers are not installed; "
            + install_hint(missing_readers()))


def _cant_tell(report: GuestReport) -> str:
    return next((w.split(": ", 1)[1] for w in report.warnings if w.startswith("can't tell") and ": " in w), "")


def choose_os_type(requested: str | None, report: GuestReport | None) -> tuple[str | None, list[str]]:
    """``"Linux"``/``"Windows"`` (or None when unknown) and notes; ``auto``/None take the detected one.

    An explicit value that contradicts the disk is an :class:`~vhdupload.errors.InputError` naming both.
    """
    return _choose("os_type", requested, report.os_type if report else None, _OS_TYPES)


def choose_architecture(requested: str | None, report: GuestReport | None) -> tuple[str | None, list[str]]:
    """``"x64"``/``"Arm64"`` (or None when unknown) and notes; as :func:`choose_os_type`."""
    return _choose("architecture", requested, report.architecture if report else None, _ARCHITECTURES)


def _choose(label: str, requested: str | None, detected: str | None, table: dict[str, str]) -> tuple[str | None, list[str]]:
    wanted = None if requested is None or requested.strip().lower() == "auto" else requested.strip().lower()
    if wanted is not None and wanted not in table:
        raise InputError(f"{label} {requested!r} is not one of {', '.join(table.values())} or auto")
    found = table.get(detected.lower()) if detected else None
    if wanted is None:
        return found, ([f"{label.replace('_', ' ')} {found}: detected inside the disk"] if found else [])
    if found is not None and table[wanted] != found:
        raise InputError(
            f"{label} {table[wanted]} was given, but the disk holds {found}: pass {found} (or auto), or use the right disk"
        )
    return table[wanted], []
