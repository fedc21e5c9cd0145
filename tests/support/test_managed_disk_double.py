"""The managed-disk endpoint of the ARM double and its restricting proxy, driven through the real
``azure-mgmt-compute`` client and ``azure-storage-blob`` against Azurite: the double must answer
as Azure's disk endpoint does, or the managed-disk tests built on it prove nothing."""

from __future__ import annotations

import email.utils
import time

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute.models import DiskUpdate, GrantAccessData
from azure.storage.blob import BlobClient

from tests.support.arm_double import MIB, MIN_UPLOAD_BYTES
from vhdupload import crc64
from vhdupload.azure.direct_put import DirectPageWriter
from vhdupload.vhd import make_fixed_footer

RG = "images-rg"
SIZE = MIN_UPLOAD_BYTES  # 20 MiB of data + the footer


def upload_body(size: int = SIZE, **extra) -> dict:
    props = extra.pop("properties", {})
    return {"location": "westeurope", **extra,
            "properties": {"creationData": {"createOption": "Upload", "uploadSizeBytes": size}, **props}}


def create(client, name: str = "d1", size: int = SIZE, **extra):
    return client.disks.begin_create_or_update(RG, name, upload_body(size, **extra)).result()


def grant(client, name: str = "d1", access: str = "Write", seconds: int = 3600) -> str:
    return client.disks.begin_grant_access(RG, name, GrantAccessData(access=access, duration_in_seconds=seconds)).result().access_sas


def revoke(client, name: str = "d1") -> None:
    client.disks.begin_revoke_access(RG, name).result()


def footer(size: int = SIZE) -> bytes:
    return make_fixed_footer(virtual_size=size - 512).to_bytes()


def error_code(exc: BaseException) -> str | None:
    error = getattr(exc, "error", None)
    return getattr(error, "code", None) or getattr(exc, "error_code", None)


# -- the upload flow ---------------------------------------------------------------------------
def test_create_grant_put_revoke(managed_disk_double, compute_client):
    double, client = managed_disk_double, compute_client()
    disk = create(client, sku={"name": "Premium_LRS"}, tags={"k": "v"}, zones=["2"],
                  properties={"osType": "Linux", "hyperVGeneration": "V2", "securityProfile": {"securityType": "TrustedLaunch"}})
    assert disk.disk_state == "ReadyToUpload" and disk.provisioning_state == "Succeeded"
    assert (disk.disk_size_bytes, disk.disk_size_gb) == (20 * MIB, 1)
    assert disk.id.endswith(f"/resourceGroups/{RG}/providers/Microsoft.Compute/disks/d1")
    assert (disk.sku.name, disk.tags, disk.zones, disk.os_type, disk.hyper_v_generation) == ("Premium_LRS", {"k": "v"}, ["2"], "Linux", "V2")
    assert disk.security_profile.security_type == "TrustedLaunch"
    assert double.disk_blob("d1").get_blob_properties().size == SIZE  # backed by an empty page blob of exactly that size
    assert double.disk_bytes("d1") == bytes(SIZE)

    sas = grant(client)
    assert double.disk_state("d1") == "ActiveUpload"
    assert sas.startswith(double.proxy.url) and "sig=" in sas and "sp=rw" in sas
    blob = BlobClient.from_blob_url(sas)
    blob.upload_page(b"\x01" * 4096, offset=MIB, length=4096)

    with pytest.raises(HttpResponseError) as info:  # no footer yet
        revoke(client)
    assert error_code(info.value) == "InvalidVhd" and "expected to have cookie value 'conectix'" in str(info.value)
    assert double.disk_state("d1") == "ActiveUpload"
    with pytest.raises(HttpResponseError) as info:  # the failed revoke still ended the grant
        blob.upload_page(b"\x02" * 512, offset=0, length=512)
    assert info.value.status_code == 403 and info.value.error_code == "AuthenticationFailed"

    blob = BlobClient.from_blob_url(grant(client))  # a rerun grants again from ActiveUpload
    blob.upload_page(footer(), offset=SIZE - 512, length=512)
    revoke(client)
    assert double.disk_state("d1") == "Unattached"
    assert client.disks.get(RG, "d1").disk_state == "Unattached"
    data = double.disk_bytes("d1")
    assert data[MIB:MIB + 4096] == b"\x01" * 4096 and data[-512:] == footer()[:0] + data[-512:]
    assert data[-512:-504] == b"conectix" and data[:MIB] == bytes(MIB)
    with pytest.raises(HttpResponseError) as info:
        blob.get_blob_properties()
    assert info.value.status_code == 403
    assert not double.proxy.outside_surface()
    create_put = [r for r in double.requests if r.method == "PUT"][0]
    assert create_put.body["properties"]["creationData"] == {"createOption": "Upload", "uploadSizeBytes": SIZE}
    assert double.existing_disk_puts == []


