"""``vhdupload register ...`` end to end: DefaultAzureCredential limited to the Azure CLI
(AZURE_TOKEN_CREDENTIALS=AzureCliCredential) with a stub ``az`` on PATH, against the double."""

from __future__ import annotations

import json

import pytest

from tests.support.registration import LOC, RG, SUB
from vhdupload.cli import main

from .disk_images import ESP, gpt


@pytest.fixture
def os_url(blobs, tmp_path):
    data = gpt(tmp_path / "os", (2048, 4095, ESP)).read_bytes()
    return blobs.page_blob("os.vhd", data[: 8 * 512], size=len(data))


def _common(arm, azurite):
    return ["--subscription", SUB, "--arm-endpoint", arm.url, "--connection-string", azurite.connection_string]


def test_register_image_with_the_cli_credential(stub_az, arm, azurite, blobs, os_url, capsys):
    data = blobs.page_blob("data.vhd")
    code = main([
        "register", "image", "web", "-g", RG, "-l", LOC, "--os-disk", os_url, "--os-type", "linux",
        "--data-disk", f"{data},caching=ReadOnly", "--tag", "env=test", *_common(arm, azurite),
    ])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip() == f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/images/web"
    assert "note: Hyper-V generation V2: the OS disk has a GPT with an EFI System Partition" in err
    assert "waiting for Azure to create the VM image web" in err
    put = arm.puts()[0]
    assert put.headers["Authorization"] == "Bearer stub-cli-token"
    assert put.body["properties"]["storageProfile"]["dataDisks"] == [{"lun": 0, "blobUri": data, "caching": "ReadOnly"}]
    assert "get-access-token" in stub_az.read_text()
    assert azurite.connection_string.split("AccountKey=")[1].split(";")[0] not in out + err


def test_json_prints_the_rest_form(stub_az, arm, azurite, os_url, capsys):
    code = main(["register", "image", "web", "-g", RG, "-l", LOC, "--os-disk", os_url, "--os-type", "linux",
                 "--json", *_common(arm, azurite)])
    out, err = capsys.readouterr()
    assert code == 0, err
    resource = json.loads(out)
    assert resource["properties"]["storageProfile"]["osDisk"]["osState"] == "Generalized"
    assert resource["properties"]["hyperVGeneration"] == "V2"
    assert resource["properties"]["provisioningState"] == "Succeeded"


def test_dry_run_prints_body_and_az_line_and_calls_nothing(stub_az, arm, azurite, blobs, os_url, capsys):
    data = [blobs.page_blob(f"d{i}.vhd") for i in range(2)]
    code = main([
        "register", "image", "vm", "-g", RG, "-l", LOC, "--os-disk", os_url, "--os-type", "windows",
        "--data-disk", f"{data[0]},lun=1", "--data-disk", data[1], "--dry-run", *_common(arm, azurite),
    ])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert arm.requests == [] and not stub_az.exists()
    header, rest = out.split("\n", 1)
    assert header == f"# VM image vm (OS disk + 2 data disks): PUT /subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/images/vm"
    body_text, az_part = rest.split("# the same with the Azure CLI:\n")
    body = json.loads(body_text)
    assert [(d["lun"], d["blobUri"]) for d in body["properties"]["storageProfile"]["dataDisks"]] == [(0, data[1]), (1, data[0])]
    assert az_part.startswith(
        f"az image create --subscription {SUB} --resource-group {RG} --location {LOC} --name vm --source {os_url} "
        f"--os-type Windows --data-disk-sources {data[1]} {data[0]} --hyper-v-generation V2"
    )


def test_dry_run_json_for_a_gallery_version(stub_az, arm, azurite, os_url, capsys):
    code = main([
        "register", "gallery-version", "--gallery", "gal", "--image-definition", "def", "--version", "1.0.0",
        "-g", RG, "-l", LOC, "--os-disk", os_url, "--publisher", "p", "--offer", "o", "--sku", "s",
        "--os-type", "linux", "--dry-run", "--json", *_common(arm, azurite),
    ])
    out, err = capsys.readouterr()
    assert code == 0, err
    plan = json.loads(out)
    assert [r["description"] for r in plan["requests"]] == ["gallery gal", "image definition def", "image version def 1.0.0"]
    assert plan["az"][2].startswith("az sig image-version create")
    assert f"--os-vhd-storage-account {arm.storage_account_id}" in plan["az"][2]
    assert arm.puts() == []  # only read-only lookups


