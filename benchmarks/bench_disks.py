"""A VM's disks through one link: ``publish`` of an OS disk like image (a) with two data disks
like image (b), launch to exit, beside the set's floor (issue 21, part 2).

The link is the shaping proxy with Azure's shape scaled down so that Azurite is not the limit:
each blob at most 20 MiB/s and 250 requests/s (Azure's standard page blob: about 60 MiB/s and
500 requests/s), the link 40 MiB/s, a 40 ms round trip. Registration goes to the ARM double
(tests/support/arm_double.py) through the real azure-mgmt-compute client, with a stub ``az`` as
the only credential, so the figure is the whole command a user runs.

The set's floor is the larger of the slowest disk's shaped floor (its best merge at the per-blob
rates, ``vhdupload.bench.floor.shaped_floor``) and all the disks' bytes at that merge over the
link rate. Runs: vhdupload at its defaults, and pinned to ``--threads 8`` (the budget split
across the disks by their size: what publish did before one pool served them all).

    .venv/bin/python benchmarks/bench_disks.py --repeat 3
    .venv/bin/python benchmarks/bench_disks.py --repeat 3 --baseline ../old-checkout   # + its defaults
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from images import WORK_DIR, Image, get_image  # noqa: E402

from tests.support.arm_double import start_arm_double  # noqa: E402
from tests.support.azurite import DEV_ACCOUNT, DEV_KEY, start_azurite  # noqa: E402
from tests.support.registration import LOC, RG, SUB  # noqa: E402
from tests.support.shaping_proxy import ShapingProxy  # noqa: E402

MIB = 1024 * 1024
#: Azure's per-blob targets and a link, scaled (see the module docstring).
SET_SHAPE = dict(rtt=0.040, byte_rate=40 * MIB, blob_byte_rate=20 * MIB, blob_request_rate=250)
#: The set: (role, image) per disk.
DISKS = (("os", "a"), ("data", "b"), ("data", "b"))
SETTINGS = {"defaults": [], "8 threads split (before)": ["--threads", "8"]}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class SetRun:
    label: str
    seconds: float
    sent: int
    requests: int
    per_blob: dict[str, int] = field(default_factory=dict)
    error: str = ""


def disk_files(folder: Path, count: int) -> list[tuple[str, Path, Image]]:
    """The set's disks as files in ``folder``: the cached bench images, each data disk its own
    sparse copy (publish sends each file to its own blob)."""
    out = []
    for i, (role, name) in enumerate((DISKS + (("data", "b"),) * count)[:count]):
        image = get_image(name, log=log)
        path = folder / f"disk{i}-{name}.vhd"
        subprocess.run(["cp", "--sparse=always", str(image.path), str(path)], check=True)
        out.append((role, path, image))
    return out


def set_floor(images: list[Image]) -> tuple[float, str]:
    """The set's floor in seconds and how it was found (see the module docstring)."""
    from vhdupload import open_disk
    from vhdupload.blob_image import blob_image
    from vhdupload.bench.floor import data_runs, shaped_floor

    floors = []
    for image in images:
        with open_disk(str(image.path)) as disk:
            runs = data_runs(blob_image(disk))
        floors.append(shaped_floor(runs, bytes_per_second=SET_SHAPE["blob_byte_rate"],
                                   requests_per_second=SET_SHAPE["blob_request_rate"]))
    slowest = max(f.seconds for f in floors)
    link = sum(f.bytes for f in floors) / SET_SHAPE["byte_rate"]
    parts = ", ".join(f"{i.name} {f.seconds:.2f} s ({f.bytes / MIB:.0f} MiB, {f.requests} requests)"
                      for i, f in zip(images, floors))
    return max(slowest, link), f"per disk: {parts}; all bytes over the link: {link:.2f} s"


def manifest(folder: Path, disks: list[tuple[str, Path, Image]], container_url: str) -> Path:
    lines = ["[image]", 'name = "bench-set"', f'resource_group = "{RG}"', f'location = "{LOC}"',
             'kind = "managed-image"', 'os_type = "linux"', 'hyper_v_generation = "V2"', "", "[storage]", f'container_url = "{container_url}"', ""]
    lun = 0
    for role, path, _image in disks:
        lines += ["[[disk]]", f'path = "{path.name}"', f'role = "{role}"']
        if role == "data":
            lines.append(f"lun = {lun}")
            lun += 1
        lines += ["skip_free = false", ""]
    out = folder / "set.toml"
    out.write_text("\n".join(lines))
    return out


