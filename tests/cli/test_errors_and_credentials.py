"""How the CLI fails and how it finds credentials: a sign-in failure and an emulator that is not
running each fit in one line with the fix; az storage's options and variables; a raw image
without --raw; verify's progress and summary; one-line --json; one way to write a UUID."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from tests.support.azurite import DEV_ACCOUNT, DEV_KEY, free_port
from tests.support.registration import LOC, RG, SUB
from vhdupload.azure.credentials import resolve_blob_client
from vhdupload.cli import main

MIB = 1 << 20
CLI = [sys.executable, "-c", "import sys; from vhdupload.cli import main; sys.exit(main(sys.argv[1:]))"]


def _sparse(path, size: int, runs: list[tuple[int, int]]):
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, length in runs:
            f.seek(offset)
            f.write(os.urandom(length))
    return path


# -- sign-in failures --------------------------------------------------------------------------

@pytest.fixture
def no_credential(monkeypatch, tmp_path):
    """Only the Azure CLI credential, and no ``az`` on PATH: every sign-in fails, nothing leaves."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no az here
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_ACCOUNT"):
        monkeypatch.delenv(name, raising=False)


def _one_sign_in_line(err: str, needs: tuple[str, ...] = ("az login", "SAS", "--account-key", "AZURE_TOKEN_CREDENTIALS")) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needed in needs:
        assert needed in lines[0], (needed, lines[0])
    assert "AzureCliCredential" not in err  # the chain only with -v


def test_a_storage_sign_in_failure_is_one_line_with_the_fix(no_credential, capsys):
    code = main(["status", "https://acct.blob.core.windows.net/vhds/x.vhd"])
    _, err = capsys.readouterr()
    assert code == 1
    _one_sign_in_line(err)


def test_verbose_shows_each_credential_tried(no_credential, capsys):
    code = main(["status", "https://acct.blob.core.windows.net/vhds/x.vhd", "-v"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "error: no credential for Azure Storage worked" in err and "AzureCliCredential" in err


def test_an_arm_sign_in_failure_is_one_line_with_its_own_fix(no_credential, arm, capsys):
    code = main(["register", "disk", "d", "--source", "https://acct.blob.core.windows.net/vhds/d.vhd", "-g", RG,
                 "-l", LOC, "--subscription", SUB, "--arm-endpoint", arm.url, "--skip-preflight"])
    _, err = capsys.readouterr()
    assert code == 1
    _one_sign_in_line(err, ("Azure Resource Manager", "az login", "AZURE_TOKEN_CREDENTIALS"))  # no storage advice
    assert "--account-key" not in err


# -- an emulator that is not running -----------------------------------------------------------

def _closed_port() -> int:
    port = free_port()
    with socket.socket() as probe:  # nothing may listen there
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port


def test_nothing_listening_on_loopback_fails_at_once_in_one_line():
    port = _closed_port()
    started = time.monotonic()
    done = subprocess.run(
        [*CLI, "status", "vhds/x.vhd", "--blob-endpoint", f"http://127.0.0.1:{port}/{DEV_ACCOUNT}",
         "--account-key", DEV_KEY], capture_output=True, text=True, timeout=60,
    )
    assert time.monotonic() - started < 10
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [f"error: nothing listens at 127.0.0.1:{port}: start Azurite (`./run azurite`) or pass --blob-endpoint"]


def test_emulator_not_running_names_run_azurite():
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 10000)) == 0:
            pytest.skip("something listens at 127.0.0.1:10000 (an Azurite started by hand?)")
    started = time.monotonic()
    done = subprocess.run([*CLI, "status", "vhds/x.vhd", "--emulator"], capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 10
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) <= 2
    assert "nothing listens at 127.0.0.1:10000: start Azurite (`./run azurite`) or pass --blob-endpoint" in done.stderr


# -- az storage's credential options -----------------------------------------------------------

def test_account_name_means_the_public_cloud_and_sas_token_is_used(monkeypatch):
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT", raising=False)
    client = resolve_blob_client("vhds/os.vhd", account_name="myacct", sas_token="?sv=2024&sig=abc")
    assert client.url == "https://myacct.blob.core.windows.net/vhds/os.vhd?sv=2024&sig=abc"
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "envacct")
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", "sv=2024&sig=fromenv")
    client = resolve_blob_client("vhds/os.vhd")
    assert client.url == "https://envacct.blob.core.windows.net/vhds/os.vhd?sv=2024&sig=fromenv"
    # --blob-endpoint wins over the account name's public-cloud endpoint
    client = resolve_blob_client("vhds/os.vhd", account_url="https://envacct.privatelink.blob.core.windows.net")
    assert client.url.startswith("https://envacct.privatelink.blob.core.windows.net/vhds/os.vhd?")


