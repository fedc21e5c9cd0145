"""Helpers for the VHDX tests: qemu-img-made images, comparisons that never hold a large disk
in memory, and the Azurite connection for upload tests."""

from __future__ import annotations

import os
import subprocess

import pytest

from vhdupload.virtual_disk import sparse_extents

CHUNK = 4 * 1024 * 1024


def qemu_img(*args) -> str:
    return subprocess.run(["qemu-img", *map(str, args)], check=True, capture_output=True, text=True).stdout


def to_raw(image, out, *, fmt: str = "vhdx"):
    """qemu-img's reading of ``image`` as a (sparse) raw file: the ground truth."""
    qemu_img("convert", "-f", fmt, "-O", "raw", image, out)
    return out


def merged(ranges):
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [tuple(r) for r in out]


def assert_same_as_raw(disk, raw_path) -> int:
    """``disk`` reads exactly as the raw file: compared over the union of both sides' data
    ranges (everything else is a hole on one side and claimed zero by the other), plus zero
    samples outside. Returns the bytes compared."""
    size = os.path.getsize(raw_path)
    assert disk.virtual_size == size
    fd = os.open(raw_path, os.O_RDONLY)
    try:
        ranges = merged(list(disk.extents()) + list(sparse_extents(fd, 0, size)))
        compared = 0
        for a, b in ranges:
            for pos in range(a, b, CHUNK):
                n = min(CHUNK, b - pos)
                ours, theirs = disk.read(pos, n), os.pread(fd, n, pos)
                if ours != theirs:
                    at = next(i for i in range(n) if ours[i] != theirs[i])
                    raise AssertionError(f"{disk.path} differs from {raw_path} at offset {pos + at}")
                compared += n
        gaps = [(p, q) for (_, p), (q, _) in zip([(0, 0)] + ranges, ranges + [(size, size)]) if q > p]
        for p, q in gaps[:64]:
            n = min(q - p, 65536)
            assert disk.read(p, n) == bytes(n), f"{disk.path} claims no data at {p} but reads nonzero"
        return compared
    finally:
        os.close(fd)


def write_runs(path, size: int, runs, *, seed: int = 7) -> None:
    """A sparse raw file of ``size`` bytes with random data at ``runs`` ``(offset, length)``."""
    import random

    rng = random.Random(seed)
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, length in runs:
            f.seek(offset)
            f.write(rng.randbytes(length))


@pytest.fixture
def conn(azurite) -> str:
    return azurite.connection_string
