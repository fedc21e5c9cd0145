"""Where the blob goes and what may happen there: SAS scopes, refusals that touch nothing
remote, and the SDK fallback of the Put Page hot path."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from azure.storage.blob import BlobSasPermissions, ContainerSasPermissions, generate_blob_sas, generate_container_sas

from tests.support.azurite import DEV_ACCOUNT, DEV_KEY
from tests.support.uploads import container_client, page_blob, read_blob, write_random
from tests.vhd.builders import build_dynamic, build_fixed
from vhdupload import upload, verify
from vhdupload.azure.page_blob import PageBlobSink
from vhdupload.cli import main

MIB = 1 << 20
EXPIRY = datetime.now(timezone.utc) + timedelta(hours=2)


def _blob_sas(container: str, blob: str) -> str:
    # A blob SAS can never create a container, whatever its permissions.
    return generate_blob_sas(DEV_ACCOUNT, container, blob, account_key=DEV_KEY, expiry=EXPIRY,
                             permission=BlobSasPermissions(read=True, write=True, create=True))


def _container_sas(container: str) -> str:
    # "create" in a container SAS is for blobs; the container itself needs an account SAS or a key.
    return generate_container_sas(DEV_ACCOUNT, container, account_key=DEV_KEY, expiry=EXPIRY,
                                  permission=ContainerSasPermissions(read=True, write=True, create=True, list=True))


@pytest.mark.parametrize("scope", ["blob", "container"])
def test_a_sas_that_may_not_create_the_container_is_fine_when_it_exists(tmp_path, azurite, container_name, scope, capsys):
    raw = tmp_path / "disk.img"
    write_random(raw, 4 * MIB, runs=[(MIB, 8192)])
    container_client(azurite.connection_string, f"{container_name}/x").create_container()
    sas = _blob_sas(container_name, "disk.vhd") if scope == "blob" else _container_sas(container_name)
    url = f"{azurite.account_url}/{container_name}/disk.vhd?{sas}"
    assert main(["upload", str(raw), url, "--raw", "--json", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["bytes_sent"] == 8192 + 512
    assert main(["verify", str(raw), url, "--raw"]) == 0
    assert main(["status", url]) == 0
    assert "complete" in capsys.readouterr().out
    assert main(["upload", str(raw), url, "--raw"]) == 0  # the rerun reads the state with the same SAS
    assert "already uploaded" in capsys.readouterr().out


def test_a_missing_container_that_the_sas_may_not_create_is_explained(tmp_path, azurite, container_name, capsys):
    raw = tmp_path / "disk.img"
    write_random(raw, 4 * MIB, runs=[(0, 4096)])
    url = f"{azurite.account_url}/{container_name}/disk.vhd?{_blob_sas(container_name, 'disk.vhd')}"
    assert main(["upload", str(raw), url, "--raw", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"the container '{container_name}'" in err and "may not create it" in err and "create the container first" in err
    assert not container_client(azurite.connection_string, f"{container_name}/x").exists()


def _corrupt_vhd(tmp_path):
    path = build_fixed(tmp_path / "corrupt.vhd", virtual_size=4 * MIB, writes={0: b"\x01" * 4096})
    with open(path, "r+b") as f:  # damage the footer's checksum
        f.seek(4 * MIB + 64)
        f.write(b"\x00\x00\x00\x01")
    return path, []


def _raw_without_flag(tmp_path):
    path = tmp_path / "disk.img"
    write_random(path, 4 * MIB, runs=[(0, 4096)])
    return path, []


def _unaligned_no_resize(tmp_path):
    return build_dynamic(tmp_path / "odd.vhd", virtual_size=4 * MIB + 512, writes={0: b"\x02" * 4096}), ["--no-resize"]


def _broken_parent(tmp_path):
    from tests.vhd.builders import build_differencing

    parent = build_dynamic(tmp_path / "parent.vhd", virtual_size=4 * MIB)
    child = build_differencing(tmp_path / "child.vhd", parent=parent, writes={0: b"\x03" * 4096})
    parent.unlink()
    return child, []


def _empty(tmp_path):
    path = tmp_path / "empty.img"
    path.write_bytes(b"")
    return path, ["--raw"]


@pytest.mark.parametrize(
    "make, expected",
    [
        (_corrupt_vhd, "checksum"),
        (_raw_without_flag, "add --raw"),
        (_unaligned_no_resize, "whole number (in mbs)"),
        (_broken_parent, "parent"),
        (_empty, "empty"),
    ],
    ids=["corrupt", "raw-without-flag", "no-resize", "missing-parent", "empty"],
)
def test_nothing_remote_is_created_for_a_refused_input(tmp_path, conn, container_name, make, expected, capsys):
    source, flags = make(tmp_path)
    assert main(["upload", str(source), f"{container_name}/disk.vhd", "--connection-string", conn,
                 "--no-progress", *flags]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err.lower(), err
    assert not container_client(conn, f"{container_name}/x").exists()  # not even the container


def test_without_the_sdks_private_signing_helpers_put_page_falls_back_to_the_sdk(monkeypatch, tmp_path, conn, container_name):
    import azure.storage.blob._shared as shared

    monkeypatch.delattr(shared, "sign_string")  # as a future SDK might
    dest = f"{container_name}/disk.vhd"
    blob = page_blob(conn, dest)
    assert PageBlobSink(blob.client(threads=2, timeout=None))._direct is None
    raw = tmp_path / "disk.img"
    content = write_random(raw, 4 * MIB, runs=[(0, 4096), (2 * MIB, 8192)])
    result = upload(raw, blob, raw=True)
    assert result.requests == 3 and read_blob(conn, dest)[: 4 * MIB] == content
    assert verify(raw, blob, raw=True).identical


@pytest.mark.parametrize("name, ok", [("vhds", True), ("a-b-1", True), ("$root", True), ("a" * 63, True),
                                      ("c1", False), ("a--b", False), ("-ab", False), ("abc-", False),
                                      ("ABC", False), ("a" * 64, False), ("a_b", False)])
def test_container_names_azure_would_refuse_are_refused_before_any_request(name, ok):
    from vhdupload.azure.credentials import parse_destination
    from vhdupload.errors import InputError

    if ok:
        assert parse_destination(f"{name}/d.vhd", account_url="https://a.blob.core.windows.net").container == name
    else:
        with pytest.raises(InputError, match="not a valid container name"):
            parse_destination(f"https://a.blob.core.windows.net/{name}/d.vhd")