def test_disk_no_wait_returns_the_id_at_once(stub_az, arm, azurite, blobs, capsys):
    code = main(["register", "disk", "data", "--source", blobs.page_blob("d.vhd"), "-g", RG, "-l", LOC,
                 "--no-wait", *_common(arm, azurite)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip().endswith("/providers/Microsoft.Compute/disks/data")
    # It did not wait for the operation: the double needs ``polls`` reads to finish it. The
    # poller azure-core starts may read once in the background before the command returns (on
    # a busy machine, with two test workers, it did), which is harmless.
    assert arm.polls_of("location") < arm.polls


def test_refusals_are_one_line_errors(stub_az, arm, azurite, blobs, os_url, capsys):
    cases = [
        (["register", "image", "x", "-g", RG, "-l", LOC, "--os-disk", os_url, "--os-type", "linux", "--os-state", "specialized"],
         "error: a managed image must be generalized"),
        (["register", "image", "x", "-g", RG, "-l", LOC, "--os-disk", blobs.url("nope.vhd"), "--os-type", "linux"],
         "does not exist: upload it with `vhdupload upload`"),
        (["register", "disk", "x", "--source", os_url, "-g", RG, "-l", LOC, "--arm-endpoint", "http://arm.example.com"],
         "plain http:// only for a loopback address"),
    ]
    for args, message in cases:
        code = main(args + ["--subscription", SUB, "--connection-string", azurite.connection_string]
                    + ([] if "--arm-endpoint" in args else ["--arm-endpoint", arm.url]))
        out, err = capsys.readouterr()
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1, err
    assert arm.puts() == []


def test_arm_failure_from_the_cli(stub_az, arm, azurite, os_url, capsys):
    arm.fail_next = {"code": "QuotaExceeded", "message": "Operation results in exceeding quota limits."}
    code = main(["register", "image", "web", "-g", RG, "-l", LOC, "--os-disk", os_url, "--os-type", "linux", *_common(arm, azurite)])
    _, err = capsys.readouterr()
    assert code == 1
    assert err.strip().endswith("error: cannot create the OS image web: Azure answered QuotaExceeded: Operation results in exceeding quota limits.")


def test_ctrl_c_says_the_operation_continues(stub_az, arm, azurite, os_url, capsys, monkeypatch):
    from vhdupload.registration import Registration

    def interrupted(self, timeout=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(Registration, "wait", interrupted)
    code = main(["register", "image", "web", "-g", RG, "-l", LOC, "--os-disk", os_url, "--os-type", "linux", *_common(arm, azurite)])
    _, err = capsys.readouterr()
    assert code == 130
    assert "the operation continues in Azure; check it with `az resource show --ids /subscriptions/" in err


def test_capture_from_the_cli(stub_az, arm, azurite, capsys):
    arm.add_vm(subscription=SUB, resource_group=RG, name="builder", power_state="running")
    code = main(["register", "image", "cap", "-g", RG, "--source-vm", "builder", "--subscription", SUB, "--arm-endpoint", arm.url])
    _, err = capsys.readouterr()
    assert code == 1 and "the VM builder is running" in err


# -- dry runs read, and never write ------------------------------------------------------------

def _gallery_args(os_url, *extra):
    return ["register", "gallery-version", "--gallery", "gal", "--image-definition", "def", "--version", "1.0.0",
            "-g", RG, "-l", LOC, "--os-disk", os_url, "--publisher", "p", "--offer", "o", "--sku", "s",
            "--os-type", "linux", *extra]


def test_dry_run_of_every_command_sends_only_reads(stub_az, arm, azurite, blobs, os_url, capsys):
    vm = arm.add_vm(subscription=SUB, resource_group=RG, name="builder")
    commands = [
        _gallery_args(os_url, "--dry-run"),
        ["register", "disk", "d", "--source", blobs.page_blob("d.vhd"), "-g", RG, "-l", LOC, "--os-type", "linux",
         "--hyper-v-generation", "V1", "--dry-run"],
        ["register", "image", "cap", "-g", RG, "--source-vm", vm, "--dry-run"],
    ]
    for command in commands:
        code = main(command + _common(arm, azurite))
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "PUT /subscriptions/" in out and "# the same with the Azure CLI:" in out
    assert arm.writes() == []
    assert {r.method for r in arm.requests} == {"GET"}
    assert any("/galleries/gal" in r.path for r in arm.requests)  # the dry run did look things up


def test_dry_run_refuses_the_sdks_own_provider_registration_post(stub_az, arm, azurite, os_url, capsys):
    """azure-mgmt-core POSTs a provider registration by itself on a 409; a dry run must not let it out."""
    arm.compute_unregistered = True
    code = main(_gallery_args(os_url, "--dry-run") + _common(arm, azurite))
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert "not registered for Microsoft.Compute" in err and "az provider register --namespace Microsoft.Compute" in err
    assert len(err.strip().splitlines()) == 1, err
    assert arm.writes() == []


def test_dry_run_az_lines_are_commands_and_notes_stay_notes(stub_az, arm, azurite, blobs, os_url, capsys):
    data = blobs.page_blob("d.vhd")
    args = ["register", "image", "vm", "-g", RG, "-l", LOC, "--os-disk", os_url, "--os-type", "linux",
            "--data-disk", f"{data},lun=5", "--dry-run", *_common(arm, azurite)]
    assert main(args) == 0
    out, _ = capsys.readouterr()
    assert out.rstrip().endswith("# note: az gives the data disks LUNs 0, 1, ... in this order and one caching; "
                                 "the ARM body sets each disk's own")
    assert main(args + ["--json"]) == 0
    plan = json.loads(capsys.readouterr()[0])
    assert all("\n" not in line and line.startswith("az ") for line in plan["az"])
    assert any(note.startswith("az: az gives the data disks LUNs") for note in plan["notes"])


# -- a SAS never leaves the process -------------------------------------------------------------

def _sas_url(blobs, azurite, name):
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    key = azurite.connection_string.split("AccountKey=")[1].split(";")[0]
    token = generate_blob_sas("devstoreaccount1", blobs.container, name, account_key=key,
                              permission=BlobSasPermissions(read=True),
                              expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    return f"{blobs.url(name)}?{token}"


def test_a_sas_in_blob_urls_reaches_no_output_body_az_line_or_error(stub_az, arm, azurite, blobs, os_url, capsys):
    os_sas = _sas_url(blobs, azurite, "os.vhd")
    blobs.page_blob("d.vhd")
    data_sas = _sas_url(blobs, azurite, "d.vhd")
    from vhdupload.cli import main as run_cli
    from tests.support.registration import vhd_footer

    blobs.page_blob("dyn.vhd", footer=vhd_footer(2 * 1024 * 1024, disk_type=3))
    dyn_sas = _sas_url(blobs, azurite, "dyn.vhd")
    secrets = {os_sas.split("sig=")[1].split("&")[0], data_sas.split("sig=")[1].split("&")[0],
               dyn_sas.split("sig=")[1].split("&")[0]}
    base = ["--subscription", SUB, "--arm-endpoint", arm.url]  # no storage credential: the SAS is the access
    image = ["register", "image", "web", "-g", RG, "-l", LOC, "--os-disk", os_sas, "--os-type", "linux",
             "--data-disk", f"{data_sas},lun=2", *base]
    runs = [
        (image + ["--dry-run"], 0), (image + ["--dry-run", "--json"], 0), (image + ["--json"], 0),
        (image + ["--no-wait", "--json"], 0),
        (_gallery_args(os_sas, "--data-disk", data_sas, "--dry-run", "--json", *base), 0),
        (["register", "disk", "d", "--source", data_sas, "-g", RG, "-l", LOC, "--json", *base], 0),
        (["register", "image", "x", "-g", RG, "-l", LOC, "--os-disk", dyn_sas, "--os-type", "linux", *base], 1),
        (["register", "image", "x", "-g", RG, "-l", LOC, "--os-disk", os_sas, "--os-type", "linux",
          "--data-disk", os_sas, *base], 1),
    ]
    seen = ""
    for args, expected in runs:
        code = run_cli(args)
        out, err = capsys.readouterr()
        assert code == expected, err
        seen += out + err
    assert "devstoreaccount1" in seen and "is a dynamic VHD" in seen and "is given twice" in seen
    sent = json.dumps([[r.path, r.body, r.query] for r in arm.requests])
    assert "/images/web" in sent and "/disks/d" in sent
    for secret in secrets:
        assert secret not in seen and secret not in sent
    assert "sig=" not in seen and "sig=" not in sent


# -- captures, Ctrl-C ------------------------------------------------------------------------------

def test_capture_refuses_a_specialized_image_and_blob_only_options_before_any_call(stub_az, arm, capsys):
    arm.add_vm(subscription=SUB, resource_group=RG, name="builder")
    base = ["register", "image", "cap", "-g", RG, "--source-vm", "builder", "--subscription", SUB, "--arm-endpoint", arm.url]
    for extra, message in [
        (["--os-state", "specialized"], "a managed image must be generalized"),
        (["--storage-sku", "Premium_LRS"], "--storage-sku apply to an image from blobs"),
    ]:
        code = main(base + extra)
        _, err = capsys.readouterr()
        assert code == 1 and message in err, err
    assert arm.requests == []


def test_ctrl_c_while_a_new_gallery_is_created_says_what_goes_on(stub_az, arm, azurite, os_url, capsys, monkeypatch):
    from azure.core.polling import LROPoller

    def interrupted(self, timeout=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(LROPoller, "result", interrupted)
    code = main(_gallery_args(os_url) + _common(arm, azurite))
    _, err = capsys.readouterr()
    assert code == 130
    assert "interrupted: whatever was already sent continues in Azure" in err
    assert f"az resource show --ids /subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/gal " in err
    assert [p.path.rsplit("/", 1)[-1] for p in arm.puts()] == ["gal"]


def test_image_options_reach_the_body_and_the_az_line(stub_az, arm, azurite, blobs, os_url, capsys, monkeypatch):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUB)  # instead of --subscription
    data = blobs.page_blob("d.vhd")
    code = main([
        "register", "image", "z", "-g", RG, "-l", LOC, "--os-disk", os_url, "--os-type", "linux",
        "--data-disk", f"{data},caching=ReadWrite", "--zone-resilient", "--storage-sku", "standardssd_lrs",
        "--tag", "owner=platform", "--tag", "tier=gold", "--hyper-v-generation", "V1",
        "--arm-endpoint", arm.url, "--connection-string", azurite.connection_string,
    ])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "warning: --hyper-v-generation V1 given, but the OS disk has a GPT with an EFI System Partition" in err
    body = arm.puts()[0].body
    assert arm.puts()[0].path.startswith(f"/subscriptions/{SUB}/")
    assert body["tags"] == {"owner": "platform", "tier": "gold"}
    profile = body["properties"]["storageProfile"]
    assert profile["zoneResilient"] is True and body["properties"]["hyperVGeneration"] == "V1"
    assert profile["osDisk"]["storageAccountType"] == "StandardSSD_LRS"
    assert profile["dataDisks"] == [{"lun": 0, "blobUri": data, "caching": "ReadWrite", "storageAccountType": "StandardSSD_LRS"}]
    code = main(["register", "image", "z", "-g", RG, "-l", LOC, "--os-disk", os_url, "--os-type", "linux",
                 "--zone-resilient", "--storage-sku", "Premium_LRS", "--tag", "a=b", "--hyper-v-generation", "V2",
                 "--dry-run", "--arm-endpoint", arm.url, "--connection-string", azurite.connection_string])
    out, _ = capsys.readouterr()
    az_line = out.split("# the same with the Azure CLI:\n")[1].strip()
    assert az_line.endswith("--storage-sku Premium_LRS --hyper-v-generation V2 --zone-resilient true --tags a=b")


def test_disk_options_reach_the_body(stub_az, arm, azurite, os_url, capsys):
    code = main(["register", "disk", "osd", "--source", os_url, "-g", RG, "-l", LOC, "--sku", "premium_zrs",
                 "--os-type", "windows", "--hyper-v-generation", "v2", "--storage-account-id", arm.storage_account_id,
                 "--json", *_common(arm, azurite)])
    out, err = capsys.readouterr()
    assert code == 0, err
    disk = json.loads(out)
    assert disk["sku"] == {"name": "Premium_ZRS"} and disk["properties"]["osType"] == "Windows"
    assert disk["properties"]["hyperVGeneration"] == "V2"
    assert disk["properties"]["creationData"]["storageAccountId"] == arm.storage_account_id
    assert not any("Microsoft.Storage" in r.path for r in arm.requests)  # given, so not looked up
    assert arm.polls_of("location") == 3


# -- gallery first: replication you can watch (#18) ----------------------------------------------

def test_gallery_version_replicates_where_asked_and_json_gives_each_region(stub_az, arm, azurite, os_url, capsys):
    code = main(_gallery_args(os_url, "--target-region", "eastus=2=Standard_ZRS", "--target-region", "westus3",
                              "--json", "--poll-seconds", "0") + _common(arm, azurite))
    out, err = capsys.readouterr()
    assert code == 0, err
    version = json.loads(out)
    regions = version["properties"]["replicationStatus"]["summary"]
    assert [(r["region"], r["state"], r["progress"]) for r in regions] == [
        ("westeurope", "Completed", 100), ("eastus", "Completed", 100), ("westus3", "Completed", 100)]
    assert version["properties"]["replicationStatus"]["aggregatedState"] == "Completed"
    put = next(p for p in arm.puts() if "/versions/" in p.path)
    assert put.body["properties"]["publishingProfile"]["targetRegions"][1] == {
        "name": "eastus", "regionalReplicaCount": 2, "storageAccountType": "Standard_ZRS"}
    definition = next(p for p in arm.puts() if p.path.endswith("/images/def"))
    assert {"name": "SecurityType", "value": "TrustedLaunchSupported"} in definition.body["properties"]["features"]


def test_a_failed_region_exits_1_naming_it_and_no_wait_returns_once_the_version_exists(stub_az, arm, azurite, os_url, capsys):
    arm.failing_regions["eastus"] = "Replication to eastus failed: quota exceeded."
    code = main(_gallery_args(os_url, "--target-region", "eastus", "--poll-seconds", "0") + _common(arm, azurite))
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert "replication failed in 1 region(s): eastus: Replication to eastus failed: quota exceeded." in err
    assert "replication: westeurope 50% (InProgress)" in err  # one line per change when stderr is not a terminal
    assert "replication: eastus 50% (Failed)" in err
    assert "Traceback" not in err
    arm.requests.clear()
    code = main(_gallery_args(os_url, "--target-region", "eastus", "--version", "1.0.1", "--no-wait",
                              "--poll-seconds", "0") + _common(arm, azurite))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip().endswith("/versions/1.0.1")
    assert not [r for r in arm.requests if r.query.get("$expand") == ["ReplicationStatus"]]


def test_register_image_refuses_trusted_launch_with_the_fix(stub_az, arm, azurite, os_url, capsys):
    code = main(["register", "image", "web", "-g", RG, "-l", LOC, "--os-disk", os_url, "--os-type", "linux",
                 "--security-type", "TrustedLaunch", *_common(arm, azurite)])
    _, err = capsys.readouterr()
    assert code != 0
    assert "a managed image cannot back a TrustedLaunch VM: register a gallery image version instead" in err
    assert arm.requests == []
