#!/usr/bin/env python3
"""The benchmark suite: ``./run bench`` runs it with the project's venv and writes
``benchmarks/RESULTS.md`` (a new section on top) plus PNG plots next to it.

    ./run bench                    # the whole matrix, about 8-10 minutes on 2 cores
    ./run bench --quick            # images a and b, no AzCopy, shaped (b) only: about 2 minutes
    ./run bench --no-shaped --images a,c --repeat 3

What it measures (see benchmarks/README.md for one measurement's steps):

* micro-benchmarks: zero detection, CRC64 and MD5 in GB/s; extent enumeration of the 256 GiB disk;
* on loopback Azurite, per image (a, b, c, giant, dyn): vhdupload at its defaults and pinned to
  16 threads ("best" is the faster of the two), the floor (``floor_put.py``: bare parallel Put
  Page of the same pages, 8 threads, no checksums, state or lease), the SDK's ``upload_blob``
  and AzCopy; vhdupload ÷ floor beside every figure; "n/a because ..." where a tool cannot do a
  case usefully;
* through the shaping proxy (40 ms round trip, 20 MiB/s, 250 requests/s) on (a) and (b):
  vhdupload at its defaults, the computed shaped floor (best merge, max(bytes/B, requests/R)),
  a measured bare Put Page at that merge, and the SDK's ``upload_blob(max_concurrency=8)``;
* a VM's disks (``bench_disks.py``): ``publish`` of (a) as OS disk with two (b)s as data disks
  through per-blob limits (20 MiB/s, 250 requests/s) and a 40 MiB/s link, beside the set's floor,
  at the defaults and at the old split of 8 connections;
* free space (``bench_free_space.py``): a used-then-cleaned disk, its deleted data as ``inspect``
  finds it, and the bytes sent plain and with ``--skip-free``.

Each row is the median of ``--repeat`` runs (spread shown as min-max).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
sys.path.insert(0, str(BENCH_DIR))

import bench_upload as bu  # noqa: E402
from images import WORK_DIR, Image, data_pages_bytes, data_regions, get_image  # noqa: E402
from tests.support.shaping_proxy import ShapingProxy  # noqa: E402

MIB = 1024 * 1024
SHAPE = dict(rtt=0.040, byte_rate=20 * MIB, request_rate=250)
#: Image (a) in other formats, made by qemu-img: (name, qemu-img output format, its options, what it is).
CONVERTED = {
    "dyn": ("vpc", ["-o", "subformat=dynamic"], "(a) as a dynamic VHD made by qemu-img convert -O vpc -o subformat=dynamic"),
    "qcow2": ("qcow2", [], "(a) as a qcow2 made by qemu-img convert -O qcow2"),
    "qcow2z": ("qcow2", ["-c"], "(a) as a compressed qcow2 (deflate) made by qemu-img convert -c -O qcow2"),
    "vmdk": ("vmdk", ["-o", "subformat=streamOptimized"],
             "(a) as a streamOptimized VMDK (the format of an OVA) made by qemu-img convert -O vmdk"),
}
ALL_IMAGES = ("a", "b", "c", "giant", *CONVERTED)

# The managed-disk upload of (a) runs through benchmarks/bench_managed_disk.py (the ARM double
# and its restricting proxy beside a fresh Azurite), next to a page-blob upload of the same image.
NA = {
    ("giant", "sdk"): "n/a: upload_blob reads all 256 GiB (minutes of zeros)",
    ("giant", "azcopy"): "n/a: AzCopy reads all 256 GiB (121 s on 2026-11-26); bench_upload.py --giant-azcopy runs it",
    **{(name, tool): f"n/a: sends the {name} file as it is, which Azure refuses as a disk"
       for name in CONVERTED for tool in ("sdk", "azcopy")},
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- images


def converted_image(name: str) -> Image:
    """(a) converted by qemu-img into another format (cached next to the others)."""
    out_format, options, description = CONVERTED[name]
    a = get_image("a", log=log)
    suffix = {"vpc": ".vhd"}.get(out_format, f".{out_format}")
    path = WORK_DIR / f"image-{name}-from-a-qemu{suffix}"
    sidecar = path.with_suffix(".json")
    if not (path.exists() and sidecar.exists()):
        log(f"making {name} with qemu-img (from image a)")
        tmp = path.with_suffix(".tmp")
        subprocess.run(["qemu-img", "convert", "-f", "vpc", "-O", out_format, *options, str(a.path), str(tmp)], check=True)
        os.replace(tmp, path)
        sidecar.write_text(str(path.stat().st_size))
    raw = WORK_DIR / f"image-{name}-from-a-qemu.raw"  # what the blob must hold: qemu-img's reading of it
    if not raw.exists():
        subprocess.run(["qemu-img", "convert", "-f", out_format, "-O", "raw", str(path), str(raw)], check=True)
    bu.RAW_REFERENCES[name] = raw
    size = path.stat().st_size
    return Image(name=name, path=path, file_size=size, virtual_size=a.virtual_size, data_pages=a.data_pages,
                 allocated=size, description=description)


def load_image(name: str) -> Image:
    return converted_image(name) if name in CONVERTED else get_image(name, log=log)


def timed_read(path: Path) -> tuple[int, float]:
    """Every extent of the disk at ``path`` read through open_disk in 4 MiB pieces, as an
    upload's workers read it: (bytes read, CPU seconds)."""
    from vhdupload import open_disk

    with open_disk(str(path)) as disk:
        start = time.process_time()
        total = 0
        for lo, hi in disk.extents(0, disk.virtual_size):
            for offset in range(lo, hi, 4 * MIB):
                total += len(disk.read(offset, min(4 * MIB, hi - offset)))
        return total, time.process_time() - start


