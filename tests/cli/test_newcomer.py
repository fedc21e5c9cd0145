"""Issue #20, "What a newcomer hit": each item driven as a user types it (``main([...])`` or a
subprocess), against Azurite and the ARM double where a service is needed."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.publish.conftest import container_url, disk_set, disks, double, service  # noqa: F401 (fixtures)
from tests.support.azurite import DEV_ACCOUNT, DEV_KEY, free_port
from tests.support.registration import LOC, RG, SUB
from vhdupload.cli import main

MIB = 1 << 20
REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys; from vhdupload.cli import main; sys.exit(main(sys.argv[1:]))"]


def _raw(path: Path, size: int = 2 * MIB, data: int = 64 * 1024) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
        f.write(os.urandom(data))
    return path


# -- 2. --max-bandwidth: B is a byte, b a bit -------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("50MBps", 50e6), ("50MB/s", 50e6), ("400Mbps", 50e6), ("400Mbit/s", 50e6), ("50MiB/s", 50 * MIB),
    ("400", 50e6), ("800kB/s", 8e5), ("1GiB/s", 1024**3),
])
def test_max_bandwidth_keeps_bytes_and_bits_apart_and_says_the_cap(azurite, container_name, tmp_path, capsys,
                                                                     text, expected):
    raw = _raw(tmp_path / "d.raw")
    code = main(["upload", str(raw), f"{container_name}/d.vhd", "--raw", "--connection-string",
                 azurite.connection_string, "--max-bandwidth", text, "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    cap = next(line for line in out.splitlines() if "bandwidth cap:" in line)
    from vhdupload.transfer.bandwidth import describe_rate
    assert cap.strip() == f"bandwidth cap: {text} = {describe_rate(expected)}"


@pytest.mark.parametrize("text", ["50MBPS", "50M", "50 G/s"])
def test_an_ambiguous_bandwidth_is_refused_in_one_line(tmp_path, capsys, text):
    code = main(["upload", str(_raw(tmp_path / "d.raw")), "c0ntainer/d.vhd", "--raw", "--emulator",
                 "--max-bandwidth", text])
    _, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "ambiguous" in err and "50MB/s" in err and "400Mbit/s" in err


# -- 7. managed-disk options without --managed-disk ---------------------------------------------

@pytest.mark.parametrize("extra, flag", [
    (["--resource-group", "rg"], "--resource-group"), (["-g", "rg"], "--resource-group"), (["--sku", "Premium_LRS"], "--sku"),
    (["--os-type", "linux"], "--os-type"), (["--location", "westeurope"], "--location"),
])
@pytest.mark.parametrize("verb", ["upload", "verify", "status"])
def test_disk_options_without_managed_disk_are_a_usage_error(azurite, container_name, tmp_path, capsys, extra, flag, verb):
    source = [] if verb == "status" else [str(_raw(tmp_path / "d.raw"))]
    raw = [] if verb == "status" else ["--raw"]
    code = main([verb, *source, f"{container_name}/d.vhd", *raw, "--connection-string", azurite.connection_string, *extra])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert err.startswith("usage error:") and f"{flag} applies to a managed disk: add --managed-disk NAME" in err
    from azure.storage.blob import BlobServiceClient
    assert not BlobServiceClient.from_connection_string(azurite.connection_string) \
        .get_container_client(container_name).exists()  # nothing was written


def test_blob_options_with_managed_disk_are_a_usage_error(tmp_path, capsys):
    for extra, flag in ((["--content-md5"], "--content-md5"), (["--connection-string", "UseDevelopmentStorage=true"],
                                                                 "--connection-string")):
        code = main(["upload", str(_raw(tmp_path / "d.raw")), "--raw", "--managed-disk", "d", "-g", RG, "-l", LOC,
                     "--subscription", SUB, *extra])
        _, err = capsys.readouterr()
        assert code == 2 and flag in err, err


# -- 13. the Azurite hint where there is no ./run ---------------------------------------------

def _closed_port() -> int:
    port = free_port()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port


def test_the_azurite_hint_outside_the_repository_names_npx_or_a_container(tmp_path):
    """A copy of the package with no ./run beside it, as after ``pip install``."""
    site = tmp_path / "site-packages"
    shutil.copytree(REPO / "vhdupload", site / "vhdupload", ignore=shutil.ignore_patterns("__pycache__"))
    port = _closed_port()
    env = dict(os.environ, PYTHONPATH=str(site))
    done = subprocess.run([*CLI, "status", "vhds/x.vhd", "--blob-endpoint", f"http://127.0.0.1:{port}/{DEV_ACCOUNT}",
                           "--account-key", DEV_KEY], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert "./run" not in done.stderr
    assert "npx azurite-blob --blobHost 127.0.0.1 --blobPort 10000" in done.stderr
    assert "docker run -p 127.0.0.1:10000:10000 mcr.microsoft.com/azure-storage/azurite" in done.stderr
    # in the repository, elsewhere than its root: the script's own path
    done = subprocess.run([*CLI, "status", "vhds/x.vhd", "--blob-endpoint", f"http://127.0.0.1:{port}/{DEV_ACCOUNT}",
                           "--account-key", DEV_KEY], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert f"start Azurite (`{REPO / 'run'} azurite`)" in done.stderr


# -- 14. ./run waits for the dpkg lock ----------------------------------------------------------

def test_run_setup_waits_for_the_dpkg_lock(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> "{log}"\n')
    (bin_dir / "apt-get").chmod(0o755)
    (bin_dir / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    (bin_dir / "sudo").chmod(0o755)
    for tool in ("id", "sed", "env"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    # the real setup_system of ./run, with only the stub apt-get on PATH (so everything is "missing")
    script = f'eval "$(sed -n "/^log()/p;/^setup_system()/,/^}}/p" {REPO / "run"})"; setup_system'
    done = subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PATH": str(bin_dir)})
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert len(calls) == 2 and all("-o DPkg::Lock::Timeout=300" in call for call in calls), calls
    assert "update" in calls[0] and "install" in calls[1]


# -- 15. the small ones --------------------------------------------------------------------------

def test_a_conflict_names_the_other_source_uuid_with_dashes(azurite, container_name, tmp_path, capsys):
    from vhdupload.vhd import make_fixed_footer

    dest = [f"{container_name}/f.vhd", "--connection-string", azurite.connection_string, "--no-progress"]
    ids = []
    for name in ("a.vhd", "b.vhd"):
        ids.append(uuid.uuid4())
        path = tmp_path / name
        with open(path, "wb") as f:
            f.write(os.urandom(4096))
            f.truncate(2 * MIB)
            f.seek(2 * MIB)
            f.write(make_fixed_footer(virtual_size=2 * MIB, uuid=ids[-1]).to_bytes())
    assert main(["upload", str(tmp_path / "a.vhd"), *dest]) == 0
    capsys.readouterr()
    assert main(["upload", str(tmp_path / "b.vhd"), *dest]) == 1
    err = capsys.readouterr().err
    assert f"UUID {ids[0]}" in err and ids[0].hex not in err, err


def test_verify_names_the_offset_once(azurite, container_name, tmp_path, capsys):
    raw = _raw(tmp_path / "d.raw")
    dest = [f"{container_name}/d.vhd", "--connection-string", azurite.connection_string]
    assert main(["upload", str(raw), *dest, "--raw", "--no-progress"]) == 0
    with open(raw, "r+b") as f:
        f.seek(528)
        old = f.read(1)
        f.seek(528)
        f.write(b"\xff" if old != b"\xff" else b"\x00")
    capsys.readouterr()
    assert main(["verify", str(raw), *dest, "--raw", "--no-progress"]) == 3
    err = capsys.readouterr().err
    assert err.strip() == "different: the blob differs from the source at offset 528"


def test_transfer_settings_with_a_misspelt_keyword_says_which(tmp_path):
    from vhdupload import TransferSettings
    from vhdupload.errors import InputError

    with pytest.raises(InputError, match="did you mean 'threads'"):
        TransferSettings(thread=4)


def test_the_os_type_help_says_auto(capsys):
    for argv in (["upload", "--help"], ["register", "image", "--help"], ["register", "gallery-version", "--help"]):
        code = main(argv)
        out = " ".join(capsys.readouterr().out.split())
        assert code == 0
        import re
        line = re.search(r"--os-type (\S+) (.{0,100})", out)
        assert line and line[1] == "linux|windows|auto" and "auto" in line[2], (argv, out)


# -- 5. a name that does not resolve is not retried ---------------------------------------------
# ``.invalid`` never resolves (RFC 6761): the resolver fails at once, no packet leaves loopback.

def test_a_blob_host_that_does_not_resolve_fails_at_once_in_one_line(capsys):
    started = time.monotonic()
    code = main(["status", "https://myacct.blob.core.invalid/vhds/x.vhd", "--account-key", DEV_KEY])
    elapsed = time.monotonic() - started
    _, err = capsys.readouterr()
    assert code == 1 and elapsed < 2, (elapsed, err)
    assert err.strip() == "error: cannot resolve myacct.blob.core.invalid: check the blob URL or --blob-endpoint"


def test_an_upload_to_a_host_that_does_not_resolve_fails_at_once(tmp_path, capsys):
    started = time.monotonic()
    code = main(["upload", str(_raw(tmp_path / "d.raw")), "--raw", "vhds/d.vhd", "--blob-endpoint",
                 "https://myacct.blob.core.invalid", "--sas-token", "sv=2024&sig=x", "--no-progress"])
    elapsed = time.monotonic() - started
    _, err = capsys.readouterr()
    assert code == 1 and elapsed < 2, (elapsed, err)
    assert "cannot resolve myacct.blob.core.invalid" in err and "tries" not in err


def test_a_registration_pre_flight_of_a_host_that_does_not_resolve_fails_at_once(stub_az, arm, capsys):
    started = time.monotonic()
    code = main(["register", "image", "img", "-g", RG, "-l", LOC, "--os-disk", "https://myacct.blob.core.invalid/vhds/os.vhd",
                 "--os-type", "linux", "--dry-run", "--account-key", DEV_KEY, "--subscription", SUB,
                 "--arm-endpoint", arm.url])
    elapsed = time.monotonic() - started
    _, err = capsys.readouterr()
    assert code == 1 and elapsed < 2, (elapsed, err)
    assert "cannot resolve myacct.blob.core.invalid" in err


def test_an_arm_endpoint_that_does_not_resolve_fails_at_once(stub_az, capsys):
    started = time.monotonic()
    code = main(["register", "disk", "d", "--source", "https://acct.blob.core.invalid/vhds/d.vhd", "-g", RG, "-l", LOC,
                 "--skip-preflight", "--storage-account-id", "/subscriptions/x/resourceGroups/r/providers/"
                 "Microsoft.Storage/storageAccounts/acct", "--subscription", SUB,
                 "--arm-endpoint", "https://management.azure.invalid"])
    elapsed = time.monotonic() - started
    _, err = capsys.readouterr()
    assert code == 1 and elapsed < 2, (elapsed, err)
    assert "management.azure.invalid" in err and len(err.strip().splitlines()) == 1, err


def test_an_account_name_that_does_not_resolve_names_the_option():
    from vhdupload.cli._common import _check_host

    assert _check_host("myacct.blob.core.windows.net") == "check --account-name (or the account in the blob URL)"


# -- 3. publish resolves storage credentials as upload does -------------------------------------

@pytest.mark.parametrize("variable", ["AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_KEY"])
def test_publish_takes_the_storage_variables_while_signed_in(stub_az, disks, double, azurite, container_url,
                                                             monkeypatch, capsys, variable):
    from tests.publish.conftest import write_manifest

    monkeypatch.setenv(variable, azurite.connection_string if variable.endswith("STRING") else DEV_KEY)
    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    code = main(["publish", str(manifest), "--subscription", SUB, "--arm-endpoint", double.url, "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "image /subscriptions/" in out and ": created" in out


# -- 8. az habits -----------------------------------------------------------------------------

def test_publish_takes_a_sas_token_and_the_shared_storage_options(stub_az, disks, double, azurite, container_name,
                                                                 service, capsys):
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas
    from tests.publish.conftest import write_manifest

    service.create_container(container_name)
    sas = generate_container_sas(DEV_ACCOUNT, container_name, account_key=DEV_KEY, expiry=time.time() + 3600,
                                 permission=ContainerSasPermissions(read=True, write=True, create=True, list=True,
                                                                    delete=True))
    manifest = write_manifest(disks.folder, storage=f'container_url = "{azurite.account_url}/{container_name}"')
    code = main(["publish", str(manifest), "--subscription", SUB, "--arm-endpoint", double.url, "--sas-token", sas,
                 "-o", "json", "--threads", "auto"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["created"] is True
    assert sas.split("sig=")[1][:10] not in out + err
    assert main(["publish", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--emulator", "--sas-token", "--account-name", "--blob-endpoint", "--threads N|auto", "-o, --output"):
        assert option in text, option


def test_register_takes_dash_n_and_dash_o_json(stub_az, arm, azurite, blobs, capsys):
    source = blobs.page_blob("d.vhd")
    code = main(["register", "disk", "-n", "d", "--source", source, "-g", RG, "-l", LOC, "--dry-run", "-o", "json",
                 "--subscription", SUB, "--arm-endpoint", arm.url, "--connection-string", azurite.connection_string])
    out, err = capsys.readouterr()
    assert code == 0, err
    plan = json.loads(out)
    assert plan["requests"][0]["id"].endswith("/disks/d")
    code = main(["register", "image", "-n", "img", "-g", RG, "-l", LOC, "--os-disk", source, "--os-type", "linux",
                 "--hyper-v-generation", "V2", "--skip-guest-check", "--dry-run", "--subscription", SUB, "--arm-endpoint", arm.url,
                 "--connection-string", azurite.connection_string])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "/images/img" in out
    assert main(["register", "image", "-g", RG, "--os-disk", source]) == 2
    assert "give the NAME, or -n NAME" in capsys.readouterr().err


@pytest.mark.parametrize("output, code", [("json", 0), ("table", 0), ("tsv", 2), ("yaml", 2)])
def test_dash_o_maps_to_json_or_the_text_or_is_refused_with_a_hint(tmp_path, capsys, output, code):
    from vhdupload.vhd import make_fixed_footer

    path = tmp_path / "f.vhd"
    with open(path, "wb") as f:
        f.truncate(MIB)
        f.seek(MIB)
        f.write(make_fixed_footer(virtual_size=MIB).to_bytes())
    assert main(["inspect", str(path), "-o", output]) == code
    out, err = capsys.readouterr()
    if output == "json":
        assert json.loads(out)["disk_type"] == "fixed"
    elif output == "table":
        assert out.startswith(str(path)) or "fixed" in out
        with pytest.raises(ValueError):
            json.loads(out)
    else:
        assert f"{output!r} is not an output of vhdupload: -o json" in err and len(err.strip().splitlines()) == 1


def test_convert_json_status_no_progress_and_one_threads_default(azurite, container_name, tmp_path, capsys):
    raw = _raw(tmp_path / "d.raw")
    assert main(["convert", str(raw), str(tmp_path / "d.vhd"), "--json", "--raw"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["virtual_size"] == 2 * MIB and result["source_type"] == "raw"
    dest = [f"{container_name}/d.vhd", "--connection-string", azurite.connection_string]
    assert main(["upload", str(tmp_path / "d.vhd"), *dest, "--threads", "auto", "--no-progress"]) == 0
    assert main(["verify", str(tmp_path / "d.vhd"), *dest, "--threads", "auto", "--no-progress"]) == 0
    assert main(["status", *dest, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "d.vhd"), *dest, "--threads", "300"]) == 2
    assert "nor auto" in capsys.readouterr().err
    for command in ("upload", "verify", "publish"):
        assert main([command, "--help"]) == 0
        assert "--threads N|auto" in capsys.readouterr().out


# -- 9. publish: os_type "auto" or absent is what the guest check found ---------------------------

@pytest.mark.parametrize("line", ['os_type = "auto"\n', ""])
def test_publish_takes_the_os_type_found_inside(stub_az, disks, double, azurite, container_url, tmp_path, capsys, line):
    from tests.guest.image_set import Images
    from tests.publish.conftest import write_manifest

    (tmp_path / "guest").mkdir()
    shutil.copyfile(Images(tmp_path / "guest").get("ext4-generalized"), disks.path("os.vhd"))
    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    manifest.write_text(manifest.read_text().replace('os_type = "linux"\n', line))
    code = main(["publish", str(manifest), "--dry-run", "-o", "json", "--subscription", SUB, "--arm-endpoint", double.url,
                 "--connection-string", azurite.connection_string])
    out, err = capsys.readouterr()
    assert code == 0, err
    body = json.loads(out)["requests"][0]["body"]
    assert body["properties"]["storageProfile"]["osDisk"]["osType"] == "Linux"


def test_publish_auto_without_an_os_found_says_what_to_set(stub_az, disks, double, azurite, container_url, capsys):
    from tests.publish.conftest import write_manifest

    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    manifest.write_text(manifest.read_text().replace('os_type = "linux"', 'os_type = "auto"'))
    code = main(["publish", str(manifest), "--dry-run", "--subscription", SUB, "--arm-endpoint", double.url,
                 "--connection-string", azurite.connection_string])
    _, err = capsys.readouterr()
    assert code == 1 and 'no OS was recognised on the OS disk: set os_type = "linux" or "windows"' in err, err
    assert double.requests == []


# -- 6. the dry run's az lines: convert first, the converted file's size, --subscription everywhere --

@pytest.mark.parametrize("storage", ["managed_disks = true", "blob"])
def test_the_dry_run_az_lines_convert_first_and_name_the_subscription(stub_az, disks, double, azurite, container_url,
                                                                      capsys, storage):
    import shlex

    from tests.publish.conftest import write_manifest

    manifest = write_manifest(disks.folder, storage=storage if storage != "blob" else f'container_url = "{container_url}"')
    code = main(["publish", str(manifest), "--dry-run", "--subscription", SUB, "--arm-endpoint", double.url,
                 "--connection-string", azurite.connection_string])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out[out.index("# the same with the Azure CLI:"):].splitlines()[1:]
    commands = [line for line in lines if not line.startswith("#")]
    assert all(f"--subscription {SUB}" in line for line in commands if line.startswith("az ")), commands
    for name in ("data0", "data1"):  # dynamic; fixed but not a whole MiB
        source, fixed = disks.path(f"{name}.vhd"), disks.path(f"{name}-fixed.vhd")
        convert = f"vhdupload convert {source} {fixed}"
        sends = [i for i, line in enumerate(commands) if str(fixed) in line and not line.startswith("vhdupload")]
        assert convert in commands and sends and commands.index(convert) < sends[0], commands
        assert not any(f"{source} " in line or line.endswith(str(source)) for line in commands if line != convert)
        assert main(shlex.split(convert)[1:]) == 0  # the step as printed, then its file is what the size says
        capsys.readouterr()
        if storage != "blob":
            create = next(line for line in commands if line.startswith("az disk create") and f"app-image-{name}" in line)
            assert f"--upload-size-bytes {fixed.stat().st_size}" in create
    assert not any("os-fixed.vhd" in line for line in commands)  # a fixed VHD of a whole MiB goes as it is


# -- 4. dry runs without an Azure sign-in ---------------------------------------------------------

@pytest.fixture
def signed_out(monkeypatch, tmp_path):
    """Only the Azure CLI credential, and no ``az`` on PATH: every sign-in fails, nothing leaves."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_KEY",
                 "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_ACCOUNT"):
        monkeypatch.delenv(name, raising=False)