def test_sas_token_and_blob_endpoint_end_to_end(azurite, container_name, tmp_path, capsys):
    from azure.storage.blob import BlobServiceClient

    BlobServiceClient.from_connection_string(azurite.connection_string).create_container(container_name)
    sas = generate_container_sas(DEV_ACCOUNT, container_name, account_key=DEV_KEY,
                                 permission=ContainerSasPermissions(read=True, write=True, create=True, list=True),
                                 expiry=time.time() + 3600)
    image = _sparse(tmp_path / "d.img", 4 * MIB, [(0, MIB)])
    common = [f"{container_name}/d.vhd", "--blob-endpoint", azurite.account_url, "--sas-token", sas]
    assert main(["upload", str(image), *common, "--raw", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["bytes_sent"] == MIB + 512
    assert sas.split("sig=")[1][:10] not in out + err
    assert main(["status", *common, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["complete"] is True
    # --account-url is kept as an alias of --blob-endpoint
    assert main(["status", f"{container_name}/d.vhd", "--account-url", azurite.account_url, "--sas-token", sas]) == 0
    assert ": complete" in capsys.readouterr().out


# -- a raw image without --raw -----------------------------------------------------------------

@pytest.mark.parametrize("command", ["upload", "verify"])
def test_raw_image_without_raw_suggests_raw_first(command, tmp_path, capsys):
    """A file that shows no partition table or file system is not guessed to be a disk."""
    image = _sparse(tmp_path / "disk.img", 2 * MIB, [(0, 4096)])
    code = main([command, str(image), "vhds/disk.vhd", "--emulator"])
    _, err = capsys.readouterr()
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "no partition table or file system" in err and "add --raw" in err


# -- verify: progress and what it read ---------------------------------------------------------

def test_verify_says_what_it_read_and_shows_a_bar_on_a_terminal(azurite, container_name, tmp_path, capsys):
    from tests.support.terminal import run_cli

    image = _sparse(tmp_path / "v.img", 32 * MIB, [(0, 2 * MIB), (16 * MIB, MIB)])
    dest = [f"{container_name}/v.vhd", "--connection-string", azurite.connection_string]
    assert main(["upload", str(image), *dest, "--raw"]) == 0
    capsys.readouterr()
    assert main(["verify", str(image), *dest, "--raw"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("identical: ")
    assert re.search(r"read: +3145728 bytes \(3 MiB\) from the blob, 3145728 bytes \(3 MiB\) from the source", out), out
    assert main(["verify", str(image), *dest, "--raw", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bytes_compared"] == 3 * MIB and result["source_bytes_read"] == 3 * MIB
    code, out, err = run_cli(["verify", str(image), *dest, "--raw"], tty=True)
    assert code == 0, err
    frames = [f for f in re.split(r"[\r\n]", err) if "verify:" in f]
    assert frames and "100%" in frames[-1] and "read 3.0 MiB" in frames[-1], frames[-1:]


# -- one-line --json, and UUIDs written one way ------------------------------------------------

def test_register_json_is_one_line(stub_az, arm, azurite, blobs, capsys):
    code = main(["register", "disk", "d", "--source", blobs.page_blob("d.vhd"), "-g", RG, "-l", LOC, "--dry-run",
                 "--json", "--subscription", SUB, "--arm-endpoint", arm.url, "--connection-string",
                 azurite.connection_string])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1 and json.loads(out)["requests"]


def test_uuids_are_written_one_way(azurite, container_name, tmp_path, capsys):
    from vhdupload.vhd import make_fixed_footer

    disk_id = uuid.uuid4()
    path = tmp_path / "f.vhd"
    with open(path, "wb") as f:
        f.truncate(2 * MIB)
        f.seek(2 * MIB)
        f.write(make_fixed_footer(virtual_size=2 * MIB, uuid=disk_id).to_bytes())
    assert main(["inspect", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["uuid"] == str(disk_id)
    dest = [f"{container_name}/f.vhd", "--connection-string", azurite.connection_string]
    assert main(["upload", str(path), *dest]) == 0
    capsys.readouterr()
    assert main(["status", *dest, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["source_uuid"] == str(disk_id)
    assert main(["status", *dest]) == 0
    assert f"UUID {disk_id}" in capsys.readouterr().out
