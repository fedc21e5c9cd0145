#!/usr/bin/env python3
"""Upload benchmark: vhdupload against the SDK's upload_blob and AzCopy, on the same images.

    .venv/bin/python benchmarks/bench_upload.py --images a,b,c [--repeat 3] [--tools vhdupload,sdk,azcopy]

For every image and every tool, one measurement is:

1. a fresh Azurite (in memory) on a free loopback port, and a counting TCP proxy in front of
   it; the container is created beforehand, so no tool pays for it;
2. the tool, run as a subprocess against the proxy: wall time, the child's CPU time
   (user + sys, from ``os.wait4``) and its peak RSS, and every byte it sent to the server
   (requests, headers included) as counted by the proxy;
3. a check that the upload landed: a page blob of the image's size, the footer and random
   windows (in data and in holes) read back and compared with the file; for vhdupload also
   ``vhdupload verify``, when that command exists, on the first repeat of each image (it is slow
   on images with many ranges);
4. Azurite and the proxy stopped (so the next measurement starts from an empty server, with
   no garbage collection of the previous blob running behind it).

Repeats are interleaved (tool 1, 2, 3, tool 1, 2, 3, ...) and the median is reported. The
table is printed as Markdown, and every measurement is written to
``benchmarks/work/results-<UTC time>.json``. Exit status 1 when any tool failed or an upload
did not verify; a tool that is not installed yet is reported as "not available".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(BENCH_DIR))

from images import MIB, WORK_DIR, Image, data_regions, get_image  # noqa: E402
from tests.support.azurite import DEV_ACCOUNT, DEV_KEY, start_azurite  # noqa: E402
from tests.support.relay import LoopbackRelay  # noqa: E402

TOOLS = ("vhdupload", "sdk", "azcopy")
CONTAINER = "bench"
AZCOPY_SOURCE = REPO_ROOT / "node_modules" / "@azure-tools" / "azcopy-linux" / "dist" / "bin" / "azcopy_linux_amd64"

SDK_SCRIPT = """
import sys
from azure.storage.blob import BlobClient
conn, container, blob, path = sys.argv[1:5]
client = BlobClient.from_connection_string(conn, container, blob)
with open(path, "rb") as f:
    client.upload_blob(f, blob_type="PageBlob", max_concurrency=8, overwrite=True)
