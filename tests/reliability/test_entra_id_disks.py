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
from vhdupload.destinations.managed_disk import ManagedDiskSpec
from vhdupload.errors import AuthenticationError, CancelledError
from vhdupload.managed_disks import upload_to_managed_disk, verify_managed_disk

from .figures import MIB
from vhdupload import TransferSettings


def _spec(name: str) -> ManagedDiskSpec:
    return ManagedDiskSpec(name=name, resource_group=RG, location="westeurope", data_access_auth_mode="AzureActiveDirectory")


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "aad.img"
    content = write_random(path, 24 * MIB, runs=[(i * MIB, 512 * 1024) for i in range(24)])
    return path, content


def test_an_entra_id_only_disk_upload_resumes(managed_disk_double, compute_client, image):
    path, content = image
    credential = FakeCredential()
    cancel = threading.Event()

    def stop_early(progress) -> None:
        if progress.requests >= 6:
            cancel.set()

    with pytest.raises(CancelledError):
        upload_to_managed_disk(path, _spec("aad"), compute_client=compute_client(), credential=credential, raw=True, cancel=cancel, progress=stop_early, settings=TransferSettings(threads=1))
    managed_disk_double.clock_offset += 120  # its heartbeat is stale
    result = upload_to_managed_disk(path, _spec("aad"), compute_client=compute_client(), credential=credential, raw=True)
    assert result.resumed
    assert managed_disk_double.disk_bytes("aad")[: len(content)] == content


def test_an_entra_id_only_disk_verifies(managed_disk_double, compute_client, image):
    path, _ = image
    credential = FakeCredential()
    upload_to_managed_disk(path, _spec("aadv"), compute_client=compute_client(), credential=credential, raw=True)
    assert managed_disk_double.disk_state("aadv") == "Unattached"
    check = verify_managed_disk(path, disk_name="aadv", resource_group=RG, compute_client=compute_client(),
                                credential=credential, raw=True)
    assert check.identical
