"""Checksums, retries, the command line's contracts, and secrets kept out of every output."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from tests.support.azurite import DEV_ACCOUNT, DEV_KEY
from tests.support.uploads import blob_client, container_client, page_blob, read_blob, write_random
from vhdupload import PageBlob, status, upload, verify
from vhdupload.errors import TransferError
from vhdupload.azure.page_blob import PageBlobSink
from vhdupload.cli import main

from vhdupload import TransferSettings

MIB = 1 << 20
JSON_KEYS = {"blob_url", "virtual_size", "blob_size", "bytes_sent", "bytes_skipped", "bytes_present",
             "requests", "retries", "seconds", "crc64", "resumed"}


@pytest.fixture
def raw_image(tmp_path):
    path = tmp_path / "disk.img"
    write_random(path, 8 * MIB, runs=[(0, 8192), (5 * MIB, 64 * 1024)])
    return path


def _corrupt_first_put(monkeypatch, times: int = 1) -> list[int]:
    """Flip a byte of the body after its CRC64 was computed, as a bad wire would."""
    real = PageBlobSink.put_page
    corrupted: list[int] = []

    def put_page(self, data, *, offset, crc64_bytes, lease):
        if len(corrupted) < times:
            corrupted.append(offset)
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        return real(self, data, offset=offset, crc64_bytes=crc64_bytes, lease=lease)

    monkeypatch.setattr(PageBlobSink, "put_page", put_page)
    return corrupted


def test_corrupted_body_is_rejected_by_the_server_and_retried(monkeypatch, raw_image, conn, dest, caplog):
    corrupted = _corrupt_first_put(monkeypatch)
    with caplog.at_level("WARNING", logger="vhdupload"):
        result = upload(raw_image, page_blob(conn, dest), raw=True, settings=TransferSettings(threads=1))
    assert corrupted and result.retries == 1
    assert any("Crc64Mismatch" in r.getMessage() for r in caplog.records)
    assert verify(raw_image, page_blob(conn, dest), raw=True).identical


def test_corruption_without_retries_left_is_reported_with_how_to_resume(monkeypatch, raw_image, conn, dest):
    _corrupt_first_put(monkeypatch, times=100)
    with pytest.raises(TransferError, match="Crc64Mismatch.*run the same command again to resume"):
        upload(raw_image, page_blob(conn, dest), raw=True, settings=TransferSettings(threads=1, max_retries=1))


def test_json_contract_and_rerun_says_already_there(raw_image, conn, dest, capsys):
    args = ["upload", str(raw_image), dest, "--raw", "--connection-string", conn, "--json", "--no-progress"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)  # one object, alone on stdout
    assert JSON_KEYS <= summary.keys()
    assert summary["blob_size"] == 8 * MIB + 512 and summary["virtual_size"] == 8 * MIB
    assert summary["bytes_sent"] + summary["bytes_skipped"] + summary["bytes_present"] == summary["blob_size"]
    assert len(summary["crc64"]) == 16 and summary["resumed"] is False
    assert "?" not in summary["blob_url"]
    assert out.count("\n") == 1 and err == ""
    ints = JSON_KEYS - {"blob_url", "seconds", "crc64", "resumed"}
    assert all(type(summary[k]) is int for k in ints) and isinstance(summary["seconds"], float)
    assert re.fullmatch(r"[0-9a-f]{16}", summary["crc64"])
    assert main(["upload", str(raw_image), dest, "--raw", "--connection-string", conn]) == 0
    out, _ = capsys.readouterr()
    assert "already uploaded" in out and "nothing sent" in out
    assert main(args) == 0  # the same contract when there is nothing to do
    again = json.loads(capsys.readouterr().out)
    assert JSON_KEYS <= again.keys() and again["bytes_sent"] == 0 and again["crc64"] == summary["crc64"]
    # --overwrite replaces a finished blob: everything sent again, nothing taken as present
    assert main([*args, "--overwrite"]) == 0
    replaced = json.loads(capsys.readouterr().out)
    assert replaced["bytes_sent"] == summary["bytes_sent"] and replaced["bytes_present"] == 0
    assert main(["--version"]) == 0
    assert re.fullmatch(r"vhdupload \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


def test_content_md5_is_set_and_verify_status_exit_codes(raw_image, conn, dest, capsys, tmp_path):
    assert main(["upload", str(raw_image), dest, "--raw", "--connection-string", conn, "--content-md5"]) == 0
    blob = read_blob(conn, dest)
    md5 = blob_client(conn, dest).get_blob_properties().content_settings.content_md5
    assert bytes(md5) == hashlib.md5(blob).digest()
    capsys.readouterr()
    assert main(["verify", str(raw_image), dest, "--raw", "--connection-string", conn]) == 0
    assert "identical" in capsys.readouterr().out
    assert main(["status", dest, "--connection-string", conn, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["state"] == "complete" and status["source_name"] == "disk.img"
    # a changed local byte: exit 3 with the offset
    with open(raw_image, "r+b") as f:
        f.seek(5 * MIB + 100)
        f.write(b"\x00\x01")
    assert main(["verify", str(raw_image), dest, "--raw", "--connection-string", conn, "--json"]) == 3
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["identical"] is False and verdict["first_difference"] in (5 * MIB + 100, 5 * MIB + 101)
    # could not compare: exit 1
    assert main(["verify", str(raw_image), dest + "-missing", "--raw", "--connection-string", conn]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_status_text_says_the_same_lines_for_a_blob(raw_image, conn, dest, capsys):
    absent = status(page_blob(conn, dest))
    assert absent.state == "absent" and not absent.exists and absent.writer is None
    assert main(["status", dest, "--connection-string", conn]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{absent.url}: absent"]
    assert main(["upload", str(raw_image), dest, "--raw", "--connection-string", conn, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["status", dest, "--connection-string", conn]) == 0
    lines = capsys.readouterr().out.splitlines()
    done = status(page_blob(conn, dest))
    assert lines[0] == f"{done.url}: complete" and done.state == "complete" and done.writer is None
    labels = [line.split(":", 1)[0].strip() for line in lines[1:]]
    assert labels == ["size", "pages present", "source", "complete", "CRC64"], lines
    assert lines[1] == f"  size:          {8 * MIB + 512} bytes (8.00 MiB)"
    assert lines[2] == f"  pages present: {8192 + 64 * 1024 + 512} bytes (72.50 KiB)"
    assert lines[3].startswith(f"  source:        disk.img (raw, {8 * MIB} bytes")
    assert "  complete:      yes" in lines and f"  CRC64:         {done.crc64}" in lines
    assert not any(line.startswith(("  blob size:", "  lease:", "  writer:")) for line in lines), lines
    assert done.size == 8 * MIB + 512 and done.bytes_present == 8192 + 64 * 1024 + 512
    assert done.source_name == "disk.img" and done.source_size == 8 * MIB


def test_content_md5_and_lease_seconds_live_on_the_page_blob(raw_image, conn, dest):
    from vhdupload.errors import InputError

    with pytest.raises(InputError, match="lease_seconds must be 15..60, got 10"):
        page_blob(conn, dest, lease_seconds=10)
    result = upload(raw_image, page_blob(conn, dest, content_md5=True, lease_seconds=15), raw=True)
    blob = read_blob(conn, dest)
    assert result.content_md5 == base64.b64encode(hashlib.md5(blob).digest()).decode()
    md5 = blob_client(conn, dest).get_blob_properties().content_settings.content_md5
    assert bytes(md5) == hashlib.md5(blob).digest()
    assert upload(raw_image, page_blob(conn, dest), raw=True).already_complete


def test_no_secret_in_any_output(raw_image, azurite, container_name, capsys):
    container_client(azurite.connection_string, f"{container_name}/x").create_container()
    expiry = datetime.now(timezone.utc) + timedelta(hours=1)
    sas = generate_container_sas(DEV_ACCOUNT, container_name, account_key=DEV_KEY,
                                 permission=ContainerSasPermissions(read=True, write=True, create=True, list=True),
                                 expiry=expiry)
    sig = [p.split("=", 1)[1] for p in sas.split("&") if p.startswith("sig=")][0]
    url = f"{azurite.account_url}/{container_name}/sas.vhd?{sas}"
    runs = [
        ["upload", str(raw_image), url, "--raw", "--verbose", "--json"],
        ["status", url, "--verbose"],
        ["verify", str(raw_image), url, "--raw", "--verbose"],
        ["upload", str(raw_image), f"{container_name}/key.vhd", "--raw", "--verbose",
         "--account-url", azurite.account_url, "--account-key", DEV_KEY],
        ["upload", str(raw_image), f"{container_name}/conn.vhd", "--raw", "--verbose", "--content-md5",
         "--connection-string", azurite.connection_string],
        # a refusal: the error line must not carry them either
        ["upload", str(raw_image), url.replace("sig=", "sig=AAAA"), "--raw", "--verbose"],
        ["upload", str(raw_image), f"{container_name}/key.vhd", "--raw", "--verbose",
         "--connection-string", azurite.connection_string.replace(DEV_KEY, DEV_KEY[:-8] + "AAAAAAA=")],
    ]
    codes = []
    errors = []
    for args in runs:
        codes.append(main(args))
        out, err = capsys.readouterr()
        errors.append(err)
        for text in (out, err):
            assert sig not in text and DEV_KEY not in text and DEV_KEY[:-8] not in text
            assert "Authorization: SharedKey" not in text or "REDACTED" in text
    assert codes == [0, 0, 0, 0, 0, 1, 1]
    # the refusals (403) say what was refused and what to check
    for err in errors[5:]:
        assert re.search(r"^error: reading the properties of \S+ was refused \(403 \w+: .*check the credential", err, re.M), err
    # nothing secret in anything the uploads left on the blobs
    for name in ("sas.vhd", "key.vhd", "conn.vhd"):
        props = blob_client(azurite.connection_string, f"{container_name}/{name}").get_blob_properties()
        stored = json.dumps(props.metadata) + str(props.content_settings)
        assert props.metadata["vhdupload_state"] == "complete"
        assert sig not in stored and DEV_KEY not in stored and "sig=" not in stored and "AccountKey" not in stored


def test_hot_path_is_used_for_key_and_sas_and_the_sdk_path_still_works(monkeypatch, raw_image, azurite,
                                                                       container_name, conn):
    keyed = page_blob(conn, f"{container_name}/k.vhd").client(threads=4, timeout=None)
    assert PageBlobSink(keyed)._direct is not None
    container_client(conn, f"{container_name}/x").create_container()
    sas = generate_container_sas(DEV_ACCOUNT, container_name, account_key=DEV_KEY,
                                 permission=ContainerSasPermissions(read=True, write=True, create=True, list=True),
                                 expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    with_sas = PageBlob(f"{azurite.account_url}/{container_name}/s.vhd?{sas}").client(threads=4, timeout=None)
    assert PageBlobSink(with_sas)._direct is not None
    # With the switch set, every Put Page goes through the SDK's upload_page instead.
    monkeypatch.setenv("VHDUPLOAD_SDK_PUT", "1")
    assert PageBlobSink(keyed)._direct is None
    _corrupt_first_put(monkeypatch)
    result = upload(raw_image, page_blob(conn, f"{container_name}/sdk.vhd"), raw=True, settings=TransferSettings(threads=2))
    assert result.retries == 1
    assert verify(raw_image, page_blob(conn, f"{container_name}/sdk.vhd"), raw=True).identical


def test_a_connection_the_server_closed_while_idle_is_replaced_without_a_retry(raw_image, conn, dest):
    import socket

    client = page_blob(conn, dest).client(threads=4, timeout=None)
    sink = PageBlobSink(client)
    sink.ensure_container()
    client.create_page_blob(8 * MIB)
    page = b"\x01" * 4096
    from vhdupload import crc64

    crc = crc64.to_header(crc64.compute(page))
    sink.put_page(page, offset=0, crc64_bytes=crc, lease=None)
    sink._direct._local.connection.sock.shutdown(socket.SHUT_RDWR)  # as a server's idle timeout would
    sink.put_page(page, offset=4096, crc64_bytes=crc, lease=None)
    assert read_blob(conn, dest)[:8192] == page * 2


def test_max_bandwidth_caps_the_average_rate_from_the_first_byte(tmp_path, conn, dest, capsys):
    raw = tmp_path / "disk.img"
    write_random(raw, 8 * MIB, runs=[(0, 4 * MIB)])
    # a bare number is megabits/s, as AzCopy's --cap-mbps: 32 Mbit/s = 4 MB/s, so 4.19 MB take >= 1.05 s
    assert main(["upload", str(raw), dest, "--raw", "--connection-string", conn, "--json", "--max-bandwidth", "32"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["bytes_sent"] == 4 * MIB + 512
    assert summary["bytes_sent"] / summary["seconds"] <= 4e6 * 1.02
