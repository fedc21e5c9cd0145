"""A Linux root file system: which distribution, was it deprovisioned, is it ready for Azure.

The generalization signs are what ``waagent -deprovision+user`` and ``cloud-init clean``
remove: the agent's provisioning state under ``/var/lib/waagent``, the SSH host keys, the
machine ID, cloud-init's instance data. The readiness checks follow Azure's "prepare a generic
Linux image" list: a provisioning agent, the Hyper-V drivers, ``fstab`` by UUID/LABEL, no swap
on the OS disk.
"""

from __future__ import annotations

import re
from typing import Callable

from .capabilities import linux_capabilities
from .filesystems import FsError, GuestFs, run_checks
from .machine import elf_machine
from .report import GuestReport

DEPROVISION = "in the VM run `sudo waagent -deprovision+user` (or `sudo cloud-init clean --logs --machine-id` on a cloud-init image), shut it down, and take the disk again"
_AGENTS = {
    "Azure Linux Agent (waagent)": ("usr/sbin/waagent", "usr/bin/waagent", "usr/local/sbin/waagent"),
    "cloud-init": ("usr/bin/cloud-init", "usr/local/bin/cloud-init"),
}
_HV_DRIVERS = ("hv_vmbus", "hv_storvsc", "hv_netvsc")
_DEVICE_NAME = re.compile(r"^/dev/(sd[a-z]+|hd[a-z]+|vd[a-z]+|xvd[a-z]+|nvme\d+n\d+)(p?\d+)?$")
_WAAGENT_LEFTOVERS = re.compile(r"^(ovf-env\.xml|Certificates\..*|.*\.(crt|prv)|GoalState\..*|SharedConfig\.xml|HostingEnvironmentConfig\.xml)$")


def is_linux_root(fs: GuestFs) -> bool:
    return fs.exists("etc/os-release") or fs.exists("usr/lib/os-release")


def parse_os_release(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key] = value.strip().strip("\"'")
    return values


def examine_linux(fs: GuestFs, report: GuestReport) -> None:
    """Each check on its own: one that cannot read its files says so and the others still run
    (a looping /etc/os-release must not hide /var/lib/waagent/provisioned)."""
    report.os_type = "linux"
    checks = (
        ("the distribution (/etc/os-release)", _os_release),
        ("the architecture", _architecture),
        ("whether it was generalized", _generalized),
        ("the provisioning agent", _agent),
        ("the Hyper-V drivers", _drivers),
        ("/etc/fstab", _fstab),
        ("the disk controllers and accelerated networking", linux_capabilities),
    )
    run_checks(fs, report, checks)


def _os_release(fs: GuestFs, report: GuestReport) -> None:
    report.os_name = "Linux"
    failure: FsError | None = None
    for path in ("etc/os-release", "usr/lib/os-release"):
        try:
            raw = fs.read(path, limit=64 * 1024)
        except FsError as exc:
            failure = failure or exc
            continue
        if raw:
            release = parse_os_release(raw.decode("utf-8", "replace"))
            name = release.get("PRETTY_NAME") or " ".join(filter(None, (release.get("NAME"), release.get("VERSION_ID"))))
            report.os_name = name or "Linux"
            report.sign(f"/{path}: {report.os_name}")
            return
    if failure is not None:
        raise failure


def _architecture(fs: GuestFs, report: GuestReport) -> None:
    for path in ("bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/env"):
        machine = elf_machine(fs.read(path, limit=64) or b"")
        if machine is not None:
            report.sign(f"/{path} is an ELF binary for {machine}")
            _set_architecture(report, machine, f"/{path}")
            return
    report.warn("no ELF binary found at /bin/sh (nor /usr/bin/sh, /bin/bash): the architecture is not known from the root file system")


