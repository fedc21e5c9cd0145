"""What the OS inside can drive: an NVMe disk controller, accelerated networking.

Azure asks an image to say so (a managed disk's ``supportedCapabilities``, a gallery image
definition's ``features``); a VM size with an NVMe controller will not boot an image without
the driver. Read from what ships the drivers, never from what a VM happened to load:

- Linux: each kernel under ``/lib/modules/<version>`` -- ``modules.builtin`` (built into the
  kernel), ``modules.dep`` (the loadable modules, the cheap index depmod writes) and the module
  files themselves (``nvme.ko``, ``.ko.xz``, ``.ko.zst``, ``.ko.gz``). The newest kernel decides,
  because it is the one the boot loader starts by default. The initramfs is *not* read: it is a
  compressed archive of tens of MB (gzip, zstd, with a microcode archive in front), far over what
  the guest check reads; a sign says when the NVMe driver is a loadable module, so it must be in
  the initramfs too.
- Windows: ``Windows/System32/drivers`` -- ``stornvme.sys`` (the inbox NVMe driver) and the
  NDIS drivers of the accelerated-networking NICs: Mellanox ``mlx5.sys``/``mlx4*.sys``, Microsoft
  ``mana.sys``. The SYSTEM hive's service entries are not read.
"""

from __future__ import annotations

import re

from .filesystems import GuestFs
from .report import Capabilities, GuestReport

#: module name (``-`` as ``_``) -> the directory under ``kernel/`` where it lives in a Linux tree
NVME_MODULES = {"nvme": "drivers/nvme/host"}
NETWORK_MODULES = {
    "mlx4_en": "drivers/net/ethernet/mellanox/mlx4",
    "mlx5_core": "drivers/net/ethernet/mellanox/mlx5/core",
    "mana": "drivers/net/ethernet/microsoft/mana",
}
_MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")
_LIST_LIMIT = 16 * 1024 * 1024


def linux_capabilities(fs: GuestFs, report: GuestReport) -> None:
    """Set ``report.capabilities`` from the newest kernel's modules (unchanged: None, when there are none)."""
    base = "lib/modules" if fs.listdir("lib/modules") else "usr/lib/modules"
    kernels = sorted(fs.listdir(base) or [], key=_version_key)
    if not kernels:
        report.warn("no kernel modules in /lib/modules: the NVMe and accelerated-networking drivers were not checked")
        return
    version = kernels[-1]
    builtin, loadable = _modules(fs, f"{base}/{version}")
    if not builtin and not loadable:
        report.warn(f"kernel {version} has no modules.builtin, modules.dep nor driver files vhdupload knows: "
                    "the NVMe and accelerated-networking drivers were not checked")
        return
    signs = []
    nvme = [m for m in NVME_MODULES if m in builtin or m in loadable]
    for module in nvme:
        if module in builtin:
            signs.append(f"NVMe driver ({module}) built into kernel {version}")
        else:
            signs.append(f"NVMe driver ({module}) is a module of kernel {version} (it must be in the initramfs too)")
    network = [m for m in NETWORK_MODULES if m in builtin or m in loadable]
    if network:
        signs.append(f"accelerated-networking drivers ({', '.join(network)}) in kernel {version}")
    _record(report, nvme=bool(nvme), accelerated_network=bool(network), signs=signs)


def _record(report: GuestReport, *, nvme: bool, accelerated_network: bool, signs: list[str]) -> None:
    """What the drivers found say, in the report's capabilities and among its signs."""
    report.capabilities = Capabilities(
        disk_controller_types=["SCSI", "NVMe"] if nvme else ["SCSI"],
        accelerated_network=accelerated_network,
        signs=signs,
    )
    for sign in signs:
        report.sign(sign)


def _modules(fs: GuestFs, directory: str) -> tuple[set[str], set[str]]:
    """The modules (names with ``_``) built into this kernel, and those it can load."""
    builtin = _listed(fs.read(f"{directory}/modules.builtin", limit=_LIST_LIMIT))
    loadable = _listed(fs.read(f"{directory}/modules.dep", limit=_LIST_LIMIT))
    for module, where in {**NVME_MODULES, **NETWORK_MODULES}.items():
        if module in builtin or module in loadable:
            continue
        names = fs.listdir(f"{directory}/kernel/{where}") or []
        if any(name.replace("-", "_") in {module + s for s in _MODULE_SUFFIXES} for name in names):
            loadable.add(module)
    return builtin, loadable


def _listed(raw: bytes | None) -> set[str]:
    """Module names of a ``modules.builtin`` or ``modules.dep`` (``path/name.ko[.xz]: deps``)."""
    names = set()
    for line in (raw or b"").decode("utf-8", "replace").splitlines():
        path = line.split(":", 1)[0].strip()
        if path:
            names.add(path.rsplit("/", 1)[-1].split(".ko", 1)[0].replace("-", "_"))
    return names


def _version_key(version: str) -> list[tuple[int, str]]:
    """6.1.0-18-cloud-amd64 < 6.1.0-21-cloud-amd64 < 6.10.2: numbers compare as numbers."""
    return [(int(part), "") if part.isdigit() else (-1, part) for part in re.findall(r"\d+|[^\d.\-_+]+", version)]


WINDOWS_NVME = ("stornvme.sys",)
WINDOWS_NETWORK = ("mlx5.sys", "mana.sys")  # and mlx4*.sys (mlx4eth63.sys, mlx4_bus.sys, ...)


def windows_capabilities(drivers: set[str], report: GuestReport) -> None:
    """Set ``report.capabilities`` from the names (lower case) in ``Windows/System32/drivers``."""
    nvme = [d for d in WINDOWS_NVME if d in drivers]
    network = sorted(d for d in drivers if d in WINDOWS_NETWORK or (d.startswith("mlx4") and d.endswith(".sys")))
    signs = []
    if nvme:
        signs.append(f"NVMe driver Windows/System32/drivers/{nvme[0]}")
    if network:
        signs.append(f"accelerated-networking drivers in Windows/System32/drivers: {', '.join(network)}")
    _record(report, nvme=bool(nvme), accelerated_network=bool(network), signs=signs)
