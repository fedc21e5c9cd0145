"""Issue 18: the disk controller types and accelerated networking, read from the kernel modules
or the Windows drivers (``GuestReport.capabilities``)."""

from __future__ import annotations

import json

from vhdupload import open_disk
from vhdupload.cli import main
from vhdupload.guest import examine

from .images import KERNEL


def _capabilities(images, name):
    with open_disk(images.get(name)) as disk:
        report = examine(disk)
    return report, report.capabilities


def test_nvme_module_file_and_mlx5_in_modules_dep(images):
    report, found = _capabilities(images, "nvme-module-file")
    assert found.disk_controller_types == ["SCSI", "NVMe"]
    assert found.accelerated_network is True
    assert f"NVMe driver (nvme) is a module of kernel {KERNEL} (it must be in the initramfs too)" in found.signs
    assert f"accelerated-networking drivers (mlx5_core) in kernel {KERNEL}" in found.signs
    assert set(found.signs) <= set(report.signs)


def test_built_into_the_kernel(images):
    _, found = _capabilities(images, "nvme-builtin")
    assert (found.disk_controller_types, found.accelerated_network) == (["SCSI", "NVMe"], True)
    assert f"NVMe driver (nvme) built into kernel {KERNEL}" in found.signs
    assert f"accelerated-networking drivers (mana) in kernel {KERNEL}" in found.signs


def test_neither_driver(images):
    _, found = _capabilities(images, "ext4-generalized")
    assert (found.disk_controller_types, found.accelerated_network, found.signs) == (["SCSI"], False, [])


def test_no_kernel_modules_is_unknown(images):
    report, found = _capabilities(images, "no-kernel-modules")
    assert (found.disk_controller_types, found.accelerated_network) == (None, None)
    assert any("NVMe and accelerated-networking drivers were not checked" in w for w in report.warnings)


def test_windows_drivers(images):
    _, found = _capabilities(images, "windows-nvme-mana")
    assert (found.disk_controller_types, found.accelerated_network) == (["SCSI", "NVMe"], True)
    assert "NVMe driver Windows/System32/drivers/stornvme.sys" in found.signs
    assert "accelerated-networking drivers in Windows/System32/drivers: mana.sys, mlx4eth63.sys" in found.signs
    _, plain = _capabilities(images, "windows-generalized")
    assert (plain.disk_controller_types, plain.accelerated_network) == (["SCSI"], False)


def test_inspect_shows_them(images, capsys):
    assert main(["inspect", str(images.get("nvme-builtin"))]) == 0
    inside = capsys.readouterr().out.split("inside:\n", 1)[1]
    assert "  capabilities:    disk controllers SCSI, NVMe; accelerated networking: yes\n" in inside
    assert main(["inspect", "--json", str(images.get("no-kernel-modules"))]) == 0
    guest = json.loads(capsys.readouterr().out)["guest"]
    assert guest["capabilities"] == {"disk_controller_types": None, "accelerated_network": None, "signs": []}
    assert main(["inspect", str(images.get("no-kernel-modules"))]) == 0
    assert "  capabilities:    disk controllers can't tell; accelerated networking: can't tell\n" in capsys.readouterr().out


def test_the_newest_kernel_is_the_highest_version():
    from vhdupload.guest.capabilities import _version_key

    kernels = ["6.10.2-1-azure", "5.15.0-1052-azure", "6.9.12-3-azure", "6.1.0-18-cloud-amd64", "6.1.0-9-cloud-amd64"]
    assert sorted(kernels, key=_version_key) == [
        "5.15.0-1052-azure", "6.1.0-9-cloud-amd64", "6.1.0-18-cloud-amd64", "6.9.12-3-azure", "6.10.2-1-azure",
    ]
