"""The Entra ID path: a bearer token over HTTPS, against a second Azurite started with a
self-signed certificate (made here) and ``--oauth basic``.

Azurite's basic OAuth check (BlobTokenAuthenticator) decodes the JWT without verifying its
signature and checks ``nbf``/``exp``/``iat``, an issuer starting with
``https://sts.windows.net/`` and the audience ``https://storage.azure.com``; it refuses Bearer
over plain http. So an injected credential object that hands out such a token stands in for
``DefaultAzureCredential`` without reaching any real tenant.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import time

import pytest
from azure.core.credentials import AccessToken

from tests.support.azurite import start_azurite
from vhdupload import resolve_blob_client, upload_vhd, verify_upload
from vhdupload.azure.credentials import client_options
from vhdupload.errors import AuthenticationError

from .conftest import write_random

MIB = 1 << 20


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_jwt(*, audience: str = "https://storage.azure.com", lifetime: int = 3600) -> str:
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT"}
    claims = {"aud": audience, "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
              "iat": now - 60, "nbf": now - 60, "exp": now + lifetime, "oid": "test"}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{_b64(b'signature')}"


class FakeCredential:
    """A TokenCredential that hands out a JWT Azurite accepts; counts the tokens asked for."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls = 0

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        self.calls += 1
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture(scope="module")
def https_azurite(tmp_path_factory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    server = start_azurite(cert=cert_path, key=key_path, oauth=True)
    server.cert_path = cert_path
    yield server
    server.stop()


def _client(server, container: str, credential):
    return resolve_blob_client(
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
    result = upload_vhd(raw, blob_client=client, raw=True)
    assert result.bytes_sent == 3 * 4096 + 512 and result.blob_url.startswith("https://")
    assert credential.calls >= 1
    assert verify_upload(raw, blob_client=client, raw=True).identical


def test_a_token_for_another_audience_is_refused_in_one_line(https_azurite, container_name, tmp_path):
    raw = tmp_path / "disk.img"
    write_random(raw, 4 * MIB, runs=[(0, 4096)])
    client = _client(https_azurite, container_name, FakeCredential(fake_jwt(audience="https://management.azure.com")))
    with pytest.raises(AuthenticationError) as info:
        upload_vhd(raw, blob_client=client, raw=True)
    assert "\n" not in str(info.value) and "check the credential" in str(info.value)


def test_tokens_are_refused_over_plain_http_to_anything(azurite, container_name):
    from vhdupload import InputError

    with pytest.raises(InputError, match="https"):
        resolve_blob_client(f"{azurite.account_url}/{container_name}/d.vhd", credential=FakeCredential("x"))
    with pytest.raises(InputError, match="loopback"):
        resolve_blob_client("http://example.blob.core.windows.net/c/d.vhd", account_key="a2V5a2V5a2V5")
