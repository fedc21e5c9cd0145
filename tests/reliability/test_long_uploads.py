"""Long uploads whose credential ends before they do:

- a page blob's SAS that expires mid-upload (a bandwidth cap makes the upload outlive it): one
  clear line, exit 1; the rerun with a fresh SAS continues from where it stopped;
- a managed disk's write grant whose SAS expires mid-upload (the ARM double's ``grant_seconds``):
  granted again, the upload finishes, the disk is exact;
- Entra ID: tokens that live a few seconds (a credential handing out short-lived JWTs that the
  HTTPS Azurite checks): refreshed as the upload goes, which finishes.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from azure.core.credentials import AccessToken
from azure.storage.blob import BlobClient, BlobSasPermissions, generate_blob_sas

from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from tests.support.azurite import DEV_ACCOUNT, DEV_KEY
from tests.support.entra_id import fake_jwt
from tests.support.uploads import blob_client, page_blob, read_blob
from vhdupload import ManagedDisk, PageBlob, TransferSettings, client_options, upload, verify
from vhdupload.cli import main

from .figures import MIB, long_run, one_line, record, scattered_image, seed


def _sas(container: str, name: str, seconds: float) -> str:
    return generate_blob_sas(DEV_ACCOUNT, container, name, account_key=DEV_KEY,
                             permission=BlobSasPermissions(read=True, write=True, create=True),
                             start=datetime.now(timezone.utc) - timedelta(minutes=5),
                             expiry=datetime.now(timezone.utc) + timedelta(seconds=seconds))


# -- page blob: a SAS that expires ----------------------------------------------------------------
_COMMON = ["--raw", "--no-progress", "--lease-seconds", "15", "--threads", "2"]


def sas_expiry(azurite, conn, container, tmp_path, capsys, *, seconds: int, size: int):
    """Upload with a SAS that lives ``seconds``, at 2 MB/s: ``(image, content, url, seconds to fail, stderr)``.
    In this process: a fresh interpreter's imports (seconds on a busy machine) would eat the SAS's
    short life before the first chunk and its watermark were written."""
    image = tmp_path / "long.img"
    content, _ = scattered_image(image, size=size, runs=size // MIB, seed_value=seed())
    url = f"{azurite.account_url}/{container}/long.vhd"
    from azure.storage.blob import ContainerClient

    ContainerClient.from_connection_string(conn, container).create_container()
    capsys.readouterr()
    started = time.monotonic()
    code = main(["upload", str(image), f"{url}?{_sas(container, 'long.vhd', seconds)}", *_COMMON,
                 "--max-bandwidth", "2MB/s"])
    failed_after = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 1, err
    assert failed_after > seconds - 1, (failed_after, err)
    return image, content, url, failed_after, err


def sas_expiry_then_fresh(azurite, conn, container, tmp_path, capsys, *, seconds: int, size: int,
                          wait_out_the_lease: bool = True) -> dict:
    """The dead SAS could not release the lease: the rerun waits it out (--wait), or the lease is
    broken first as its expiry would (``wait_out_the_lease=False``, to stay fast)."""
    image, content, url, failed_after, line = sas_expiry(azurite, conn, container, tmp_path, capsys, seconds=seconds,
                                                         size=size)
    common = _COMMON
    if not wait_out_the_lease:
        from azure.storage.blob import BlobLeaseClient

        client = blob_client(conn, f"{container}/long.vhd")
        if client.get_blob_properties().lease.state == "leased":
            BlobLeaseClient(client).break_lease(lease_break_period=0)
    # A fresh SAS: the same command continues (--wait: the lease could not be released with the dead SAS).
    code = main(["upload", str(image), f"{url}?{_sas(container, 'long.vhd', 3600)}", *common, "--wait", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["resumed"] and result["bytes_present"] > 0
    blob = read_blob(conn, f"{container}/long.vhd")
    assert blob[: len(content)] == content
    assert verify(image, page_blob(conn, f"{container}/long.vhd"), raw=True).identical
    return {"sas_seconds": seconds, "failed_after": round(failed_after, 1), "error": line.strip(),
            "resumed_with_present": result["bytes_present"], "sent_after": result["bytes_sent"]}


def test_a_sas_that_expires_mid_upload_stops_in_one_line_and_a_fresh_one_continues(
    azurite, conn, container_name, tmp_path, capsys
):
    # 48 MiB holds ~19 MB in 48 runs: ~9.5 s at 2 MB/s, well past the 4 s SAS (20 MiB held
    # ~7 MB, which in this process could all go out before it lapsed: exit 0), and the watermark,
    # written every 2 s, has a prefix to record (at 1 MB/s it once had none: nothing present).
    figures = sas_expiry_then_fresh(azurite, conn, container_name, tmp_path, capsys, seconds=4, size=48 * MIB,
                                    wait_out_the_lease=False)
    assert one_line(figures["error"] + "\n") and "run the same command again to resume" in figures["error"], figures


def test_the_line_for_an_expired_sas_says_it_expired(azurite, conn, container_name, tmp_path, capsys):
    *_, line = sas_expiry(azurite, conn, container_name, tmp_path, capsys, seconds=3, size=40 * MIB)  # ~8 s of data at 2 MB/s
    assert re.search(r"SAS.*expired|expired.*SAS", line, re.I), line


# -- managed disk: a grant that expires -----------------------------------------------------------
def grant_expiry(double, arm_connection, tmp_path, *, grant_seconds: int, size: int, bandwidth: float, name: str) -> dict:
    image = tmp_path / f"{name}.img"
    content, _ = scattered_image(image, size=size, runs=size // MIB, seed_value=seed())
    double.grant_seconds = grant_seconds
    started = time.monotonic()
    try:
        disk = ManagedDisk(name, resource_group=RG, arm=arm_connection(), location="westeurope")
        result = upload(image, disk, raw=True, settings=TransferSettings(threads=2, max_bandwidth=bandwidth))
    finally:
        double.grant_seconds = None
    seconds = time.monotonic() - started
    data = double.disk_bytes(name)
    assert data[: len(content)] == content and not any(data[len(content):-512]) and data[-512:-504] == b"conectix"
    assert double.disk_state(name) == "Unattached"
    grants = [r for r in double.disk_calls(name) if r.path.lower().endswith("/begingetaccess")]
    renewed = [n for n in result.notes if "granted again" in n]
    assert renewed and len(grants) >= 2, (result.notes, len(grants))
    return {"grant_seconds": grant_seconds, "upload_seconds": round(seconds, 1), "grants": len(grants),
            "note": renewed[0]}


def test_a_managed_disk_grant_that_expires_mid_upload_is_granted_again(managed_disk_double, arm_connection, tmp_path):
    grant_expiry(managed_disk_double, arm_connection, tmp_path, grant_seconds=3, size=24 * MIB, bandwidth=3e6,
                 name="expiring")


# -- Entra ID: tokens that expire -----------------------------------------------------------------
class ShortLivedCredential:
    """Hands out storage JWTs that expire ``lifetime`` seconds after they are made (Azurite
    refuses them after that); records every token."""

    def __init__(self, lifetime: int) -> None:
        self.lifetime = lifetime
        self.tokens: list[str] = []

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        token = fake_jwt(lifetime=self.lifetime)
        self.tokens.append(token)
        return AccessToken(token, int(time.time()) + self.lifetime)


def token_expiry(server, container: str, tmp_path, *, lifetime: int, size: int, bandwidth: float) -> dict:
    image = tmp_path / "entra.img"
    content, _ = scattered_image(image, size=size, runs=size // MIB, seed_value=seed())
    credential = ShortLivedCredential(lifetime)
    blob = PageBlob.from_client(BlobClient.from_blob_url(
        f"{server.account_url}/{container}/disk.vhd", credential=credential,
        **client_options(threads=2, connection_verify=str(server.cert_path))))
    started = time.monotonic()
    result = upload(image, blob, raw=True, settings=TransferSettings(threads=2, max_bandwidth=bandwidth))
    seconds = time.monotonic() - started
    assert seconds > 2 * lifetime, "the upload did not outlive a token"
    assert verify(image, blob, raw=True).identical
    assert len(set(credential.tokens)) >= 2
    return {"token_lifetime": lifetime, "upload_seconds": round(seconds, 1), "tokens": len(set(credential.tokens)),
            "bytes_sent": result.bytes_sent}


def test_entra_id_tokens_that_expire_mid_upload_are_refreshed(https_azurite, container_name, tmp_path):
    token_expiry(https_azurite, container_name, tmp_path, lifetime=2, size=12 * MIB, bandwidth=1e6)


# -- long -----------------------------------------------------------------------------------------
@pytest.mark.reliability
def test_long_credentials_that_end_mid_upload(request, azurite, conn, tmp_path, capsys, managed_disk_double,
                                              arm_connection, https_azurite):
    long_run(request)
    base = seed() % 100000
    outcomes = []
    for i, seconds in enumerate((5, 10, 20)):
        folder = tmp_path / f"sas{i}"
        folder.mkdir()
        outcomes.append({"what": "page blob SAS expires", **sas_expiry_then_fresh(
            # About 0.2 s of upload per MiB of image at 2 MB/s: the upload outlives the SAS by far.
            azurite, conn, f"sas{base}x{i}", folder, capsys, seconds=seconds, size=8 * (seconds + 8) * MIB)})
    for i, grant in enumerate((3, 6)):
        folder = tmp_path / f"grant{i}"
        folder.mkdir()
        outcomes.append({"what": "managed disk grant expires", **grant_expiry(
            managed_disk_double, arm_connection, folder, grant_seconds=grant, size=48 * MIB, bandwidth=3e6,
            name=f"expiring{i}")})
    for i, lifetime in enumerate((2, 4)):  # the 48 MiB upload lasts ~10 s: it outlives both
        folder = tmp_path / f"token{i}"
        folder.mkdir()
        outcomes.append({"what": "Entra ID token expires", **token_expiry(
            https_azurite, f"tok{base}x{i}", folder, lifetime=lifetime, size=48 * MIB, bandwidth=2e6)})
    record("long", seed=seed(), outcomes=outcomes)
