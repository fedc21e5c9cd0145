"""How long enumerating the extents of a 1 TiB sparse fixed VHD with 64 MiB of data takes.

The file is written sparse (truncate, 64 writes of 1 MiB spread over the disk, the footer),
so it costs 64 MiB of disk space. ``extents()`` finds the data with SEEK_DATA/SEEK_HOLE and
never reads the holes; it should take well under a second.

    .venv/bin/python benchmarks/bench_extents.py [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from vhdupload import open_disk
from vhdupload.azure_rules import MIB
from vhdupload.vhd import make_fixed_footer

TIB = 1024 * 1024 * MIB
PIECES = 64


def build(path: str) -> None:
    size = TIB
    footer = make_fixed_footer(virtual_size=size)
    chunk = os.urandom(MIB)
    with open(path, "wb") as f:
        f.truncate(size)
        for i in range(PIECES):
            f.seek(i * (size // PIECES) + 12345 * 512)
            f.write(chunk)
        f.seek(size)
        f.write(footer.to_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="where to put the sparse file (default: the temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        path = os.path.join(folder, "1tib.vhd")
        build(path)
        with open_disk(path) as disk:
            start = time.perf_counter()
            extents = list(disk.extents())
            elapsed = time.perf_counter() - start
        data = sum(b - a for a, b in extents)
        print(f"1 TiB fixed VHD, {data / MIB:.0f} MiB of data in {len(extents)} extents: "
              f"extents() took {elapsed * 1000:.2f} ms")


if __name__ == "__main__":
    main()
