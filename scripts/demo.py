"""The README's first command: make a sample disk, then inspect it, upload it to a local Azurite,
verify it and show its status, all through the real CLI.

The sample is an ext4 file system (holding a copy of Python's standard library) inside a dynamic
VHD made by qemu-img, the way a user's image usually arrives: sparse, not a whole MiB, not fixed.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.azurite import start_azurite  # noqa: E402

VHDUPLOAD = [sys.executable, "-c", "from vhdupload.cli import main; main()"]


def run(args: list[str], *, check: bool = True) -> int:
    shown = ["vhdupload", *args]
    print(f"\n$ {shlex.join(shown)}", flush=True)
    return subprocess.run([*VHDUPLOAD, *args], check=check).returncode


def make_sample(workdir: Path) -> Path:
    raw = workdir / "sample.raw"
    tree = workdir / "tree"
    # Python's own standard library: a real directory tree of some tens of MB on every machine.
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    shutil.copytree(
        stdlib, tree / "python", ignore=shutil.ignore_patterns("__pycache__", "site-packages", "test", "tests")
    )
    # 250 MiB + 3 sectors: deliberately not a whole MiB, so the upload has to fix it.
    with open(raw, "wb") as handle:
        handle.truncate(250 * 1024 * 1024 + 1536)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(raw), "250M"], check=True)
    vhd = workdir / "sample.vhd"
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic,force_size=on", str(raw), str(vhd)],
        check=True,
    )
    raw.unlink()
    return vhd


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="vhdupload-demo-") as tmp:
        workdir = Path(tmp)
        print("Making a sample image: an ext4 file system in a dynamic VHD (qemu-img)...", flush=True)
        vhd = make_sample(workdir)
        with start_azurite() as azurite:
            print(f"Azurite (local Azure Storage emulator) is listening on 127.0.0.1:{azurite.port}", flush=True)
            # --emulator uses the well-known development account, so no key appears on the command line.
            storage = ["--emulator", "--account-url", azurite.account_url]
            dest = "images/sample.vhd"
            run(["inspect", str(vhd)])
            run(["upload", str(vhd), dest, *storage, "--no-progress"])
            run(["verify", str(vhd), dest, *storage])
            run(["status", dest, *storage])
            print("\nRunning the same upload again sends nothing:", flush=True)
            run(["upload", str(vhd), dest, *storage, "--no-progress"])
            converted = workdir / "sample-fixed.vhd"
            run(["convert", str(vhd), str(converted)])
            run(["inspect", str(converted)])
    print("\nDone: the sample was uploaded to Azurite as a fixed VHD page blob and verified.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