"""

VHDUPLOAD_CLI = "import sys; from vhdupload.cli import main; sys.exit(main())"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- counting proxy


class CountingProxy(LoopbackRelay):
    """A loopback TCP relay that counts the bytes each way; zero-copy with splice(2)."""

    CHUNK = 1 << 20

    def __init__(self, upstream_port: int) -> None:
        self.sent = 0  # client -> server
        self.received = 0  # server -> client
        super().__init__(upstream_port=upstream_port, max_connections=1024, name="proxy")

    def reset(self) -> None:
        with self._lock:
            self.sent = self.received = self.connections = 0

    def _relay(self, client: socket.socket, upstream: socket.socket, state: dict) -> None:
        for src, dst, attr in ((client, upstream, "sent"), (upstream, client, "received")):
            threading.Thread(target=self._pump, args=(src, dst, attr, state), daemon=True).start()

    def _count(self, attr: str, n: int) -> None:
        with self._lock:
            setattr(self, attr, getattr(self, attr) + n)

    def _pump(self, src: socket.socket, dst: socket.socket, attr: str, state: dict) -> None:
        try:
            if hasattr(os, "splice"):
                self._pump_splice(src, dst, attr)
            else:
                self._pump_copy(src, dst, attr)
        except OSError:
            pass
        finally:
            self._finish(src, dst, state)

    def _pump_splice(self, src: socket.socket, dst: socket.socket, attr: str) -> None:
        read_end, write_end = os.pipe()
        try:
            while True:
                n = os.splice(src.fileno(), write_end, self.CHUNK)
                if n == 0:
                    return
                self._count(attr, n)
                while n:
                    n -= os.splice(read_end, dst.fileno(), n)
        finally:
            os.close(read_end)
            os.close(write_end)

    def _pump_copy(self, src: socket.socket, dst: socket.socket, attr: str) -> None:
        while True:
            data = src.recv(self.CHUNK)
            if not data:
                return
            self._count(attr, len(data))
            dst.sendall(data)


# --------------------------------------------------------------------------- one measurement


@dataclass
class Run:
    image: str
    tool: str
    repeat: int
    ok: bool = False
    error: str = ""
    wall: float = 0.0
    cpu: float = 0.0
    cpu_user: float = 0.0
    cpu_sys: float = 0.0
    max_rss_mib: float = 0.0
    server_cpu: float = 0.0
    proxy_cpu: float = 0.0
    load_before: float = 0.0  # 1-minute load average when the measurement started
    wire_sent: int = 0
    wire_received: int = 0
    wire_requests: int = -1  # HTTP requests counted by a shaping proxy (-1: not counted)
    connections: int = 0
    reported: dict = field(default_factory=dict)
    verified: str = ""


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def run_measured(argv: list[str], *, env: dict, timeout: float, cwd: Path) -> tuple[int, float, object, str, str]:
    """Run argv; return (exit code, wall seconds, rusage of the child, stdout, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                   start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, rusage = os.wait4(process.pid, 0)
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return process.returncode, wall, rusage, out.read().decode(errors="replace"), err.read().decode(errors="replace")


def azcopy_binary() -> Path:
    """AzCopy from node_modules; npm does not mark it executable, so use an executable copy."""
    if os.access(AZCOPY_SOURCE, os.X_OK):
        return AZCOPY_SOURCE
    if not AZCOPY_SOURCE.exists():
        raise RuntimeError(f"AzCopy not found at {AZCOPY_SOURCE}: run 'npm ci'")
    copy = WORK_DIR / "bin" / "azcopy"
    if not copy.exists() or copy.stat().st_size != AZCOPY_SOURCE.stat().st_size or copy.stat().st_mtime < AZCOPY_SOURCE.stat().st_mtime:
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(AZCOPY_SOURCE, copy)
        copy.chmod(0o755)
    return copy


def vhdupload_commands() -> set[str]:
    """The vhdupload subcommands that exist (empty if the CLI cannot start)."""
    result = subprocess.run([sys.executable, "-c", VHDUPLOAD_CLI, "--help"], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=60)
    found = set()
    for command in ("upload", "verify"):
        probe = subprocess.run([sys.executable, "-c", VHDUPLOAD_CLI, command, "--help"], capture_output=True,
                               text=True, cwd=REPO_ROOT, timeout=60)
        if probe.returncode == 0 and result.returncode == 0:
            found.add(command)
            if command == "upload" and "--no-progress" in probe.stdout:
                found.add("upload --no-progress")
    return found


def connection_string(account_url: str) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint={account_url};")


def container_sas() -> str:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(
        DEV_ACCOUNT, CONTAINER, account_key=DEV_KEY,
        permission=ContainerSasPermissions(read=True, add=True, create=True, write=True, delete=True, list=True),
        expiry=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1),
    )


