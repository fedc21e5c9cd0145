"""What the registration, CLI and publish tests share: the subscription, resource group and
location they use, an injected credential, VHD footers and source blobs in Azurite. (The
fixtures ``arm``, ``blobs``, ``credential``, ``compute`` and ``stub_az`` are in tests/conftest.py.)"""

from __future__ import annotations

import struct
import time
import uuid
from typing import Any, Callable

from azure.core.credentials import AccessToken
from azure.storage.blob import BlobClient, BlobServiceClient

SUB = "00000000-0000-0000-0000-000000000001"
RG = "images-rg"
LOC = "westeurope"
MIB = 1024 * 1024


class FakeCredential:
    """A TokenCredential that never leaves the process."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        if scopes and scopes[0].startswith("https://disk.azure.com"):
            # The disk endpoint (the double's proxy) checks a JWT's audience, as the service does:
            # answer as Entra ID would, the audience being the scope without "/.default".
            from tests.support.entra_id import fake_jwt

            return AccessToken(fake_jwt(audience=scopes[0].removesuffix("/.default")), int(time.time()) + 3600)
        return AccessToken("fake-arm-token", int(time.time()) + 3600)


def vhd_footer(virtual_size: int, *, disk_type: int = 2, cookie: bytes = b"conectix") -> bytes:
    """A 512-byte VHD footer with a valid checksum (disk_type 2 fixed, 3 dynamic)."""
    try:
        from vhdupload.vhd import make_fixed_footer
    except ImportError:
        make_fixed_footer = None
    if make_fixed_footer is not None and disk_type == 2 and cookie == b"conectix":
        return make_fixed_footer(virtual_size=virtual_size).to_bytes()
    footer = bytearray(512)
    footer[0:8] = cookie
    struct.pack_into(">II", footer, 8, 2, 0x00010000)
    struct.pack_into(">Q", footer, 16, 0xFFFFFFFFFFFFFFFF if disk_type == 2 else 512)
    footer[28:32] = b"vhdu"
    footer[36:40] = b"Wi2k"
    struct.pack_into(">QQ", footer, 40, virtual_size, virtual_size)
    struct.pack_into(">HBB", footer, 56, 65535, 16, 255)
    struct.pack_into(">I", footer, 60, disk_type)
    footer[68:84] = uuid.uuid4().bytes
    struct.pack_into(">I", footer, 64, ~sum(footer) & 0xFFFFFFFF)
    return bytes(footer)


class Blobs:
    """Writes source blobs into one Azurite container."""

    def __init__(self, service: BlobServiceClient, container: str) -> None:
        self.service = service
        self.container = container
        service.create_container(container)

    def client(self, name: str) -> BlobClient:
        return self.service.get_blob_client(self.container, name)

    def url(self, name: str) -> str:
        return self.client(name).url

    def page_blob(self, name: str, data: bytes = b"", *, size: int = 2 * MIB, footer: bytes | None = None,
                  metadata: dict[str, str] | None = None) -> str:
        """A page blob holding ``data`` at 0, zeros up to ``size``, then ``footer`` (a fixed one by default)."""
        footer = vhd_footer(size) if footer is None else footer
        blob = self.client(name)
        blob.create_page_blob(size + len(footer), metadata=metadata)
        if data:
            padded = data + b"\0" * (-len(data) % 512)
            blob.upload_page(padded, offset=0, length=len(padded))
        if footer:
            blob.upload_page(footer, offset=size, length=len(footer))
        return blob.url

    def block_blob(self, name: str, data: bytes) -> str:
        self.client(name).upload_blob(data, blob_type="BlockBlob")
        return self.url(name)

    def factory(self) -> Callable[[str], BlobClient]:
        conn = self.service
        return lambda url: BlobClient.from_blob_url(url, credential=conn.credential)


# -- one call per registration, through the public Registrar ------------------------------------
# The tests name a registration in one call (its options and the connection together); these
# split the two and go through ``vhdupload.Registrar`` exactly as a library user would. The
# connection is ``arm=`` (a ``vhdupload.ArmConnection``), or the keywords that build one:
# ``compute_client=`` (a ready ComputeManagementClient, ``credential=`` beside it if given), else
# ``credential=``, ``subscription_id=`` and ``arm_endpoint=`` / ``cloud=`` / ``audience=``.
_ARM = ("arm", "credential", "subscription_id", "compute_client", "arm_endpoint", "cloud", "audience")
_REGISTRAR = ("blob_client_factory", "polling_interval", "read_only")


def arm_connection(*, arm: Any = None, credential: Any = None, subscription_id: str | None = None,
                   compute_client: Any = None, arm_endpoint: str | None = None, cloud: str | None = None,
                   audience: str | None = None) -> Any:
    """The ``vhdupload.ArmConnection`` the old connection keywords named."""
    from vhdupload import ArmConnection

    if arm is not None:
        return arm
    if compute_client is not None:
        return ArmConnection.from_client(compute_client, credential=credential)
    where: dict[str, Any] = {"endpoint": arm_endpoint, "audience": audience}
    if cloud is not None:
        where["cloud"] = cloud
    return ArmConnection(subscription_id or SUB, credential=credential, **where)


def _registration(spec_name: str, *, begin: bool = False) -> Callable[..., Any]:
    """A one-call registration of the ``vhdupload.registration`` spec ``spec_name``."""

    def call(**keywords: Any) -> Any:
        import vhdupload.registration as registration

        options = dict(keywords)
        connection = {name: options.pop(name) for name in _ARM if name in options}
        extra = {name: options.pop(name) for name in _REGISTRAR if name in options}
        registrar = registration.Registrar(arm_connection(**connection), **extra)
        spec = getattr(registration, spec_name)(**options)
        return registrar.begin_register(spec) if begin else registrar.register(spec)

    return call


register_image = _registration("ImageSpec")
begin_register_image = _registration("ImageSpec", begin=True)
capture_vm_image = _registration("CaptureSpec")
register_gallery_version = _registration("GalleryVersionSpec")
register_disk = _registration("DiskImportSpec")
