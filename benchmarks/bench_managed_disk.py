"""A managed-disk upload next to a page-blob upload of the same image, in one run.

The managed disk is the ARM double of the test suite (tests/support/arm_double.py) in front of
the same local Azurite, behind its restricting proxy (only Put Page, Get Page Ranges, Get Blob
and Get Blob Properties pass), through the real azure-mgmt-compute client. So the figure shows
what the managed-disk path costs on top of the page-blob path (ARM calls, grant, tags, revoke,
the proxy hop), not Azure's own disk ingest rate.

    .venv/bin/python benchmarks/bench_managed_disk.py --image a --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from images import get_image  # noqa: E402

from tests.support.registration import SUB, FakeCredential  # noqa: E402
from tests.support.arm_double import DEFAULT_RESOURCE_GROUP, start_arm_double  # noqa: E402
from tests.support.azurite import start_azurite  # noqa: E402
from vhdupload import ArmConnection, ManagedDisk, PageBlob, upload  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="a", help="benchmark image name (see benchmarks/images.py)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    image = get_image(args.image, log=lambda s: print(s, file=sys.stderr))
    rows: dict[str, list[tuple[float, int]]] = {"page blob": [], "managed disk": []}
    for _ in range(args.repeat):
        with start_azurite() as azurite:
            started = time.monotonic()
            blob = PageBlob.from_connection_string(azurite.connection_string, "bench", f"{uuid.uuid4().hex}.vhd")
            result = upload(image.path, blob)
            rows["page blob"].append((time.monotonic() - started, result.bytes_sent))
            double = start_arm_double(azurite_connection_string=azurite.connection_string, polls=1)
            double.ensure_proxy()
            try:
                arm = ArmConnection(SUB, credential=FakeCredential(), endpoint=double.url)
                spec = ManagedDisk(f"d{uuid.uuid4().hex[:8]}", resource_group=DEFAULT_RESOURCE_GROUP, arm=arm,
                                   location="westeurope")
                started = time.monotonic()
                disk = upload(image.path, spec)
                rows["managed disk"].append((time.monotonic() - started, disk.bytes_sent))
            finally:
                double.stop()
    print(f"image {args.image}: {image.path.name}, median of {args.repeat}")
    base = statistics.median(s for s, _ in rows["page blob"])
    for name, runs in rows.items():
        seconds = statistics.median(s for s, _ in runs)
        sent = runs[0][1]
        print(f"  {name:13s} {seconds:6.2f} s  {sent / 1e6:8.1f} MB sent  {sent / seconds / 1e6:6.1f} MB/s  {seconds / base:5.2f}x page blob")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
