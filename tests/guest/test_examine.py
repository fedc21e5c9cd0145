"""Every verdict of ``examine`` on images made by the real tools."""

from __future__ import annotations

import time

import pytest

from vhdupload import open_disk
from vhdupload.guest import examine


def _examine(path, **kwargs):
    with open_disk(path) as disk:
        return examine(disk, **kwargs)


def test_generalized_ext4_linux(images):
    report = _examine(images.get("ext4-generalized"))
    assert report.os_type == "linux"
    assert report.os_name == "Debian GNU/Linux 12 (bookworm)"
    assert report.architecture == "x64"
    assert report.generalized is True
    assert report.would_provision is True
    assert report.problems == []
    assert report.partition_table == "gpt"
    assert {v.role for v in report.volumes} == {"efi system", "linux root"}
    for sign in ("no SSH host keys", "/etc/machine-id is empty", "no provisioning state in /var/lib/waagent",
                 "Azure Linux Agent (waagent) installed", "/etc/fstab mounts by UUID/LABEL (no /dev/sdX names)"):
        assert sign in report.signs
    assert any(s.startswith("Hyper-V drivers hv_vmbus, hv_storvsc, hv_netvsc in kernel") for s in report.signs)
    assert any("BOOTX64.EFI" in s for s in report.signs)
    assert report.warnings == []


def test_not_generalized_ext4_linux_on_mbr(images):
    report = _examine(images.get("ext4-not-generalized"))
    assert report.partition_table == "mbr"
    assert report.os_type == "linux"
    assert report.generalized is False
    assert report.would_provision is False
    assert "/var/lib/waagent/provisioned is present (the agent will not provision a new VM)" in report.signs
    assert "SSH host keys in /etc/ssh (ssh_host_ed25519_key, ssh_host_rsa_key)" in report.signs
    assert "/etc/machine-id is set" in report.signs
    assert "waagent -deprovision+user" in report.problems[0]
    warnings = " | ".join(report.warnings)
    assert "partition 2 is swap on the OS disk" in warnings
    assert "/etc/fstab mounts by device name (/dev/sda1 on /, /dev/sda2 on none)" in warnings
    assert "/etc/fstab enables swap (/dev/sda2)" in warnings


def test_generalized_xfs_linux_with_cloud_init(images):
    report = _examine(images.get("xfs-generalized"))
    assert (report.os_type, report.generalized, report.would_provision) == ("linux", True, True)
    assert "cloud-init installed" in report.signs
    assert any(v.content == "xfs" and v.role == "linux root" for v in report.volumes)


def test_not_generalized_xfs_linux_with_cloud_init_leftovers(images):
    report = _examine(images.get("xfs-not-generalized"))
    assert report.generalized is False
    assert any(s.startswith("cloud-init instance data in /var/lib/cloud") for s in report.signs)


def test_arm64_esp_and_binaries(images):
    report = _examine(images.get("arm64"))
    assert report.architecture == "Arm64"
    assert any("BOOTAA64.EFI" in s for s in report.signs)
    assert "/bin/sh is an ELF binary for Arm64" in report.signs


def test_missing_agent_and_drivers_would_not_provision(images):
    report = _examine(images.get("no-agent-no-drivers"))
    assert report.generalized is True
    assert report.would_provision is False
    text = " | ".join(report.problems)
    assert "neither the Azure Linux Agent (waagent) nor cloud-init is installed" in text
    assert "hv_storvsc, hv_netvsc" in text


def test_root_on_lvm(images):
    report = _examine(images.get("lvm-root"))
    assert report.os_type == "linux" and report.generalized is True
    roles = {v.where: (v.content, v.role) for v in report.volumes}
    assert roles["partition 2"] == ("lvm2", None)
    assert roles["LVM rootvg/root"] == ("ext", "linux root")
    assert roles["LVM rootvg/swap"] == ("swap", "swap")
    assert any("LVM rootvg/swap is swap on the OS disk" in w for w in report.warnings)
    assert "partition 2 is an LVM2 physical volume of volume group rootvg (2 logical volumes)" in report.signs


def test_no_known_file_system(images):
    report = _examine(images.get("no-fs"))
    assert report.os_type is None and report.generalized is None and report.would_provision is None
    assert report.volumes[0].content == "unknown"
    assert any("no Linux or Windows system found" in w for w in report.warnings)


def test_damaged_superblock_is_a_warning_naming_it(images):
    started = time.monotonic()
    report = _examine(images.get("damaged"))
    assert time.monotonic() - started < 5
    assert report.os_type is None and report.generalized is None
    assert report.volumes[0].content == "ext"
    assert any(w.startswith("partition 1 (ext4): the ext4 file system cannot be read") for w in report.warnings), report.warnings


@pytest.mark.parametrize("name, generalized", [("windows-generalized", True), ("windows-not-generalized", False)])
def test_windows(images, name, generalized):
    report = _examine(images.get(name))
    assert report.os_type == "windows"
    assert report.architecture == "x64"
    assert report.generalized is generalized
    assert "Windows/System32/ntoskrnl.exe is for x64" in report.signs
    assert "Hyper-V drivers vmbus.sys, storvsc.sys, netvsc.sys present" in report.signs
    assert "Azure VM Agent installed (Program Files/WindowsAzure)" in report.signs
    state = "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE" if generalized else "IMAGE_STATE_COMPLETE"
    assert f"State.ini ImageState={state}" in report.signs
    if generalized:
        assert report.problems == [] and report.would_provision is True
    else:
        assert "sysprep.exe /generalize /oobe /shutdown" in report.problems[0]
    if generalized:  # its SOFTWARE hive names the edition
        assert report.os_name == "Windows Server 2022 Datacenter 21H2 (build 20348)"
        assert report.warnings == []
    else:  # no SOFTWARE hive: the edition is unknown, and said so
        assert report.os_name == "Windows"
        assert report.warnings == ["no Windows/System32/config/SOFTWARE registry hive: the Windows edition is not known"]


def test_two_tebibyte_sparse_disk_is_judged_by_its_metadata(images):
    path = images.get("large")
    started = time.monotonic()
    report = _examine(path)
    elapsed = time.monotonic() - started
    assert report.generalized is True and report.os_type == "linux"
    with open_disk(path) as disk:
        assert disk.virtual_size >= 2 * 1024**4
    assert elapsed < 5, elapsed
    assert report.bytes_read < 16 * 1024 * 1024
    # the second partition (1 GiB of zeros) is probed, not read through
    assert report.volumes[1].content == "empty"


def test_budget_exhaustion_is_a_warning(images):
    report = _examine(images.get("ext4-generalized"), max_bytes=200 * 1024)
    assert report.generalized is None
    assert any("more than 0 MiB" in w or "cannot be read" in w for w in report.warnings), report.warnings