def _set_architecture(report: GuestReport, machine: str, source: str) -> None:
    if machine not in ("x64", "Arm64"):
        report.problem(f"{source} is built for {machine}, which Azure does not run: use an x64 or Arm64 image")
        return
    if report.architecture and report.architecture != machine:
        report.warn(f"the EFI boot loader is for {report.architecture} but {source} is for {machine}; {machine} is taken")
    report.architecture = machine


def _generalized(fs: GuestFs, report: GuestReport) -> None:
    # Each sign is judged on its own: one that cannot be read is "unknown", not "clean", and
    # does not hide the others.
    decisive: list[str] = []
    booted: list[str] = []
    clean: list[str] = []
    unknown: list[str] = []

    def judge(what: str, look: Callable[[], tuple[list[str], str | None]]) -> None:
        try:
            found, absent = look()
        except FsError as exc:
            unknown.append(what)
            report.unchecked.append(what)
            if not fs.exhausted:
                report.warn(f"could not check {what}: {exc}")
            return
        (decisive if what == "/var/lib/waagent" else booted).extend(found)
        if absent:
            clean.append(absent)

    judge("/var/lib/waagent", lambda: _waagent_state(fs))
    judge("the SSH host keys", lambda: _host_keys(fs))
    judge("/etc/machine-id", lambda: _machine_id(fs))
    judge("cloud-init's instance data", lambda: _cloud_init(fs))

    for text in decisive + booted + clean:
        report.sign(text)
    if decisive:
        report.generalized = False
        report.problem(f"the Linux system was provisioned and not deprovisioned ({decisive[0]}): {DEPROVISION}")
    elif len(booted) == 3:
        report.generalized = False
        report.problem(f"the Linux system has run and was not deprovisioned ({'; '.join(booted)}): {DEPROVISION}")
    elif not booted and not unknown:
        report.generalized = True
    else:
        report.generalized = None
        if not booted and not clean:
            why = "none of its signs could be read"
        else:
            found = "; ".join(booted) or "no sign of a system that has run"
            why = f"{found}, but " + "; ".join(clean + [f"{u} could not be read" for u in unknown])
        report.warn(f"can't tell whether the Linux system was deprovisioned: {why}; if it has run, {DEPROVISION}")


def _waagent_state(fs: GuestFs) -> tuple[list[str], str | None]:
    found = []
    if fs.exists("var/lib/waagent/provisioned"):
        found.append("/var/lib/waagent/provisioned is present (the agent will not provision a new VM)")
    leftovers = [n for n in (fs.listdir("var/lib/waagent") or []) if _WAAGENT_LEFTOVERS.match(n)]
    if leftovers:
        shown = ", ".join(sorted(leftovers)[:4]) + (", ..." if len(leftovers) > 4 else "")
        found.append(f"Azure provisioning data in /var/lib/waagent ({shown})")
    return found, None if found else "no provisioning state in /var/lib/waagent"


def _host_keys(fs: GuestFs) -> tuple[list[str], str | None]:
    keys = sorted(n for n in (fs.listdir("etc/ssh") or []) if re.fullmatch(r"ssh_host_\w+_key", n))
    if keys:
        return [f"SSH host keys in /etc/ssh ({', '.join(keys)})"], None
    return [], "no SSH host keys"


def _machine_id(fs: GuestFs) -> tuple[list[str], str | None]:
    machine_id = fs.read("etc/machine-id", limit=4096)
    text = (machine_id or b"").decode("ascii", "replace").strip()
    if machine_id is None:
        return [], "no /etc/machine-id"
    if text in ("", "uninitialized"):
        return [], "/etc/machine-id is empty" if not text else "/etc/machine-id is 'uninitialized'"
    return ["/etc/machine-id is set"], None


def _cloud_init(fs: GuestFs) -> tuple[list[str], str | None]:
    instances = fs.listdir("var/lib/cloud/instances") or []
    if instances or fs.exists("var/lib/cloud/instance"):
        return [f"cloud-init instance data in /var/lib/cloud ({len(instances)} instance(s))"], None
    return [], "no cloud-init instance data"


