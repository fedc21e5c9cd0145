"""A managed disk whose data access is Entra-ID-only (``dataAccessAuthMode: AzureActiveDirectory``)
wants a bearer token for ``https://disk.azure.com`` beside the SAS on every request to its disk
endpoint, reads included (the double's disk proxy answers 401 without one). Found by the
reliability runs: Put Page carries the token, but the reads an upload's resume and ``verify``
make (Get Page Ranges, Get Blob, through the SDK client built from the SAS) do not."""

from __future__ import annotations

import threading

import pytest

from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from tests.support.registration import FakeCredential
from tests.support.uploads import write_random
from vhdupload import ArmConnection, ManagedDisk, TransferSettings, upload, verify
from vhdupload.errors import AuthenticationError, CancelledError

from .figures import MIB


def _disk(name: str, arm: ArmConnection) -> ManagedDisk:
    return ManagedDisk(name, resource_group=RG, arm=arm, location="westeurope", data_access_auth_mode="AzureActiveDirectory")


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "aad.img"
    content = write_random(path, 24 * MIB, runs=[(i * MIB, 512 * 1024) for i in range(24)])
    return path, content


def test_an_entra_id_only_disk_upload_resumes(managed_disk_double, compute_client, image):
    path, content = image
    credential = FakeCredential()
    # the credential that signs the disk's data requests rides on the connection
    arm = ArmConnection.from_client(compute_client(), credential=credential)
    cancel = threading.Event()

    def stop_early(progress) -> None:
        if progress.requests >= 6:
            cancel.set()

    with pytest.raises(CancelledError):
        upload(path, _disk("aad", arm), raw=True, cancel=cancel, progress=stop_early, settings=TransferSettings(threads=1))
    managed_disk_double.clock_offset += 120  # its heartbeat is stale
    result = upload(path, _disk("aad", arm), raw=True)
    assert result.resumed
    assert managed_disk_double.disk_bytes("aad")[: len(content)] == content


def test_an_entra_id_only_disk_verifies(managed_disk_double, arm_connection, image):
    path, _ = image
    credential = FakeCredential()
    upload(path, _disk("aadv", arm_connection(credential=credential)), raw=True)
    assert managed_disk_double.disk_state("aadv") == "Unattached"
    check = verify(path, ManagedDisk("aadv", resource_group=RG, arm=arm_connection(credential=credential)), raw=True)
    assert check.identical
