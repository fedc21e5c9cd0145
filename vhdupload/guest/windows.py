"""A Windows system volume: which Windows, was it generalized with Sysprep, what Azure needs.

Sysprep records where it left the image in ``Windows\\Setup\\State\\State.ini``
(``ImageState``); ``IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE`` is the generalized image Azure
provisions. The edition comes from the ``SOFTWARE`` registry hive when ``pyregf`` is installed.
"""

from __future__ import annotations

import importlib

from .filesystems import FsError, GuestFs, run_checks, _short, install_hint
from .capabilities import windows_capabilities
from .machine import pe_machine
from .report import GuestReport

SYSPREP = "in the VM run `C:\\Windows\\System32\\Sysprep\\sysprep.exe /generalize /oobe /shutdown`, and take the disk after it has shut down"
_STATES = {
    "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE": (True, None),
    "IMAGE_STATE_COMPLETE": (False, "Windows has been set up and was not generalized with Sysprep"),
    "IMAGE_STATE_UNDEPLOYABLE": (False, "Sysprep did not finish (the image is undeployable)"),
    "IMAGE_STATE_SPECIALIZE_RESEAL_TO_OOBE": (False, "the image was specialized (it has booted after Sysprep)"),
    "IMAGE_STATE_SPECIALIZE_RESEAL_TO_AUDIT": (False, "the image was specialized into audit mode"),
    "IMAGE_STATE_GENERALIZE_RESEAL_TO_AUDIT": (True, "Sysprep generalized the image to audit mode, not OOBE: VMs would wait in audit mode"),
}
_DRIVERS = ("vmbus.sys", "storvsc.sys", "netvsc.sys")


def is_windows(fs: GuestFs) -> bool:
    return fs.exists("Windows/System32")


def examine_windows(fs: GuestFs, report: GuestReport) -> None:
    """Each check on its own, as on Linux: one unreadable file does not hide the other signs."""
    report.os_type = "windows"
    report.os_name = "Windows"
    checks = (
        ("the Windows edition", _edition),
        ("the architecture", _architecture),
        ("whether Windows was generalized", _state),
        ("the drivers", _drivers),
        ("the Azure VM Agent", _agent),
    )
    run_checks(fs, report, checks)


def _drivers(fs: GuestFs, report: GuestReport) -> None:
    drivers = set(n.lower() for n in (fs.listdir("Windows/System32/drivers") or []))
    missing = [d for d in _DRIVERS if d not in drivers]
    if missing:
        report.warn(f"Windows/System32/drivers lacks {', '.join(missing)} (Hyper-V drivers): the VM may not boot on Azure")
    else:
        report.sign(f"Hyper-V drivers {', '.join(_DRIVERS)} present")
    if drivers:
        windows_capabilities(drivers, report)


def _agent(fs: GuestFs, report: GuestReport) -> None:
    if fs.exists("Program Files/WindowsAzure"):
        report.sign("Azure VM Agent installed (Program Files/WindowsAzure)")
    else:
        report.warn("no Azure VM Agent (Program Files/WindowsAzure): VMs provision without it, but extensions and password reset need it; install it from Microsoft")


def _architecture(fs: GuestFs, report: GuestReport) -> None:
    machine = pe_machine(fs.read("Windows/System32/ntoskrnl.exe", limit=4096) or b"")
    if machine is None:
        report.warn("Windows/System32/ntoskrnl.exe is missing or not a PE file: the architecture is not known from it")
        return
    report.sign(f"Windows/System32/ntoskrnl.exe is for {machine}")
    if machine not in ("x64", "Arm64"):
        report.problem(f"Windows is built for {machine}, which Azure does not run")
    elif report.architecture and report.architecture != machine:
        report.warn(f"the EFI boot loader is for {report.architecture} but ntoskrnl.exe is for {machine}; {machine} is taken")
        report.architecture = machine
    else:
        report.architecture = machine


def _state(fs: GuestFs, report: GuestReport) -> None:
    raw = fs.read("Windows/Setup/State/State.ini", limit=64 * 1024)
    if raw is None:
        report.generalized = None
        report.warn(f"can't tell whether Windows was generalized: there is no Windows/Setup/State/State.ini; if it has been set up, {SYSPREP}")
        return
    state = _image_state(raw)
    if state is None:
        report.warn("can't tell whether Windows was generalized: State.ini has no ImageState")
        return
    report.sign(f"State.ini ImageState={state}")
    generalized, why = _STATES.get(state, (None, None))
    report.generalized = generalized
    if generalized is None:
        report.warn(f"can't tell whether Windows was generalized: ImageState {state} is not one Sysprep writes")
    elif why:
        report.problem(f"{why}: {SYSPREP}")


def _image_state(raw: bytes) -> str | None:
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = raw.decode("utf-16", "replace")
    elif len(raw) > 1 and raw[1:2] == b"\0":
        text = raw.decode("utf-16-le", "replace")
    else:
        text = raw.decode("utf-8", "replace").lstrip("\ufeff")
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().lower() == "imagestate":
            return value.strip().upper() or None
    return None


def _edition(fs: GuestFs, report: GuestReport) -> None:
    report.os_name = _product(fs, report) or "Windows"


def _product(fs: GuestFs, report: GuestReport) -> str | None:
    """``ProductName DisplayVersion (build N)`` from the SOFTWARE hive, when pyregf can read it."""
    try:
        pyregf = importlib.import_module("pyregf")
    except ImportError:
        report.warn(f"the Windows edition is not read: its reader (libregf-python) is missing; {install_hint(['pyregf'])}")
        return None
    entry = fs.entry("Windows/System32/config/SOFTWARE")
    if entry is None:
        report.warn("no Windows/System32/config/SOFTWARE registry hive: the Windows edition is not known")
        return None
    try:
        hive = pyregf.file()
        hive.open_file_object(entry)
        key = hive.get_key_by_path("Microsoft\\Windows NT\\CurrentVersion")
        if key is None:
            return None
        values = {}
        for name in ("ProductName", "DisplayVersion", "CurrentBuild", "CurrentBuildNumber"):
            value = key.get_value_by_name(name)
            if value is not None:
                values[name] = str(value.get_data_as_string()).strip()
    except (FsError, Exception) as exc:  # a damaged hive is a warning, like a damaged file system
        report.warn(f"the SOFTWARE registry hive cannot be read ({_short(exc)}): the Windows edition is not known")
        return None
    name = values.get("ProductName") or "Windows"
    version = values.get("DisplayVersion")
    build = values.get("CurrentBuild") or values.get("CurrentBuildNumber")
    text = " ".join(filter(None, (name, version)))
    return f"{text} (build {build})" if build else text