def compressed_read_rates() -> list[tuple[str, str]]:
    """Decompression on one core: 64 MiB of text-like data (image (a)'s random data does not
    compress, so qemu-img stores it raw and reading it measures no inflate), compressed by
    qemu-img into a zlib and a zstd qcow2 and a streamOptimized VMDK, read back through open_disk."""
    source = WORK_DIR / "text-64m.raw"
    if not source.exists():
        words = [f"{w}{i % 97}" for i, w in enumerate("the quick brown fox jumps over lazy dogs while disks upload".split() * 50)]
        rng = random.Random(3)
        with open(source, "wb") as f:
            while f.tell() < 64 * MIB:
                f.write((" ".join(rng.choice(words) for _ in range(4096)) + "\n").encode())
            f.truncate(64 * MIB)
    rows = []
    for name, args in (("qcow2, zlib", ["-c", "-O", "qcow2"]),
                       ("qcow2, zstd", ["-c", "-O", "qcow2", "-o", "compression_type=zstd"]),
                       ("VMDK streamOptimized", ["-O", "vmdk", "-o", "subformat=streamOptimized"])):
        target = WORK_DIR / f"text-64m-{name.split(',')[0].split()[0].lower()}-{len(args)}.img"
        if not target.exists():
            subprocess.run(["qemu-img", "convert", "-f", "raw", *args, str(source), str(target)], check=True)
        total, took = timed_read(target)
        ratio = source.stat().st_size / max(1, target.stat().st_size)
        rows.append((f"decompressing {name} (64 MiB of text, {ratio:.1f}x smaller; one core)",
                     f"{total / MIB / took:.0f} MiB/s" if took > 0 else "-"))
    return rows


def read_rates(images: list[Image]) -> list[tuple[str, str]]:
    """How fast each converted image's data is read (decompressed, for qcow2z and vmdk) on one
    core: every extent read through open_disk, as an upload's workers read it."""
    rows = []
    for image in images:
        if image.name not in CONVERTED:
            continue
        total, took = timed_read(image.path)
        rows.append((f"reading {image.name} through open_disk ({total / MIB:.0f} MiB of extents, one core)",
                     f"{total / MIB / took:.0f} MiB/s" if took > 0 else "-"))
    return rows


# --------------------------------------------------------------------------- micro-benchmarks


