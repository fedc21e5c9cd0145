"""The free-space image: a disk that was used, then cleaned, as a VM's disk is before capture.

A 2 GiB fixed VHD with a GPT (made by ``sfdisk``) and two volumes:

* partition 1, an EFI System Partition (FAT32, ``mkfs.fat`` + ``mmd``/``mcopy``): the boot
  loaders stay; an old kernel and initrd that a kernel upgrade removed are deleted with ``mdel``;
* partition 2, the root (ext4, ``mkfs.ext4 -d`` from a staged tree): an installed system, its
  configuration and current logs stay; the package cache (``apt-get clean``), rotated logs
  (logrotate) and a build tree (``rm -rf build``) are deleted with ``debugfs rm``/``rmdir``,
  then a few packages are installed after the clean (``debugfs write``), so part of the freed
  blocks is used again, as on a real disk.

Deleting with the file systems' own code leaves the data in blocks their allocation maps mark
free: what ``inspect`` reports as deleted data and ``upload --skip-free`` leaves home. Every
byte is seeded (kept files random like binaries, logs text), so a rebuild is the same disk.
No root: the volumes are built in sparse files and copied into the disk by their data regions.

The image is cached in ``benchmarks/work/`` (git-ignored) under a name that carries
:data:`VERSION`, with a JSON sidecar of its figures (see :class:`FreeSpaceImage`).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import uuid as uuid_module
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from images import FIXED_UNIX_TIME, MIB, WORK_DIR, data_pages_bytes, data_regions, fixed_footer  # noqa: E402

#: Bump when the recipe changes: it is part of the cache file name.
VERSION = "v4"
SEED = 21
DISK_SIZE = 2048 * MIB
ESP = (1 * MIB, 127 * MIB)  # (start, size)
ROOT = (128 * MIB, 1904 * MIB)

WORDS = ("systemd kernel: eth0 link up 1000Mbps full duplex sshd accepted publickey for azureuser from "
         "10.0.0.4 port 52311 ssh2 CRON session opened for user root apt-daily upgrade unattended "
         "cloud-init waagent provisioning complete walinuxagent heartbeat disk sda1 mounted").split()


@dataclass(frozen=True)
class FreeSpaceImage:
    """The built image and what the builder knows about it."""

    path: Path
    file_size: int
    virtual_size: int
    data_pages: int  # bytes of the file's 4 KiB pages that are not all zeros (images.data_pages_bytes)
    kept_bytes: int  # bytes of the files that stay (both volumes)
    deleted_bytes: int  # bytes of the files deleted (both volumes), before any reuse
    kept_files: dict[str, dict[str, str]] = field(default_factory=dict)  # volume -> path -> sha256

    def to_json(self) -> dict:
        return {**asdict(self), "path": str(self.path)}


# --------------------------------------------------------------------------- content


def _text(rng: random.Random, size: int) -> bytes:
    """Log-like lines, ``size`` bytes: drawn from a pool of 256 made for each file (fast enough
    for 50 MB of logs, and compressible as logs are)."""
    pool = [(f"Dec {rng.randrange(1, 29):2d} {rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d} vm "
             + " ".join(rng.choices(WORDS, k=rng.randrange(6, 18))) + "\n").encode() for _ in range(256)]
    return b"".join(rng.choices(pool, k=size // 60 + 1))[:size]


def _sizes(rng: random.Random, count: int, total: int, *, smallest: int = 512) -> list[int]:
    """``count`` sizes that sum to about ``total``, spread like real files (many small, few big)."""
    weights = [rng.paretovariate(1.2) for _ in range(count)]
    scale = total / sum(weights)
    return [max(smallest, int(w * scale)) for w in weights]


def _files(rng: random.Random, prefix: str, count: int, total: int, *, scale: float, text: bool = False,
           suffix: str = "") -> dict[str, bytes]:
    """``count`` files under ``prefix`` holding about ``total`` bytes, both times ``scale``."""
    out = {}
    for i, size in enumerate(_sizes(rng, max(1, round(count * scale)), int(total * scale))):
        out[f"{prefix}/{i // 50:03d}/f{i:05d}{suffix}" if count > 100 else f"{prefix}/f{i:04d}{suffix}"] = (
            _text(rng, size) if text else rng.randbytes(size))
    return out


def root_content(seed: int, scale: float = 1.0) -> tuple[dict[str, bytes], dict[str, bytes], dict[str, bytes]]:
    """(kept, deleted, installed after the clean) files of the root volume, by path; ``scale``
    shrinks counts and sizes (a test builds the same disk at 1/32)."""
    rng = random.Random(seed)
    kept = {
        **_files(rng, "usr/lib", 1200, 80 * MIB, scale=scale, suffix=".so"),
        **_files(rng, "usr/share/doc", 400, 6 * MIB, scale=scale, text=True),
        **_files(rng, "etc", 150, 1 * MIB, scale=scale, text=True, suffix=".conf"),
        **_files(rng, "var/log", 12, 4 * MIB, scale=scale, text=True, suffix=".log"),
        "etc/os-release": b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
        "etc/machine-id": b"",  # generalized: waagent -deprovision emptied it
        "usr/sbin/waagent": b"#!/usr/bin/python3\n",
        "etc/fstab": b"LABEL=root / ext4 defaults 0 1\nLABEL=ESP /boot/efi vfat defaults 0 2\n",
    }
    deleted = {
        **_files(rng, "var/cache/apt/archives", 90, 120 * MIB, scale=scale, suffix=".deb"),
        **_files(rng, "var/log/rotated", 40, 40 * MIB, scale=scale, text=True, suffix=".log.1"),
        **_files(rng, "home/azureuser/build", 1500, 60 * MIB, scale=scale, suffix=".o"),
        **_files(rng, "tmp", 20, 10 * MIB, scale=scale),
    }
    installed = _files(rng, "opt/app", 30, 24 * MIB, scale=scale, suffix=".bin")
    return kept, deleted, installed


def esp_content(seed: int, scale: float = 1.0) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(kept, deleted) files of the EFI System Partition."""
    rng = random.Random(seed)

    def blob(size: int) -> bytes:
        return rng.randbytes(int(size * scale))

    kept = {"EFI/BOOT/BOOTX64.EFI": blob(950_000), "EFI/debian/shimx64.efi": blob(950_000),
            "EFI/debian/grubx64.efi": blob(2_500_000), "EFI/debian/grub.cfg": _text(rng, 4000),
            "vmlinuz-6.1.0-28": blob(8 * MIB), "initrd-6.1.0-28": blob(30 * MIB)}
    deleted = {"vmlinuz-6.1.0-18": blob(8 * MIB), "initrd-6.1.0-18": blob(30 * MIB)}
    return kept, deleted


