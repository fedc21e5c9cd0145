"""The Entra ID doubles: a JWT that Azurite's basic OAuth check accepts, and a second Azurite
over HTTPS (a self-signed certificate made here, ``--oauth basic``). The fixture
``https_azurite`` (tests/conftest.py) starts one for the session.

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
from pathlib import Path

from tests.support.azurite import AzuriteServer, start_azurite


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_jwt(*, audience: str = "https://storage.azure.com", lifetime: int = 3600) -> str:
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT"}
    claims = {"aud": audience, "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
              "iat": now - 60, "nbf": now - 60, "exp": now + lifetime, "oid": "test"}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{_b64(b'signature')}"


class ScopedJwtCredential:
    """A TokenCredential that answers each scope as Entra ID does: a JWT whose audience is the
    scope without its ``/.default`` (so ``https://disk.azure.com//.default`` gives the audience
    ``https://disk.azure.com/`` and ``https://disk.azure.com/.default`` gives
    ``https://disk.azure.com``). ``scopes`` records what was asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_kwargs: object):  # noqa: ANN201 - azure.core's AccessToken
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        scope = scopes[0] if scopes else ""
        audience = scope[: -len("/.default")] if scope.endswith("/.default") else scope
        return AccessToken(fake_jwt(audience=audience), int(time.time()) + 3600)


def start_https_azurite(directory: Path) -> AzuriteServer:
    """An Azurite over HTTPS with basic OAuth, its certificate and key written to ``directory``;
    ``server.cert_path`` is the certificate to trust. The caller stops it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

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
    return server
