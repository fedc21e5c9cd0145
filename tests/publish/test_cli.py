"""``vhdupload publish`` on the command line: DefaultAzureCredential limited to a stub ``az``
(``stub_az``, tests/conftest.py), the ARM double through ``--arm-endpoint``, Azurite through
``--connection-string``; kill -9 in the middle of an upload, then a rerun that completes."""

from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import time

import pytest

from tests.support.registration import SUB
from tests.support.uploads import cli_command
from vhdupload.cli import main

from .conftest import assert_holds, write_manifest


def _args(double, azurite) -> list[str]:
    return ["--subscription", SUB, "--arm-endpoint", double.url, "--connection-string", azurite.connection_string]


def test_json_result_and_a_rerun(stub_az, disks, double, azurite, container_url, capsys):  # noqa: F811
    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    code = main(["publish", str(manifest), "--json", *_args(double, azurite)])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"image_id", "created", "bytes_sent", "seconds", "disks"}
    assert result["created"] is True and result["image_id"].endswith("/images/app-image")
    assert [set(d) for d in result["disks"]] == [{"path", "role", "lun", "destination", "bytes_sent", "resumed", "verified",
                                                 "free_bytes_skipped"}] * 3  # a generalized image skips free space
    assert double.puts()[0].headers["Authorization"] == "Bearer stub-cli-token"
    assert "note: [[disk]] #1 (os.vhd): Hyper-V generation V2" in err
    assert azurite.connection_string.split("AccountKey=")[1].split(";")[0] not in out + err
    code = main(["publish", str(manifest), *_args(double, azurite)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "already registered with this body; nothing written" in out and "sent 0 bytes" in out
    assert len(double.puts()) == 1


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace('role = "os"\n', ""), 'no [[disk]] has role = "os"'),
    (lambda t: t.replace("lun = 3", "lun = 0"), "[[disk]] #3: lun 0 is also [[disk]] #2's"),
    (lambda t: t.replace("lun = 3", "lun = 3\nsize = 5"), "[[disk]] #3: unknown key 'size'"),
    (lambda t: t.replace('path = "data1.vhd"', 'path = "missing.vhd"'), "[[disk]] #3 (missing.vhd): "),
])
def test_manifest_errors_are_one_line_each_and_touch_nothing(stub_az, disks, double, azurite, container_url, capsys,  # noqa: F811
                                                             edit, words):
    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    manifest.write_text(edit(manifest.read_text()))
    code = main(["publish", str(manifest), *_args(double, azurite)])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: publish.toml: " if "missing" not in words else "error: [[disk]]")
    assert words in err
    assert double.requests == [] and not stub_az.exists()


def test_dry_run_prints_the_plan_and_creates_nothing(stub_az, disks, double, azurite, container_url, service, capsys):  # noqa: F811
    manifest = write_manifest(disks.folder, storage="managed_disks = true")
    code = main(["publish", str(manifest), "--dry-run", *_args(double, azurite)[:4]])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert double.writes() == [] and not double.upload_disks
    assert "# disks (nothing is created by a dry run):" in out
    assert "os.vhd (OS disk) -> /subscriptions/" in out and "/disks/app-image-os" in out
    assert f"az disk create --subscription {SUB} --resource-group images-rg --name app-image-data1 --location westeurope " \
           "--upload-type Upload --upload-size-bytes 24117760" in out  # 23 MiB + 512
    assert "az image create" in out and '"managedDisk": {' in out


def _held(container) -> int:
    try:
        return sum(r.end + 1 - r.start for b in container.list_blobs()
                   for r in container.get_blob_client(b.name).list_page_ranges())
    except Exception:  # noqa: BLE001 - the container may not exist yet
        return 0


