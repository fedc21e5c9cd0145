"""Run qemu-img and qemu-io, the independent producer and reader of VPC images."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

QEMU_IMG = shutil.which("qemu-img")
needs_qemu = pytest.mark.skipif(QEMU_IMG is None, reason="qemu-img is not installed (apt qemu-utils)")


def qemu_img(*args: str) -> str:
    return subprocess.run(["qemu-img", *args], check=True, capture_output=True, text=True).stdout


def qemu_io_write(path, fmt: str, writes: list[tuple[int, int, int]]) -> None:
    """``writes`` of (pattern byte, offset, length) through qemu-io, so qemu lays out the blocks."""
    cmds = []
    for pattern, offset, length in writes:
        cmds += ["-c", f"write -P {pattern} {offset} {length}"]
    subprocess.run(["qemu-io", "-f", fmt, *cmds, str(path)], check=True, capture_output=True)


def qemu_info_size(path, fmt: str = "vpc") -> int:
    return json.loads(qemu_img("info", "--output=json", "-f", fmt, str(path)))["virtual-size"]
