"""Issue 20: a plain ``pip install vhdupload`` (no extras) into a new venv has the guest check:
it inspects a provisioned disk as "not generalized". Slow (a venv and its dependencies, from the
package index and pip's cache); skipped with the reason when pip cannot reach the index."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_OFFLINE = ("NewConnectionError", "Temporary failure in name resolution", "Name or service not known",
            "Network is unreachable", "ConnectTimeoutError", "ProxyError", "No matching distribution found",
            "Could not find a version that satisfies")


@pytest.fixture(scope="session")
def plain_venv(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("plain-install")
    # a copy of the package, so pip's build leaves nothing in the checkout (--no-compile: the test
    # runs the CLI twice, byte-compiling azure-mgmt-compute's thousands of modules would not pay)
    source = work / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("vhdupload", "vhdupload_entry"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    done = subprocess.run([str(venv / "bin/pip"), "install", "--quiet", "--no-compile", str(source)],
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        output = done.stdout + done.stderr
        reason = next((marker for marker in _OFFLINE if marker in output), None)
        if reason is not None:
            pytest.skip(f"pip cannot install vhdupload's dependencies from the index here ({reason})")
        pytest.fail(f"pip install failed:\n{output[-3000:]}")
    return venv


@pytest.mark.slow
def test_a_plain_install_inspects_a_provisioned_disk_as_not_generalized(plain_venv, images):
    disk = str(images.get("ext4-not-generalized"))
    vhdupload = str(plain_venv / "bin/vhdupload")
    done = subprocess.run([vhdupload, "inspect", "--json", disk], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    guest = json.loads(done.stdout)["guest"]
    assert guest["read"] is True
    assert (guest["os_type"], guest["generalized"], guest["would_provision"]) == ("linux", False, False)
    strict = subprocess.run([vhdupload, "inspect", "--strict", disk], capture_output=True, text=True, timeout=120)
    assert strict.returncode == 3, strict.stdout + strict.stderr
    assert "the OS inside is not generalized" in strict.stdout