def _stop_mid_flight(argv: list[str], container, sig: int) -> subprocess.CompletedProcess:
    """Run ``argv``; once 256 KiB more than before are on the blobs, send ``sig``."""
    before = _held(container)
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and _held(container) < before + 256 * 1024:
            if process.poll() is not None:
                pytest.fail(f"publish ended before it could be stopped: {process.communicate()}")
            time.sleep(0.05)
        process.send_signal(sig)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def test_ctrl_c_then_kill_9_in_the_middle_then_a_rerun_completes(stub_az, disks, double, azurite, container_url,  # noqa: F811
                                                                 service):
    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    argv = cli_command("publish", str(manifest), "--json", "--no-progress", "--max-bandwidth", "1MB/s",
                       "--lease-seconds", "15", *_args(double, azurite))
    container = service.get_container_client(container_url.rsplit("/", 1)[1])
    interrupted = _stop_mid_flight(argv, container, signal.SIGINT)
    assert interrupted.returncode == 130, interrupted.stderr
    assert interrupted.stderr.strip().splitlines()[-1] == "error: interrupted; nothing was deleted: run the same publish again to continue"
    kept = _held(container)
    assert kept > 0 and interrupted.stdout == ""
    killed = _stop_mid_flight(argv, container, signal.SIGKILL)  # no cleanup at all, leases left held
    assert killed.returncode == -9
    assert double.puts() == []  # stopped before any registration
    assert _held(container) > kept
    rerun = subprocess.run(cli_command("publish", str(manifest), "--json", "--wait", *_args(double, azurite)),
                           capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    assert result["created"] is True and any(d["resumed"] for d in result["disks"])
    assert all(d["verified"] for d in result["disks"])
    assert len(double.puts()) == 1
    for name, content in disks.content.items():
        assert_holds(container.get_blob_client(name).download_blob().readall(), content)


def test_bars_per_disk_and_a_total_on_a_terminal_only(stub_az, disks, double, azurite, container_url):  # noqa: F811
    from tests.support.terminal import run_cli

    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    args = ["publish", str(manifest), "--json", "--max-bandwidth", "8MB/s", *_args(double, azurite)]
    code, out, err = run_cli(args, tty=True)
    assert code == 0, err
    assert json.loads(out)["created"] is True  # stdout: the JSON alone
    for name in ("total", "os.vhd", "data0.vhd", "data1.vhd"):  # one bar per disk plus the total
        assert re.search(rf"\r{re.escape(name)}:\s+\d+%\|", err), (name, err)
        # and once the uploads end, its final line stays on screen at 100 % (a small disk done
        # between two redraws was wiped at 0 %)
        assert re.search(rf"[\r\n]{re.escape(name)}: 100%\|[^\r\n\x1b]*\]\r?\n", err), (name, err)
    code, out, err = run_cli([*args[:2], "--json", *_args(double, azurite)], tty=False)  # a rerun, not on a terminal
    assert code == 0 and "total" not in err and "os.vhd:" not in err


def test_replication_bars_are_drawn_on_a_terminal_that_says_it_has_no_rows(stub_az, disks, double, azurite,  # noqa: F811
                                                                           container_url):
    # A fresh pseudo-terminal reports 0 x 0; tqdm given 0 rows draws nothing, and the regions'
    # bars never showed (the disks' did: they were given the size the CLI worked out).
    from tests.support.terminal import run_cli

    double.replication_step = 50
    manifest = write_manifest(
        disks.folder, kind="gallery-version", storage=f'container_url = "{container_url}"',
        image_extra='gallery = "gal"\ndefinition = "app"\nversion = "1.0.0"\npublisher = "c"\noffer = "a"\nsku = "v1"\n'
                    'target_regions = ["eastus"]\n')
    code, _out, err = run_cli(["publish", str(manifest), "--poll-seconds", "0", *_args(double, azurite)], tty=True)
    assert code == 0, err
    for region in ("westeurope", "eastus"):
        assert re.search(rf"replicating to {region} *: 100%\|[^\r\n]*\| Completed", err), (region, err)
    assert "| , " not in err  # the state follows the bar, without tqdm's postfix comma