def micro(giant: Image | None) -> list[tuple[str, str]]:
    from vhdupload import crc64, planning

    rng = random.Random(7)
    data = rng.randbytes(64 * MIB)
    zeros = bytes(64 * MIB)
    out = []

    def rate(fn, payload: bytes, rounds: int = 3) -> float:
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            fn(payload)
            best = min(best, time.perf_counter() - start)
        return len(payload) / best / 1e9

    def scan(buf: bytes) -> None:
        for i in range(0, len(buf), planning.CHUNK):
            planning.nonzero_runs(buf[i : i + planning.CHUNK])

    out.append(("zero detection, all-zero chunks (one memcmp per 4 MiB)", f"{rate(scan, zeros):.1f} GB/s"))
    out.append(("zero detection, random data (per 4 KiB page)", f"{rate(scan, data):.1f} GB/s"))
    out.append(("CRC64 (crc64.compute)", f"{rate(crc64.compute, data):.2f} GB/s"))
    out.append(("MD5 (hashlib)", f"{rate(lambda b: hashlib.md5(b).digest(), data):.2f} GB/s"))
    if giant is not None:
        from vhdupload import open_disk

        with open_disk(str(giant.path)) as disk:
            start = time.perf_counter()
            extents = list(disk.extents(0, disk.virtual_size))
            took = time.perf_counter() - start
        out.append((f"extent enumeration of the 256 GiB disk ({len(extents)} extents, "
                    f"{sum(b - a for a, b in extents) / MIB:.0f} MiB)", f"{took * 1000:.1f} ms"))
    return out


# --------------------------------------------------------------------------- runs


def shaped_proxy(port: int) -> ShapingProxy:
    return ShapingProxy(upstream_port=port, **SHAPE)


def run_one(image: Image, tool: str, repeat: int, *, commands, timeout: float, rng, shaped: bool = False,
            extra: list[str] | None = None, env_extra: dict | None = None) -> bu.Run:
    log(f"  {image.name} {tool}{' (shaped)' if shaped else ''} run {repeat + 1}")
    run = bu.measure(image, tool, repeat, commands=commands, extra=extra or [], timeout=timeout, rng=rng,
                     proxy_factory=shaped_proxy if shaped else None, env_extra=env_extra)
    if run.ok:
        log(f"    {run.wall:.2f} s, {run.cpu:.2f} s CPU, {run.wire_sent:,} bytes sent")
    else:
        log(f"    FAILED: {run.error}")
    return run


def stats(runs: list[bu.Run]) -> dict | None:
    ok = [r for r in runs if r.ok]
    if not ok:
        return None
    walls = [r.wall for r in ok]
    requests = [r.wire_requests if r.wire_requests >= 0 else float(r.reported.get("requests", "nan")) for r in ok]
    return {
        "wall": statistics.median(walls), "lo": min(walls), "hi": max(walls), "n": len(ok),
        "cpu": statistics.median(r.cpu for r in ok), "rss": max(r.max_rss_mib for r in ok),
        "sent": statistics.median(r.wire_sent for r in ok),
        "requests": statistics.median(requests) if requests else float("nan"),
        "threads": ok[0].reported.get("threads"), "concurrency": ok[0].reported.get("concurrency"),
        "merging": "; ".join(sorted({str(r.reported.get("merging")) for r in ok if r.reported.get("merging")})),
    }