def test_publish_dry_run_works_offline_with_placeholders(disks, signed_out, capsys):
    from tests.publish.conftest import write_manifest

    manifest = write_manifest(disks.folder, storage="managed_disks = true")
    code = main(["publish", str(manifest), "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("# no Azure sign-in: Azure Resource Manager was not asked, so existing resources were not compared")
    assert "<subscription> stands for the subscription" in out
    assert ": PUT /subscriptions/<subscription>/resourceGroups/images-rg/providers/Microsoft.Compute/images/app-image\n" in out
    assert '"osType": "Linux"' in out and "az image create --subscription '<subscription>'" in out
    assert "note: no Azure sign-in" in err and "az login" in err
    code = main(["publish", str(manifest), "--dry-run", "--json", "--subscription", SUB])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["compared"] is False and result["requests"][0]["id"].startswith(f"/subscriptions/{SUB}/")


def test_publish_dry_run_online_still_compares(stub_az, disks, double, azurite, capsys):
    from tests.publish.conftest import write_manifest

    manifest = write_manifest(disks.folder, storage="managed_disks = true")
    code = main(["publish", str(manifest), "--dry-run", "--json", "--subscription", SUB, "--arm-endpoint", double.url])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["compared"] is True and "no Azure sign-in" not in err
    assert double.requests and double.writes() == []  # it looked (reads only)


def test_register_dry_run_works_offline(signed_out, azurite, blobs, capsys):
    source = blobs.page_blob("os.vhd")
    code = main(["register", "image", "img", "-g", RG, "-l", LOC, "--os-disk", source, "--os-type", "linux",
                 "--hyper-v-generation", "V2", "--skip-guest-check", "--dry-run",
                 "--connection-string", azurite.connection_string])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert ": PUT /subscriptions/<subscription>/resourceGroups/images-rg/providers/Microsoft.Compute/images/img\n" in out
    assert "existing resources were not compared" in out and "note: no Azure sign-in" in err


def test_a_sign_in_error_names_its_side_and_fix(signed_out, tmp_path, capsys):
    from tests.publish.conftest import write_manifest

    assert main(["status", "https://acct.blob.core.windows.net/vhds/x.vhd"]) == 1
    storage = capsys.readouterr().err.strip()
    assert storage.startswith("error: no credential for Azure Storage worked:") and "--connection-string" in storage
    code = main(["register", "disk", "d", "--source", "https://acct.blob.core.windows.net/vhds/d.vhd", "-g", RG, "-l", LOC,
                 "--subscription", SUB, "--skip-preflight", "--storage-account-id", "/subscriptions/x/resourceGroups/r/"
                 "providers/Microsoft.Storage/storageAccounts/acct", "--arm-endpoint", "http://127.0.0.1:9"])
    arm = capsys.readouterr().err.strip()
    assert code == 1 and arm.startswith("error: no credential for Azure Resource Manager worked: run `az login`"), arm
    assert "--connection-string" not in arm and "--account-key" not in arm
    assert "--dry-run works without one" in arm


# -- 11. after a resume, the bar's rate and time left come from what this run sends ---------------

def test_after_a_resume_the_bar_rate_is_this_runs(azurite, container_name, tmp_path):
    import re
    import threading

    from tests.support.terminal import run_cli
    from tests.support.uploads import page_blob, write_random
    from vhdupload import TransferSettings, upload
    from vhdupload.errors import CancelledError

    image = tmp_path / "disk.img"
    write_random(image, 32 * MIB, runs=[(0, 32 * MIB)])
    dest = f"{container_name}/r.vhd"
    cancel = threading.Event()
    with pytest.raises(CancelledError):  # a first run stopped after ~16 MiB
        upload(image, page_blob(azurite.connection_string, dest), raw=True, cancel=cancel,
               progress=lambda p: p.bytes_sent >= 16 * MIB and cancel.set(), settings=TransferSettings(threads=2))
    code, out, err = run_cli(["upload", str(image), dest, "--raw", "--connection-string", azurite.connection_string,
                              "--max-bandwidth", "8MB/s", "--threads", "2", "--json"], tty=True)
    assert code == 0, err
    result = json.loads(out)
    assert result["resumed"] and result["bytes_sent"] < 20 * MIB
    frames = [f for f in re.split(r"[\r\n]", err) if "upload:" in f and "MiB/s" in f]
    rates = [float(m[1]) for f in frames if (m := re.search(r"<[\d:?]+, +([\d.]+)MiB/s", f))]
    assert rates, err
    # what this run sends, capped at 8 MB/s (7.6 MiB/s); the bar's own count (present bytes included)
    # would show far more
    assert max(rates[len(rates) // 2:]) < 8e6 / MIB * 1.3, frames[-3:]


# -- 12. sizes in IEC units everywhere ----------------------------------------------------------

def test_bench_prints_mib_as_its_size_takes(azurite, container_name, capsys):
    import re

    code = main(["bench", container_name, "--connection-string", azurite.connection_string, "--size", "16MiB",
                 "--threads", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("vhdupload"))
    assert re.search(r"[\d.]+ MiB/s +[\d.]+ MiB/s", row) and re.search(r"[\d.]+ (MiB|KiB)\b", row), row
    assert not re.search(r"\b(MB|kB|GB)\b", out + err), out + err


def test_publish_bars_count_in_mib(stub_az, disks, double, azurite, container_url):
    import re

    from tests.publish.conftest import write_manifest
    from tests.support.terminal import run_cli

    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    code, out, err = run_cli(["publish", str(manifest), "--subscription", SUB, "--arm-endpoint", double.url,
                              "--connection-string", azurite.connection_string, "--max-bandwidth", "16MB/s"], tty=True)
    assert code == 0, err
    frames = [f for f in re.split(r"[\r\n]", err) if "total:" in f or "os.vhd:" in f]
    assert frames and all(" MiB [" in f for f in frames), frames[-3:]
    assert not re.search(r"\d(MB|kB|GB)\b", err), err[-500:]
    assert "bandwidth cap: 16MB/s" in out


def test_register_disk_and_gallery_version_dry_runs_work_offline(signed_out, capsys):
    blob = "https://acct.blob.core.invalid/vhds/d.vhd"  # never read (--skip-preflight), never resolved
    account = ("/subscriptions/<subscription>/resourceGroups/<storage-account-resource-group>/providers/"
               "Microsoft.Storage/storageAccounts/acct")
    assert main(["register", "disk", "-n", "d", "--source", blob, "-g", RG, "-l", LOC, "--skip-preflight",
                 "--dry-run", "-o", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["compared"] is False
    assert plan["requests"][0]["body"]["properties"]["creationData"]["storageAccountId"] == account
    assert main(["register", "gallery-version", "-r", "gal", "-i", "def", "-e", "1.0.0", "--os-disk", blob, "-g", RG,
                 "-l", LOC, "--skip-preflight", "--dry-run", "--os-type", "linux", "--hyper-v-generation", "V2",
                 "--publisher", "p", "--offer", "o", "--sku", "s"]) == 0
    out, err = capsys.readouterr()
    assert "az sig create --subscription '<subscription>'" in out and f"--os-vhd-storage-account '{account}'" in out
    assert "the gallery gal does not exist and will be created" in err


_BYTES = {"B/s": 1, "kB/s": 1e3, "KB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9, "MBps": 1e6, "KiB/s": 1024, "MiB/s": 2**20,
          "GiB/s": 2**30}
_BITS = {"bps": 1 / 8, "kbps": 1e3 / 8, "Mbps": 1e6 / 8, "Gbps": 1e9 / 8, "Mbit/s": 1e6 / 8, "Gbit/s": 1e9 / 8,
         "Mb/s": 1e6 / 8}


def test_every_rate_unit_means_what_it_says_and_caps_are_bytes():
    from hypothesis import given, strategies as st

    from vhdupload.transfer.bandwidth import parse_rate

    @given(st.integers(min_value=1, max_value=10**6), st.sampled_from(sorted({**_BYTES, **_BITS})),
           st.sampled_from(["", " "]))
    def check(number: int, unit: str, space: str) -> None:
        assert parse_rate(f"{number}{space}{unit}") == pytest.approx(number * {**_BYTES, **_BITS}[unit])

    check()


def test_library_publish_reads_the_storage_variables_before_a_passed_sign_in(disks, double, compute_client, azurite,
                                                                            container_url, monkeypatch):
    """Item 3 in the library: ``publish(..., storage_credential=<the ARM sign-in>)`` as the README
    shows it; the variables come first, as the documented order (az's) says."""
    from tests.publish.conftest import write_manifest
    from tests.support.registration import FakeCredential
    from vhdupload import ArmConnection, publish

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    manifest = write_manifest(disks.folder, storage=f'container_url = "{container_url}"')
    result = publish(manifest, arm=ArmConnection.from_client(compute_client()), storage_credential=FakeCredential())
    assert result.created
