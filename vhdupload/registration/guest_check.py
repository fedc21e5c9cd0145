"""The guest check of registration: look inside the OS disk's blob before any ARM call.

Through the pre-flight's :class:`~.blobs.BlobReader` (ranged reads: only the few megabytes the
file systems' metadata take), :func:`vhdupload.guest.examine_blob` says what OS the disk holds
and whether it was generalized; an OS disk registered as generalized that clearly is not is
refused (:class:`~vhdupload.errors.NotGeneralizedError`), a "can't tell" is a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError, NotGeneralizedError
from ..guest import GuestReport, choose_architecture, examine_blob, readers_missing, require_generalized
from .blobs import BlobReader


@dataclass
class GuestCheck:
    """The report (None when skipped or unreadable), and what to tell the user."""

    report: GuestReport | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def os_type(self) -> str | None:
        """``"Linux"``/``"Windows"`` as ARM spells them, or None."""
        found = self.report.os_type if self.report else None
        return {"linux": "Linux", "windows": "Windows"}.get(found or "")

    def check_os_type(self, given: str | None) -> None:
        """Refuse an explicit OS type that contradicts what the disk holds."""
        found = self.os_type
        if given and found and given.lower() != found.lower():
            os_name = self.report.os_name if self.report else None
            raise InputError(f"--os-type {given} was given, but the OS disk holds {os_name or found} ({found}): "
                             f"pass --os-type {found.lower()}, or use the right disk")

    def architecture(self, given: str | None, notes: list[str] | None = None) -> str | None:
        """The gallery definition's architecture: ``given`` (checked against the disk) or detected;
        how it was chosen is added to ``notes``."""
        try:
            chosen, found = choose_architecture(given, self.report)
        except InputError as exc:
            raise InputError(str(exc).replace("architecture ", "--architecture ", 1)) from None
        if notes is not None:
            notes += [n for n in found if n not in notes]
        return chosen


def check_guest(reader: BlobReader | None, *, os_state: str | None, skip: bool) -> GuestCheck:
    """Examine the OS disk's blob and apply :func:`vhdupload.guest.require_generalized`."""
    if reader is None:
        return GuestCheck()
    report = examine_blob(reader)  # read even when skipping: os_type and architecture "auto" need it
    missing = readers_missing(report)
    if missing and not skip:  # nothing was judged: not the same as a "can't tell" from what was read
        raise InputError(f"{reader.url}: {missing}; or skip the guest check (--skip-guest-check)")
    return judge_guest(report, where=reader.url, os_state=os_state, skip=skip)


def judge_guest(report: GuestReport, *, where: str, os_state: str | None, skip: bool) -> GuestCheck:
    """Apply :func:`vhdupload.guest.require_generalized` to what was found inside the OS disk
    ``where`` (a blob read now, or a managed disk's recorded verdict)."""
    try:
        warnings = require_generalized(report, os_state=os_state)
    except NotGeneralizedError as exc:
        if not skip:
            raise NotGeneralizedError(
                f"{where}: {exc}; or, if you are sure, skip this check (--skip-guest-check)", problems=exc.problems
            ) from None
        warnings = [f"the guest check was skipped, but the OS disk looks not generalized: {exc.problems[0]}"]
    check = GuestCheck(report, warnings=warnings)
    if report.os_type:
        check.notes.append(
            f"inside the OS disk: {report.os_name or 'unknown'} ({report.os_type}, {report.architecture or 'architecture unknown'}), "
            f"generalized: {'yes' if report.generalized else 'no' if report.generalized is False else 'cannot tell'}"
        )
    check.warnings += [f"inside the OS disk: {p}" for p in report.problems if report.generalized is not False]
    return check
