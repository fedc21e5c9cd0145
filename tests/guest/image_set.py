"""The guest tests' disk images (``Images``), each built once by the real tools and wrapped as a
fixed VHD by the project's own ``convert``; tests/guest/conftest.py serves them per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .images import (
    ARM64,
    KERNEL,
    MIB,
    LinuxTree,
    copy_into,
    gpt_disk,
    make_esp,
    make_ext4,
    make_xfs,
    mbr_disk,
    pe_file,
    run,
    sparse_file,
    stage_linux,
    to_vhd,
    tool,
)
from .lvm_format import pv_image
from .ntfs_writer import make_ntfs, state_ini
from .regf_format import hive

ESP_START, ESP_SIZE, ROOT_START = 1, 33, 34


class Images:
    def __init__(self, base: Path) -> None:
        self.base = base
        self._made: dict[str, Path] = {}

    def get(self, name: str) -> Path:
        if name not in self._made:
            work = self.base / name
            work.mkdir()
            self._made[name] = getattr(self, f"_{name.replace('-', '_')}")(work)
        return self._made[name]

    # -- Linux -------------------------------------------------------------------------------
    def _linux_disk(self, work: Path, spec: LinuxTree, *, fs: str = "ext4", loader: str = "BOOTX64.EFI") -> Path:
        tree = stage_linux(work / "tree", spec)
        if fs == "xfs":
            root, root_size = make_xfs(work / "root.img", tree), 300
        else:
            root, root_size = make_ext4(work / "root.img", tree, 64 * MIB), 64
        disk = gpt_disk(work / "disk.raw", (ROOT_START + root_size + 1) * MIB,
                        [(ESP_START, ESP_SIZE, "ef00"), (ROOT_START, root_size, "8300")])
        copy_into(disk, ESP_START * MIB, make_esp(work / "esp.img", loader))
        copy_into(disk, ROOT_START * MIB, root)
        return to_vhd(disk, work / "disk.vhd")

    def _ext4_generalized(self, work: Path) -> Path:
        return self._linux_disk(work, LinuxTree(generalized=True))

    def _ext4_not_generalized(self, work: Path) -> Path:
        """MBR, root by device name in fstab, a swap partition, provisioned and never deprovisioned."""
        tree = stage_linux(work / "tree", LinuxTree(
            generalized=False, fstab="/dev/sda1 / ext4 defaults 0 1\n/dev/sda2 none swap sw 0 0\n"))
        root = make_ext4(work / "root.img", tree, 64 * MIB)
        swap = sparse_file(work / "swap.img", 16 * MIB)
        run(tool("mkswap"), str(swap))
        disk = mbr_disk(work / "disk.raw", 90 * MIB, [(1, 64, "83"), (65, 16, "82")])
        copy_into(disk, 1 * MIB, root)
        copy_into(disk, 65 * MIB, swap)
        return to_vhd(disk, work / "disk.vhd")

    def _xfs_generalized(self, work: Path) -> Path:
        return self._linux_disk(work, LinuxTree(generalized=True, agent="cloud-init"), fs="xfs")

    def _xfs_not_generalized(self, work: Path) -> Path:
        return self._linux_disk(work, LinuxTree(generalized=False, agent="cloud-init", cloud_init_instance=True), fs="xfs")

    def _arm64(self, work: Path) -> Path:
        return self._linux_disk(work, LinuxTree(architecture=ARM64), loader="BOOTAA64.EFI")

    def _no_agent_no_drivers(self, work: Path) -> Path:
        return self._linux_disk(work, LinuxTree(agent=None, hv_drivers=("hv_vmbus",)))

    def _lvm_root(self, work: Path) -> Path:
        """GPT: ESP + an LVM2 PV holding LVs root (ext4) and swap, as RHEL-family images are laid out."""
        tree = stage_linux(work / "tree", LinuxTree(
            generalized=True, fstab="/dev/mapper/rootvg-root / ext4 defaults 0 1\n"))
        root = make_ext4(work / "root.img", tree, 64 * MIB).read_bytes()
        swap = sparse_file(work / "swap.img", 8 * MIB)
        run(tool("mkswap"), str(swap))
        pv_size = 96 * MIB
        head, placements = pv_image(pv_size, [("root", root), ("swap", swap.read_bytes())])
        disk = gpt_disk(work / "disk.raw", (ROOT_START + 96 + 1) * MIB,
                        [(ESP_START, ESP_SIZE, "ef00"), (ROOT_START, 96, "8e00")])
        copy_into(disk, ESP_START * MIB, make_esp(work / "esp.img", "BOOTX64.EFI"))
        copy_into(disk, ROOT_START * MIB, head)
        for offset, content in placements:
            copy_into(disk, ROOT_START * MIB + offset, content)
        return to_vhd(disk, work / "disk.vhd")

    def _no_fs(self, work: Path) -> Path:
        disk = gpt_disk(work / "disk.raw", 8 * MIB, [(1, 4, "8300")])
        copy_into(disk, 1 * MIB, bytes(range(256)) * (4 * MIB // 256))
        return to_vhd(disk, work / "disk.vhd")

    def _damaged(self, work: Path) -> Path:
        """An ext4 root whose superblock keeps its magic but has nonsense block size and counts."""
        tree = stage_linux(work / "tree", LinuxTree())
        root = bytearray(make_ext4(work / "root.img", tree, 64 * MIB).read_bytes())
        sb = 1024
        root[sb + 0 : sb + 8] = b"\xff" * 8  # inode count, block count
        root[sb + 24 : sb + 28] = b"\x40\x00\x00\x00"  # log block size 64: a 2^74-byte block
        root[sb + 32 : sb + 40] = b"\0" * 8  # blocks and inodes per group
        disk = gpt_disk(work / "disk.raw", 100 * MIB, [(1, 64, "8300")])
        copy_into(disk, 1 * MIB, bytes(root))
        return to_vhd(disk, work / "disk.vhd")

    def _large(self, work: Path) -> Path:
        """2 TiB: a GPT, an ext4 root of 64 MiB at 1 MiB, then nothing (sparse raw and VHD)."""
        tree = stage_linux(work / "tree", LinuxTree())
        root = make_ext4(work / "root.img", tree, 64 * MIB)
        disk = gpt_disk(work / "disk.raw", 2 * 1024 * 1024 * MIB, [(1, 64, "8300"), (65, 1024, "8300")])
        copy_into(disk, 1 * MIB, root)
        return to_vhd(disk, work / "disk.vhd")

    # -- capabilities and hostile roots (ext4 on a GPT, no ESP) ---------------------------------
    def _root_only(self, work: Path, tree: Path, *, block_size: int | None = None) -> Path:
        root = make_ext4(work / "root.img", tree, 64 * MIB, block_size=block_size)
        disk = gpt_disk(work / "disk.raw", 66 * MIB, [(1, 64, "8300")])
        copy_into(disk, 1 * MIB, root)
        return to_vhd(disk, work / "disk.vhd")

    def _nvme_module_file(self, work: Path) -> Path:
        """The NVMe driver only as a module file (.ko.zst, not in modules.dep), mlx5_core in
        modules.dep, and an older kernel that has neither (the newest one decides)."""
        old = "usr/lib/modules/5.10.0-9-cloud-amd64"
        tree = stage_linux(work / "tree", LinuxTree(
            modules_dep=("kernel/drivers/net/ethernet/mellanox/mlx5/core/mlx5_core.ko.zst: kernel/net/tls.ko.zst",),
            extra={f"usr/lib/modules/{KERNEL}/kernel/drivers/nvme/host/nvme.ko.zst": b"(zstd)",
                   f"{old}/modules.dep": b"kernel/drivers/hv/hv_vmbus.ko:\n",
                   f"{old}/modules.builtin": b""},
        ))
        return self._root_only(work, tree)

    def _nvme_builtin(self, work: Path) -> Path:
        """nvme, nvme-core and mana built into the kernel (modules.builtin)."""
        tree = stage_linux(work / "tree", LinuxTree(modules_builtin=(
            "kernel/drivers/nvme/host/nvme-core.ko", "kernel/drivers/nvme/host/nvme.ko",
            "kernel/drivers/net/ethernet/microsoft/mana/mana.ko",
        )))
        return self._root_only(work, tree)

    def _no_kernel_modules(self, work: Path) -> Path:
        tree = stage_linux(work / "tree", LinuxTree())
        shutil.rmtree(tree / "usr/lib/modules")
        return self._root_only(work, tree)

    def _looping_os_release(self, work: Path) -> Path:
        """Never generalized (waagent/provisioned, SSH host keys, a machine-id), and /etc/os-release
        a symbolic link that loops (os-release -> os-release.d/../os-release2 -> os-release)."""
        tree = stage_linux(work / "tree", LinuxTree(generalized=False))
        (tree / "etc/os-release").unlink()
        os.symlink("os-release2", tree / "etc/os-release")
        os.symlink("./os-release", tree / "etc/os-release2")
        (tree / "usr/lib/os-release").unlink(missing_ok=True)
        return self._root_only(work, tree)

    def _tangled(self, work: Path) -> Path:
        """Issue 22's hang: /etc, /usr and /var are links through a chain of 38 links, each
        walking 600 directories down and back up (x/d/d/.../../..) before it names the next."""
        tree = stage_linux(work / "tree", LinuxTree(generalized=False))
        (tree / "x" / "/".join(["d"] * 600)).mkdir(parents=True)
        walk = "/".join(["d"] * 600 + [".."] * 600)
        for top in ("etc", "usr", "var"):
            (tree / top).rename(tree / f"real_{top}")
            for link in range(38):
                after = f"{top}_{link + 1}" if link < 37 else f"real_{top}"
                os.symlink(f"x/{walk}/../{after}", tree / (top if link == 0 else f"{top}_{link}"))
        return self._root_only(work, tree, block_size=4096)  # a 3 KB link target needs 4 KiB blocks

    # -- Windows -----------------------------------------------------------------------------
    def _windows(self, work: Path, image_state: str, *, software: bool, drivers: tuple[str, ...] = ()) -> Path:
        files = {
            **{f"Windows/System32/drivers/{name}": b"MZ" for name in drivers},
            "Windows/System32/ntoskrnl.exe": pe_file(0x8664),
            "Windows/System32/drivers/vmbus.sys": b"MZ",
            "Windows/System32/drivers/storvsc.sys": b"MZ",
            "Windows/System32/drivers/netvsc.sys": b"MZ",
            "Windows/System32/config": None,
            **({"Windows/System32/config/SOFTWARE": hive(
                ["Microsoft", "Windows NT", "CurrentVersion"],
                {"ProductName": "Windows Server 2022 Datacenter", "DisplayVersion": "21H2", "CurrentBuild": "20348"},
            )} if software else {}),
            "Windows/Setup/State/State.ini": state_ini(image_state),
            "Program Files/WindowsAzure": None,
        }
        ntfs = make_ntfs(work / "ntfs.img", files)
        disk = gpt_disk(work / "disk.raw", (ROOT_START + 64 + 1) * MIB,
                        [(ESP_START, ESP_SIZE, "ef00"), (ROOT_START, 64, "0700")])
        copy_into(disk, ESP_START * MIB, make_esp(work / "esp.img", "BOOTX64.EFI"))
        copy_into(disk, ROOT_START * MIB, ntfs)
        return to_vhd(disk, work / "disk.vhd")

    def _windows_generalized(self, work: Path) -> Path:
        return self._windows(work, "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE", software=True)

    def _windows_nvme_mana(self, work: Path) -> Path:
        return self._windows(work, "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE", software=False,
                             drivers=("stornvme.sys", "mana.sys", "mlx4eth63.sys"))

    def _windows_not_generalized(self, work: Path) -> Path:
        return self._windows(work, "IMAGE_STATE_COMPLETE", software=False)

