"""Secrets: everything the ``vhdupload`` command prints and logs across a run, with ``--verbose``
and with ``--debug``, successes and failures alike, searched for every key, signature and token
used: the Azurite account key (given as --account-key, inside a connection string, and through
AZURE_STORAGE_KEY), a blob SAS's signature (in the URL and as --sas-token), the managed disk's
accessSAS signatures, and the bearer tokens (ARM's, the disk endpoint's, and a storage JWT over
HTTPS): none may appear, in any spelling (as given, URL-encoded or URL-decoded)."""

from __future__ import annotations

import os
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, quote, unquote

import pytest
from azure.storage.blob import BlobSasPermissions, generate_blob_sas

from tests.support.arm_double import DEFAULT_RESOURCE_GROUP as RG
from tests.support.azurite import DEV_ACCOUNT, DEV_KEY
from tests.support.entra_id import fake_jwt
from tests.support.registration import SUB
from tests.support.uploads import cli_command

from .figures import MIB, long_run, record, scattered_image, seed

ARM_TOKEN = "stub-cli-token-5f2a9c0e7d1b"  # what the stub `az` hands out for ARM and the disk endpoint


def spellings(secret: str) -> set[str]:
    forms = {secret, quote(secret, safe=""), unquote(secret)}
    return {f for f in forms if len(f) >= 8}


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """Names of the secrets found in ``text``."""
    return [name for name, secret in secrets.items() if any(form in text for form in spellings(secret))]


def stub_az(tmp_path, token: str):
    """A PATH entry with an ``az`` printing ``token`` (Azure CLI sign-in, no network)."""
    bin_dir = tmp_path / "azbin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "az"
    script.write_text(
        "#!/bin/sh\n"
        f"echo '{{\"accessToken\": \"{token}\", \"expires_on\": 4102444800, \"tokenType\": \"Bearer\", "
        f"\"subscription\": \"{SUB}\", \"tenant\": \"00000000-0000-0000-0000-0000000000aa\"}}'\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def run(args: list[str], *, env_extra: dict[str, str] | None = None, path_dir=None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_STORAGE")}
    env["AZURE_TOKEN_CREDENTIALS"] = "AzureCliCredential"
    if path_dir is not None:
        env["PATH"] = f"{path_dir}:/usr/bin:/bin"
    env.update(env_extra or {})
    done = subprocess.run(cli_command(*args), capture_output=True, text=True, env=env, timeout=180)
    return done.returncode, done.stdout + done.stderr


def _sas(container: str, name: str, **permissions) -> str:
    return generate_blob_sas(DEV_ACCOUNT, container, name, account_key=DEV_KEY,
                             permission=BlobSasPermissions(**permissions),
                             expiry=datetime.now(timezone.utc) + timedelta(hours=1))


def test_no_secret_in_anything_printed_or_logged(azurite, conn, container_name, tmp_path, managed_disk_double,
                                                 https_azurite):
    # --debug logs all --verbose does and every HTTP exchange besides; the long variant runs both.
    _search_a_run(azurite, conn, container_name, tmp_path, managed_disk_double, https_azurite, ("--debug",))


@pytest.mark.reliability
def test_long_no_secret_in_anything_printed_or_logged(request, azurite, conn, container_name, tmp_path,
                                                      managed_disk_double, https_azurite):
    long_run(request)
    _search_a_run(azurite, conn, container_name, tmp_path, managed_disk_double, https_azurite, ("--verbose", "--debug"))