def _agent(fs: GuestFs, report: GuestReport) -> None:
    found = [name for name, paths in _AGENTS.items() if any(fs.exists(p) for p in paths)]
    for name in found:
        report.sign(f"{name} installed")
    if not found:
        report.problem(
            "neither the Azure Linux Agent (waagent) nor cloud-init is installed: a VM cannot report that it "
            "is ready and provisioning times out; install the distribution's walinuxagent or cloud-init package"
        )


def _drivers(fs: GuestFs, report: GuestReport) -> None:
    kernels = sorted(fs.listdir("lib/modules") or fs.listdir("usr/lib/modules") or [])
    if not kernels:
        report.warn("no kernel modules in /lib/modules: the Hyper-V drivers (hv_vmbus, hv_storvsc, hv_netvsc) were not checked")
        return
    best: tuple[str, list[str]] | None = None
    for version in kernels[:16]:
        have = _kernel_drivers(fs, f"lib/modules/{version}")
        if best is None or len(have) > len(best[1]):
            best = (version, have)
        if len(have) == len(_HV_DRIVERS):
            report.sign(f"Hyper-V drivers {', '.join(_HV_DRIVERS)} in kernel {version}")
            return
    assert best is not None  # kernels is not empty
    version, have = best
    missing = [d for d in _HV_DRIVERS if d not in have]
    report.problem(
        f"the kernel{'s' if len(kernels) > 1 else ''} ({', '.join(kernels[:4])}) lack{'' if len(kernels) > 1 else 's'} "
        f"the Hyper-V driver{'s' if len(missing) > 1 else ''} {', '.join(missing)}: the VM will not find its disk or "
        "network on Azure; install a kernel built with them (CONFIG_HYPERV_STORAGE, CONFIG_HYPERV_NET) and "
        "add them to the initramfs"
    )


def _kernel_drivers(fs: GuestFs, directory: str) -> list[str]:
    names: set[str] = set()
    for listing in ("modules.builtin", "modules.dep"):
        text = (fs.read(f"{directory}/{listing}", limit=16 * 1024 * 1024) or b"").decode("utf-8", "replace")
        for line in text.splitlines():
            module = line.split(":", 1)[0].rsplit("/", 1)[-1]
            module = module.split(".ko", 1)[0].replace("-", "_")
            if module in _HV_DRIVERS:
                names.add(module)
    if not names:  # no module lists (not yet made by depmod): look where the drivers live
        for driver, path in (("hv_vmbus", "kernel/drivers/hv"), ("hv_storvsc", "kernel/drivers/scsi"),
                             ("hv_netvsc", "kernel/drivers/net/hyperv")):
            if any(n.startswith(f"{driver}.ko") for n in (fs.listdir(f"{directory}/{path}") or [])):
                names.add(driver)
    return [d for d in _HV_DRIVERS if d in names]


def _fstab(fs: GuestFs, report: GuestReport) -> None:
    text = fs.read("etc/fstab", limit=256 * 1024)
    if text is None:
        report.warn("no /etc/fstab: how the file systems are mounted was not checked")
        return
    by_name, swap = [], []
    for line in text.decode("utf-8", "replace").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 3:
            continue
        if _DEVICE_NAME.match(fields[0]):
            by_name.append(f"{fields[0]} on {fields[1]}")
        if fields[2] == "swap":
            swap.append(fields[0])
    if by_name:
        report.warn(
            f"/etc/fstab mounts by device name ({', '.join(by_name[:4])}): device names change on Azure; "
            "mount by UUID= or LABEL= (see `blkid`)"
        )
    else:
        report.sign("/etc/fstab mounts by UUID/LABEL (no /dev/sdX names)")
    if swap:
        report.warn(
            f"/etc/fstab enables swap ({', '.join(swap[:4])}): on Azure, put swap on the resource disk "
            "(waagent's ResourceDisk.EnableSwap or cloud-init) and remove this line"
        )
