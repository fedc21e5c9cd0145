"""The README's library example, run as written against Azurite and the ARM double: only its
first three assignments (the credential, the ARM connection and the page blob) are replaced."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

from tests.support.registration import FakeCredential
from vhdupload import ArmConnection, PageBlob

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLACES = ("credential = ", "arm = ", "blob = ")


def readme_library_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Library"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_library_example_runs(azurite, container_name, managed_disk_double, compute_client, tmp_path,
                                         monkeypatch, capsys):
    code = readme_library_block()
    lines = code.splitlines()
    for place in PLACES:  # the example keeps these three where a reader changes them
        assert sum(line.startswith(place) for line in lines) == 1, place
    code = "\n".join(line for line in lines if not line.startswith(PLACES))
    disk = tmp_path / "os.img"
    with open(disk, "wb") as f:
        f.truncate(48 * 1024 * 1024)
    subprocess.run(["sgdisk", "-n", "1:2048:+8M", "-t", "1:ef00", "-n", "2:0:0", str(disk)], check=True,
                   capture_output=True)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic,force_size=on",
                    str(disk), str(tmp_path / "os.vhd")], check=True, capture_output=True)
    monkeypatch.chdir(tmp_path)
    namespace = {
        "credential": FakeCredential(),
        "arm": ArmConnection.from_client(compute_client()),
        "blob": PageBlob.from_connection_string(azurite.connection_string, container_name, "app-os.vhd"),
    }
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    out = capsys.readouterr().out
    assert "dynamic" in out and "/images/app-os-image" in out
    assert namespace["image"].as_dict()["properties"]["provisioningState"] == "Succeeded"
    put = [r for r in managed_disk_double.puts() if "/images/" in r.path][0]
    assert put.body["properties"]["storageProfile"]["osDisk"]["blobUri"].endswith(f"/{container_name}/app-os.vhd")
    assert os.path.exists(tmp_path / "os.vhd")


def test_the_readme_library_example_type_checks(tmp_path):
    """The README says the suite type-checks its library block with ``mypy --strict``: the
    block as written (nothing replaced), against the package's own annotations."""
    block = tmp_path / "readme_library.py"
    block.write_text(readme_library_block())
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "mypy-cache"), str(block)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found in 1 source file" in done.stdout