def test_framed_put_page_and_crc64_pass_through(managed_disk_double, compute_client):
    """vhdupload's own Put Page framing on kept-alive sockets, 4 MiB bodies, CRC64 checked by Azurite."""
    double, client = managed_disk_double, compute_client()
    create(client)
    blob = BlobClient.from_blob_url(grant(client))
    writer = DirectPageWriter.for_client(blob)
    assert writer is not None
    chunks = [(0, b"\xab" * (4 * MIB)), (4 * MIB, b"\xcd" * 4096), (8 * MIB, b"\xef" * (4 * MIB))]
    for offset, data in chunks:
        writer.put_page(data, offset=offset, crc64_bytes=crc64.to_header(crc64.compute(data)), lease_id=None)
    with pytest.raises(HttpResponseError) as info:  # a wrong CRC reaches Azurite, which refuses it
        writer.put_page(b"\x11" * 512, offset=0, crc64_bytes=crc64.to_header(crc64.compute(b"\x12" * 512)), lease_id=None)
    assert info.value.status_code == 400
    data = double.disk_bytes("d1")
    for offset, chunk in chunks:
        assert data[offset:offset + len(chunk)] == chunk
    puts = [r for r in double.proxy.requests if r.operation == "PutPage"]
    assert len(puts) == 4 and all("x-ms-content-crc64" in r.headers for r in puts)
    assert [r.status for r in puts] == [201, 201, 201, 400]


def test_read_surface_and_sdk_reads(managed_disk_double, compute_client):
    double, client = managed_disk_double, compute_client()
    create(client)
    blob = BlobClient.from_blob_url(grant(client))
    blob.upload_page(b"\x07" * 8192, offset=2 * MIB, length=8192)
    ranges = [(r.start, r.end) for r in blob.list_page_ranges()]
    assert ranges == [(2 * MIB, 2 * MIB + 8191)]
    assert blob.download_blob(offset=2 * MIB, length=4096).readall() == b"\x07" * 4096
    assert blob.get_blob_properties().size == SIZE
    # The proxy records a request as its answer goes out: the client may have the last answer a
    # moment before its record is there, and records of requests close together may swap.
    deadline = time.monotonic() + 5
    while "GetBlobProperties" not in double.proxy.operations() and time.monotonic() < deadline:
        time.sleep(0.01)
    ops = double.proxy.operations()
    assert ops[0] == "PutPage" and {"GetPageRanges", "GetBlob", "GetBlobProperties"} <= set(ops)
    assert set(ops) <= {"PutPage", "GetPageRanges", "GetBlob", "GetBlobProperties"}
    assert all(r.status < 300 for r in double.proxy.requests)