def _search_a_run(azurite, conn, container_name, tmp_path, managed_disk_double, https_azurite, loudnesses):
    image = tmp_path / "s.img"
    scattered_image(image, size=8 * MIB, runs=6, seed_value=seed())
    account = azurite.account_url
    sas = _sas(container_name, "sas.vhd", read=True, write=True, create=True)
    read_only = _sas(container_name, "ro.vhd", read=True)
    secrets = {"account key": DEV_KEY, "blob SAS sig": parse_qs(sas)["sig"][0],
               "read-only SAS sig": parse_qs(read_only)["sig"][0], "ARM/disk bearer token": ARM_TOKEN}
    wrong = DEV_KEY[:-5] + ("A" if DEV_KEY[-5] != "A" else "B") + DEV_KEY[-4:]
    secrets["wrong account key"] = wrong
    jwt = fake_jwt()
    secrets["storage JWT"] = jwt
    secrets["storage JWT claims"] = jwt.rsplit(".", 1)[0]
    az = stub_az(tmp_path, ARM_TOKEN)
    (tmp_path / "jwt").mkdir()
    az_jwt = stub_az(tmp_path / "jwt", jwt)
    outputs: list[tuple[str, int, str]] = []

    def go(label: str, args: list[str], expect: int = 0, **kw) -> None:
        for loudness in loudnesses:
            code, text = run([*args, loudness], **kw)
            outputs.append((f"{label} {loudness}", code, text))
            assert code == expect, (label, loudness, text[-2000:])

    key_args = ["--account-url", account, "--account-key", DEV_KEY]
    # Chains of runs, each on blobs or disks of its own: a chain runs in order (a verify after its
    # upload), the chains side by side (each run is a process that mostly waits: its imports, HTTP).
    arm = ["-g", RG, "-l", "westeurope", "--subscription", SUB, "--arm-endpoint", managed_disk_double.url]
    tls = {"REQUESTS_CA_BUNDLE": str(https_azurite.cert_path)}
    # The first makes the container (its request logged too); the failures below then meet an
    # existing container, as they would one after another.
    go("upload, account key", ["upload", str(image), f"{container_name}/key.vhd", "--raw", *key_args, "--overwrite"])
    chains = [
        [lambda: go("verify, account key", ["verify", str(image), f"{container_name}/key.vhd", "--raw", *key_args]),
         lambda: go("status, connection string", ["status", f"{container_name}/key.vhd", "--connection-string", conn])],
        [lambda: go("upload, connection string", ["upload", str(image), f"{container_name}/cs.vhd", "--raw",
                                                  "--connection-string", conn, "--overwrite"])],
        [lambda: go("upload, AZURE_STORAGE_KEY", ["upload", str(image), f"{container_name}/env.vhd", "--raw",
                                                  "--account-url", account, "--overwrite"],
                    env_extra={"AZURE_STORAGE_KEY": DEV_KEY})],
        [lambda: go("upload, SAS URL", ["upload", str(image), f"{account}/{container_name}/sas.vhd?{sas}", "--raw",
                                        "--overwrite"]),
         lambda: go("verify, --sas-token", ["verify", str(image), f"{account}/{container_name}/sas.vhd", "--raw",
                                            "--sas-token", sas])],
        # Failures: a SAS that may not write, a key that is wrong in one character.
        [lambda: go("upload refused, read-only SAS", ["upload", str(image), f"{account}/{container_name}/ro.vhd?{read_only}",
                                                      "--raw"], expect=1)],
        [lambda: go("upload refused, wrong key", ["upload", str(image), f"{container_name}/bad.vhd", "--raw", "--account-url",
                                                  account, "--account-key", wrong], expect=1)],
        # Managed disk: ARM and the disk endpoint with the stub az's token; the accessSAS it is granted.
        [lambda: go("managed disk upload", ["upload", str(image), "--managed-disk", "sec1", *arm, "--raw", "--overwrite",
                                            "--data-access-auth-mode", "AzureActiveDirectory"], path_dir=az),
         lambda: go("managed disk status", ["status", "--managed-disk", "sec1", *arm], path_dir=az)],
        # (verify reads the disk; reading an Entra-ID-only disk fails today: test_entra_id_disks.py)
        [lambda: go("managed disk upload", ["upload", str(image), "--managed-disk", "sec2", *arm, "--raw", "--overwrite"],
                    path_dir=az),
         lambda: go("managed disk verify", ["verify", str(image), "--managed-disk", "sec2", *arm, "--raw"], path_dir=az)],
        # Entra ID over HTTPS: a storage JWT from the stub az.
        [lambda: go("Entra ID upload", ["upload", str(image), f"{https_azurite.account_url}/{container_name}/entra.vhd",
                                        "--raw", "--overwrite"], env_extra=tls, path_dir=az_jwt),
         lambda: go("Entra ID verify", ["verify", str(image), f"{https_azurite.account_url}/{container_name}/entra.vhd",
                                        "--raw"], env_extra=tls, path_dir=az_jwt)],
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for done in [pool.submit(lambda chain=chain: [step() for step in chain]) for chain in chains]:
            done.result()
    assert len(outputs) == 15 * len(loudnesses)

    grants = managed_disk_double.proxy.grants
    assert grants
    for i, grant in enumerate(grants):
        secrets[f"accessSAS sig {i}"] = grant.sig
    assert ARM_TOKEN in managed_disk_double.proxy.bearer_tokens  # the disk endpoint did get the token

    found = {label: leaks(text, secrets) for label, _, text in outputs}
    found = {label: names for label, names in found.items() if names}
    record("secrets", seed=seed(), loudness=list(loudnesses), runs=[label for label, _, _ in outputs], secrets=sorted(secrets),
           bytes_searched=sum(len(t) for _, _, t in outputs), found=found)
    assert not found, found
    # The search can fail: the secrets are where they must be (the request logs name the blob).
    assert sum(len(t) for _, _, t in outputs) > 10_000
    assert leaks(f"x {sas} y {jwt}", secrets)
