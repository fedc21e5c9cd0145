"""``upload --skip-free`` to Azurite: the blob read back holds every kept file and passes every
file system's checker, no deleted byte travelled, ``verify --skip-free`` agrees, and a plain
upload still sends the disk bit for bit."""

from __future__ import annotations

import json
import subprocess

from tests.guest.images import MIB
from tests.support.uploads import cli_command, page_blob, read_blob
from vhdupload import upload, verify

from .filesystems import DELETED
from .test_filesystems import check_copy


def test_skip_free_sends_no_deleted_byte_and_the_blob_holds_every_file(disk, conn, dest, tmp_path):
    result = upload(disk.path, page_blob(conn, dest), raw=True, skip_free=True)
    assert result.free_bytes_skipped is not None and result.free_bytes_skipped > 90 * MIB
    blob = tmp_path / "blob.vhd"
    blob.write_bytes(read_blob(conn, dest))
    check_copy(blob, disk, tmp_path)
    plain = upload(disk.path, page_blob(conn, dest + "-plain"), raw=True)
    # the deleted data (6 MiB per file system, 2 MiB of swap, 3 MiB unpartitioned) stayed home
    assert plain.bytes_sent - result.bytes_sent >= 20 * MIB
    assert plain.free_bytes_skipped is None
    assert read_blob(conn, dest + "-plain")[: disk.size] == disk.path.read_bytes()

    assert verify(disk.path, page_blob(conn, dest), raw=True, skip_free=True).identical
    bitwise = verify(disk.path, page_blob(conn, dest), raw=True)
    assert not bitwise.identical  # the source still holds the deleted data; the blob does not


def test_the_cli_says_how_much_free_space_it_skipped(disk, conn, dest):
    base = ["--connection-string", conn, "--raw", "--no-progress"]
    done = subprocess.run(cli_command("upload", str(disk.path), dest, "--skip-free", *base),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "free space:" in done.stdout and "(--skip-free)" in done.stdout
    again = subprocess.run(cli_command("verify", str(disk.path), dest, "--skip-free", "--json", *base),
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["identical"] is True
    assert DELETED not in read_blob(conn, dest)
