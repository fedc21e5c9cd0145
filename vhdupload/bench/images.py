"""Synthetic fixed VHDs for benchmarks: sparse files whose data is placed by a seed.

* ``random-blocks``: whole 1 MiB blocks of random bytes at seeded places; ``fill`` is the
  fraction of the disk's blocks that hold data (exact up to one block);
* ``scattered-pages``: runs of 4 KiB pages (1 to 16 pages, 4-64 KiB, like the "scattered"
  image of the benchmarks) one per equal slot of the disk; ``fill`` is the fraction of the
  disk's pages that hold data, exactly;
* ``filesystem``: an ext4 file system made by ``mkfs.ext4 -d`` from a tree of files of random
  content, about ``fill`` of the disk (file system metadata makes it approximate).

Zeros are holes, never written, so a 4 GiB disk with 25 % data costs 1 GiB of disk space.
Random data is random per page, so every page written counts as a data page.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import uuid as uuid_module
from dataclasses import dataclass
from pathlib import Path

from .. import planning
from ..errors import InputError
from ..vhd import make_fixed_footer
from .report import ImageInfo

MIB = 1024 * 1024
PAGE = 4096
PATTERNS = ("random-blocks", "scattered-pages", "filesystem")
MIN_SIZE = 8 * MIB


@dataclass(frozen=True)
class SyntheticImage:
    path: Path
    virtual_size: int
    fill: float  # the fraction asked for
    pattern: str
    data_bytes: int  # bytes in nonzero 4 KiB pages of the data region (footer not counted)

    def to_dict(self) -> ImageInfo:
        return {"path": str(self.path), "size": self.virtual_size, "fill": self.fill, "pattern": self.pattern,
                "data_bytes": self.data_bytes}


def make_image(folder: str | os.PathLike[str], *, size: int, fill: float, pattern: str, seed: int = 1) -> SyntheticImage:
    """Write ``folder/bench-<pattern>.vhd``: a sparse fixed VHD of virtual ``size`` bytes."""
    if pattern not in PATTERNS:
        raise InputError(f"unknown pattern {pattern!r}; use one of {', '.join(PATTERNS)}")
    if size < MIN_SIZE or size % MIB:
        raise InputError(f"the size must be a whole number of MiB and at least 8 MiB, got {size} bytes")
    if not 0 < fill <= 1:
        raise InputError(f"the fill must be above 0 % and at most 100 %, got {fill:.2%}")
    path = Path(folder) / f"bench-{pattern}.vhd"
    rng = random.Random(seed)
    if pattern == "random-blocks":
        data = _random_blocks(path, size=size, fill=fill, rng=rng)
    elif pattern == "scattered-pages":
        data = _scattered_pages(path, size=size, fill=fill, rng=rng)
    else:
        data = _filesystem(path, size=size, fill=fill, rng=rng)
    with open(path, "r+b") as f:
        f.seek(size)
        f.write(make_fixed_footer(virtual_size=size, uuid=uuid_module.UUID(int=rng.getrandbits(128), version=4)).to_bytes())
    return SyntheticImage(path=path, virtual_size=size, fill=fill, pattern=pattern, data_bytes=data)


def _random_blocks(path: Path, *, size: int, fill: float, rng: random.Random) -> int:
    blocks = size // MIB
    count = max(1, round(blocks * fill))
    with open(path, "wb") as f:
        f.truncate(size)
        for block in sorted(rng.sample(range(blocks), count)):
            f.seek(block * MIB)
            f.write(rng.randbytes(MIB))
    return count * MIB


def _scattered_pages(path: Path, *, size: int, fill: float, rng: random.Random) -> int:
    pages = size // PAGE
    data = max(1, round(pages * fill))
    slots = max(1, min(pages, -(-data // 8)))  # runs of 8 pages (32 KiB) on average
    slot = pages // slots
    # Run lengths: random around the mean, then nudged pairwise so they sum to ``data``
    # exactly and each fits its slot (a run is never empty).
    mean = data / slots
    top = max(1, min(slot, 16, int(2 * mean)))
    lengths = [max(1, min(top, round(rng.uniform(1, top)))) for _ in range(slots)]
    diff = data - sum(lengths)
    order = list(range(slots))
    while diff:
        rng.shuffle(order)
        moved = False
        for i in order:
            if diff > 0 and lengths[i] < slot:
                step = min(diff, slot - lengths[i])
            elif diff < 0 and lengths[i] > 1:
                step = max(diff, 1 - lengths[i])
            else:
                continue
            lengths[i] += step
            diff -= step
            moved = True
            if not diff:
                break
        if not moved:
            raise InputError(f"cannot place {data} data pages in {pages} pages")  # fill > 100 %: refused above
    with open(path, "wb") as f:
        f.truncate(size)
        for i, length in enumerate(lengths):
            start = i * slot + rng.randrange(0, slot - length + 1)
            f.seek(start * PAGE)
            f.write(rng.randbytes(length * PAGE))
    return data * PAGE


def _filesystem(path: Path, *, size: int, fill: float, rng: random.Random) -> int:
    mkfs = shutil.which("mkfs.ext4") or next(
        (p for p in ("/sbin/mkfs.ext4", "/usr/sbin/mkfs.ext4") if os.access(p, os.X_OK)), None
    )
    if mkfs is None:
        raise InputError(
            "the filesystem pattern needs mkfs.ext4, which is not installed (Debian/Ubuntu: apt-get install "
            "e2fsprogs); or pick the random-blocks or scattered-pages pattern"
        )
    tree = path.with_name(path.name + ".tree")
    shutil.rmtree(tree, ignore_errors=True)
    budget = int(size * fill * 0.9)  # room for the file system's own blocks
    try:
        spent, index = 0, 0
        while spent < budget:
            # Mostly small files, some large: a log-uniform size between 1 KiB and 8 MiB.
            n = min(budget - spent, int(2 ** rng.uniform(10, 23)))
            folder = tree / f"d{index // 200:04d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"f{index:06d}.bin").write_bytes(rng.randbytes(n))
            spent += n
            index += 1
        with open(path, "wb") as f:
            f.truncate(size)
        env = dict(os.environ, E2FSPROGS_FAKE_TIME="1735689600")
        try:
            subprocess.run([mkfs, "-q", "-F", "-b", "4096", "-E", "lazy_itable_init=1,nodiscard", "-d", str(tree),
                            str(path)], check=True, env=env, capture_output=True, timeout=600)
        except subprocess.CalledProcessError as exc:
            first = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[:1]
            raise InputError(f"mkfs.ext4 failed: {first[0] if first else exc}; try a larger size or a smaller fill") from None
        # mkfs writes zero blocks (inode tables, journal): make them holes again, as a real
        # disk's unused blocks would be skipped anyway.
        if shutil.which("fallocate"):
            subprocess.run(["fallocate", "--dig-holes", str(path)], check=False, capture_output=True)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    return count_data_bytes(path, stop=size)


def count_data_bytes(path: str | os.PathLike[str], *, stop: int) -> int:
    """Bytes in 4 KiB pages of ``path`` below ``stop`` that are not all zeros; only the regions
    SEEK_DATA reports are read."""
    total = 0
    counted_until = 0  # pages below this are counted (two regions may share a page)
    with open(path, "rb") as f:
        fd = f.fileno()
        for start, end in _data_regions(fd, stop):
            offset = max(start - start % PAGE, counted_until)
            counted_until = min(-(-end // PAGE) * PAGE, stop)
            while offset < counted_until:
                n = min(planning.CHUNK - offset % planning.CHUNK, counted_until - offset)
                data = os.pread(fd, n, offset)
                total += planning.total(planning.nonzero_runs(data, base=offset))
                offset += n
    return total


def _data_regions(fd: int, stop: int) -> list[tuple[int, int]]:
    regions: list[tuple[int, int]] = []
    offset = 0
    while offset < stop:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError:
            break
        end = min(os.lseek(fd, start, os.SEEK_HOLE), stop)
        if start >= stop:
            break
        if regions and start <= regions[-1][1]:  # page-rounding may overlap the last one
            regions[-1] = (regions[-1][0], max(end, regions[-1][1]))
        else:
            regions.append((start, end))
        offset = end
    return regions