def test_everything_else_is_refused_and_recorded(managed_disk_double, compute_client):
    double, client = managed_disk_double, compute_client()
    create(client)
    sas = grant(client)
    blob = BlobClient.from_blob_url(sas)
    attempts = {
        "set_blob_metadata": lambda: blob.set_blob_metadata({"a": "b"}),
        "set_http_headers": lambda: blob.set_http_headers(content_settings=None),
        "acquire_lease": lambda: blob.acquire_lease(),
        "upload_blob": lambda: blob.upload_blob(b"x" * 512, blob_type="PageBlob", overwrite=True),
        "delete_blob": lambda: blob.delete_blob(),
        "create_snapshot": lambda: blob.create_snapshot(),
        "container_properties": lambda: blob._get_container_client().get_container_properties(),
        "list_blobs": lambda: list(blob._get_container_client().list_blobs()),
    }
    for name, call in attempts.items():
        with pytest.raises(HttpResponseError) as info:
            call()
        assert info.value.status_code == 403, name
        expected = "AuthorizationResourceTypeMismatch" if name.startswith(("container", "list")) else "AuthorizationPermissionMismatch"
        assert info.value.error_code == expected, name
    refused = double.proxy.outside_surface()
    assert len(refused) >= len(attempts) and all(r.status == 403 for r in refused)
    assert {r.comp for r in refused} >= {"metadata", "properties", "lease", None, "snapshot", "list"}
    assert double.disk_bytes("d1") == bytes(SIZE)  # Put Blob did not wipe it, Delete did not remove it


def test_read_grant_cannot_write(managed_disk_double, compute_client):
    double, client = managed_disk_double, compute_client()
    double.add_disk("done", content=b"\x05" * 4096)
    with pytest.raises(HttpResponseError) as info:
        grant(client, "done", access="Write")
    assert info.value.status_code == 409 and error_code(info.value) == "OperationNotAllowed" and "Unattached" in str(info.value)
    sas = grant(client, "done", access="Read")
    assert "sp=r&" in sas and double.disk_state("done") == "ActiveSAS"
    blob = BlobClient.from_blob_url(sas)
    assert blob.download_blob(offset=0, length=4096).readall() == b"\x05" * 4096
    with pytest.raises(HttpResponseError) as info:
        blob.upload_page(b"\0" * 512, offset=0, length=512)
    assert info.value.status_code == 403 and info.value.error_code == "AuthorizationPermissionMismatch"
    revoke(client, "done")
    assert double.disk_state("done") == "Unattached"
    with pytest.raises(HttpResponseError) as info:
        blob.get_blob_properties()
    assert info.value.status_code == 403


def test_grant_refusals_and_regrant_switch(managed_disk_double, compute_client):
    double, client = managed_disk_double, compute_client()
    create(client)
    with pytest.raises(HttpResponseError) as info:
        grant(client, access="Read")  # nothing to read yet
    assert info.value.status_code == 409 and "ReadyToUpload" in str(info.value)
    first = grant(client)
    double.refuse_regrant = True
    with pytest.raises(HttpResponseError) as info:
        grant(client)
    assert info.value.status_code == 409 and error_code(info.value) == "OperationNotAllowed" and "ActiveUpload" in str(info.value)
    BlobClient.from_blob_url(first).upload_page(b"\x01" * 512, offset=0, length=512)  # the first grant still holds
    double.refuse_regrant = False
    second = grant(client)
    BlobClient.from_blob_url(second).upload_page(b"\x02" * 512, offset=512, length=512)
    assert len(double.active_grants("d1")) == 2


def test_switches_for_crc64_and_page_ranges(managed_disk_double, compute_client):
    double, client = managed_disk_double, compute_client()
    create(client)
    blob = BlobClient.from_blob_url(grant(client))
    double.proxy.refuse_crc64 = True
    data = b"\x09" * 4096
    with pytest.raises(HttpResponseError) as info:
        blob.upload_page(data, offset=0, length=4096, validate_content=False,
                         transactional_content_crc64=crc64.to_header(crc64.compute(data)))
    assert info.value.status_code == 400 and info.value.error_code == "UnsupportedHeader"
    assert "x-ms-content-crc64" in str(info.value.response.text())
    blob.upload_page(data, offset=0, length=4096)  # without the header it goes through
    double.proxy.refuse_page_ranges = True
    with pytest.raises(HttpResponseError) as info:
        list(blob.list_page_ranges())
    assert info.value.status_code == 403
    assert double.disk_bytes("d1")[:4096] == data


