"""Disk images with real file systems, made by the real tools from staged directory trees.

- ext4: ``mkfs.ext4 -d TREE`` (e2fsprogs); XFS: ``mkfs.xfs -p PROTOFILE`` (xfsprogs);
- the EFI System Partition: ``mkfs.fat`` + ``mmd``/``mcopy`` (dosfstools, mtools);
- NTFS: ``mkntfs`` (ntfs-3g), then files written with libntfs-3g's own API (see ntfs_writer.py);
- LVM2: the on-disk format written by lvm_format.py (the lvm2 tools need a block device);
- tables: ``sgdisk``/``sfdisk``; all files sparse; volumes copied in without their zero blocks.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MIB = 1024 * 1024
X64, ARM64 = "x64", "Arm64"


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(f"/usr/sbin/{name}") or shutil.which(f"/sbin/{name}")
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: e2fsprogs, xfsprogs, dosfstools, mtools, ntfs-3g, gdisk)")
    return path


def run(*args: str, env: dict | None = None) -> None:
    subprocess.run(args, check=True, capture_output=True, env=env)


def elf_header(machine: int) -> bytes:
    """A 64-byte ELF64 little-endian header for ``machine`` (62 x86-64, 183 AArch64)."""
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    return ident + struct.pack("<HHIQQQIHHHHHH", 3, machine, 1, 0, 64, 0, 0, 64, 56, 0, 64, 0, 0)


def pe_file(machine: int) -> bytes:
    """The head of a PE file: MZ stub pointing at a PE header with ``machine`` (0x8664, 0xAA64)."""
    head = bytearray(1024)
    head[0:2] = b"MZ"
    struct.pack_into("<I", head, 0x3C, 0x80)
    head[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<H", head, 0x84, machine)
    return bytes(head)


@dataclass
class LinuxTree:
    """What to put in a staged Linux root."""

    generalized: bool = True
    architecture: str = X64
    agent: str | None = "waagent"  # "waagent", "cloud-init" or None
    hv_drivers: tuple[str, ...] = ("hv_vmbus", "hv_storvsc", "hv_netvsc")
    fstab: str = "UUID=0a1b2c3d-0000-4000-8000-000000000001 / ext4 defaults 0 1\n"
    cloud_init_instance: bool = False
    extra: dict[str, bytes] = field(default_factory=dict)
    modules_dep: tuple[str, ...] = ()  # more lines of modules.dep, e.g. "kernel/drivers/.../mlx5_core.ko.zst:"
    modules_builtin: tuple[str, ...] = ()  # more lines of modules.builtin


KERNEL = "6.1.0-18-cloud-amd64"


def stage_linux(root: Path, spec: LinuxTree) -> Path:
    """A small Linux root: merged /usr (bin and lib are links), os-release, agent, modules, signs."""
    def put(path: str, data: bytes = b"", mode: int = 0o644) -> None:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode)

    root.mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/lib").mkdir(parents=True)
    os.symlink("usr/bin", root / "bin")
    os.symlink("usr/lib", root / "lib")
    put("etc/os-release", b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n')
    if spec.architecture == X64 and Path("/bin/dash").exists() and os.uname().machine == "x86_64":
        shutil.copy("/bin/dash", root / "usr/bin/dash")
    else:
        put("usr/bin/dash", elf_header(62 if spec.architecture == X64 else 183), 0o755)
    os.symlink("dash", root / "usr/bin/sh")
    put("etc/fstab", spec.fstab.encode())
    if spec.agent == "waagent":
        put("usr/sbin/waagent", b"#!/usr/bin/python3\n", 0o755)
    elif spec.agent == "cloud-init":
        put("usr/bin/cloud-init", b"#!/usr/bin/python3\n", 0o755)
    kernel = f"usr/lib/modules/{KERNEL}"
    dep = "".join(f"kernel/drivers/hv/{d}.ko.xz:\n" for d in spec.hv_drivers if d != "hv_storvsc")
    dep += "kernel/drivers/net/e1000/e1000.ko.xz:\n" + "".join(f"{line}\n" for line in spec.modules_dep)
    builtin = "kernel/drivers/scsi/hv_storvsc.ko\n" if "hv_storvsc" in spec.hv_drivers else ""
    builtin += "".join(f"{line}\n" for line in spec.modules_builtin)
    put(f"{kernel}/modules.dep", dep.encode())
    put(f"{kernel}/modules.builtin", builtin.encode() + b"kernel/fs/ext4/ext4.ko\n")
    (root / "var/lib/waagent").mkdir(parents=True)
    (root / "etc/ssh").mkdir(parents=True)
    put("etc/ssh/sshd_config", b"PasswordAuthentication no\n")
    if spec.generalized:
        put("etc/machine-id", b"")
    else:
        put("etc/machine-id", b"4c4c4544003510388033b4c04f4d3732\n")
        put("etc/ssh/ssh_host_ed25519_key", b"-----BEGIN OPENSSH PRIVATE KEY-----\n", 0o600)
        put("etc/ssh/ssh_host_rsa_key", b"-----BEGIN OPENSSH PRIVATE KEY-----\n", 0o600)
        put("var/lib/waagent/provisioned", b"")
        put("var/lib/waagent/ovf-env.xml", b"<Environment/>")
    if spec.cloud_init_instance:
        (root / "var/lib/cloud/instances/i-0123").mkdir(parents=True)
        os.symlink("/var/lib/cloud/instances/i-0123", root / "var/lib/cloud/instance")
    for path, data in spec.extra.items():
        put(path, data)
    return root


def sparse_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def make_ext4(path: Path, tree: Path | None, size: int, *, block_size: int | None = None) -> Path:
    sparse_file(path, size)
    args = [tool("mkfs.ext4"), "-q", "-F", "-E", "root_owner=0:0"]
    if block_size is not None:  # a symbolic link's target may be as long as one block
        args += ["-b", str(block_size)]
    if tree is not None:
        args += ["-d", str(tree)]
    run(*args, str(path))
    return path


def make_xfs(path: Path, tree: Path, size: int = 300 * MIB) -> Path:
    """XFS (its minimum is 300 MiB; the file stays sparse) filled from ``tree`` by a protofile."""
    sparse_file(path, size)
    proto = path.with_suffix(".proto")
    proto.write_text("boot\n0 0\n" + _proto_dir(tree, "d--755 0 0") + "$\n")
    run(tool("mkfs.xfs"), "-q", "-f", "-p", str(proto), str(path))
    return path


def _proto_dir(directory: Path, mode_line: str) -> str:
    lines = [mode_line]
    for entry in sorted(directory.iterdir()):
        if entry.is_symlink():
            lines.append(f"{entry.name} l--777 0 0 {os.readlink(entry)}")
        elif entry.is_dir():
            lines.append(f"{entry.name} " + _proto_dir(entry, "d--755 0 0").rstrip("\n") + "\n$")
        else:
            mode = entry.stat().st_mode & 0o777
            lines.append(f"{entry.name} ---{mode:o} 0 0 {entry}")
    return "\n".join(lines) + "\n"


def make_esp(path: Path, loader: str, size: int = 33 * MIB) -> Path:
    """A FAT32 EFI System Partition holding EFI/BOOT/<loader> (e.g. BOOTAA64.EFI)."""
    sparse_file(path, size)
    run(tool("mkfs.fat"), "-F", "32", "-n", "ESP", str(path))
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    run(tool("mmd"), "-i", str(path), "::EFI", "::EFI/BOOT", env=env)
    payload = path.with_suffix(".efi")
    payload.write_bytes(pe_file(0xAA64 if "AA64" in loader.upper() else 0x8664))
    run(tool("mcopy"), "-i", str(path), str(payload), f"::EFI/BOOT/{loader}", env=env)
    return path


def copy_into(disk: Path, offset: int, volume: Path | bytes) -> None:
    """Write ``volume`` at ``offset`` of ``disk``, skipping its all-zero 64 KiB blocks (stays sparse)."""
    data = volume if isinstance(volume, bytes) else volume.read_bytes()
    block = 64 * 1024
    with open(disk, "r+b") as f:
        for start in range(0, len(data), block):
            chunk = data[start : start + block]
            if any(chunk):
                f.seek(offset + start)
                f.write(chunk)


def gpt_disk(path: Path, size: int, partitions: list[tuple[int, int, str]]) -> Path:
    """A sparse disk with a GPT made by sgdisk; partitions are (start MiB, size MiB, type code)."""
    sparse_file(path, size)
    args = [tool("sgdisk")]
    for number, (start, length, code) in enumerate(partitions, start=1):
        first = start * MIB // 512
        args += [f"-n{number}:{first}:{first + length * MIB // 512 - 1}", f"-t{number}:{code}"]
    run(*args, str(path))
    return path


def mbr_disk(path: Path, size: int, partitions: list[tuple[int, int, str]]) -> Path:
    sparse_file(path, size)
    script = "label: dos\n" + "".join(f"{s * MIB // 512},{n * MIB // 512},{t}\n" for s, n, t in partitions)
    subprocess.run([tool("sfdisk"), "-q", str(path)], input=script.encode(), check=True, capture_output=True)
    return path


def to_vhd(raw: Path, vhd: Path) -> Path:
    """The project's own ``convert``: a sparse fixed VHD of the raw image."""
    from vhdupload import convert_image

    convert_image(raw, vhd, force=True)
    return vhd
