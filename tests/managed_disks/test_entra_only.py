"""Entra-ID-only disks (``dataAccessAuthMode: AzureActiveDirectory``): the token the disk endpoint
takes has the audience ``https://disk.azure.com/`` with its trailing slash, so the upload asks for
the scope ``https://disk.azure.com//.default`` (AzCopy's ``ManagedDiskScope``), reads included;
the double refuses any other audience with the service's challenge."""

from __future__ import annotations

import time

import pytest
from azure.core.credentials import AccessToken

from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from tests.support.disk_proxy import DISK_AUDIENCE, token_audience
from tests.support.entra_id import ScopedJwtCredential, fake_jwt
from tests.support.uploads import write_random
from vhdupload import ArmConnection, ManagedDisk, upload, verify
from vhdupload.errors import VhdUploadError

MIB = 1024 * 1024


def _disk(name: str, arm: ArmConnection) -> ManagedDisk:
    return ManagedDisk(name, resource_group=RG, arm=arm, location="westeurope", data_access_auth_mode="AzureActiveDirectory")


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "aad.img"
    write_random(path, 21 * MIB, runs=[(0, 64 * 1024), (20 * MIB, 4096)])
    return path


def test_the_upload_and_verify_ask_for_the_disk_audience_with_its_trailing_slash(managed_disk_double, arm_connection, image):
    credential = ScopedJwtCredential()
    upload(image, _disk("aad1", arm_connection(credential=credential)), raw=True)
    assert verify(image, ManagedDisk("aad1", resource_group=RG, arm=arm_connection(credential=credential)), raw=True).identical
    assert ("https://disk.azure.com//.default",) in credential.scopes
    assert ("https://disk.azure.com/.default",) not in credential.scopes
    tokens = managed_disk_double.proxy.bearer_tokens
    assert tokens and {token_audience(t) for t in tokens} == {DISK_AUDIENCE}
    reads = [r for r in managed_disk_double.proxy.requests if r.method in ("GET", "HEAD")]
    assert reads and all(r.headers.get("authorization", "").startswith("Bearer ") for r in reads)


class _WithoutTheSlash(ScopedJwtCredential):
    """What the upload asked for before: a token for ``https://disk.azure.com`` (no slash)."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        if scopes and scopes[0].startswith("https://disk.azure.com"):
            return AccessToken(fake_jwt(audience="https://disk.azure.com"), int(time.time()) + 3600)
        return super().get_token(*scopes, **kwargs)


def test_the_double_refuses_another_audience_with_the_services_challenge(managed_disk_double, arm_connection, image):
    with pytest.raises(VhdUploadError):
        upload(image, _disk("aad2", arm_connection(credential=_WithoutTheSlash())), raw=True)
    refused = [r for r in managed_disk_double.proxy.requests if r.status == 401]
    assert refused, "the disk endpoint double took a token for the wrong audience"
