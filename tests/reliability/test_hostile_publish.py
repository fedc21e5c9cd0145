"""``publish`` refuses before it writes (issue 22, item 8), and a manifest of 10,000 bad disks
is a screenful, not 20,000 lines (issue 22, LOW).

A real run with ``blob = "x/../y.vhd"`` on a later disk created the container and uploaded the
whole first disk, then refused: every check a dry run makes now runs first, in every run.
"""

from __future__ import annotations

import time

import pytest

from tests.publish.conftest import container_url, disk_set, disks, double, service, write_manifest  # noqa: F401
from tests.support.registration import LOC, RG, SUB
from vhdupload import ArmConnection
from vhdupload.cli import main
from vhdupload.errors import PublishCheckError
from vhdupload.publish import PublishOptions, publish


def _containers(service) -> set[str]:  # noqa: F811
    return {c.name for c in service.list_containers()}


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_bad_blob_name_on_a_later_disk_writes_nothing(disks, double, compute_client, azurite, service,  # noqa: F811
                                                         container_url, dry_run):  # noqa: F811
    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"', disk_extra='blob = "x/../y.vhd"\n')
    before = _containers(service)
    with pytest.raises(PublishCheckError) as caught:
        publish(manifest, arm=ArmConnection.from_client(compute_client()), connection_string=azurite.connection_string,
                options=PublishOptions(dry_run=dry_run))
    assert any("[[disk]] #3: the blob name 'x/../y.vhd' has a '..' segment" in p for p in caught.value.problems)
    assert double.requests == [] and _containers(service) == before  # not a read, not a container


def test_a_destination_refused_locally_is_refused_for_every_disk_before_any_request(disks, double, compute_client,  # noqa: F811
                                                                                    azurite, service):  # noqa: F811
    # a container name Azure refuses: only building the blob's client finds it (no manifest rule does)
    manifest = write_manifest(disks.folder, storage=f'container_url = "{azurite.account_url}/Bad_Container"')
    with pytest.raises(PublishCheckError) as caught:
        publish(manifest, arm=ArmConnection.from_client(compute_client()), connection_string=azurite.connection_string)
    problems = caught.value.problems
    assert len(problems) == 3 and all("'Bad_Container' is not a valid container name" in p for p in problems)
    assert [p.split(":")[0] for p in problems] == ["[[disk]] #1 (os.vhd)", "[[disk]] #2 (data0.vhd)", "[[disk]] #3 (data1.vhd)"]
    assert double.requests == []


def test_ten_thousand_bad_disks_print_twenty_lines_and_a_count(tmp_path, stub_az, capsys):
    disks = "".join(f'[[disk]]\npath = "d{i}.vhd"\nlun = 99\n' for i in range(10_000))
    manifest = tmp_path / "many.toml"
    manifest.write_text(f'[image]\nname = "app"\nresource_group = "{RG}"\nlocation = "{LOC}"\nos_type = "linux"\n'
                        f'[storage]\ncontainer_url = "https://a.blob.core.windows.net/c"\n{disks}')
    started = time.monotonic()
    code = main(["publish", str(manifest), "--subscription", SUB, "--arm-endpoint", "http://127.0.0.1:9"])
    seconds = time.monotonic() - started
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == 1 and out == ""
    assert len(lines) == 21 and all(line.startswith("error: ") for line in lines), lines[:3]
    assert lines[-1].startswith("error: and ") and lines[-1].endswith(" more problems")
    total = 20 + int(lines[-1].split()[2])
    assert total >= 10_000  # each disk's lun, and the missing OS disk
    assert seconds < 10, seconds
