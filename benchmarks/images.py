"""Deterministic benchmark images: fixed VHDs written sparse, cached in ``benchmarks/work/``.

Each image is raw disk data followed by a 512-byte fixed VHD footer. Zero data is never
written: the file is extended with ``truncate`` and only the nonzero pieces are written, so
the holes are real holes of a sparse file (what SEEK_DATA/SEEK_HOLE report).

Images (see benchmarks/README.md):

* ``a``     2 GiB, 25 % of its 1 MiB blocks random (512 of 2,048 blocks, chosen by the seed);
* ``b``     1 GiB, 2,400 runs of 4-64 KiB of random data, one per equal slot of the disk, at
            512-byte aligned offsets (about 90 MB of data pages);
* ``c``     a 3 GiB ext4 file system made by ``mkfs.ext4 -d`` from a copy of about 0.7 GB of
            real files on this machine (``/usr/lib/python3*`` then ``/usr/share``, walked in
            sorted order until the byte budget is spent), holes dug where it wrote zeros;
* ``giant`` 256 GiB holding 64 MiB of data: 64 random 1 MiB blocks at seeded positions.

A generated image is cached under a name keyed by its parameters (and, for ``c``, by a
digest of the list of files it was made from), together with a ``.json`` sidecar that
holds its "data pages" figure: the number of bytes in 4 KiB pages (counted over the whole
file, footer included; the last page is the 512-byte footer) that are not all zeros. Only
the data regions reported by SEEK_DATA are read to compute it.

Run ``.venv/bin/python benchmarks/images.py a b c giant`` to generate and print them.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import uuid as uuid_module
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
PAGE = 4096
FOOTER_SIZE = 512

WORK_DIR = Path(__file__).resolve().parent / "work"

# 2000-01-01T00:00:00Z, the VHD epoch, as a Unix time.
VHD_EPOCH = 946684800
# A fixed instant used for every timestamp we write (footer, file system), so that the
# images do not depend on when they were made.
FIXED_UNIX_TIME = 1735689600  # 2025-01-01T00:00:00Z


# --------------------------------------------------------------------------- footer


def chs_geometry(total_sectors: int) -> tuple[int, int, int]:
    """Cylinders, heads, sectors per track by the algorithm of the VHD specification."""
    total_sectors = min(total_sectors, 65535 * 16 * 255)
    if total_sectors >= 65535 * 16 * 63:
        sectors_per_track, heads = 255, 16
        cylinder_times_heads = total_sectors // sectors_per_track
    else:
        sectors_per_track = 17
        cylinder_times_heads = total_sectors // sectors_per_track
        heads = max((cylinder_times_heads + 1023) // 1024, 4)
        if cylinder_times_heads >= heads * 1024 or heads > 16:
            sectors_per_track, heads = 31, 16
            cylinder_times_heads = total_sectors // sectors_per_track
        if cylinder_times_heads >= heads * 1024:
            sectors_per_track, heads = 63, 16
            cylinder_times_heads = total_sectors // sectors_per_track
    return cylinder_times_heads // heads, heads, sectors_per_track


def fixed_footer(virtual_size: int, *, disk_uuid: uuid_module.UUID) -> bytes:
    """A 512-byte fixed VHD footer (big-endian fields, one's-complement byte-sum checksum).

    The creator is Hyper-V's (``win ``), which qemu-img 7.2 reads at its current size.
    """
    cylinders, heads, sectors = chs_geometry(virtual_size // 512)
    footer = bytearray(FOOTER_SIZE)
    footer[0:8] = b"conectix"
    struct.pack_into(">I", footer, 8, 2)  # features: reserved bit set
    struct.pack_into(">I", footer, 12, 0x00010000)  # file format version
    struct.pack_into(">Q", footer, 16, 0xFFFFFFFFFFFFFFFF)  # data offset: none for fixed
    struct.pack_into(">I", footer, 24, FIXED_UNIX_TIME - VHD_EPOCH)
    footer[28:32] = b"win "
    struct.pack_into(">I", footer, 32, 0x000A0000)
    footer[36:40] = b"Wi2k"
    struct.pack_into(">Q", footer, 40, virtual_size)  # original size
    struct.pack_into(">Q", footer, 48, virtual_size)  # current size
    struct.pack_into(">HBB", footer, 56, cylinders, heads, sectors)
    struct.pack_into(">I", footer, 60, 2)  # disk type: fixed
    footer[68:84] = disk_uuid.bytes
    checksum = (~sum(footer)) & 0xFFFFFFFF
    struct.pack_into(">I", footer, 64, checksum)
    return bytes(footer)


# --------------------------------------------------------------------------- data pages


def data_regions(path: Path) -> list[tuple[int, int]]:
    """Half-open ranges that SEEK_DATA/SEEK_HOLE report as data (the whole file without them)."""
    size = path.stat().st_size
    regions: list[tuple[int, int]] = []
    with open(path, "rb") as f:
        fd = f.fileno()
        if not hasattr(os, "SEEK_DATA"):
            return [(0, size)] if size else []
        offset = 0
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after offset
                break
            stop = os.lseek(fd, start, os.SEEK_HOLE)
            regions.append((start, min(stop, size)))
            offset = stop
    return regions


def data_pages_bytes(path: Path) -> int:
    """Bytes in 4 KiB pages of ``path`` that hold at least one nonzero byte.

    Pages are counted from offset 0; the last page may be shorter (the 512-byte footer of a
    whole-MiB fixed VHD is a page of its own). Only regions that SEEK_DATA reports are read.
    """
    size = path.stat().st_size
    zero_page = bytes(PAGE)
    counted_until = 0  # pages below this offset are already counted
    total = 0
    chunk = 8 * MIB
    with open(path, "rb") as f:
        for start, stop in data_regions(path):
            first = max(start - start % PAGE, counted_until)
            offset = first
            while offset < stop:
                n = min(chunk, -(-stop // PAGE) * PAGE - offset)
                f.seek(offset)
                data = f.read(n)
                view = memoryview(data)
                for i in range(0, len(data), PAGE):
                    page = view[i : i + PAGE]
                    if page != zero_page[: len(page)]:
                        total += len(page)
                offset += len(data)
                if len(data) < n:
                    break
            counted_until = max(counted_until, -(-stop // PAGE) * PAGE)
    return min(total, size)


# --------------------------------------------------------------------------- images


@dataclass(frozen=True)
class Image:
    name: str
    path: Path
    file_size: int
    virtual_size: int
    data_pages: int
    allocated: int
    description: str

    def to_json(self) -> dict:
        record = asdict(self)
        record["path"] = str(self.path)
        return record


def _rng_bytes(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n)


def _write_sparse(path: Path, virtual_size: int, pieces, *, seed: int) -> None:
    """Create ``path``: a hole of ``virtual_size`` bytes with ``pieces`` written, plus footer."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.truncate(virtual_size + FOOTER_SIZE)
        for offset, data in pieces:
            f.seek(offset)
            f.write(data)
        f.seek(virtual_size)
        f.write(fixed_footer(virtual_size, disk_uuid=uuid_module.UUID(int=random.Random(seed).getrandbits(128), version=4)))
    os.replace(tmp, path)


def _gen_blocks(path: Path, *, virtual_size: int, block: int, count: int, seed: int) -> None:
    """``count`` random blocks of ``block`` bytes at seeded distinct block positions."""
    rng = random.Random(seed)
    positions = sorted(rng.sample(range(virtual_size // block), count))
    _write_sparse(path, virtual_size, ((p * block, _rng_bytes(rng, block)) for p in positions), seed=seed)


def _gen_runs(path: Path, *, virtual_size: int, runs: int, min_len: int, max_len: int, seed: int) -> None:
    """One run of random data per equal slot of the disk, 512-aligned start and length."""
    rng = random.Random(seed)
    slot = virtual_size // runs // 512 * 512

    def pieces():
        for i in range(runs):
            length = rng.randrange(min_len // 512, max_len // 512 + 1) * 512
            start = i * slot + rng.randrange(0, (slot - length) // 512) * 512
            yield start, _rng_bytes(rng, length)

    _write_sparse(path, virtual_size, pieces(), seed=seed)


EXT4_SOURCES = ("/usr/lib/python3", "/usr/lib/python3.11", "/usr/lib/python3.12", "/usr/lib/python3.13", "/usr/share")


def _tree_manifest(sources: tuple[str, ...], budget: int) -> list[tuple[str, str, int]]:
    """Files to copy, in a deterministic order: (source path, relative path, size or -1 for a link).

    Each source is walked in sorted order; regular files are taken until ``budget`` bytes
    are spent. Symbolic links are kept as links. Unreadable files are skipped.
    """
    chosen: list[tuple[str, str, int]] = []
    spent = 0
    for source in sources:
        root = Path(source)
        if not root.is_dir() or root.is_symlink():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                rel = os.path.join(root.name, os.path.relpath(full, root))
                try:
                    st = os.lstat(full)
                except OSError:
                    continue
                if os.path.islink(full):
                    chosen.append((full, rel, -1))
                elif os.path.isfile(full) and os.access(full, os.R_OK):
                    if spent + st.st_size > budget:
                        return chosen
                    chosen.append((full, rel, st.st_size))
                    spent += st.st_size
    return chosen


def _manifest_digest(manifest: list[tuple[str, str, int]]) -> str:
    h = hashlib.sha256()
    for source, rel, size in manifest:
        h.update(f"{rel}\0{size}\n".encode())
    return h.hexdigest()[:12]


def _gen_ext4(path: Path, *, virtual_size: int, manifest: list[tuple[str, str, int]], seed: int) -> None:
    staging = path.with_name(path.name + ".tree")
    shutil.rmtree(staging, ignore_errors=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        for source, rel, size in manifest:
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if size < 0:
                os.symlink(os.readlink(source), target)
            else:
                shutil.copyfile(source, target)
                os.chmod(target, 0o644)
                os.utime(target, (FIXED_UNIX_TIME, FIXED_UNIX_TIME))
        for dirpath, dirnames, _ in os.walk(staging):
            os.utime(dirpath, (FIXED_UNIX_TIME, FIXED_UNIX_TIME))
        fs_uuid = str(uuid_module.UUID(int=random.Random(seed).getrandbits(128), version=4))
        with open(tmp, "wb") as f:
            f.truncate(virtual_size)
        env = dict(os.environ, E2FSPROGS_FAKE_TIME=str(FIXED_UNIX_TIME), MKE2FS_CONFIG="/etc/mke2fs.conf")
        subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "benchc", "-U", fs_uuid,
             "-E", f"hash_seed={fs_uuid},root_owner=0:0,lazy_itable_init=1,nodiscard",
             "-d", str(staging), str(tmp)],
            check=True, env=env,
        )
        # mkfs may have written zero blocks (inode tables, journal): make them holes again.
        subprocess.run(["fallocate", "--dig-holes", str(tmp)], check=True)
        with open(tmp, "r+b") as f:
            f.seek(virtual_size)
            f.write(fixed_footer(virtual_size, disk_uuid=uuid_module.UUID(int=random.Random(seed + 1).getrandbits(128), version=4)))
        os.replace(tmp, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if tmp.exists():
            tmp.unlink()


@dataclass(frozen=True)
class Spec:
    name: str
    make_key: Callable[[], str]  # parameters, as they go into the cache file name
    description: str
    virtual_size: int
    generate: Callable[[Path], None]


def specs() -> dict[str, Spec]:
    """The image specifications; ``c``'s key looks at the machine's files, so it is computed on demand."""
    a = dict(virtual_size=2 * GIB, block=MIB, count=512, seed=1)
    b = dict(virtual_size=1 * GIB, runs=2400, min_len=4 * KIB, max_len=64 * KIB, seed=2)
    g = dict(virtual_size=256 * GIB, block=MIB, count=64, seed=4)
    c_size, c_budget, c_seed = 3 * GIB, 700 * 1000 * 1000, 3

    def c_generate(path: Path) -> None:
        _gen_ext4(path, virtual_size=c_size, manifest=_tree_manifest(EXT4_SOURCES, c_budget), seed=c_seed)

    def c_key() -> str:
        # The manifest (which files, how big) keys the cache: a changed machine makes a new image.
        return f"3g-ext4-{c_budget // 1000000}mb-s{c_seed}-{_manifest_digest(_tree_manifest(EXT4_SOURCES, c_budget))}"
    return {
        "a": Spec("a", lambda: "2g-25pct-1m-s1", "2 GiB, 25 % of its 1 MiB blocks random (512 blocks)",
                  a["virtual_size"], lambda p: _gen_blocks(p, **a)),
        "b": Spec("b", lambda: "1g-2400runs-4k64k-s2", "1 GiB, 2,400 runs of 4-64 KiB random data scattered",
                  b["virtual_size"], lambda p: _gen_runs(p, **b)),
        "c": Spec("c", c_key, "3 GiB ext4 made by mkfs.ext4 -d from ~0.7 GB of /usr/lib/python3*, /usr/share",
                  c_size, c_generate),
        "giant": Spec("giant", lambda: "256g-64x1m-s4", "256 GiB sparse, 64 MiB of data (64 random 1 MiB blocks)",
                      g["virtual_size"], lambda p: _gen_blocks(p, **g)),
    }


def get_image(name: str, *, work_dir: Path = WORK_DIR, log: Callable[[str], None] = lambda s: None) -> Image:
    """Return the cached image ``name``, generating it (and its data-pages figure) if needed."""
    spec = specs()[name]
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / f"image-{spec.name}-{spec.make_key()}.vhd"
    sidecar = path.with_suffix(".json")
    if path.exists() and sidecar.exists():
        record = json.loads(sidecar.read_text())
        if record.get("file_size") == path.stat().st_size:
            return Image(**{**record, "path": path})
    log(f"generating image {name} ({spec.description}) -> {path}")
    spec.generate(path)
    allocated = sum(stop - start for start, stop in data_regions(path))
    log(f"counting data pages of {path.name}")
    image = Image(
        name=name,
        path=path,
        file_size=path.stat().st_size,
        virtual_size=spec.virtual_size,
        data_pages=data_pages_bytes(path),
        allocated=allocated,
        description=spec.description,
    )
    sidecar.write_text(json.dumps(image.to_json(), indent=2) + "\n")
    return image


def main(argv: list[str]) -> int:
    names = argv or ["a", "b", "c", "giant"]
    for name in names:
        image = get_image(name, log=lambda s: print(s, file=sys.stderr))
        print(f"{image.name:6} {image.path.name:48} file {image.file_size:>15,}  data pages {image.data_pages:>13,}"
              f"  allocated {image.allocated:>13,}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
