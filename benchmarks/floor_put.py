#!/usr/bin/env python3
"""The floor: a bare parallel Put Page of exactly the pages vhdupload sends, nothing else.

    .venv/bin/python benchmarks/floor_put.py IMAGE CONNECTION_STRING CONTAINER BLOB --threads N --max-gap G

It computes the requests first (the image's nonzero 4 KiB pages, gaps shorter than ``G`` merged
inside each 4 MiB chunk: what vhdupload sends), then times only: create the page blob, and send
the requests on ``N`` threads with vhdupload's own framed Put Page (one kept-alive connection per
thread) -- no CRC64, no state, no lease, no retries. Prints one JSON object: ``seconds`` (the
timed part), ``plan_seconds`` (reading and scanning, not timed), ``requests``, ``bytes``.

The benchmark reports a run's wall time minus ``plan_seconds``: interpreter start and imports
stay in, as they do for every tool.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from azure.storage.blob import BlobClient  # noqa: E402

from vhdupload.azure.credentials import client_options  # noqa: E402
from vhdupload.azure.direct_put import DirectPageWriter  # noqa: E402
from vhdupload.bench.floor import data_runs, requests_for  # noqa: E402
from vhdupload.blob_image import blob_image  # noqa: E402
from vhdupload.endpoints import open_source  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("connection_string")
    parser.add_argument("container")
    parser.add_argument("blob")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--max-gap", type=int, required=True)
    args = parser.parse_args(argv)

    plan_start = time.perf_counter()
    disk = open_source(args.image)
    image = blob_image(disk)
    requests = requests_for(data_runs(image), max_gap=args.max_gap)
    plan_seconds = time.perf_counter() - plan_start

    start = time.perf_counter()
    client = BlobClient.from_connection_string(args.connection_string, args.container, args.blob,
                                               **client_options(threads=args.threads))
    client.create_page_blob(image.size)
    writer = DirectPageWriter.for_client(client)
    if writer is None:
        print("the direct Put Page path is not available here", file=sys.stderr)
        return 1
    footer = (image.data_size, image.size)
    todo = iter(requests)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        while not errors:
            with lock:
                item = next(todo, None)
            if item is None:
                return
            lo, hi = item
            data = image.footer if (lo, hi) == footer else image.read(lo, hi - lo)
            try:
                writer.put_page(data, offset=lo, crc64_bytes=None, lease_id=None)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    disk.close()
    if errors:
        print(f"error: {errors[0]}", file=sys.stderr)
        return 1
    print(json.dumps({"seconds": seconds, "plan_seconds": plan_seconds, "requests": len(requests),
                      "bytes": sum(hi - lo for lo, hi in requests)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