# --------------------------------------------------------------------------- tools


TOOLS = ("sfdisk", "mkfs.ext4", "debugfs", "mkfs.fat", "mmd", "mcopy", "mdel", "fallocate")


def missing_tools() -> list[str]:
    """The tools the builder needs that are not installed."""
    return [name for name in TOOLS if not _which(name)]


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(f"/usr/sbin/{name}") or shutil.which(f"/sbin/{name}")


def tool(name: str) -> str:
    path = _which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed (Debian: e2fsprogs, dosfstools, mtools, fdisk)")
    return path


def run(*args: str, env: dict | None = None, stdin: bytes | None = None) -> str:
    done = subprocess.run(args, capture_output=True, env=env, input=stdin)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-500:]}")
    return done.stdout.decode(errors="replace")


def _env() -> dict[str, str]:
    return {**os.environ, "MTOOLS_SKIP_CHECK": "1", "E2FSPROGS_FAKE_TIME": str(FIXED_UNIX_TIME),
            "MKE2FS_CONFIG": "/etc/mke2fs.conf"}


def _stage(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        os.utime(target, (FIXED_UNIX_TIME, FIXED_UNIX_TIME))
    for dirpath, _, _ in os.walk(root):
        os.utime(dirpath, (FIXED_UNIX_TIME, FIXED_UNIX_TIME))


def _sparse(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)


def _directories(paths) -> list[str]:
    """Every directory that holds one of ``paths``, deepest first."""
    found = {str(Path(p).parent) for p in paths}
    for d in list(found):
        while d not in (".", ""):
            found.add(d)
            d = str(Path(d).parent)
    found.discard(".")
    return sorted(found, key=lambda d: (-d.count("/"), d))


# --------------------------------------------------------------------------- volumes


def make_root(path: Path, size: int, staging: Path, seed: int, scale: float) -> tuple[dict[str, bytes], int]:
    """The ext4 root: everything written by mkfs -d, the deleted part removed by debugfs, then
    the files installed after the clean written by debugfs; returns the files that stay and the
    bytes deleted."""
    kept, deleted, installed = root_content(seed, scale)
    tree = staging / "root"
    _stage(tree, {**kept, **deleted})
    fs_uuid = str(uuid_module.UUID(int=random.Random(seed).getrandbits(128), version=4))
    _sparse(path, size)
    run(tool("mkfs.ext4"), "-q", "-F", "-b", "4096", "-L", "root", "-U", fs_uuid,
        "-E", f"hash_seed={fs_uuid},root_owner=0:0,lazy_itable_init=1,nodiscard", "-d", str(tree), str(path), env=_env())
    # rm frees a file's blocks (its data stays in them); rmdir the emptied directories, deepest first
    gone_dirs = [d for d in _directories(deleted) if not any(k.startswith(d + "/") for k in kept)]
    commands = [f"rm /{p}" for p in deleted] + [f"rmdir /{d}" for d in gone_dirs]
    late = staging / "late"
    _stage(late, installed)
    commands += [f"mkdir /{d}" for d in reversed(_directories(installed))]
    commands += [f"write {late / p} /{p}" for p in installed]
    script = staging / "debugfs.cmd"
    script.write_text("\n".join(commands) + "\n")
    run(tool("debugfs"), "-w", "-f", str(script), str(path), env=_env())
    return {**kept, **installed}, sum(map(len, deleted.values()))


def make_esp(path: Path, size: int, staging: Path, seed: int, scale: float) -> tuple[dict[str, bytes], int]:
    """The FAT32 ESP: files copied in by mcopy, the old kernel deleted by mdel."""
    kept, deleted = esp_content(seed, scale)
    tree = staging / "esp"
    _stage(tree, {**kept, **deleted})
    _sparse(path, size)
    run(tool("mkfs.fat"), "-F", "32", "-n", "ESP", "-i", "0badc0de", str(path), env=_env())
    everything = {**kept, **deleted}
    run(tool("mmd"), "-i", str(path), *(f"::{d}" for d in reversed(_directories(everything))), env=_env())
    by_directory: dict[str, list[str]] = {}
    for rel in everything:  # one mcopy per directory, files in a fixed order: the same clusters each build
        by_directory.setdefault(str(Path(rel).parent), []).append(str(tree / rel))
    for directory, sources in by_directory.items():
        run(tool("mcopy"), "-m", "-i", str(path), *sources, f"::{'' if directory == '.' else directory}/", env=_env())
    run(tool("mdel"), "-i", str(path), *(f"::{rel}" for rel in deleted), env=_env())
    return kept, sum(map(len, deleted.values()))


def copy_regions(volume: Path, disk: Path, offset: int) -> None:
    """Copy ``volume``'s data regions into ``disk`` at ``offset``: its holes stay holes."""
    with open(volume, "rb") as src, open(disk, "r+b") as dst:
        for start, stop in data_regions(volume):
            src.seek(start)
            dst.seek(offset + start)
            remaining = stop - start
            while remaining:
                chunk = src.read(min(remaining, 8 * MIB))
                dst.write(chunk)
                remaining -= len(chunk)


def _digests(files: dict[str, bytes]) -> dict[str, str]:
    return {rel: hashlib.sha256(data).hexdigest() for rel, data in sorted(files.items())}


def build(path: Path, *, seed: int = SEED, scale: float = 1.0) -> FreeSpaceImage:
    """Build the image at ``path`` (a fixed VHD) and return its figures; ``scale`` shrinks the
    files (not the disk), for a test."""
    staging = path.with_name(path.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    tmp = path.with_suffix(".tmp")
    try:
        _sparse(tmp, DISK_SIZE)
        ids = random.Random(seed + 1)
        disk_id, esp_id, root_id = (uuid_module.UUID(int=ids.getrandbits(128), version=4) for _ in range(3))
        # sfdisk rather than sgdisk: sgdisk sync()s the whole machine, a second on a busy one
        run(tool("sfdisk"), "-q", "--no-reread", "--no-tell-kernel", str(tmp), stdin=(
            f"label: gpt\nlabel-id: {disk_id}\n"
            f"start={ESP[0] // 512}, size={ESP[1] // 512}, type=uefi, uuid={esp_id}, name=\"EFI System\"\n"
            f"start={ROOT[0] // 512}, size={ROOT[1] // 512}, type=linux, uuid={root_id}, name=root\n").encode())
        esp_kept, esp_deleted = make_esp(staging / "esp.vol", ESP[1], staging, seed, scale)
        root_kept, root_deleted = make_root(staging / "root.vol", ROOT[1], staging, seed, scale)
        for volume, (start, _) in ((staging / "esp.vol", ESP), (staging / "root.vol", ROOT)):
            # mkfs writes zero blocks (journal, tables): holes again, so the copy skips them
            run(tool("fallocate"), "--dig-holes", str(volume))
            copy_regions(volume, tmp, start)
        with open(tmp, "r+b") as f:
            f.seek(DISK_SIZE)
            f.write(fixed_footer(DISK_SIZE, disk_uuid=uuid_module.UUID(int=random.Random(seed + 2).getrandbits(128), version=4)))
        os.replace(tmp, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        tmp.unlink(missing_ok=True)
    return FreeSpaceImage(
        path=path, file_size=path.stat().st_size, virtual_size=DISK_SIZE, data_pages=data_pages_bytes(path),
        kept_bytes=sum(map(len, esp_kept.values())) + sum(map(len, root_kept.values())),
        deleted_bytes=esp_deleted + root_deleted,
        kept_files={"esp": _digests(esp_kept), "root": _digests(root_kept)},
    )


def get_free_space_image(*, work_dir: Path = WORK_DIR, log=lambda s: None) -> FreeSpaceImage:
    """The cached image, built on first use (about half a minute)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / f"image-free-2g-esp-ext4-{VERSION}-s{SEED}.vhd"
    sidecar = path.with_suffix(".json")
    if path.exists() and sidecar.exists():
        record = json.loads(sidecar.read_text())
        if record.get("file_size") == path.stat().st_size:
            return FreeSpaceImage(**{**record, "path": path})
    log(f"building the free-space image -> {path}")
    image = build(path)
    sidecar.write_text(json.dumps(image.to_json(), indent=1) + "\n")
    return image


if __name__ == "__main__":
    built = get_free_space_image(log=lambda s: print(s, file=sys.stderr))
    print(f"{built.path}: file {built.file_size:,}, data pages {built.data_pages:,}, "
          f"kept files {built.kept_bytes:,}, deleted files {built.deleted_bytes:,}")
