"""The Entra ID path: a bearer token over HTTPS, against a second Azurite started with a
self-signed certificate and ``--oauth basic`` (the fixture ``https_azurite``; how Azurite checks
the token and why a fake JWT stands in for a real tenant: tests/support/entra_id.py).
"""

from __future__ import annotations

import time

import pytest
from azure.core.credentials import AccessToken, AzureNamedKeyCredential
from azure.storage.blob import BlobClient

from tests.support.entra_id import fake_jwt
from tests.support.uploads import write_random
from vhdupload import PageBlob, TransferSettings, client_options, status, upload, verify
from vhdupload.errors import AuthenticationError

MIB = 1 << 20


class FakeCredential:
    """A TokenCredential that hands out a JWT Azurite accepts; counts the tokens asked for."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls = 0

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        self.calls += 1
        return AccessToken(self.token, int(time.time()) + 3600)


def _client(server, container: str, credential) -> BlobClient:
    return BlobClient.from_blob_url(
        f"{server.account_url}/{container}/disk.vhd",
        credential=credential,
        **client_options(threads=4, connection_verify=str(server.cert_path)),
    )


def test_upload_and_verify_with_an_entra_id_token_over_https(https_azurite, container_name, tmp_path):
    raw = tmp_path / "disk.img"
    write_random(raw, 4 * MIB, runs=[(0, 4096), (2 * MIB, 8192)])
    credential = FakeCredential(fake_jwt())
    client = _client(https_azurite, container_name, credential)
    from vhdupload.azure.page_blob import PageBlobSink

    assert PageBlobSink(client)._direct is not None  # the hot path signs with the token too
    blob = PageBlob.from_client(client)
    result = upload(raw, blob, raw=True)
    assert result.bytes_sent == 3 * 4096 + 512 and result.blob_url.startswith("https://")
    assert credential.calls >= 1
    assert verify(raw, blob, raw=True).identical


def test_a_token_for_another_audience_is_refused_in_one_line(https_azurite, container_name, tmp_path):
    raw = tmp_path / "disk.img"
    write_random(raw, 4 * MIB, runs=[(0, 4096)])
    client = _client(https_azurite, container_name, FakeCredential(fake_jwt(audience="https://management.azure.com")))
    with pytest.raises(AuthenticationError) as info:
        upload(raw, PageBlob.from_client(client), raw=True)
    assert "\n" not in str(info.value) and "check the credential" in str(info.value)


def test_tokens_are_refused_over_plain_http_to_anything(azurite, container_name):
    from vhdupload import InputError

    once = TransferSettings(max_retries=0)  # refused before any request: no retry should be needed
    with pytest.raises(InputError, match="https"):
        status(PageBlob(f"{azurite.account_url}/{container_name}/d.vhd", credential=FakeCredential("x")), settings=once)
    with pytest.raises(InputError, match="loopback"):
        status(PageBlob("http://example.blob.core.windows.net/c/d.vhd",
                        credential=AzureNamedKeyCredential("example", "a2V5a2V5a2V5")), settings=once)
