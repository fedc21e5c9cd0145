#!/usr/bin/env python3
"""Free space is not data: a used-then-cleaned disk uploaded with and without ``--skip-free``.

    .venv/bin/python benchmarks/bench_free_space.py [--repeat 3]

The image (``free_space_image.py``, cached in ``benchmarks/work/``): a 2 GiB fixed VHD, GPT, an
EFI System Partition (FAT32) and an ext4 root, where a package cache, rotated logs, a build tree
and an old kernel were written and then deleted with the file systems' own tools. Per repeat:

1. ``vhdupload inspect --json``: the deleted data found (the sum of
   ``guest.volumes[].free_bytes_with_data``);
2. ``vhdupload upload --json`` and ``vhdupload upload --json --skip-free``, each into a fresh
   in-memory Azurite behind the counting proxy of ``bench_upload.py``: wall time, bytes on the
   wire (headers included), requests and data as vhdupload reports them;
3. on the first repeat only, the checks: the plain blob's footer and random windows equal the file
   (``bench_upload.verify_upload``); the ``--skip-free`` blob passes ``vhdupload verify
   --skip-free`` (used blocks byte for byte, free ones zero), and read back from its page ranges
   each volume passes its own checker (``e2fsck -fn``, ``fsck.fat -n``) and every kept file has
   the digest it was written with.

``free_space_section(repeat=N, log=...)`` returns the Markdown section (medians of N); ``main``
prints it. Exit status 1 when an upload or a check failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(BENCH_DIR))

import bench_upload as bu  # noqa: E402
from free_space_image import ESP, ROOT, FreeSpaceImage, get_free_space_image, tool  # noqa: E402
from images import WORK_DIR, Image  # noqa: E402
from tests.support.azurite import DEV_ACCOUNT, start_azurite  # noqa: E402

CONTAINER = bu.CONTAINER
TIMEOUT = 600.0


class CheckFailed(Exception):
    """An upload or a check of its blob failed: the section says which, the exit status is 1."""


def vhdupload_env(vhdupload_path: str | None) -> dict[str, str]:
    """The environment of every vhdupload subprocess: the installed vhdupload (they run in
    benchmarks/work/, so no source tree is on their path) or the tree at ``vhdupload_path``, as
    suite.py's ``--vhdupload-path`` does; no connection string from the caller's environment."""
    env = {k: v for k, v in os.environ.items() if k != "AZURE_STORAGE_CONNECTION_STRING"}
    if vhdupload_path:
        env["PYTHONPATH"] = str(Path(vhdupload_path).resolve())
    return env


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", bu.VHDUPLOAD_CLI, *args], capture_output=True, text=True,
                          cwd=WORK_DIR, env=env, timeout=TIMEOUT)


def inspect_deleted(image: FreeSpaceImage, *, env: dict[str, str]) -> dict:
    """``inspect --json``: the deleted data per volume and how long inspect took."""
    start = time.perf_counter()
    done = _cli("inspect", str(image.path), "--json", env=env)
    took = time.perf_counter() - start
    if done.returncode not in (0, 3):
        raise CheckFailed(f"inspect exit {done.returncode}: {done.stderr.strip()[-300:]}")
    volumes = json.loads(done.stdout)["guest"]["volumes"]
    per_volume = {f"{v['where']} ({v['content']})": v.get("free_bytes_with_data") or 0 for v in volumes}
    return {"seconds": took, "volumes": per_volume, "deleted": sum(per_volume.values())}


# --------------------------------------------------------------------------- one upload


def upload_once(image: FreeSpaceImage, *, skip_free: bool, blob: str, check: bool, env: dict[str, str]) -> dict:
    """One upload into a fresh Azurite behind the counting proxy; checked when ``check``."""
    server = start_azurite()
    proxy = None
    tmp = Path(tempfile.mkdtemp(prefix="bench-free-", dir=WORK_DIR))
    try:
        from azure.storage.blob import BlobServiceClient

        BlobServiceClient.from_connection_string(server.connection_string).create_container(CONTAINER)
        proxy = bu.CountingProxy(server.port)
        conn = bu.connection_string(f"http://127.0.0.1:{proxy.port}/{DEV_ACCOUNT}")
        argv = [sys.executable, "-c", bu.VHDUPLOAD_CLI, "upload", str(image.path), f"{CONTAINER}/{blob}",
                "--connection-string", conn, "--json", "--no-progress", *(["--skip-free"] if skip_free else [])]
        code, wall, usage, out, err = bu.run_measured(argv, env=env, timeout=TIMEOUT, cwd=tmp)
        time.sleep(0.2)  # let the proxy threads account the last bytes
        if code != 0:
            raise CheckFailed(f"upload{' --skip-free' if skip_free else ''} exit {code}: {err.strip()[-300:]}")
        reported = json.loads(out)
        run = {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "wire": proxy.sent,
               "requests": reported["requests"], "data_bytes": reported["data_bytes"],
               "payload": reported["bytes_sent"], "free_skipped": reported.get("free_bytes_skipped"),
               "verified": ""}
        if check:
            run["verified"] = (check_skip_free(image, server.connection_string, blob, tmp, env=env) if skip_free
                               else check_plain(image, server.account_url, blob))
        return run
    finally:
        if proxy is not None:
            proxy.close()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def check_plain(image: FreeSpaceImage, account_url: str, blob: str) -> str:
    as_image = Image(name="free", path=image.path, file_size=image.file_size, virtual_size=image.virtual_size,
                     data_pages=image.data_pages, allocated=image.data_pages, description="")
    try:
        return bu.verify_upload(as_image, account_url, blob, random.Random(21))
    except AssertionError as exc:
        raise CheckFailed(f"plain upload: {exc}") from exc


def check_skip_free(image: FreeSpaceImage, conn: str, blob: str, tmp: Path, *, env: dict[str, str]) -> str:
    """``verify --skip-free``, then each volume read back from the blob: its checker and its kept files."""
    start = time.perf_counter()
    done = _cli("verify", str(image.path), f"{CONTAINER}/{blob}", "--skip-free", "--json", "--connection-string", conn,
                env=env)
    if done.returncode != 0 or not json.loads(done.stdout or "{}").get("identical"):
        raise CheckFailed(f"verify --skip-free exit {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}")
    verify_seconds = time.perf_counter() - start
    esp, root = tmp / "esp.img", tmp / "root.img"
    read_back_volumes(conn, blob, {esp: ESP, root: ROOT})
    for command in ([tool("e2fsck"), "-fn", str(root)], [tool("fsck.fat"), "-n", str(esp)]):
        checked = subprocess.run(command, capture_output=True, text=True)
        if checked.returncode != 0:
            raise CheckFailed(f"{Path(command[0]).name} on the --skip-free blob: {checked.stdout.strip()[-300:]}")
    (tmp / "root-files").mkdir()
    subprocess.run([tool("debugfs"), "-R", f"rdump / {tmp / 'root-files'}", str(root)], check=True, capture_output=True)
    (tmp / "esp-files").mkdir()
    subprocess.run([tool("mcopy"), "-s", "-n", "-i", str(esp), "::/", str(tmp / "esp-files")], check=True,
                   capture_output=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
    count = 0
    for volume, base in (("esp", tmp / "esp-files"), ("root", tmp / "root-files")):
        for rel, digest in image.kept_files[volume].items():
            path = base / rel
            if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                raise CheckFailed(f"kept file {volume}:/{rel} differs after the --skip-free upload")
            count += 1
    return (f"verify --skip-free: used blocks identical, free ones zero ({verify_seconds:.1f} s); e2fsck -fn and fsck.fat -n clean; "
            f"{count:,} kept files intact")


def read_back_volumes(conn: str, blob: str, volumes: dict[Path, tuple[int, int]]) -> None:
    """Each volume (start, size on the disk) of the blob into a sparse file: only page ranges downloaded."""
    from azure.storage.blob import BlobClient

    client = BlobClient.from_connection_string(conn, CONTAINER, blob)
    files = {path: open(path, "wb") for path in volumes}
    try:
        for path, (_, size) in volumes.items():
            files[path].truncate(size)
        for page in client.list_page_ranges():
            lo, hi = page.start, page.end + 1
            for path, (start, size) in volumes.items():
                a, b = max(lo, start), min(hi, start + size)
                if a < b:
                    files[path].seek(a - start)
                    files[path].write(client.download_blob(offset=a, length=b - a).readall())
    finally:
        for f in files.values():
            f.close()


# --------------------------------------------------------------------------- the section


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _gb(n: float) -> str:
    return f"{n / 1e9:.3f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def free_space_section(*, repeat: int = 1, log: Callable[[str], None] = bu.log,
                       vhdupload_path: str | None = None) -> str:
    """Measure the free-space image (``repeat`` times, medians shown) and return a Markdown section.

    A failed upload or check does not raise: the section says "FAILED: why" (see
    :func:`free_space_run` for the verdict as a value).
    """
    return free_space_run(repeat=repeat, log=log, vhdupload_path=vhdupload_path)[0]


def free_space_run(*, repeat: int = 1, log: Callable[[str], None] = bu.log,
                   vhdupload_path: str | None = None) -> tuple[str, bool]:
    """The section and whether every upload and check succeeded; ``vhdupload_path``: run
    vhdupload from this source tree instead of the installed one."""
    env = vhdupload_env(vhdupload_path)
    image = get_free_space_image(log=log)
    bu.warm(Image(name="free", path=image.path, file_size=image.file_size, virtual_size=image.virtual_size,
                  data_pages=image.data_pages, allocated=image.data_pages, description=""))
    inspected: list[dict] = []
    runs: dict[str, list[dict]] = {"plain": [], "skip-free": []}
    failure = ""
    try:
        for n in range(repeat):
            log(f"free space: inspect, run {n + 1}")
            inspected.append(inspect_deleted(image, env=env))
            for mode in ("plain", "skip-free"):
                log(f"free space: upload{' --skip-free' if mode == 'skip-free' else ''}, run {n + 1}")
                run = upload_once(image, skip_free=mode == "skip-free", blob=f"free-{mode}-{n}.vhd", check=n == 0,
                                  env=env)
                log(f"    {run['wall']:.2f} s, {run['wire']:,} bytes sent{'; ' + run['verified'] if run['verified'] else ''}")
                runs[mode].append(run)
    except Exception as exc:  # noqa: BLE001 - a failed measurement is reported (as bench_upload.measure does)
        failure = " ".join(f"{type(exc).__name__}: {exc}".split())[:400].replace("|", "/")  # one Markdown line
        log(f"    FAILED: {failure}")
    return render(image, inspected, runs, repeat=repeat, failure=failure), not failure


def render(image: FreeSpaceImage, inspected: list[dict], runs: dict[str, list[dict]], *, repeat: int,
           failure: str) -> str:
    lines = [
        "### Free space: a used-then-cleaned disk, with and without `--skip-free`",
        "",
        "The image (`benchmarks/free_space_image.py`): a 2 GiB fixed VHD, GPT, an EFI System Partition "
        "(FAT32: boot loaders and a kernel kept, the previous kernel and initrd deleted with `mdel`) and an ext4 "
        "root (a system, its configuration and logs kept; a package cache, rotated logs, a build tree and /tmp "
        "deleted with `debugfs rm`, then packages installed over part of the freed blocks). Each upload runs into "
        "a fresh in-memory Azurite behind the counting proxy; bytes sent are counted on the wire (headers "
        f"included). Medians of {repeat} run(s); the checks run on the first.",
        "",
    ]
    if failure:
        lines += [f"FAILED: {failure}", ""]
    plain, skip = runs["plain"], runs["skip-free"]
    if not (inspected and plain and skip):
        return "\n".join(lines)
    deleted = statistics.median(i["deleted"] for i in inspected)
    per_volume = "; ".join(f"{where} {_gb(found)}" for where, found in inspected[0]["volumes"].items())
    in_use = _median(skip, "data_bytes")
    sent_plain, sent_skip = _median(plain, "wire"), _median(skip, "wire")
    wall_plain, wall_skip = _median(plain, "wall"), _median(skip, "wall")
    lines += [
        "| image | virtual size | data pages of the file | data in use | deleted data found by `inspect` "
        "| bytes sent, plain | bytes sent, `--skip-free` | plain ÷ `--skip-free` (bytes) | wall s, plain | wall s, `--skip-free` "
        "| plain ÷ `--skip-free` (time) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        f"| free-space | {image.virtual_size / 2**30:.0f} GiB | {_gb(image.data_pages)} | {_gb(in_use)} "
        f"| {_gb(deleted)} | {_gb(sent_plain)} | {_gb(sent_skip)} | "
        f"{sent_plain / sent_skip:.2f} | {wall_plain:.2f} | {wall_skip:.2f} | {wall_plain / wall_skip:.2f} |",
        "",
        "| upload | wall s (spread) | bytes sent | requests | data pages read and sent | free space left home | CPU s | checks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, mine in (("plain", plain), ("`--skip-free`", skip)):
        walls = [r["wall"] for r in mine]
        free = mine[0]["free_skipped"]
        lines.append(f"| {label} | {statistics.median(walls):.2f} ({min(walls):.2f}-{max(walls):.2f}) | "
                     f"{_gb(_median(mine, 'wire'))} | {_median(mine, 'requests'):,.0f} | {_gb(_median(mine, 'data_bytes'))} | "
                     f"{'—' if free is None else _gb(free)} | {_median(mine, 'cpu'):.2f} | {mine[0]['verified'] or '—'} |")
    lines += [
        "",
        f"- `inspect` found {_gb(deleted)} of deleted data ({per_volume}) in "
        f"{statistics.median(i['seconds'] for i in inspected):.2f} s; the builder deleted {_gb(image.deleted_bytes)} "
        "of files, less what the packages installed after the clean wrote over, and less the partial blocks.",
        f"- \"data in use\": the nonzero pages of the used blocks, as the `--skip-free` upload counted them "
        f"(the kept files alone: {_gb(image.kept_bytes)}; file system metadata makes the rest). "
        f"The plain upload sent {_gb(sent_plain - sent_skip)} more: the deleted data.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each upload (medians shown)")
    parser.add_argument("--vhdupload-path", default=None,
                        help="run vhdupload from this source tree (PYTHONPATH) instead of the installed one")
    parser.add_argument("--results", default=None, metavar="PATH",
                        help="also add the section, under a dated heading, on top of this file (benchmarks/RESULTS.md)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    bu.unwind_on_signals()
    started = dt.datetime.now(dt.timezone.utc)
    load = os.getloadavg()[0]
    section, ok = free_space_run(repeat=args.repeat, log=bu.log, vhdupload_path=args.vhdupload_path)
    print(section)
    if args.results:
        from suite import write_results

        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=REPO_ROOT).stdout.strip() or "?"
        command = " ".join([".venv/bin/python", "benchmarks/bench_free_space.py", *(argv if argv is not None else sys.argv[1:])])
        write_results(Path(args.results), "\n".join([
            f"## {started:%Y-%m-%d %H:%M} UTC, `{command}`", "",
            f"- Machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; load average "
            f"before: {load:.1f}; vhdupload: commit {commit}" + (f", run from `{args.vhdupload_path}`" if args.vhdupload_path else "")
            + ".", "", section]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
