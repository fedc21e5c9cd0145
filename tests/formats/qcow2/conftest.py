"""Helpers for the qcow2 tests: images made by qemu-img/qemu-io, compared with qemu's own reading."""

from __future__ import annotations

import subprocess

from tests.vhdx.conftest import assert_same_as_raw, qemu_img, to_raw

__all__ = ["assert_same_as_raw", "qemu_img", "qemu_io", "to_raw", "make_qcow2", "MIB"]

MIB = 1024 * 1024


def qemu_io(image, *commands: str, fmt: str = "qcow2") -> None:
    args = ["qemu-io", "-f", fmt]
    for c in commands:
        args += ["-c", c]
    subprocess.run([*args, str(image)], check=True, capture_output=True, text=True)


def make_qcow2(path, size: str, *commands: str, options: str = "", backing=None, backing_fmt: str = "qcow2"):
    """A qcow2 made by qemu-img with ``options``, then ``commands`` run by qemu-io on it."""
    args = ["create", "-q", "-f", "qcow2"]
    if options:
        args += ["-o", options]
    if backing is not None:
        args += ["-b", str(backing), "-F", backing_fmt]
    qemu_img(*args, path, size)
    if commands:
        qemu_io(path, *commands)
    return path