def stub_az(folder: Path) -> Path:
    """A signed-in ``az`` that prints a fixed token: the only credential the run may use."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "az"
    script.write_text("#!/bin/sh\n"
                      "echo '{\"accessToken\": \"bench-token\", \"expires_on\": 4102444800, \"tokenType\": \"Bearer\", "
                      f"\"subscription\": \"{SUB}\", \"tenant\": \"00000000-0000-0000-0000-0000000000aa\"}}'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def run_set(label: str, extra: list[str], disks: list[tuple[str, Path, Image]], folder: Path, *,
            timeout: float, tree: Path = ROOT) -> SetRun:
    """One publish of the set, launch to exit, with vhdupload from ``tree``."""
    with start_azurite() as azurite, ShapingProxy(upstream_port=azurite.port, **SET_SHAPE) as proxy:
        account_url = f"http://127.0.0.1:{proxy.port}/{DEV_ACCOUNT}"
        double = start_arm_double(azurite_connection_string=azurite.connection_string, polls=1)
        try:
            double.add_storage_account(subscription=SUB, resource_group="storage-rg", name=DEV_ACCOUNT,
                                       blob_endpoint=account_url)
            path = manifest(folder, disks, f"{account_url}/bench")
            connection = (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
                          f"BlobEndpoint={account_url};")
            env = {**os.environ, "PATH": f"{stub_az(folder)}:/usr/bin:/bin", "AZURE_TOKEN_CREDENTIALS": "AzureCliCredential",
                   "PYTHONPATH": str(tree)}
            env.pop("AZURE_SUBSCRIPTION_ID", None)
            argv = [sys.executable, "-c", "import sys; from vhdupload.cli import main; sys.exit(main())", "publish",
                    str(path), "--json", "--no-progress", "--skip-guest-check", "--subscription", SUB,
                    "--arm-endpoint", double.url, "--connection-string", connection, *extra]
            proxy.reset()
            started = time.monotonic()
            done = subprocess.run(argv, env=env, cwd=folder, capture_output=True, text=True, timeout=timeout)
            seconds = time.monotonic() - started
            if done.returncode != 0:
                return SetRun(label, seconds, proxy.sent, proxy.requests, error=done.stderr.strip()[-400:])
            result = json.loads(done.stdout)
            if not all(d.get("verified") for d in result["disks"]):
                return SetRun(label, seconds, proxy.sent, proxy.requests, error="a disk did not verify")
            per_blob = {name.rsplit("/", 1)[-1]: sent for name, sent in proxy.blob_sent.items()}
            return SetRun(label, seconds, proxy.sent, proxy.requests, per_blob=per_blob)
        finally:
            double.stop()


def disks_run(*, count: int = 3, repeat: int = 1, timeout: float = 900,
              baseline: Path | None = None) -> tuple[str, bool]:
    """The Markdown section of the multi-disk publish (what ``suite.py`` adds to RESULTS.md),
    and whether every publish succeeded and verified; ``baseline``: another
    source tree (an older checkout) whose defaults run beside, as one more row."""
    folder = Path(tempfile.mkdtemp(prefix="bench-disks-", dir=WORK_DIR))
    try:
        disks = disk_files(folder, count)
        floor, how = set_floor([image for _role, _path, image in disks])
        log(f"set floor {floor:.2f} s ({how})")
        settings = {label: (extra, ROOT) for label, extra in SETTINGS.items()}
        if baseline is not None:
            settings[f"defaults of {_commit(baseline)}"] = ([], baseline)
        runs: dict[str, list[SetRun]] = {label: [] for label in settings}
        for r in range(repeat):
            for label, (extra, tree) in settings.items():  # interleaved, so drift hits all alike
                log(f"  publish of {count} disks, {label}, run {r + 1}")
                run = run_set(label, extra, disks, folder, timeout=timeout, tree=tree)
                log(f"    {run.seconds:.2f} s, {run.sent:,} bytes, {run.requests:,} requests {run.error}")
                runs[label].append(run)
        ok = all(not r.error for items in runs.values() for r in items)
        return render(disks, floor, how, runs), ok
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _commit(tree: Path) -> str:
    done = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h"], capture_output=True, text=True)
    return done.stdout.strip() or str(tree)


def render(disks, floor: float, how: str, runs: dict[str, list[SetRun]]) -> str:
    names = " + ".join(f"({image.name}) as {role}" for role, _path, image in disks)
    out = [f"### A VM's disks through one link: publish of {names}", "",
           "Shaped link: per blob 20 MiB/s and 250 requests/s, the link 40 MiB/s, 40 ms round trip; "
           "registration through the ARM double; launch to exit, verify `ranges` (the default).", "",
           f"The set's floor: **{floor:.2f} s** ({how}).", "",
           "| publish | wall (median, min-max) | ÷ set floor | bytes sent | requests |", "|---|---|---|---|---|"]
    for label, items in runs.items():
        ok = [r for r in items if not r.error]
        if not ok:
            out.append(f"| {label} | failed: {items[0].error if items else 'not run'} | | | |")
            continue
        walls = [r.seconds for r in ok]
        wall = statistics.median(walls)
        out.append(f"| {label} | {wall:.2f} s ({min(walls):.2f}-{max(walls):.2f}, n={len(ok)}) | "
                   f"{wall / floor:.2f}x | {statistics.median(r.sent for r in ok) / 1e6:.1f} MB | "
                   f"{statistics.median(r.requests for r in ok):,.0f} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--disks", type=int, default=3, help="disks in the set: (a) as OS disk, then (b)s")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", choices=sorted(SETTINGS), help="run one setting only")
    parser.add_argument("--baseline", type=Path, help="also run the defaults of this source tree (an older checkout)")
    args = parser.parse_args(argv)
    if args.only:
        for label in list(SETTINGS):
            if label != args.only:
                del SETTINGS[label]
    section, ok = disks_run(count=args.disks, repeat=args.repeat, baseline=args.baseline)
    print(section)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