def fmt_bytes(n: float) -> str:
    return f"{n / 1e9:.3f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def fmt_requests(n: float) -> str:
    return "—" if n != n else f"{n:,.0f}"  # NaN: not counted


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default=",".join(ALL_IMAGES), help=f"comma-separated of {', '.join(ALL_IMAGES)}")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool and image (median shown)")
    parser.add_argument("--quick", action="store_true", help="images a and b, no AzCopy, shaped (b) only, no disk set or free-space image")
    parser.add_argument("--no-shaped", action="store_true", help="skip the shaped-link section")
    parser.add_argument("--no-azcopy", action="store_true", help="skip AzCopy")
    parser.add_argument("--no-disks", action="store_true", help="skip the three-disk publish through the shaped link")
    parser.add_argument("--no-free-space", action="store_true", help="skip the free-space image")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--results", default=str(BENCH_DIR / "RESULTS.md"), help="where to add the section")
    parser.add_argument("--vhdupload-path", default=None,
                        help="run vhdupload from this source tree (PYTHONPATH) instead of the installed one")
    args = parser.parse_args(argv)
    args.images = [s for s in args.images.split(",") if s]
    if args.quick:
        args.images = [i for i in args.images if i in ("a", "b")] or ["a", "b"]
        args.no_azcopy = True
    for name in args.images:
        if name not in ALL_IMAGES:
            parser.error(f"unknown image {name!r}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bu.unwind_on_signals()
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.monotonic()
    env_extra = {"PYTHONPATH": args.vhdupload_path} if args.vhdupload_path else None
    if args.vhdupload_path:
        sys.path.insert(0, args.vhdupload_path)
    # Without "verify": `vhdupload verify` after each image's first run took up to 2 minutes on
    # (b); every run is still checked (page blob of the file's size, footer, 32 random windows).
    commands = bu.vhdupload_commands() - {"verify"}
    images = [load_image(name) for name in args.images]
    giant = next((i for i in images if i.name == "giant"), None)
    log("micro-benchmarks")
    micro_rows = micro(giant) + read_rates(images) + (compressed_read_rates() if any(i.name in CONVERTED for i in images) else [])
    rng = random.Random(0)
    tools = ["vhdupload", "vhdupload-t16", "floor", "sdk"] + ([] if args.no_azcopy else ["azcopy"])
    if args.quick:
        tools = ["vhdupload", "floor", "sdk"]
    try:
        bu.azcopy_binary()
    except RuntimeError:
        tools = [t for t in tools if t != "azcopy"]
        NA.update({(i, "azcopy"): "n/a: AzCopy is not installed (npm ci)" for i in args.images})
    loop: dict[tuple[str, str], list[bu.Run]] = {}
    for image in images:
        log(f"image {image.name}: {image.file_size:,} bytes, data pages {image.data_pages:,}")
        bu.warm(image)
        for repeat in range(args.repeat):
            for tool in tools:
                if (image.name, tool) in NA:
                    continue
                loop.setdefault((image.name, tool), []).append(
                    run_one(image, tool, repeat, commands=commands, timeout=args.timeout, rng=rng, env_extra=env_extra))

    shaped: dict[tuple[str, str], list[bu.Run]] = {}
    computed: dict[str, object] = {}
    if not args.no_shaped:
        from vhdupload.bench.floor import data_runs, shaped_floor
        from vhdupload.blob_image import blob_image
        from vhdupload.endpoints import open_source

        for image in images:
            if image.name not in (("b",) if args.quick else ("a", "b")):
                continue
            disk = open_source(str(image.path))
            floor = shaped_floor(data_runs(blob_image(disk)), bytes_per_second=SHAPE["byte_rate"],
                                 requests_per_second=SHAPE["request_rate"])
            disk.close()
            computed[image.name] = floor
            shaped_tools = [("vhdupload", []), ("floor", ["--threads", "32", "--max-gap", str(max(floor.max_gap, 4096))])]
            if not args.quick:
                shaped_tools.append(("sdk", []))
            for repeat in range(args.repeat):
                for tool, extra in shaped_tools:
                    shaped.setdefault((image.name, tool), []).append(
                        run_one(image, tool, repeat, commands=commands, timeout=args.timeout, rng=rng, shaped=True,
                                extra=extra, env_extra=env_extra))
    managed = managed_disk_section(args) if "a" in args.images and not args.quick else ""
    disks, disks_ok = "", True
    if not (args.no_disks or args.quick):
        import bench_disks

        log("a VM's disks: publish of (a) + (b) + (b) through the shaped link (per blob and link limits)")
        disks, disks_ok = bench_disks.disks_run(repeat=args.repeat, timeout=args.timeout)
    free, free_ok = "", True
    if not (args.no_free_space or args.quick):
        import bench_free_space

        log("free space: a used-then-cleaned disk, plain and --skip-free")
        free, free_ok = bench_free_space.free_space_run(repeat=args.repeat, log=log,
                                                        vhdupload_path=args.vhdupload_path)
    total = time.monotonic() - t0
    section = (render(args, argv, started, total, images, micro_rows, loop, shaped, computed, tools) + managed
               + ("\n" + disks if disks else "") + ("\n" + free if free else ""))
    plots = make_plots(images, loop, shaped, computed, started)
    if plots:
        section += "\n" + "\n".join(f"![{title}]({name})" for name, title in plots) + "\n"
    print(section)
    write_results(Path(args.results), section)
    failed = [r for runs in list(loop.values()) + list(shaped.values()) for r in runs if not r.ok]
    return 1 if failed or not disks_ok or not free_ok else 0


def managed_disk_section(args) -> str:
    """Image (a) into a managed disk (the ARM double) beside the same image into a page blob."""
    log("managed disk: image a through the ARM double")
    command = [sys.executable, str(Path(__file__).with_name("bench_managed_disk.py")), "--image", "a",
               "--repeat", str(args.repeat)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout * 2 * args.repeat)
    body = done.stdout.strip() if done.returncode == 0 else f"failed: {done.stderr.strip().splitlines()[-1:]}"
    return ("\n### Managed disk: image (a) through the ARM double\n\n"
            "The double and its restricting proxy (a Python relay) sit in front of the same kind of Azurite; "
            "the figure is what the managed-disk path costs over the page-blob path here, not Azure's disk "
            f"ingest rate. `{' '.join(['.venv/bin/python', 'benchmarks/bench_managed_disk.py', *command[2:]])}`:\n\n"
            f"```\n{body}\n```\n")


def render(args, argv, started, total, images, micro_rows, loop, shaped, computed, tools) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=BENCH_DIR.parent).stdout.strip() or "?"
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "vhdupload"], capture_output=True, text=True,
                           cwd=BENCH_DIR.parent).stdout.strip()
    shown_argv = " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"## {started:%Y-%m-%d %H:%M} UTC, `./run bench {shown_argv}`".rstrip(),
        "",
        f"- Machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"load average before: {os.getloadavg()[0]:.1f}; the whole suite took {total / 60:.1f} min.",
        f"- vhdupload: commit {commit}{' with uncommitted changes' if dirty else ''}"
        + (f", run from `{args.vhdupload_path}`" if args.vhdupload_path else "") + "; median of "
        f"{args.repeat} run(s), spread min-max.",
        "",
        "### Micro-benchmarks (this machine, one thread)",
        "",
        "| what | speed |",
        "|---|---|",
        *[f"| {what} | {speed} |" for what, speed in micro_rows],
        "",
        "### Loopback Azurite: every tool beside the floor",
        "",
        "The floor: bare parallel Put Page of the same pages vhdupload sends (8 threads, no CRC64, state or"
        " lease; `benchmarks/floor_put.py`). \"÷ floor\" is the tool's wall time over the floor's; \"best\" is the"
        " faster of vhdupload's default and `--threads 16`.",
        "",
        "| image | data pages | tool | wall s (spread) | ÷ floor | bytes sent | requests | CPU s | peak RSS MiB | threads |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for image in images:
        floor = bu_stats(loop, image.name, "floor")
        default = bu_stats(loop, image.name, "vhdupload")
        pinned = bu_stats(loop, image.name, "vhdupload-t16")
        best = min((s for s in (default, pinned) if s), key=lambda s: s["wall"], default=None)
        order = [("vhdupload (default)", default), ("vhdupload (best)", best), ("floor", floor)]
        order += [(t, bu_stats(loop, image.name, t)) for t in ("sdk", "azcopy") if t in tools or (image.name, t) in NA]
        for label, s in order:
            tool = label.split()[0]
            na = NA.get((image.name, tool))
            if s is None:
                if na or tool in ("sdk", "azcopy"):
                    lines.append(f"| ({image.name}) | {fmt_bytes(image.data_pages)} | {label} | {na or 'not run'} | | | | | | |")
                else:
                    failed = [r.error for r in loop.get((image.name, 'vhdupload' if tool == 'vhdupload' else tool), []) if not r.ok]
                    lines.append(f"| ({image.name}) | {fmt_bytes(image.data_pages)} | {label} | "
                                 f"{'FAILED: ' + failed[0][:100].replace('|', '/') if failed else 'not run'} | | | | | | |")
                continue
            ratio = f"{s['wall'] / floor['wall']:.2f}" if floor else "—"
            threads = s.get("concurrency") or (s.get("threads") or ("16" if s is pinned else ""))
            if s is best and best is pinned:
                threads = "16 (pinned)"
            lines.append(
                f"| ({image.name}) | {fmt_bytes(image.data_pages)} | {label} | {s['wall']:.2f} ({s['lo']:.2f}-{s['hi']:.2f}) "
                f"| {ratio} | {fmt_bytes(s['sent'])} | {fmt_requests(s['requests'])} | {s['cpu']:.2f} | {s['rss']:.0f} | {threads} |")
    if shaped:
        lines += [
            "",
            "### Through a shaped link: 40 ms round trip, 20 MiB/s, 250 requests/s (`tests/support/shaping_proxy.py`)",
            "",
            "The shaped floor is computed: over every way of merging zero gaps into requests of at most 4 MiB, the"
            " smallest max(bytes ÷ 20 MiB/s, requests ÷ 250/s). The bare Put Page sends that best merge on 32"
            " threads. Wall times are from launch to exit. \"zero gaps\": those shorter than this are sent"
            " (vhdupload's tuner moves it while uploading; the runs' values, \"mostly\" where each settled).",
            "",
            "| image | tool | wall s (spread) | ÷ shaped floor | bytes sent | requests | threads | zero gaps |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for image in images:
            floor = computed.get(image.name)
            if floor is None:
                continue
            lines.append(f"| ({image.name}) | shaped floor (computed) | {floor.seconds:.2f} | 1.00 | {fmt_bytes(floor.bytes)} "
                         f"| {floor.requests:,} | — | {floor.max_gap // 1024} KiB |")
            for tool, label in (("vhdupload", "vhdupload (default)"), ("floor", "bare Put Page at the best merge"),
                                ("sdk", "sdk upload_blob(max_concurrency=8)")):
                s = bu_stats(shaped, image.name, tool)
                if s is None:
                    runs = shaped.get((image.name, tool), [])
                    if runs:
                        lines.append(f"| ({image.name}) | {label} | FAILED: {runs[0].error[:100]} | | | | | |")
                    continue
                lines.append(f"| ({image.name}) | {label} | {s['wall']:.2f} ({s['lo']:.2f}-{s['hi']:.2f}) "
                             f"| {s['wall'] / floor.seconds:.2f} | {fmt_bytes(s['sent'])} | {fmt_requests(s['requests'])} "
                             f"| {s.get('concurrency') or s.get('threads') or ('32' if tool == 'floor' else '8')} "
                             f"| {s.get('merging') or (f'{floor.max_gap // 1024} KiB' if tool == 'floor' else '—')} |")
    lines.append("")
    return "\n".join(lines)


def bu_stats(table, image: str, tool: str) -> dict | None:
    return stats(table.get((image, tool), []))


def make_plots(images, loop, shaped, computed, started) -> list[tuple[str, str]]:
    try:
        import matplotlib
    except ImportError:
        log("matplotlib is not installed: no plots (pip install '.[bench]')")
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    labels = [("vhdupload", "vhdupload", "C0"), ("floor", "floor", "C7"), ("sdk", "SDK", "C1"), ("azcopy", "AzCopy", "C2")]
    names = [i.name for i in images]
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    width = 0.2
    for k, (tool, label, colour) in enumerate(labels):
        values = [(bu_stats(loop, n, tool) or {}).get("wall", 0) for n in names]
        bars = ax.bar([i + (k - 1.5) * width for i in range(len(names))], values, width, label=label, color=colour)
        for bar, n in zip(bars, names):
            if (n, tool) in NA:
                ax.text(bar.get_x() + width / 2, 0.3, "n/a", ha="center", fontsize=7, rotation=90)
    _save_bar_chart(plt, fig, ax, names, "Loopback Azurite: wall time per image and tool", BENCH_DIR / "bench-loopback.png")
    out.append(("bench-loopback.png", "loopback wall times"))
    if shaped:
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
        snames = [n for n in names if n in computed]
        series = [("computed floor", "C7", lambda n: computed[n].seconds)]
        series += [(label, colour, (lambda n, t=tool: (bu_stats(shaped, n, t) or {}).get("wall", 0)))
                   for tool, label, colour in (("floor", "bare Put Page", "C8"), ("vhdupload", "vhdupload", "C0"),
                                               ("sdk", "SDK (8)", "C1"))]
        for k, (label, colour, value) in enumerate(series):
            ax.bar([i + (k - 1.5) * width for i in range(len(snames))], [value(n) for n in snames], width,
                   label=label, color=colour)
        _save_bar_chart(plt, fig, ax, snames, "Shaped link: 40 ms RTT, 20 MiB/s, 250 requests/s", BENCH_DIR / "bench-shaped.png")
        out.append(("bench-shaped.png", "shaped-link wall times"))
    return out


def _save_bar_chart(plt, fig, ax, names: list[str], title: str, path: Path) -> None:
    """The axes, title, legend and file every chart of the suite shares: one group per image."""
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([f"({n})" for n in names])
    ax.set_ylabel("wall seconds (lower is better)")
    ax.set_title(title)
    ax.legend(fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_results(path: Path, section: str) -> None:
    """Insert the section after the file's introduction (before the first dated section)."""
    text = path.read_text() if path.exists() else "# Upload benchmark results\n\n"
    marker = "\n## "
    at = text.find(marker)
    text = text + "\n" + section if at < 0 else text[: at + 1] + section + "\n" + text[at + 1 :]
    path.write_text(text)
    log(f"wrote {path}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