def tool_argv(tool: str, image: Image, blob: str, proxy_url: str, *, commands: set[str], extra: list[str],
              tmp: Path) -> tuple[list[str], dict]:
    env = dict(os.environ)
    env.pop("AZURE_STORAGE_CONNECTION_STRING", None)
    conn = connection_string(proxy_url)
    if tool == "vhdupload":
        argv = [sys.executable, "-c", VHDUPLOAD_CLI, "upload", str(image.path), f"{CONTAINER}/{blob}",
                "--connection-string", conn, "--json"]
        if "upload --no-progress" in commands:
            argv.append("--no-progress")
        return argv + extra, env
    if tool.startswith("vhdupload-t"):  # vhdupload with its thread count pinned
        argv = [sys.executable, "-c", VHDUPLOAD_CLI, "upload", str(image.path), f"{CONTAINER}/{blob}",
                "--connection-string", conn, "--json", "--threads", tool.removeprefix("vhdupload-t")]
        if "upload --no-progress" in commands:
            argv.append("--no-progress")
        return argv + extra, env
    if tool == "floor":
        from vhdupload import planning

        gap = next((int(extra[i + 1]) for i, a in enumerate(extra[:-1]) if a == "--max-gap"), None)
        threads = next((extra[i + 1] for i, a in enumerate(extra[:-1]) if a == "--threads"), "8")
        return [sys.executable, str(BENCH_DIR / "floor_put.py"), str(image.path), conn, CONTAINER, blob,
                "--threads", threads, "--max-gap", str(gap if gap is not None else planning.default_max_gap())], env
    if tool == "sdk":
        return [sys.executable, "-c", SDK_SCRIPT, conn, CONTAINER, blob, str(image.path)], env
    if tool == "azcopy":
        env.update(
            AZCOPY_LOG_LOCATION=str(tmp / "logs"),
            AZCOPY_JOB_PLAN_LOCATION=str(tmp / "plans"),
            AZCOPY_DISABLE_SYSLOG="true",
        )
        env.pop("AZCOPY_AUTO_LOGIN_TYPE", None)
        url = f"{proxy_url}/{CONTAINER}/{blob}?{container_sas()}"
        return [str(azcopy_binary()), "copy", str(image.path), url, "--blob-type", "PageBlob",
                "--from-to", "LocalBlob"] + extra, env
    raise ValueError(tool)


#: Images that are not fixed VHDs (a dynamic VHD): the raw disk (``qemu-img convert -O raw``)
#: their blob must hold, ahead of a fresh fixed footer, instead of the file itself.
RAW_REFERENCES: dict[str, Path] = {}


def verify_upload(image: Image, account_url: str, blob: str, rng: random.Random) -> str:
    """Check size, type, the footer and random windows of the blob against the file (or, for a
    dynamic VHD, against its raw disk by qemu-img); raise on a difference."""
    from azure.storage.blob import BlobClient

    client = BlobClient.from_connection_string(connection_string(account_url), CONTAINER, blob)
    props = client.get_blob_properties()
    if props.blob_type != "PageBlob" and str(props.blob_type) != "BlobType.PAGEBLOB":
        raise AssertionError(f"blob type is {props.blob_type}, not a page blob")
    reference = RAW_REFERENCES.get(image.name)
    if reference is not None:
        return _verify_against_raw(client, props.size, reference, rng)
    if props.size != image.file_size:
        raise AssertionError(f"blob size {props.size} != file size {image.file_size}")
    regions = data_regions(image.path)
    windows = [(image.file_size - 512, 512)]
    size = 64 * 1024
    for _ in range(24):
        start, stop = rng.choice(regions)
        offset = rng.randrange(start, max(start + 1, stop - size)) // 512 * 512
        windows.append((offset, min(size, image.file_size - offset)))
    for _ in range(8):
        offset = rng.randrange(0, image.file_size - size) // 512 * 512
        windows.append((offset, size))
    with open(image.path, "rb") as f:
        for offset, length in windows:
            f.seek(offset)
            expected = f.read(length)
            got = client.download_blob(offset=offset, length=length).readall()
            if got != expected:
                raise AssertionError(f"blob differs from the file in [{offset}, {offset + length})")
    return f"size, type, footer and {len(windows) - 1} windows match"


