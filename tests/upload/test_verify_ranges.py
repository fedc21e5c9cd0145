"""The cheap check (#21): the destination's page map and records against the local disk,
downloading only the footer and the zero gaps an upload merged, not the data again."""

from __future__ import annotations

import pytest

from tests.support.uploads import blob_client, write_random
from vhdupload import PageBlob, TransferSettings, upload, verify
from vhdupload.errors import InputError

MIB = 1 << 20
RUNS = [(0, 8192), (1 * MIB + 4096, 300 * 1024), (5 * MIB, 64 * 1024), (7 * MIB - 12288, 4096)]


@pytest.fixture
def uploaded(tmp_path, conn, dest):
    path = tmp_path / "disk.img"
    write_random(path, 8 * MIB, runs=RUNS)
    target = PageBlob.from_connection_string(conn, *dest.split("/"))
    upload(path, target, raw=True, settings=TransferSettings(threads=4))
    return path, target


def test_ranges_agrees_with_full_and_downloads_a_fraction(uploaded):
    path, target = uploaded
    cheap = verify(path, target, raw=True, mode="ranges")
    full = verify(path, target, raw=True)
    assert cheap.ok and full.ok and cheap.mode == "ranges" and full.mode == "full"
    assert cheap.crc64 == full.crc64
    data = sum(n for _, n in RUNS)
    assert full.bytes_compared >= data
    assert cheap.bytes_compared < full.bytes_compared / 2  # the footer and merged zero gaps only
    assert cheap.source_bytes_read >= data


def test_a_page_written_where_the_source_is_zero_is_found(uploaded, conn, dest):
    path, target = uploaded
    blob_client(conn, dest).upload_page(b"\x01" * 512, offset=3 * MIB, length=512)
    result = verify(path, target, raw=True, mode="ranges")
    assert not result.ok
    assert result.problem == f"the destination holds data at offset {3 * MIB}, where the source reads zeros"


def test_a_page_missing_where_the_source_has_data_is_found(uploaded, conn, dest):
    path, target = uploaded
    blob_client(conn, dest).clear_page(offset=5 * MIB, length=4096)
    result = verify(path, target, raw=True, mode="ranges")
    assert not result.ok and result.first_difference == 5 * MIB
    assert "holds no data at offset" in result.problem


def test_a_source_changed_after_the_upload_fails_the_recorded_crc(uploaded):
    path, target = uploaded
    with open(path, "r+b") as f:
        f.seek(5 * MIB + 100)
        f.write(b"\xff\xfe")
    result = verify(path, target, raw=True, mode="ranges")
    assert not result.ok and "the CRC64 recorded by the upload" in result.problem


def test_a_blob_without_records_gets_the_full_comparison(tmp_path, conn, dest, uploaded):
    path, _ = uploaded
    blob = blob_client(conn, dest)
    data = blob.download_blob().readall()
    other = PageBlob.from_connection_string(conn, dest.split("/")[0], "foreign.vhd")
    foreign = blob_client(conn, dest.split("/")[0] + "/foreign.vhd")
    foreign.create_page_blob(len(data))
    for offset in range(0, len(data), 4 * MIB):
        piece = data[offset:offset + 4 * MIB]
        if any(piece):
            foreign.upload_page(piece, offset=offset, length=len(piece))
    result = verify(path, other, raw=True, mode="ranges")
    assert result.mode == "full" and not result.ok  # another tool's blob: no completion mark to trust


def test_an_unknown_mode_is_refused():
    with pytest.raises(InputError, match="verify mode 'quick' is not one of full, ranges"):
        verify("x.img", PageBlob("https://a.blob.core.windows.net/c/b.vhd"), mode="quick")


def test_upload_verify_ranges_from_the_cli(tmp_path, conn, dest, capsys):
    from vhdupload.cli import main

    path = tmp_path / "disk.img"
    write_random(path, 8 * MIB, runs=RUNS)
    assert main(["upload", str(path), dest, "--raw", "--connection-string", conn, "--verify", "ranges"]) == 0
    out = capsys.readouterr().out
    assert "verified (ranges): identical" in out
    assert main(["upload", str(path), dest, "--raw", "--connection-string", conn, "--verify", "full", "--json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["verify"]["mode"] == "full"
    assert main(["upload", str(path), dest, "--raw", "--connection-string", conn, "--verify", "quick"]) == 2


def test_extents_that_do_not_start_on_a_page_are_checked_page_by_page():
    """A source whose extents start mid-page (a file system of 1 KiB blocks seen through
    --skip-free, sector-granular formats): the check counts pages from offset 0, as the upload
    does, so its pieces are whole pages, merged where two extents share one."""
    from types import SimpleNamespace

    from vhdupload.verify_ranges import _pieces

    disk = SimpleNamespace(virtual_size=4 * MIB, extents=lambda lo, hi: [(512, 1536), (3584, 5120), (MIB + 1024, MIB + 2048)])
    image = SimpleNamespace(disk=disk, data_size=4 * MIB)
    assert [(lo, hi) for _i, lo, hi in _pieces(image)] == [(0, 8192), (MIB, MIB + 4096)]


def test_merged_gaps_are_sampled_and_a_page_beside_no_data_is_always_read(tmp_path, conn, dest):
    # 100 short runs 8 KiB apart: the upload merges each gap into one request with its
    # neighbours, so the page map holds 100 merged gaps; the cheap check downloads at most
    # GAP_SAMPLE of them, and still reads every held page that no data run borders.
    from vhdupload.verify_ranges import GAP_SAMPLE

    path = tmp_path / "scattered.img"
    runs = [(i * 12288, 4096) for i in range(100)]
    write_random(path, 4 * MIB, runs=runs)
    target = PageBlob.from_connection_string(conn, *dest.split("/"))
    upload(path, target, raw=True, settings=TransferSettings(threads=2, max_gap=64 * 1024))
    cheap = verify(path, target, raw=True, mode="ranges")
    assert cheap.ok
    assert cheap.bytes_compared <= GAP_SAMPLE * 8192 + 4096  # sampled gaps and the footer, not 99 gaps
    blob_client(conn, dest).upload_page(b"\x01" * 512, offset=3 * MIB, length=512)  # no data beside it
    result = verify(path, target, raw=True, mode="ranges")
    assert not result.ok and result.first_difference == 3 * MIB
