"""The managed-disk path as a user drives it: the CLI, a crash (kill -9) and the same command
again, another upload's heartbeat, Ctrl-C (which clears it) and the same command at once,
--delete-on-failure, status and verify."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from tests.support.registration import SUB
from tests.support.uploads import qemu_img, write_random
from vhdupload.cli import main

MIB = 1024 * 1024


def arm_args(double) -> list[str]:
    return ["-g", RG, "-l", "westeurope", "--subscription", SUB, "--arm-endpoint", double.url]


@pytest.fixture
def dynamic_vhd(tmp_path):
    """A dynamic VHD of a size that is not a whole MiB (qemu-img rounds it to CHS)."""
    raw = tmp_path / "src.raw"
    runs = [(i * 3 * MIB + 4096 * i, 512 * 1024) for i in range(12)]
    content = write_random(raw, 40 * MIB, runs=runs)
    vhd = tmp_path / "src.vhd"
    qemu_img("convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic", raw, vhd)
    return vhd, content


def test_cli_json_and_status_and_verify(stub_az, managed_disk_double, dynamic_vhd, capsys):
    vhd, content = dynamic_vhd
    code = main(["upload", str(vhd), "--managed-disk", "dyn", *arm_args(managed_disk_double), "--json", "--tag", "team=img"])
    out = capsys.readouterr()
    assert code == 0, out.err
    result = json.loads(out.out)
    assert result["disk_state"] == "Unattached" and result["disk_id"].lower().endswith("/disks/dyn")
    assert {"resumed", "bytes_sent", "crc64", "data_bytes"} <= set(result)
    data = managed_disk_double.disk_bytes("dyn")
    assert data[: len(content)] == content and not any(data[len(content):-512])
    assert (len(data) - 512) % MIB == 0
    assert main(["verify", str(vhd), "--managed-disk", "dyn", *arm_args(managed_disk_double)]) == 0
    assert "identical" in capsys.readouterr().out
    assert main(["status", "--managed-disk", "dyn", *arm_args(managed_disk_double), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["disk_state"] == "Unattached" and status["complete"] and status["crc64"] == result["crc64"]
    assert main(["upload", str(vhd), "--managed-disk", "dyn", *arm_args(managed_disk_double), "--content-md5"]) == 2
    assert "Content-MD5" in capsys.readouterr().err


def test_kill_9_then_the_same_command_resumes(managed_disk_double, tmp_path):
    raw = tmp_path / "big.raw"
    content = write_random(raw, 64 * MIB, runs=[(i * 2 * MIB, MIB) for i in range(32)])
    script = (
        "import sys\n"
        "from tests.support.registration import FakeCredential, SUB\n"
        "from vhdupload import ArmConnection, ManagedDisk, TransferSettings, upload\n"
        "from vhdupload.destinations import disk_tags\n"
        # ARM's write throttling needs 15-20 s between tag writes; the double does not, and a
        # heartbeat every second records the resume watermark before the kill.
        "disk_tags.HEARTBEAT_SECONDS, disk_tags._MIN_TAG_WRITE_INTERVAL = 1, 0.5\n"
        f"arm = ArmConnection(SUB, credential=FakeCredential(), endpoint={managed_disk_double.url!r})\n"
        f"disk = ManagedDisk('big', resource_group={RG!r}, arm=arm, location='westeurope')\n"
        f"settings = TransferSettings(threads=2, max_bandwidth={4 * MIB})\n"
        f"r = upload({str(raw)!r}, disk, raw=True, settings=settings)\n"
        "print(r.bytes_sent)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=os.getcwd(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.3)
        try:
            if managed_disk_double.disk_state("big") == "ActiveUpload" and len(list(
                    managed_disk_double.disk_blob("big").list_page_ranges())) >= 3 and int(
                    managed_disk_double.disk("big")["tags"].get("vhdupload_watermark", "0")) > 0:
                break
        except KeyError:
            pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert managed_disk_double.disk_state("big") == "ActiveUpload"

    from tests.support.registration import FakeCredential
    from vhdupload import ArmConnection, ManagedDisk, upload
    from vhdupload.errors import LeaseHeldError

    arm = ArmConnection(SUB, credential=FakeCredential(), endpoint=managed_disk_double.url)
    disk = ManagedDisk("big", resource_group=RG, arm=arm, location="westeurope")
    # Its heartbeat is fresh: another upload may still be writing (a kill -9 clears nothing).
    with pytest.raises(LeaseHeldError, match="heartbeat"):
        upload(raw, disk, raw=True)
    managed_disk_double.clock_offset = 120  # a minute later, by ARM's clock: the writer has stopped
    result = upload(raw, disk, raw=True)
    assert result.resumed and result.bytes_present > 0
    assert result.bytes_sent < 32 * MIB
    data = managed_disk_double.disk_bytes("big")
    assert data[: len(content)] == content and managed_disk_double.disk_state("big") == "Unattached"


def test_failure_leaves_the_disk_or_deletes_what_it_made(managed_disk_double, arm_connection, tmp_path):
    from vhdupload import ManagedDisk, upload
    from vhdupload.errors import SourceChangedError

    raw = tmp_path / "d.raw"
    write_random(raw, 24 * MIB, runs=[(0, MIB), (8 * MIB, MIB)])

    def touch_source(_progress) -> None:  # the source is written during the upload: a real failure
        stat = raw.stat()
        os.utime(raw, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))

    disk = ManagedDisk("left", resource_group=RG, arm=arm_connection(), location="westeurope")
    with pytest.raises(SourceChangedError) as info:
        upload(raw, disk, raw=True, progress=touch_source)
    message = str(info.value)
    assert "az disk delete --resource-group images-rg --name left" in message and "left ActiveUpload" in message
    assert managed_disk_double.disk_state("left") == "ActiveUpload"
    disk2 = ManagedDisk("gone", resource_group=RG, arm=arm_connection(), location="westeurope", delete_on_failure=True)
    with pytest.raises(SourceChangedError, match="was deleted"):
        upload(raw, disk2, raw=True, progress=touch_source)
    with pytest.raises(KeyError):
        managed_disk_double.disk_state("gone")


def test_ctrl_c_then_the_same_command_resumes_at_once(stub_az, managed_disk_double, tmp_path, capsys):
    """SIGINT (Ctrl-C) mid-upload: exit 130 and one line; the clean stop cleared the heartbeat, so
    the same command run at once continues the disk (no "heartbeat ... rerun in" refusal)."""
    from tests.support.uploads import cli_command

    raw = tmp_path / "int.raw"
    content = write_random(raw, 48 * MIB, runs=[(i * 2 * MIB, MIB) for i in range(24)])
    argv = ["upload", str(raw), "--managed-disk", "int", *arm_args(managed_disk_double), "--raw", "--no-progress",
            "--threads", "2", "--max-bandwidth", "4MB/s"]
    proc = subprocess.Popen(cli_command(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            try:
                if managed_disk_double.disk_state("int") == "ActiveUpload" and len(list(
                        managed_disk_double.disk_blob("int").list_page_ranges())) >= 4:
                    break
            except KeyError:
                pass
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err.startswith("error: interrupted") and err.count("\n") == 1 and "run the same command again" in err, err
    assert managed_disk_double.disk_state("int") == "ActiveUpload"
    tags = managed_disk_double.disk("int")["tags"]
    assert not tags.get("vhdupload_heartbeat") and int(tags.get("vhdupload_watermark", "0")) > 0, tags
    # the same command at once, no clock moved (without the bandwidth cap, to stay fast)
    code = main([*argv[:-4], "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    result = json.loads(out.out)
    assert result["resumed"] and result["bytes_present"] > 0 and result["disk_state"] == "Unattached"
    data = managed_disk_double.disk_bytes("int")
    assert data[: len(content)] == content and managed_disk_double.disk_state("int") == "Unattached"
