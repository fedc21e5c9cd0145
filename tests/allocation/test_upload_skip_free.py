"""``upload --skip-free`` to Azurite: the blob read back holds every kept file and passes every
file system's checker, no deleted byte travelled, ``verify --skip-free`` agrees, and a plain
upload still sends the disk bit for bit."""

from __future__ import annotations

import json
import subprocess

from tests.guest.images import MIB
from tests.support.uploads import blob_client, cli_command, page_blob, page_ranges
from vhdupload import upload, verify

from .filesystems import DELETED, deleted_files, kept_files, make_ext4
from .test_filesystems import check_copy


def read_back(conn: str, dest: str, path) -> bytes:
    """The blob into a sparse file, only its page ranges downloaded (the rest reads as zeros)."""
    client = blob_client(conn, dest)
    size = client.get_blob_properties().size
    with open(path, "wb") as f:
        f.truncate(size)
        for lo, hi in page_ranges(conn, dest):
            f.seek(lo)
            f.write(client.download_blob(offset=lo, length=hi - lo).readall())
    return path.read_bytes()


def test_skip_free_sends_no_deleted_byte_and_the_blob_holds_every_file(disk, conn, dest, tmp_path):
    result = upload(disk.path, page_blob(conn, dest), raw=True, skip_free=True)
    assert result.free_bytes_skipped is not None and result.free_bytes_skipped > 90 * MIB
    assert result.notes == []
    blob = tmp_path / "blob.vhd"
    read_back(conn, dest, blob)
    check_copy(blob, disk, tmp_path)
    assert verify(disk.path, page_blob(conn, dest), raw=True, skip_free=True).identical
    # the cheap check too (page map, zero gaps, recorded CRC64): free space cut in 1 KiB pieces
    # leaves the extents on page boundaries, as the check reads them
    ranges = verify(disk.path, page_blob(conn, dest), raw=True, skip_free=True, mode="ranges")
    assert ranges.identical, ranges.problem
    recorded = verify(disk.path, page_blob(conn, dest), raw=True)  # the upload recorded how it sent it
    assert recorded.identical and recorded.skip_free and recorded.skip_free_recorded
    bitwise = verify(disk.path, page_blob(conn, dest), raw=True, skip_free=False)
    assert not bitwise.identical  # the source still holds the deleted data; the blob does not
    assert "left its free space home" in (bitwise.problem or "")

    plain = upload(disk.path, page_blob(conn, dest + "-plain"), raw=True)
    # the deleted data (3 MiB per file system, 1 MiB of swap, 1 MiB unpartitioned) stayed home
    assert plain.bytes_sent - result.bytes_sent >= 11 * MIB
    assert plain.free_bytes_skipped is None
    assert verify(disk.path, page_blob(conn, dest + "-plain"), raw=True).identical
    # verify --skip-free wants zeros in the free space: the plain upload carried the deleted data
    lenient = verify(disk.path, page_blob(conn, dest + "-plain"), raw=True, skip_free=True)
    assert not lenient.identical and lenient.first_difference is not None
    assert "sent the disk whole" in (lenient.problem or "")


def test_the_cli_says_how_much_free_space_it_skipped(conn, dest, tmp_path):
    image = make_ext4(tmp_path / "small.img", 16 * MIB, kept_files(9, 2, MIB), deleted_files(2, MIB))
    base = ["--connection-string", conn, "--raw", "--no-progress"]
    done = subprocess.run(cli_command("upload", str(image), dest, "--skip-free", *base),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "free space:" in done.stdout and "(--skip-free)" in done.stdout
    again = subprocess.run(cli_command("verify", str(image), dest, "--skip-free", "--json", *base),
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["identical"] is True
    assert DELETED not in read_back(conn, dest, tmp_path / "blob")