def test_revoke_checks_the_whole_footer(managed_disk_double, compute_client):
    double, client = managed_disk_double, compute_client()
    create(client)
    blob = BlobClient.from_blob_url(grant(client))
    wrong_size = make_fixed_footer(virtual_size=SIZE - 512 - MIB).to_bytes()
    bad_checksum = bytearray(footer())
    bad_checksum[70] ^= 0xFF
    dynamic = bytearray(footer())
    dynamic[60:64] = (3).to_bytes(4, "big")
    dynamic[64:68] = (~sum(dynamic[:64] + b"\0\0\0\0" + dynamic[68:]) & 0xFFFFFFFF).to_bytes(4, "big")
    for bad, words in ((wrong_size, "current size"), (bytes(bad_checksum), "checksum"), (bytes(dynamic), "fixed")):
        blob.upload_page(bad, offset=SIZE - 512, length=512)
        with pytest.raises(HttpResponseError) as info:
            revoke(client)
        assert error_code(info.value) == "InvalidVhd" and words in str(info.value)
        assert double.disk_state("d1") == "ActiveUpload"
        blob = BlobClient.from_blob_url(grant(client))


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "words"),
    [
        (21 * MIB, "whole number of MiB plus 512"),
        (20 * MIB - 512, "out of range"),
        (19 * MIB + 512, "out of range"),
        (32767 * 1024 * MIB + 512 + MIB, "out of range"),
        (SIZE + 4096, "whole number of MiB plus 512"),
        (str(SIZE), "not a valid integer"),
        (None, "missing"),
    ],
)
def test_upload_size_is_checked_as_azure_does(managed_disk_double, compute_client, size, words):
    client = compute_client()
    body = upload_body(size)
    if size is None:
        del body["properties"]["creationData"]["uploadSizeBytes"]
    with pytest.raises(HttpResponseError) as info:
        client.disks.begin_create_or_update(RG, "bad", body).result()
    assert info.value.status_code == 400 and error_code(info.value) == "InvalidParameter" and words in str(info.value)
    assert managed_disk_double.upload_disks == {}


def test_largest_upload_size_is_accepted(managed_disk_double, compute_client):
    disk = create(compute_client(), size=32767 * 1024 * MIB + 512)
    assert disk.disk_size_gb == 32767 and disk.disk_state == "ReadyToUpload"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"sku": {"name": "Premium_GRS"}}, "sku.name"),
        ({"properties": {"osType": "Solaris"}}, "osType"),
        ({"properties": {"hyperVGeneration": "V1", "securityProfile": {"securityType": "TrustedLaunch"}}}, "TrustedLaunch"),
    ],
)
def test_other_fields_are_checked(managed_disk_double, compute_client, extra, words):
    with pytest.raises(HttpResponseError) as info:
        create(compute_client(), "bad", **extra)
    assert info.value.status_code == 400 and words in str(info.value)


@pytest.mark.parametrize("sku", ["Standard_LRS", "StandardSSD_ZRS", "PremiumV2_LRS"])
def test_known_skus_are_taken(managed_disk_double, compute_client, sku):
    assert create(compute_client(), sku={"name": sku}).sku.name == sku


