"""Issue 22: hostile file systems end within the guest check's own bounds, and one unreadable
file does not hide the other signs."""

from __future__ import annotations

import struct
import time

import pytest

from vhdupload import open_disk
from vhdupload.cli import main
from vhdupload.guest import examine
from vhdupload.guest.partitions import read_partitions
from vhdupload.guest.source import DEFAULT_SECONDS, Budget, BudgetExceeded

from .images import MIB, gpt_disk


def _examine(path, **kwargs):
    with open_disk(path) as disk:
        return examine(disk, **kwargs)


def test_a_tangled_file_system_is_judged_within_the_deadline(images):
    path = images.get("tangled")
    started = time.monotonic()
    report = _examine(path)
    elapsed = time.monotonic() - started
    # it was killed at 300 s before; the whole check is bounded by 10 s whatever the disk holds
    assert DEFAULT_SECONDS <= 10
    assert elapsed < DEFAULT_SECONDS + 1, elapsed
    assert report.generalized is None and report.would_provision is None
    (tangled,) = [w for w in report.warnings if w.startswith("can't tell: the file system is too tangled to read")]
    assert "not checked: /var/lib/waagent, the SSH host keys" in tangled
    assert not any(w.startswith("could not check") for w in report.warnings)  # one warning says it for all


def test_the_clock_is_read_on_every_lookup():
    late = Budget(seconds=0)
    time.sleep(0.01)
    with pytest.raises(BudgetExceeded, match="too tangled to read in 0 s"):
        late.step()  # no byte read: a lookup in cached blocks
    counted = Budget(max_steps=3)
    for _ in range(3):
        counted.step()
    with pytest.raises(BudgetExceeded, match="too tangled to read: more than 3 path lookups"):
        counted.step()


def test_a_looping_os_release_does_not_hide_a_provisioned_disk(images, capsys):
    report = _examine(images.get("looping-os-release"))
    assert report.os_type == "linux" and report.os_name == "Linux"
    assert report.generalized is False and report.would_provision is False
    assert "/var/lib/waagent/provisioned is present (the agent will not provision a new VM)" in report.signs
    assert any(w.startswith("could not check the distribution (/etc/os-release): ")
               and "too many symbolic links" in w for w in report.warnings), report.warnings
    assert report.unchecked == ["the distribution (/etc/os-release)"]
    assert main(["inspect", "--strict", str(images.get("looping-os-release"))]) == 3
    out = capsys.readouterr().out
    assert "verdict:        the file is ready; the OS inside is not generalized — see below\n" in out
    assert "  OS:              Linux (linux)\n" in out


def test_a_gpt_entry_array_outside_the_disk_is_not_believed(tmp_path):
    path = gpt_disk(tmp_path / "d.raw", 8 * MIB, [(1, 4, "8300")])
    data = bytearray(path.read_bytes())
    struct.pack_into("<Q", data, 512 + 72, 10**9)  # PartitionEntryLBA, far past the end
    table = read_partitions(lambda o, n: bytes(data[o : o + n]), len(data))
    assert table.partitions == []
    assert table.warnings and "outside the disk" in table.warnings[0] and "LBA 1000000000" in table.warnings[0]


def test_publish_refuses_the_looping_os_release_disk(images):
    from pathlib import Path

    from vhdupload.errors import PublishCheckError
    from vhdupload.publish import DiskSource, ImageTarget, PublishPlan, StorageTarget
    from vhdupload.publish.check import check_disks

    plan = PublishPlan(
        image=ImageTarget(name="img", resource_group="rg", location="westeurope", os_type="linux",
                          hyper_v_generation="V1"),
        storage=StorageTarget(container_url="https://acct.blob.core.windows.net/vhds"),
        disks=(DiskSource(path=Path(images.get("looping-os-release")), role="os"),),
    ).validated()
    with pytest.raises(PublishCheckError) as caught:  # it went ahead with a warning before
        check_disks(plan)
    (problem,) = caught.value.problems
    assert "is not generalized" in problem and "/var/lib/waagent/provisioned is present" in problem
