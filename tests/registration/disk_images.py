"""Small disk images with real partition tables, made by sgdisk/sfdisk on sparse files.

sgdisk waits about a second after writing, so each layout is made once per session and its
partition-table sectors are cached.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

IMAGE_SIZE = 4 * 1024 * 1024


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(f"/usr/sbin/{name}") or shutil.which(f"/sbin/{name}")
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: gdisk / fdisk)")
    return path


def _blank(path: Path) -> Path:
    with open(path, "wb") as f:
        f.truncate(IMAGE_SIZE)
    return path


def gpt(path: Path, *partitions: tuple[int, int, str]) -> Path:
    """A GPT disk; each partition is (first sector, last sector, sgdisk type code like ef00)."""
    _blank(path)
    with open(path, "r+b") as f:
        f.write(_gpt_head(tuple(partitions)))
    return path


@functools.lru_cache(maxsize=None)
def _gpt_head(partitions: tuple[tuple[int, int, str], ...]) -> bytes:
    """The first 34 sectors (protective MBR, GPT header, entries) sgdisk writes for ``partitions``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = _blank(Path(tmp) / "gpt.img")
        args = [_tool("sgdisk"), "-a", "1"]
        for number, (first, last, code) in enumerate(partitions, start=1):
            args += [f"-n{number}:{first}:{last}", f"-t{number}:{code}"]
        subprocess.run(args + [str(path)], check=True, capture_output=True)
        return path.read_bytes()[: 34 * 512]


def mbr(path: Path, *types: str) -> Path:
    """An MBR disk with one 1 MiB partition of each sfdisk type (e.g. "83", "ef"); none active."""
    _blank(path)
    script = "label: dos\n" + "".join(f"{2048 + i * 2048},2048,{t}\n" for i, t in enumerate(types))
    subprocess.run([_tool("sfdisk"), "-q", str(path)], input=script.encode(), check=True, capture_output=True)
    return path


def blank(path: Path) -> Path:
    return _blank(path)


def reader(path: Path):
    data = path.read_bytes()
    return lambda offset, length: data[offset : offset + length]


ESP, BIOS_BOOT, LINUX = "ef00", "ef02", "8300"
