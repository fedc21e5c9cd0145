"""Fixtures shared by more than one test directory: a guard that keeps every test on loopback, a
session-wide Azurite, the ARM double (with its managed-disk endpoint, reached through a
``compute_client`` or an ``arm_connection``), an injected credential, a stub ``az``, an Azurite
over HTTPS for Entra ID. Their helpers live in tests/support/."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import uuid

import pytest
from azure.storage.blob import BlobServiceClient

from tests.support.arm_double import ArmDouble, start_arm_double
from tests.support.conformance import api_version_problems, body_problems
from tests.support.azurite import AzuriteServer, start_azurite
from tests.support.entra_id import start_https_azurite
from tests.support.registration import SUB, Blobs, FakeCredential

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


@pytest.fixture
def conn(azurite) -> str:
    return azurite.connection_string


@pytest.fixture
def dest(container_name) -> str:
    return f"{container_name}/disk.vhd"


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
    double = start_arm_double(azurite_connection_string=azurite.connection_string, polls=1)
    double.ensure_proxy()
    yield double
    double.stop()
    _assert_conformance(double)


@pytest.fixture
def compute_client(managed_disk_double):
    """A factory of real ``ComputeManagementClient``s aimed at ``managed_disk_double``:
    ``compute_client()`` or ``compute_client(credential=..., subscription_id=...)``. The default
    credential is the registration tests' FakeCredential (a token that never leaves the process)."""
    from vhdupload.registration import make_compute_client

    def make(*, credential=None, subscription_id: str = SUB, **client_options):
        return make_compute_client(
            credential=credential or FakeCredential(), subscription_id=subscription_id,
            arm_endpoint=managed_disk_double.url, **client_options,
        )

    return make


@pytest.fixture
def arm_connection(managed_disk_double):
    """A factory of ``vhdupload.ArmConnection``s aimed at ``managed_disk_double``:
    ``arm_connection()`` or ``arm_connection(credential=..., subscription_id=...)`` (the
    default credential is FakeCredential, as for ``compute_client``)."""
    from vhdupload import ArmConnection

    def make(*, credential=None, subscription_id: str = SUB):
        return ArmConnection(subscription_id, credential=credential or FakeCredential(), endpoint=managed_disk_double.url)

    return make


# -- Entra ID: a second Azurite, over HTTPS, that takes bearer tokens (tests/support/entra_id.py) --
@pytest.fixture(scope="session")
def https_azurite(tmp_path_factory):
    """One for the session (as ``azurite``): its tests name their containers uniquely."""
    server = start_https_azurite(tmp_path_factory.mktemp("tls"))
    yield server
    server.stop()


# -- registration: the ARM double, source blobs in Azurite, an injected credential, a stub az -----
@pytest.fixture
def blobs(azurite, container_name) -> Blobs:
    return Blobs(BlobServiceClient.from_connection_string(azurite.connection_string), container_name)


@pytest.fixture
def arm(azurite) -> ArmDouble:
    double = start_arm_double(azurite_connection_string=azurite.connection_string)
    double.storage_account_id = double.add_storage_account(
        subscription=SUB, resource_group="storage-rg", name="devstoreaccount1", blob_endpoint=azurite.account_url
    )
    yield double
    double.stop()
    _assert_conformance(double)


def _assert_conformance(double: ArmDouble) -> None:
    """Every body sent used only fields azure-mgmt-compute's models know, at the pinned API versions."""
    problems = body_problems(double.requests) + api_version_problems(double.requests)
    assert not problems, "ARM requests the real service would not recognise:\n" + "\n".join(problems[:20])


@pytest.fixture
def credential() -> FakeCredential:
    return FakeCredential()


@pytest.fixture
def compute(arm, credential):
    from vhdupload.registration import make_compute_client

    return make_compute_client(credential=credential, subscription_id=SUB, arm_endpoint=arm.url)


@pytest.fixture
def stub_az(tmp_path, monkeypatch):
    """An ``az`` that prints a token and records its arguments; the only credential allowed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "az.log"
    script = bin_dir / "az"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{log}"\n'
        'echo \'{"accessToken": "stub-cli-token", "expires_on": 4102444800, "tokenType": "Bearer", '
        f'"subscription": "{SUB}", "tenant": "00000000-0000-0000-0000-0000000000aa"}}\'\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    return log
