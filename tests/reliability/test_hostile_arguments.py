"""Hostile arguments at the public boundary: bad values are InputError (a VhdUploadError), never a
builtin exception; hostile names and server texts never reach a terminal raw (issue 11, part 5)."""

from __future__ import annotations

import json
import uuid

import pytest
from azure.storage.blob import BlobClient

import vhdupload
import vhdupload.azure_rules
import vhdupload.registration
from vhdupload import InputError, convert_image, inspect_disk, open_disk
from vhdupload.azure_rules import azure_readiness
from vhdupload.azure.credentials import parse_destination
from vhdupload.cli import main
from vhdupload.printable import printable
from vhdupload.vhd import Footer
from vhdupload.vhd.dynamic_header import DynamicHeader

from tests.vhd.builders import MIB, build_dynamic, build_fixed


# -- the format layer ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["a\0b", None, 42, b"a\0b", ""])
def test_paths_no_file_system_can_open(path):
    with pytest.raises(InputError):
        open_disk(path)
    with pytest.raises(InputError):
        inspect_disk(path)


def test_convert_destination_with_a_nul(tmp_path):
    src = build_fixed(tmp_path / "f.vhd", virtual_size=MIB)
    with pytest.raises(InputError, match="NUL"):
        convert_image(src, str(tmp_path / "out\0.vhd"))
    with pytest.raises(InputError, match="progress"):
        convert_image(src, tmp_path / "out.vhd", progress="not callable")


@pytest.mark.parametrize("thing", [None, "disk.vhd", object()])
def test_readiness_of_something_that_is_not_a_disk(thing):
    with pytest.raises(InputError, match="azure_readiness"):
        azure_readiness(thing)


@pytest.mark.parametrize(
    "changes",
    [
        {"current_size": -1}, {"current_size": 2**64}, {"disk_type": "fixed"}, {"cookie": b"abc"},
        {"heads": 256}, {"uuid": "not a uuid"}, {"creator_application": b"toolong"}, {"timestamp": 1.5},
        {"reserved": bytes(10)}, {"saved_state": True},
    ],
)
def test_footer_fields_out_of_range(changes):
    with pytest.raises(InputError, match="VHD footer field"):
        Footer(**changes).to_bytes()


def test_dynamic_header_fields_out_of_range():
    with pytest.raises(InputError):
        DynamicHeader(block_size=-1).to_bytes()
    with pytest.raises(InputError):
        DynamicHeader(locators=()).to_bytes()


def test_reading_a_closed_disk(tmp_path):
    for path in (build_fixed(tmp_path / "f.vhd", virtual_size=MIB, writes={0: b"x"}),
                 build_dynamic(tmp_path / "d.vhd", virtual_size=4 * MIB, writes={0: b"x"})):
        disk = open_disk(path)
        disk.close()
        with pytest.raises(InputError, match="closed"):
            disk.read(0, 1)
        with pytest.raises(InputError, match="closed"):
            list(disk.extents())


def test_reads_outside_the_disk_and_odd_arguments(tmp_path):
    with open_disk(build_fixed(tmp_path / "f.vhd", virtual_size=MIB)) as disk:
        for offset, length in ((-1, 1), (MIB, 1), (0, MIB + 1), ("0", 1), (0, None), (0.5, 1)):
            with pytest.raises(InputError):
                disk.read(offset, length)
        with pytest.raises(InputError):
            list(disk.extents("a"))


def test_round_up_to_mib_of_a_negative_size():
    with pytest.raises(InputError):
        vhdupload.azure_rules.round_up_to_mib(-1)


# -- registration -------------------------------------------------------------------------------

@pytest.mark.parametrize("data_disks", [[None], [42], None, "https://a.blob.core.windows.net/c/d.vhd"])
def test_plan_image_with_data_disks_that_are_not_disks(data_disks):
    with pytest.raises(InputError, match="data_disks"):
        vhdupload.registration.plan_image(vhdupload.registration.ImageSpec(name="img", resource_group="rg", location="westeurope", os_disk="https://acct.blob.core.windows.net/vhds/os.vhd", os_type="linux", data_disks=data_disks, skip_preflight=True, hyper_v_generation="V1"), context=vhdupload.registration.PlanContext(subscription_id=str(uuid.uuid4())))


# -- blob names ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name, message",
    [
        ("disk.vhd/", "ends with '/'"),
        ("vhds/disk.", "ends with '.'"),
        ("disk\\", "ends with"),
        ("line\nbreak.vhd", "control character"),
        ("tab\there.vhd", "control character"),
        ("esc\x1b[31m.vhd", "control character"),
        ("c1\x85.vhd", "control character"),
        ("a/../b.vhd", "'..' segment"),
        ("./b.vhd", "'.' segment"),
        ("v1./b.vhd", "segment ending with a dot"),
        ("/".join(["a"] * 255) + ".vhd", "254"),
        ("x" * 1025, "1024"),
    ],
)
def test_blob_names_azure_refuses(name, message):
    with pytest.raises(InputError, match=message) as caught:
        parse_destination(f"vhds/{name}", account_url="https://acct.blob.core.windows.net")
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)


def test_blob_names_in_urls_are_checked_after_unescaping():
    with pytest.raises(InputError, match="control character"):
        parse_destination("https://acct.blob.core.windows.net/vhds/a%0Ab.vhd")
    with pytest.raises(InputError, match="'..' segment"):
        parse_destination("https://acct.blob.core.windows.net/vhds/x/%2E%2E/b.vhd")


@pytest.mark.parametrize("name", ["disk.vhd", "a/b/c.vhd", "ünïcödé disk (1).vhd", "a..b.vhd", ".hidden.vhd"])
def test_ordinary_blob_names_pass(name):
    assert parse_destination(f"vhds/{name}", account_url="https://acct.blob.core.windows.net").blob == name


def test_cli_refuses_a_newline_blob_name_in_one_line(capsys):
    assert main(["status", "vhds/a\nb.vhd", "--account-url", "https://acct.blob.core.windows.net"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "control character" in err


# -- status shows the server's text escaped ----------------------------------------------------

def test_printable_escapes_controls_only():
    assert printable("plain é ü \\ text") == "plain é ü \\ text"
    assert printable("a\nerror: b\x1b[31m\x85\u202e") == "a\\nerror: b\\x1b[31m\\x85\\u202e"


def test_status_escapes_control_characters_from_blob_metadata(tmp_path, azurite, container_name, capsys):
    raw = tmp_path / "disk.img"
    raw.write_bytes(b"\x01" * MIB)
    dest = f"{container_name}/disk.vhd"
    conn = azurite.connection_string
    assert main(["upload", str(raw), dest, "--raw", "--connection-string", conn, "--no-progress"]) == 0
    blob = BlobClient.from_connection_string(conn, container_name, "disk.vhd")
    meta = dict(blob.get_blob_properties().metadata)
    meta["vhdupload_source_name"] = "evil%0Aerror: the upload failed, run rm -rf%1B[31m%1B]0;pwned%07"
    blob.set_blob_metadata(meta)
    capsys.readouterr()
    assert main(["status", dest, "--connection-string", conn]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert not any(line.startswith("error:") for line in out.splitlines())
    assert "evil\\nerror: the upload failed" in out and "\\x1b[31m" in out
    assert main(["status", dest, "--connection-string", conn, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)  # JSON escapes on its own; the value is kept exact
    assert data["source_name"].startswith("evil\nerror:")