def _verify_against_raw(client, blob_size: int, raw: Path, rng: random.Random) -> str:
    raw_size = raw.stat().st_size
    expected_size = -(-raw_size // MIB) * MIB + 512
    if blob_size != expected_size:
        raise AssertionError(f"blob size {blob_size} != {expected_size} (the raw disk rounded up to a MiB, plus the footer)")
    if client.download_blob(offset=blob_size - 512, length=8).readall() != b"conectix":
        raise AssertionError("the blob's last 512 bytes are not a VHD footer")
    regions = data_regions(raw)
    windows = []
    size = 64 * 1024
    for _ in range(32):
        start, stop = rng.choice(regions)
        offset = rng.randrange(start, max(start + 1, stop - size)) // 512 * 512
        windows.append((offset, min(size, raw_size - offset)))
    with open(raw, "rb") as f:
        for offset, length in windows:
            f.seek(offset)
            if client.download_blob(offset=offset, length=length).readall() != f.read(length):
                raise AssertionError(f"blob differs from the raw disk in [{offset}, {offset + length})")
    return f"size, footer and {len(windows)} windows of the raw disk match"


def measure(image: Image, tool: str, repeat: int, *, commands: set[str], extra: list[str], timeout: float,
            rng: random.Random, direct: bool = False, proxy_factory=None, env_extra: dict | None = None) -> Run:
    run = Run(image=image.name, tool=tool, repeat=repeat, load_before=os.getloadavg()[0])
    blob = f"{image.name}-{tool}-{repeat}.vhd"
    server = start_azurite()
    proxy = None
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{tool}-"))
    try:
        from azure.storage.blob import BlobServiceClient

        BlobServiceClient.from_connection_string(server.connection_string).create_container(CONTAINER)
        if direct:
            proxy_url = server.account_url
        else:
            proxy = (proxy_factory or CountingProxy)(server.port)
            proxy_url = f"http://127.0.0.1:{proxy.port}/{DEV_ACCOUNT}"
        argv, env = tool_argv(tool, image, blob, proxy_url, commands=commands, extra=extra, tmp=tmp)
        env.update(env_extra or {})
        server_cpu0 = process_cpu_seconds(server.process.pid)
        self0 = resource.getrusage(resource.RUSAGE_SELF)
        code, wall, usage, out, err = run_measured(argv, env=env, timeout=timeout, cwd=tmp)
        if proxy is not None:
            time.sleep(0.2)  # let the proxy threads account the last bytes
            run.wire_sent, run.wire_received, run.connections = proxy.sent, proxy.received, proxy.connections
            run.wire_requests = getattr(proxy, "requests", -1)
        else:
            run.wire_sent = run.wire_received = run.connections = -1
        run.wall = wall
        run.cpu_user, run.cpu_sys = usage.ru_utime, usage.ru_stime
        run.cpu = usage.ru_utime + usage.ru_stime
        run.max_rss_mib = usage.ru_maxrss / 1024
        run.server_cpu = process_cpu_seconds(server.process.pid) - server_cpu0
        self1 = resource.getrusage(resource.RUSAGE_SELF)
        run.proxy_cpu = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
        if code != 0:
            lines = (err.strip() or out.strip()).splitlines()
            errors = [line.strip() for line in lines if "error" in line.lower()]
            run.error = f"exit {code}: " + " | ".join(errors[:2] or lines[-5:])
            if tool == "azcopy":
                run.error += " | " + azcopy_log_errors(tmp / "logs")
            return run
        if tool.startswith(("vhdupload", "floor")):
            try:
                run.reported = json.loads(out)
            except json.JSONDecodeError:
                run.error = f"--json printed no JSON object: {out[:200]!r}"
                return run
        run.verified = verify_upload(image, server.account_url, blob, rng)
        if tool == "floor":
            run.wall -= float(run.reported.get("plan_seconds", 0.0))  # reading and scanning is not the floor's
        if tool == "vhdupload" and "verify" in commands and repeat == 0:  # slow on many ranges: once per image
            verify_start = time.perf_counter()
            check = subprocess.run(
                [sys.executable, "-c", VHDUPLOAD_CLI, "verify", str(image.path), f"{CONTAINER}/{blob}",
                 "--connection-string", server.connection_string],
                capture_output=True, text=True, cwd=tmp, timeout=timeout,
            )
            if check.returncode != 0:
                raise AssertionError(f"vhdupload verify exit {check.returncode}: {check.stderr.strip()[-300:]}")
            run.verified += f"; vhdupload verify: identical ({time.perf_counter() - verify_start:.1f} s)"
        run.ok = True
    except AssertionError as exc:
        run.error = f"verification failed: {exc}"
    except Exception as exc:  # noqa: BLE001 - a failed measurement is reported, not fatal
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        if proxy is not None:
            proxy.close()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return run


def azcopy_log_errors(log_dir: Path) -> str:
    lines = []
    for path in sorted(log_dir.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if "ERR" in line or "FAILED" in line.upper():
                lines.append(line.strip())
    return " | ".join(lines[:3])


def warm(image: Image) -> None:
    """Read the image's data regions once so that every tool starts with it in the page cache."""
    with open(image.path, "rb") as f:
        for start, stop in data_regions(image.path):
            f.seek(start)
            remaining = stop - start
            while remaining > 0:
                chunk = f.read(min(remaining, 16 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)


# --------------------------------------------------------------------------- report


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_bytes(n: float) -> str:
    return f"{n / 1e9:.3f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def summarize(runs: list[Run], image: Image, tool: str) -> dict | None:
    mine = [r for r in runs if r.image == image.name and r.tool == tool and r.ok]
    if not mine:
        return None
    summary = {
        "wall": median([r.wall for r in mine]),
        "cpu": median([r.cpu for r in mine]),
        "server_cpu": median([r.server_cpu for r in mine]),
        "rss": max(r.max_rss_mib for r in mine),
        "sent": median([r.wire_sent for r in mine]),
        "n": len(mine),
    }
    reported = [r.reported for r in mine if r.reported]
    if reported:
        summary["payload"] = median([float(r.get("bytes_sent", "nan")) for r in reported])
        summary["requests"] = median([float(r.get("requests", "nan")) for r in reported])
    return summary


def table(runs: list[Run], images: list[Image], tools: list[str], unavailable: dict[str, str]) -> str:
    lines = [
        "| image | data pages | tool | wall s | CPU s | Azurite CPU s | peak RSS MiB | bytes sent | sent / data pages "
        "| wall ÷ vhdupload's | CPU ÷ vhdupload's |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for image in images:
        base = summarize(runs, image, "vhdupload")
        for tool in tools:
            label = f"({image.name})"
            pages = fmt_bytes(image.data_pages)
            if tool in unavailable:
                lines.append(f"| {label} | {pages} | {tool} | {unavailable[tool]} | | | | | | | |")
                continue
            s = summarize(runs, image, tool)
            if s is None:
                failed = [r.error for r in runs if r.image == image.name and r.tool == tool and not r.ok]
                if failed:
                    lines.append(f"| {label} | {pages} | {tool} | FAILED: {failed[0][:120].replace('|', '/')} | | | | | | | |")
                continue
            measured = s["sent"] >= 0
            sent = fmt_bytes(s["sent"]) if measured else "not counted (--direct)"
            per_page = f"{s['sent'] / image.data_pages:.2f}" if measured else "—"
            if "payload" in s:
                sent += f" (payload {fmt_bytes(s['payload'])}, {s['requests']:.0f} requests)"
            if tool == "vhdupload" or base is None:
                ratio_wall = ratio_cpu = "—"
            else:
                ratio_wall = f"{s['wall'] / base['wall']:.2f}×"
                ratio_cpu = f"{s['cpu'] / base['cpu']:.2f}×"
            lines.append(
                f"| {label} | {pages} | {tool} | {s['wall']:.1f} | {s['cpu']:.1f} | {s['server_cpu']:.1f} "
                f"| {s['rss']:.0f} | {sent} | {per_page} | {ratio_wall} | {ratio_cpu} |"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default="a,b,c", help="comma-separated: a, b, c, giant (default a,b,c)")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated: vhdupload, sdk, azcopy")
    parser.add_argument("--repeat", type=int, default=1, help="measurements per tool and image; the median is shown")
    parser.add_argument("--giant-azcopy", action="store_true",
                        help="also run AzCopy on the giant image (it reads all 256 GiB; >2 min). "
                             "The SDK never runs on it: it would read 256 GiB as well.")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a tool run is killed")
    parser.add_argument("--vhdupload-args", default="", help="extra arguments for 'vhdupload upload', one string")
    parser.add_argument("--azcopy-args", default="", help="extra arguments for 'azcopy copy', one string")
    parser.add_argument("--direct", action="store_true",
                        help="no counting proxy: tools talk to Azurite directly (bytes sent not measured)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the verification windows")
    args = parser.parse_args(argv)
    args.images = [s for s in args.images.split(",") if s]
    args.tools = [s for s in args.tools.split(",") if s]
    for name in args.images:
        if name not in ("a", "b", "c", "giant"):
            parser.error(f"unknown image {name!r}")
    for tool in args.tools:
        if tool not in TOOLS:
            parser.error(f"unknown tool {tool!r}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def unwind_on_signals() -> None:
    """Ctrl-C and kill both unwind through the finally blocks that stop the tools, Azurite and
    the proxies (SIGINT explicitly: a shell starting us in the background leaves it ignored)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    unwind_on_signals()
    images = [get_image(name, log=log) for name in args.images]

    unavailable: dict[str, str] = {}
    commands: set[str] = set()
    if "vhdupload" in args.tools:
        commands = vhdupload_commands()
        if "upload" not in commands:
            unavailable["vhdupload"] = "not available yet (no 'vhdupload upload')"
    if "azcopy" in args.tools:
        try:
            azcopy_binary()
        except RuntimeError as exc:
            unavailable["azcopy"] = str(exc)

    started = dt.datetime.now(dt.timezone.utc)
    runs: list[Run] = []
    rng = random.Random(args.seed)
    extra = {"vhdupload": args.vhdupload_args.split(), "azcopy": args.azcopy_args.split(), "sdk": []}
    for image in images:
        tools = [t for t in args.tools if t not in unavailable]
        if image.name == "giant":
            tools = [t for t in tools if t == "vhdupload" or (t == "azcopy" and args.giant_azcopy)]
        log(f"image {image.name}: {image.path.name}, {image.file_size:,} bytes, data pages {image.data_pages:,}")
        warm(image)
        for repeat in range(args.repeat):
            for tool in tools:
                log(f"  {tool} (run {repeat + 1}/{args.repeat})")
                run = measure(image, tool, repeat, commands=commands, extra=extra[tool], timeout=args.timeout, rng=rng,
                              direct=args.direct)
                runs.append(run)
                if run.ok:
                    log(f"    {run.wall:.1f} s wall, {run.cpu:.1f} s CPU, {run.wire_sent:,} bytes sent, "
                        f"load {run.load_before:.1f} before; {run.verified}")
                else:
                    log(f"    FAILED: {run.error}")

    tools_shown = [t for t in args.tools]
    loads = [r.load_before for r in runs]
    print(f"\nvhdupload upload benchmark, {started:%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"{os.cpu_count()} CPUs, median of {args.repeat}; 1-min load average before the measurements "
          f"{min(loads, default=0):.1f}-{max(loads, default=0):.1f}")
    print(f"command: .venv/bin/python benchmarks/bench_upload.py {' '.join(argv if argv is not None else sys.argv[1:])}\n")
    print(table(runs, images, tools_shown, unavailable))
    print("\nbytes sent: every byte the tool sent to the server (HTTP requests with headers), counted by a proxy;"
          " payload: vhdupload's own bytes_sent. CPU: the tool process's user+sys time. Ratios > 1 mean vhdupload is"
          " faster / cheaper.")

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    out = WORK_DIR / f"results-{started:%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({
        "started": started.isoformat(), "argv": argv if argv is not None else sys.argv[1:],
        "machine": {"node": platform.node(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "images": [i.to_json() for i in images], "unavailable": unavailable,
        "runs": [asdict(r) for r in runs],
    }, indent=2) + "\n")
    print(f"\nall measurements: {out}")
    failed = [r for r in runs if not r.ok]
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