# -- tags, PUT of an existing disk, delete, clock -------------------------------------------------
def test_patch_replaces_tags_and_put_of_existing_disk_is_recorded(managed_disk_double, compute_client):
    double, client = managed_disk_double, compute_client()
    create(client, tags={"a": "1", "b": "2"})
    grant(client)
    disk = client.disks.begin_update(RG, "d1", DiskUpdate(tags={"c": "3"})).result()
    assert disk.tags == {"c": "3"} and client.disks.get(RG, "d1").tags == {"c": "3"}
    assert double.disk_state("d1") == "ActiveUpload"
    patch = [r for r in double.requests if r.method == "PATCH"]
    assert len(patch) == 1 and patch[0].body == {"tags": {"c": "3"}}
    double.refuse_update_while_uploading = True
    with pytest.raises(HttpResponseError) as info:
        client.disks.begin_update(RG, "d1", DiskUpdate(tags={"d": "4"})).result()
    assert info.value.status_code == 409
    assert double.existing_disk_puts == []
    disk = create(client, tags={"e": "5"})  # a PUT of the existing disk: ARM updates it ...
    assert disk.tags == {"e": "5"} and disk.disk_state == "ActiveUpload"
    assert len(double.existing_disk_puts) == 1  # ... and the test can see it happened
    with pytest.raises(HttpResponseError) as info:
        create(client, size=SIZE + MIB)
    assert info.value.status_code == 409 and error_code(info.value) == "PropertyChangeNotAllowed"


def test_delete(managed_disk_double, compute_client):
    double, client = managed_disk_double, compute_client()
    create(client)
    sas = grant(client)
    backing = double.disk_blob("d1")
    client.disks.begin_delete(RG, "d1").result()
    with pytest.raises(ResourceNotFoundError):
        client.disks.get(RG, "d1")
    assert not backing.exists()
    with pytest.raises(HttpResponseError) as info:
        BlobClient.from_blob_url(sas).get_blob_properties()
    assert info.value.status_code == 403
    client.disks.begin_delete(RG, "d1").result()  # deleting what is gone succeeds, as ARM does


def test_delete_refusals(managed_disk_double, compute_client):
    double, client = managed_disk_double, compute_client()
    double.add_disk("busy", state="Attached")
    with pytest.raises(HttpResponseError) as info:
        client.disks.begin_delete(RG, "busy").result()
    assert info.value.status_code == 409 and "attached" in str(info.value)
    double.add_disk("other", state="ActiveUpload", tags={"owner": "someone"})
    double.refuse_delete_while_granted = True
    with pytest.raises(HttpResponseError) as info:
        client.disks.begin_delete(RG, "other").result()
    assert info.value.status_code == 409
    double.refuse_delete_while_granted = False
    client.disks.begin_delete(RG, "other").result()


def test_add_disk_states(managed_disk_double, compute_client):
    double, client = managed_disk_double, compute_client()
    double.add_disk("theirs", state="ActiveUpload", tags={"tool": "azcopy"}, content=b"\x03" * 1000)
    disk = client.disks.get(RG, "theirs")
    assert (disk.disk_state, disk.tags, disk.creation_data.create_option) == ("ActiveUpload", {"tool": "azcopy"}, "Upload")
    assert len(double.active_grants("theirs")) == 1 and double.disk_bytes("theirs")[-512:] == bytes(512)
    attached = double.add_disk("vmdisk", state="Attached")
    assert attached["managedBy"].endswith("/virtualMachines/vm1")
    with pytest.raises(HttpResponseError):
        grant(client, "vmdisk", access="Write")
    assert double.disk_bytes("vmdisk")[-512:-504] == b"conectix"


def test_every_answer_has_a_date_on_the_doubles_clock(managed_disk_double, compute_client):
    double, client = managed_disk_double, compute_client()
    create(client)

    def date_of_get() -> float:
        header = client.disks.get(RG, "d1", cls=lambda response, *_: response.http_response.headers["Date"])
        return email.utils.parsedate_to_datetime(header).timestamp()

    assert abs(date_of_get() - time.time()) < 3
    double.clock_offset = 120
    assert abs(date_of_get() - time.time() - 120) < 3
    with pytest.raises(HttpResponseError) as info:
        client.disks.get(RG, "missing")
    assert "Date" in info.value.response.headers


