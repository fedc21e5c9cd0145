"""Fixtures shared by the whole suite: a session-wide Azurite, and a guard that keeps every
test on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import uuid

import pytest

from tests.support.azurite import AzuriteServer, start_azurite

_LOOPBACK_PREFIXES = ("127.", "::1", "localhost")


@pytest.fixture(autouse=True, scope="session")
def _no_network_but_loopback():
    """Fail any test that tries to reach an address that is not loopback (IMDS included)."""
    real_connect = socket.socket.connect
    real_create_connection = socket.create_connection

    def _check(address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not host.startswith(_LOOPBACK_PREFIXES) and not host.startswith("/"):
            raise AssertionError(f"test tried to reach non-loopback address {host!r}")

    def guarded_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(address)
        return real_connect(self, address)

    def guarded_create_connection(address, *args, **kwargs):
        _check(address)
        return real_create_connection(address, *args, **kwargs)

    socket.socket.connect = guarded_connect
    socket.create_connection = guarded_create_connection
    # No credential may wander off to the instance metadata service or a real tenant.
    os.environ.setdefault("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    os.environ.pop("AZURE_STORAGE_CONNECTION_STRING", None)
    os.environ.pop("AZURE_STORAGE_KEY", None)
    yield
    socket.socket.connect = real_connect
    socket.create_connection = real_create_connection


@pytest.fixture(scope="session")
def azurite() -> AzuriteServer:
    """A blob service on a free loopback port, in memory, for the whole session."""
    server = start_azurite()
    yield server
    server.stop()


@pytest.fixture
def container_name() -> str:
    return f"t{uuid.uuid4().hex[:20]}"


@pytest.fixture(scope="session")
def qemu_img() -> str:
    path = shutil.which("qemu-img")
    if path is None:
        pytest.fail("qemu-img is missing: ./run setup installs Debian's qemu-utils")
    return path


# -- the managed-disk endpoint: ARM double + restricting proxy + Azurite -----------------------
@pytest.fixture
def managed_disk_double(azurite):
    """An ARM double serving managed disks for direct upload, with its restricting proxy running
    (``double.proxy``); disks are backed by page blobs in the session's Azurite. Cheap: one per test."""
    from tests.support.arm_double import start_arm_double

    double = start_arm_double(azurite_connection_string=azurite.connection_string, polls=1)
    double.ensure_proxy()
    yield double
    double.stop()


@pytest.fixture
def compute_client(managed_disk_double):
    """A factory of real ``ComputeManagementClient``s aimed at ``managed_disk_double``:
    ``compute_client()`` or ``compute_client(credential=..., subscription_id=...)``. The default
    credential is the registration tests' FakeCredential (a token that never leaves the process)."""
    from tests.registration.conftest import SUB, FakeCredential
    from vhdupload.registration import make_compute_client

    def make(*, credential=None, subscription_id: str = SUB, **client_options):
        return make_compute_client(
            credential=credential or FakeCredential(), subscription_id=subscription_id,
            arm_endpoint=managed_disk_double.url, **client_options,
        )

    return make
