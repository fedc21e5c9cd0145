"""Managed images through the real ComputeManagementClient against the ARM double."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError

from tests.support.registration import LOC, RG, SUB, begin_register_image, capture_vm_image, register_image
from vhdupload import ArmConnection
from vhdupload.errors import ArmError, InputError, PreflightError
from vhdupload.registration import make_compute_client

from .disk_images import ESP, LINUX, gpt, mbr


def _os_blob(blobs, tmp_path, name="os.vhd", kind="gpt"):
    image = gpt(tmp_path / name, (2048, 4095, ESP), (4096, 6143, LINUX)) if kind == "gpt" else mbr(tmp_path / name, "83")
    data = image.read_bytes()
    return blobs.page_blob(name, data[:8 * 512], size=len(data))  # only the partition-table sectors hold data


def test_os_image_body_and_polling(blobs, arm, compute, credential, tmp_path):
    os_url = _os_blob(blobs, tmp_path)
    image = register_image(
        name="web", resource_group=RG, location=LOC, os_disk=os_url + "?sv=2024&sig=secret", os_type="linux",
        arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory(), tags={"team": "infra"},
    )
    put = arm.puts()[0]
    assert put.path == f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/images/web"
    assert put.body == {
        "location": LOC,
        "tags": {"team": "infra"},
        "properties": {
            "storageProfile": {
                "osDisk": {"osType": "Linux", "osState": "Generalized", "blobUri": os_url},
                "dataDisks": [],
            },
            "hyperVGeneration": "V2",
        },
    }
    assert put.headers["Authorization"] == "Bearer fake-arm-token"
    assert credential.scopes[0] == ("https://management.azure.com/.default",)
    assert arm.polls_of("async") == 3  # InProgress, InProgress, Succeeded
    assert image.as_dict()["properties"]["provisioningState"] == "Succeeded"
    assert image.as_dict()["id"].endswith("/images/web")


def test_vm_image_with_three_data_disks_and_luns(blobs, arm, compute, tmp_path):
    os_url = _os_blob(blobs, tmp_path, kind="mbr")
    d = [blobs.page_blob(f"data{i}.vhd") for i in range(3)]
    register_image(
        name="vm", resource_group=RG, location=LOC, os_disk=os_url, os_type="windows",
        data_disks=[d[0], f"{d[1]},lun=0,caching=ReadOnly", d[2]], storage_sku="premium_lrs",
        arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory(), polling_interval=0,
    )
    profile = arm.puts()[0].body["properties"]["storageProfile"]
    assert profile["osDisk"] == {"osType": "Windows", "osState": "Generalized", "blobUri": os_url, "storageAccountType": "Premium_LRS"}
    assert [(x["lun"], x["blobUri"], x.get("caching")) for x in profile["dataDisks"]] == [
        (0, d[1], "ReadOnly"), (1, d[0], None), (2, d[2], None),
    ]
    assert arm.puts()[0].body["properties"]["hyperVGeneration"] == "V1"


@pytest.mark.parametrize(
    "disks, message",
    [(["{0},lun=3", "{1},lun=3"], "LUN 3 is given to two data disks"), (["{0}", "{0}"], "is given twice")],
)
def test_duplicate_luns_and_blobs_refused(blobs, arm, compute, disks, message):
    d = [blobs.url("a.vhd"), blobs.url("b.vhd")]
    with pytest.raises(InputError, match=message):
        register_image(
            name="vm", resource_group=RG, location=LOC, os_disk=blobs.url("os.vhd"), os_type="linux",
            data_disks=[x.format(*d) for x in disks], arm=ArmConnection.from_client(compute), skip_preflight=True, hyper_v_generation="V1",
        )
    assert arm.requests == []


def test_specialized_managed_image_refused(blobs, arm, compute):
    with pytest.raises(InputError, match="must be generalized.*register gallery-version --os-state specialized"):
        register_image(
            name="x", resource_group=RG, location=LOC, os_disk=blobs.page_blob("os.vhd"), os_type="linux",
            os_state="specialized", arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory(),
        )
    assert arm.requests == []


def test_arm_failure_is_a_clear_error(blobs, arm, compute, tmp_path):
    arm.fail_next = {"code": "InternalDiskManagementError", "message": "An internal error occurred."}
    with pytest.raises(ArmError) as info:
        register_image(
            name="web", resource_group=RG, location=LOC, os_disk=_os_blob(blobs, tmp_path), os_type="linux",
            arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory(),
        )
    assert str(info.value) == (
        "cannot create the OS image web: Azure answered InternalDiskManagementError: An internal error occurred."
    )
    assert info.value.code == "InternalDiskManagementError"
    assert arm.polls_of("async") == 3


def test_begin_returns_at_once_with_the_resource_id(blobs, arm, compute, tmp_path):
    started = begin_register_image(
        name="web", resource_group=RG, location=LOC, os_disk=_os_blob(blobs, tmp_path), os_type="linux",
        arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory(),
    )
    assert started.resource_id.endswith("/images/web")
    assert started.plan.notes == ["Hyper-V generation V2: the OS disk has a GPT with an EFI System Partition"]
    assert started.result()["properties"]["provisioningState"] == "Succeeded"


def test_credential_and_subscription_instead_of_a_client(blobs, arm, credential, tmp_path):
    image = register_image(
        name="web", resource_group=RG, location=LOC, os_disk=_os_blob(blobs, tmp_path), os_type="linux",
        arm=ArmConnection(SUB, credential=credential, endpoint=arm.url), blob_client_factory=blobs.factory(),
    )
    assert image["name"] == "web"


def test_plain_http_only_to_loopback(credential):
    for endpoint in ("http://management.example.com", "http://127.0.0.1.example.com", "http://10.0.0.1:8080",
                     "ftp://127.0.0.1", "http://169.254.169.254"):
        with pytest.raises(InputError, match="plain http:// only for a loopback"):
            make_compute_client(credential=credential, subscription_id=SUB, arm_endpoint=endpoint)
    for endpoint in ("http://127.0.0.1:5000", "http://[::1]:5000", "http://localhost:5000"):
        make_compute_client(credential=credential, subscription_id=SUB, arm_endpoint=endpoint)
    make_compute_client(credential=credential, subscription_id=SUB, arm_endpoint="https://management.local.azurestack.external")


def test_unauthorized_answer_is_an_arm_error(blobs, arm, tmp_path):
    class NoToken:
        def get_token(self, *scopes, **kwargs):
            from azure.core.exceptions import ClientAuthenticationError

            raise ClientAuthenticationError("no token here")

    with pytest.raises(ArmError, match="no usable Azure credential.*az login"):
        register_image(
            name="web", resource_group=RG, location=LOC, os_disk=_os_blob(blobs, tmp_path), os_type="linux",
            arm=ArmConnection(SUB, credential=NoToken(), endpoint=arm.url), blob_client_factory=blobs.factory(),
        )


# -- capturing a VM ---------------------------------------------------------------------------


def test_capture_deallocated_generalized_vm(arm, compute):
    vm = arm.add_vm(subscription=SUB, resource_group="vms", name="builder")
    image = capture_vm_image(name="cap", resource_group=RG, source_vm=vm, arm=ArmConnection.from_client(compute))
    assert arm.puts()[0].body == {
        "location": "westeurope",
        "properties": {"sourceVirtualMachine": {"id": vm}, "hyperVGeneration": "V2"},
    }
    get = arm.requests[0]
    assert get.path.endswith("/virtualMachines/builder") and get.query["$expand"] == ["instanceView"]
    assert image["name"] == "cap"


def test_capture_refuses_a_running_vm(arm, compute):
    arm.add_vm(subscription=SUB, resource_group=RG, name="live", power_state="running")
    with pytest.raises(PreflightError, match="the VM live is running; only a deallocated VM can be captured.*az vm deallocate"):
        capture_vm_image(name="cap", resource_group=RG, source_vm="live", arm=ArmConnection.from_client(compute))
    assert arm.puts() == []


def test_capture_refuses_a_vm_not_marked_generalized(arm, compute):
    arm.add_vm(subscription=SUB, resource_group=RG, name="raw", generalized=False)
    with pytest.raises(PreflightError, match="not marked generalized.*waagent -deprovision\\+user.*az vm generalize"):
        capture_vm_image(name="cap", resource_group=RG, source_vm="raw", arm=ArmConnection.from_client(compute))
    assert arm.puts() == []


def test_capture_of_a_missing_vm(arm, compute):
    with pytest.raises(InputError, match="there is no VM 'ghost'"):
        capture_vm_image(name="cap", resource_group=RG, source_vm="ghost", arm=ArmConnection.from_client(compute))


def _scope_asked_for(arm, credential, **options) -> tuple[str, ...]:
    """The token scope the client asks the credential for, seen from outside (no private SDK state):
    the client is pointed at the double and sends one GET."""
    client = make_compute_client(credential=credential, subscription_id=SUB, arm_endpoint=arm.url, **options)
    credential.scopes.clear()
    with pytest.raises(ResourceNotFoundError):
        client.virtual_machines.get(RG, "nobody")
    return credential.scopes[-1]


def test_cloud_and_audience_choose_the_token_scope(arm, credential):
    assert _scope_asked_for(arm, credential) == ("https://management.azure.com/.default",)
    assert _scope_asked_for(arm, credential, cloud="china") == ("https://management.chinacloudapi.cn/.default",)
    assert _scope_asked_for(arm, credential, cloud="usgov") == ("https://management.core.usgovcloudapi.net/.default",)
    stack = _scope_asked_for(arm, credential, audience="https://management.adfs.azurestack.local/1234")
    assert stack == ("https://management.adfs.azurestack.local/1234/.default",)
    assert arm.requests[-1].headers["Authorization"] == "Bearer fake-arm-token"
    with pytest.raises(InputError, match="--cloud 'mars'"):
        make_compute_client(credential=credential, subscription_id=SUB, cloud="mars")


def test_a_read_only_client_refuses_every_write_unsent(arm, credential):
    client = make_compute_client(credential=credential, subscription_id=SUB, arm_endpoint=arm.url, read_only=True)
    with pytest.raises(ResourceNotFoundError):
        client.images.get(RG, "nothing")  # reads go out
    with pytest.raises(ArmError, match="refusing to send PUT .* during a dry run") as info:
        client.images.begin_create_or_update(RG, "x", {"location": LOC, "properties": {}})
    assert info.value.code == "DryRun"
    assert arm.writes() == [] and len(arm.requests) == 1


def test_no_token_follows_a_poll_url_to_plain_http_off_loopback(blobs, arm, credential, tmp_path):
    """The loopback exemption is per request: an operation URL on another http host gets no token."""
    arm.poll_base = "http://arm-poll.invalid"
    # no retries: the refusal is final, and the SDK's backoff would only slow the test down
    compute = make_compute_client(credential=credential, subscription_id=SUB, arm_endpoint=arm.url, retry_total=0)
    with pytest.raises(ArmError, match="cannot create the OS image web") as info:
        register_image(
            name="web", resource_group=RG, location=LOC, os_disk=_os_blob(blobs, tmp_path), os_type="linux",
            arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory(),
        )
    assert "non-TLS" in str(info.value)
    assert len(arm.puts()) == 1 and arm.polls_of("async") == 0