def test_entra_only_disk_wants_a_bearer_token_beside_the_sas(managed_disk_double, compute_client):
    from tests.support.disk_proxy import token_audience
    from tests.support.registration import FakeCredential

    double, client = managed_disk_double, compute_client()
    create(client, properties={"dataAccessAuthMode": "AzureActiveDirectory"})
    sas = grant(client)
    with pytest.raises(HttpResponseError) as info:  # the SAS alone is not enough
        BlobClient.from_blob_url(sas).upload_page(b"\x01" * 512, offset=0, length=512)
    assert info.value.status_code == 401
    writer = DirectPageWriter.for_client(BlobClient.from_blob_url(sas), disk_credential=FakeCredential())
    data = b"\x02" * 4096
    writer.put_page(data, offset=0, crc64_bytes=crc64.to_header(crc64.compute(data)), lease_id=None)
    assert double.disk_bytes("d1")[:4096] == data
    assert [token_audience(t) for t in double.proxy.bearer_tokens] == ["https://disk.azure.com/"]


def test_a_token_for_another_audience_gets_the_services_challenge(managed_disk_double, compute_client):
    from tests.support.disk_proxy import DISK_CHALLENGE
    from tests.support.entra_id import fake_jwt
    client = compute_client()
    create(client, properties={"dataAccessAuthMode": "AzureActiveDirectory"})
    sas = grant(client)

    class NoSlash:  # the scope https://disk.azure.com/.default: audience https://disk.azure.com
        def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            return AccessToken(fake_jwt(audience="https://disk.azure.com"), int(time.time()) + 3600)

    blob = BlobClient.from_blob_url(sas)
    writer = DirectPageWriter.for_client(blob, disk_credential=NoSlash())
    with pytest.raises(HttpResponseError) as info:
        writer.put_page(b"\x02" * 512, offset=0, crc64_bytes=None, lease_id=None)
    assert info.value.status_code == 401
    assert info.value.response.headers["WWW-Authenticate"] == DISK_CHALLENGE
    assert "resource_id=https://disk.azure.com/" in DISK_CHALLENGE


def test_fail_next_fails_a_grant_without_changing_anything(managed_disk_double, compute_client):
    double, client = managed_disk_double, compute_client()
    create(client)
    double.fail_next = {"code": "InternalExecutionError", "message": "An internal execution error occurred."}
    with pytest.raises(HttpResponseError) as info:
        grant(client)
    assert error_code(info.value) == "InternalExecutionError"
    assert double.disk_state("d1") == "ReadyToUpload" and double.active_grants("d1") == []
    grant(client)
    assert double.disk_state("d1") == "ActiveUpload"


def test_patches_are_timed_on_the_doubles_clock(managed_disk_double, compute_client):
    double, client = managed_disk_double, compute_client()
    create(client)
    double.clock_offset = -3600
    client.disks.begin_update(RG, "d1", DiskUpdate(tags={"hb": "1"})).result()
    (patch,) = double.disk_patches("d1")
    assert abs(patch.at - (time.time() - 3600)) < 3


def test_a_put_page_cut_mid_body_is_not_forwarded(managed_disk_double, compute_client):
    import socket
    from urllib.parse import urlsplit

    double, client = managed_disk_double, compute_client()
    create(client)
    parts = urlsplit(grant(client))
    with socket.create_connection(("127.0.0.1", double.proxy.port)) as sock:
        sock.sendall(
            f"PUT {parts.path}?comp=page&{parts.query} HTTP/1.1\r\nHost: x\r\nx-ms-version: 2021-08-06\r\n"
            f"x-ms-page-write: update\r\nx-ms-range: bytes=0-4095\r\nContent-Length: 4096\r\n\r\n".encode() + b"\x01" * 1000
        )
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(100) == b""  # no answer, the connection is closed
    assert [(r.operation, r.status) for r in double.proxy.requests] == [("PutPage", 0)]
    assert double.disk_bytes("d1")[:4096] == bytes(4096)
