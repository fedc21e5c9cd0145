"""What the guest check found inside an uploaded OS disk, kept in one of the disk's tags.

Registration from a managed disk reads it back (``register``/``publish`` with a disk ID), so the
disk is judged by what was inside it at upload without reading it again. The tag is written from
a fixed vocabulary (never text from the disk) and read strictly: anything else in it, whoever
wrote it, is "unknown", never a crash. ARM caps a tag value at 256 characters; this one is under 100.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..azure.state import PREFIX
from ..guest.report import GuestReport

#: The tag that holds the verdict.
KEY_GUEST = PREFIX + "guest"
_VERSION = "1"
_TAG_VALUE_MAX = 256
_OS = ("linux", "windows")
_ARCH = ("x64", "Arm64")
_CONTROLLERS = {"SCSI": ("SCSI",), "SCSI+NVMe": ("SCSI", "NVMe")}
_BOOL = {"yes": True, "no": False, "unknown": None}


@dataclass(frozen=True)
class Verdict:
    """The guest check's verdict on an OS disk: each field None when it could not be told."""

    os_type: str | None = None  # "linux" | "windows"
    architecture: str | None = None  # "x64" | "Arm64"
    generalized: bool | None = None
    disk_controller_types: tuple[str, ...] | None = None  # ("SCSI",) | ("SCSI", "NVMe")
    accelerated_network: bool | None = None

    @classmethod
    def of(cls, report: GuestReport, *, os_type: str | None) -> "Verdict":
        os_name = (os_type or report.os_type or "").lower()
        controllers = tuple(report.capabilities.disk_controller_types or ()) or None
        return cls(
            os_type=os_name if os_name in _OS else None,
            architecture=report.architecture if report.architecture in _ARCH else None,
            generalized=report.generalized,
            disk_controller_types=controllers if controllers in _CONTROLLERS.values() else None,
            accelerated_network=report.capabilities.accelerated_network,
        )

    def to_tag(self) -> str:
        def word(value: bool | None) -> str:
            return {True: "yes", False: "no", None: "unknown"}[value]

        controllers = next((k for k, v in _CONTROLLERS.items() if v == self.disk_controller_types), "unknown")
        text = (f"v={_VERSION};os={self.os_type or 'unknown'};arch={self.architecture or 'unknown'};"
                f"generalized={word(self.generalized)};controllers={controllers};"
                f"accelerated_network={word(self.accelerated_network)}")
        assert len(text) <= _TAG_VALUE_MAX
        return text

    @classmethod
    def from_tag(cls, text: object) -> "Verdict | None":
        """The verdict in a tag's value, or None when it is missing, of another version, or
        corrupt in any way (a field unknown, repeated, or out of its vocabulary)."""
        if not isinstance(text, str) or not text or len(text) > _TAG_VALUE_MAX:
            return None
        fields: dict[str, str] = {}
        for part in text.split(";"):
            key, sep, value = part.partition("=")
            if not sep or key in fields:
                return None
            fields[key] = value
        expected = {"v", "os", "arch", "generalized", "controllers", "accelerated_network"}
        if set(fields) != expected or fields["v"] != _VERSION:
            return None
        os_type, arch, controllers = fields["os"], fields["arch"], fields["controllers"]
        if (os_type not in (*_OS, "unknown") or arch not in (*_ARCH, "unknown")
                or controllers not in (*_CONTROLLERS, "unknown")
                or fields["generalized"] not in _BOOL or fields["accelerated_network"] not in _BOOL):
            return None
        return cls(
            os_type=None if os_type == "unknown" else os_type,
            architecture=None if arch == "unknown" else arch,
            generalized=_BOOL[fields["generalized"]],
            disk_controller_types=_CONTROLLERS.get(controllers),
            accelerated_network=_BOOL[fields["accelerated_network"]],
        )

    def describe(self) -> str:
        """One line for a person: ``linux, x64, generalized, SCSI+NVMe, accelerated networking``."""
        parts = [self.os_type or "OS unknown", self.architecture or "architecture unknown",
                 {True: "generalized", False: "not generalized", None: "generalized: can't tell"}[self.generalized]]
        if self.disk_controller_types:
            parts.append(", ".join(self.disk_controller_types))
        if self.accelerated_network is not None:
            parts.append("accelerated networking" if self.accelerated_network else "no accelerated networking")
        return "; ".join(parts)
