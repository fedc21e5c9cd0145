"""Every wait on Azure Resource Manager is bounded and said (issue 22, item 7).

The ARM double's hostile modes: ``never_finish`` (an operation that stays InProgress for ever:
it used to be waited for silently, without end) and ``throttle_next`` with a huge
``Retry-After`` (a 429 saying ``Retry-After: 100000`` slept 28 hours). The waits are shortened
for the tests by lowering the module's limits; what is checked is that the wait ends, on time,
with words that name the resource, and that the user heard what it waited for.
"""

from __future__ import annotations

import time

import pytest

import vhdupload.azure.arm as arm_module
from tests.support.arm_double import DEFAULT_RESOURCE_GROUP
from tests.support.registration import LOC, RG, SUB, FakeCredential
from vhdupload import ArmConnection, ManagedDisk, upload
from vhdupload.cli import main
from vhdupload.errors import ArmError, InputError
from vhdupload.registration import ImageSpec, Registrar


@pytest.fixture
def quick_notices(monkeypatch):
    """Announce a wait after 0.5 s (5 s in use), so a test need not wait for it."""
    monkeypatch.setattr(arm_module, "WAIT_NOTICE_SECONDS", 0.5)


def _connection(double, notes: list[str], **kwargs) -> ArmConnection:
    return ArmConnection(SUB, credential=FakeCredential(), endpoint=double.url, on_wait=notes.append, **kwargs)


def _image(blob_url: str, name: str = "web") -> ImageSpec:
    return ImageSpec(name=name, resource_group=RG, location=LOC, os_disk=blob_url, os_type="linux",
                     hyper_v_generation="V2", skip_preflight=True)


def test_an_image_that_never_finishes_is_given_up_at_the_deadline_and_said(arm, blobs, quick_notices):
    arm.never_finish = True
    notes: list[str] = []
    registrar = Registrar(_connection(arm, notes, operation_timeout=2), polling_interval=0.05)
    started = time.monotonic()
    with pytest.raises(ArmError) as caught:
        registrar.register(_image(blobs.page_blob("os.vhd")))
    seconds = time.monotonic() - started
    assert 2 <= seconds < 6, seconds
    assert caught.value.code == "OperationTimedOut"
    text = str(caught.value)
    assert text.startswith("gave up waiting for Azure to create the OS image web after 2 s") and "\n" not in text
    assert notes and notes[0].startswith("waiting for Azure to create the OS image web (InProgress")


def test_each_kind_has_a_generous_deadline_of_its_own():
    connection = ArmConnection(SUB, credential=FakeCredential())
    assert connection.watch("managed disk", "x").deadline == 30 * 60
    assert connection.watch("image", "x").deadline == 90 * 60
    assert connection.watch("gallery image version", "x").deadline == 120 * 60
    assert ArmConnection(SUB, credential=FakeCredential(), operation_timeout=5).watch("image", "x").deadline == 5
    with pytest.raises(InputError, match="operation_timeout"):
        ArmConnection(SUB, credential=FakeCredential(), operation_timeout=0)


def test_a_huge_retry_after_is_cut_and_said(arm, blobs, monkeypatch):
    """A 429 asking for 100,000 s: waited for the cap (1 s here, 60 s in use), said, then retried."""
    monkeypatch.setattr(arm_module, "MAX_RETRY_AFTER_SECONDS", 1)
    monkeypatch.setattr(arm_module, "WAIT_NOTICE_SECONDS", 0.5)
    arm.throttle_next, arm.throttle_retry_after = 1, "100000"
    notes: list[str] = []
    registrar = Registrar(_connection(arm, notes), polling_interval=0.05)
    started = time.monotonic()
    image = registrar.register(_image(blobs.page_blob("os.vhd")))
    seconds = time.monotonic() - started
    assert image.as_dict()["id"].endswith("/images/web")
    assert 1 <= seconds < 8, seconds
    puts = [r for r in arm.requests if r.method == "PUT"]
    assert len(puts) == 2 and 0.9 <= puts[1].at - puts[0].at < 5  # the 429, then the retry one cap later
    assert any("is busy (429) and asks PUT" in n and "to wait 100000 s, cut to 1 s" in n for n in notes), notes


def test_an_operation_whose_polls_ask_for_a_huge_wait_is_polled_at_the_cap(arm, blobs, monkeypatch):
    monkeypatch.setattr(arm_module, "MAX_RETRY_AFTER_SECONDS", 1)
    arm.poll_retry_after = "100000"
    started = time.monotonic()
    image = Registrar(_connection(arm, []), polling_interval=0.05).register(_image(blobs.page_blob("os.vhd")))
    assert image.as_dict()["id"].endswith("/images/web")
    assert 0.9 <= time.monotonic() - started < 10  # the double's 2 polls, each waited 1 s (60 s in use), not 28 hours


def test_a_retry_after_as_a_date_is_cut_too(arm, blobs, monkeypatch):
    monkeypatch.setattr(arm_module, "MAX_RETRY_AFTER_SECONDS", 1)
    arm.throttle_next, arm.throttle_retry_after = 1, "Fri, 31 Dec 2100 23:59:59 GMT"
    started = time.monotonic()
    Registrar(_connection(arm, []), polling_interval=0.05).register(_image(blobs.page_blob("os.vhd")))
    assert time.monotonic() - started < 8


def test_a_managed_disk_that_is_never_created_is_given_up(managed_disk_double, tmp_path, quick_notices):
    from tests.support.uploads import qemu_img

    vhd = tmp_path / "d.vhd"
    qemu_img("create", "-f", "vpc", "-o", "subformat=fixed", vhd, "21M")
    managed_disk_double.never_finish = True
    notes: list[str] = []
    disk = ManagedDisk("stuck", resource_group=DEFAULT_RESOURCE_GROUP, location=LOC,
                       arm=_connection(managed_disk_double, notes, operation_timeout=2))
    started = time.monotonic()
    with pytest.raises(ArmError, match="^gave up waiting for Azure to create the managed disk stuck after 2 s"):
        upload(vhd, disk)
    assert time.monotonic() - started < 8
    assert any(n.startswith("waiting for Azure to create the managed disk stuck") for n in notes), notes


def test_the_cli_says_what_it_waits_for_and_names_the_flag(arm, blobs, stub_az, capsys, quick_notices):
    arm.never_finish = True
    started = time.monotonic()
    code = main(["register", "image", "web", "-g", RG, "-l", LOC, "--os-disk", blobs.page_blob("os.vhd"), "--os-type", "linux",
                 "--hyper-v-generation", "V2", "--skip-preflight", "--subscription", SUB, "--arm-endpoint", arm.url,
                 "--arm-timeout", "2"])
    seconds = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 1 and 2 <= seconds < 8, (seconds, err)
    lines = err.splitlines()
    assert any(line.startswith("note: waiting for Azure to create the OS image web (InProgress") for line in lines), lines
    assert lines[-1].startswith("error: gave up waiting for Azure to create the OS image web after 2 s")
    assert lines[-1].endswith("(allow longer with --arm-timeout SECONDS)")
