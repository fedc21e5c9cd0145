"""Pre-flight refuses what Azure would refuse, before any ARM call, and says how to fix it."""

from __future__ import annotations

import pytest

from tests.support.registration import LOC, MIB, RG, vhd_footer
from vhdupload import ArmConnection
from vhdupload.errors import PreflightError
from tests.support.registration import register_image
from vhdupload.registration.blobs import BlobReader
from vhdupload.registration.preflight import check_blob

GIB = 1024**3


def _register(blobs, compute, os_disk, **kw):
    return register_image(
        name="img", resource_group=RG, location=LOC, os_disk=os_disk, os_type="linux",
        hyper_v_generation="V1", arm=ArmConnection.from_client(compute), blob_client_factory=blobs.factory(), **kw,
    )


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda b: b.page_blob("dyn.vhd", footer=vhd_footer(2 * MIB, disk_type=3)), r"is a dynamic VHD.*`vhdupload upload`, which converts on the fly"),
        (lambda b: b.page_blob("odd.vhd", size=MIB + 4096, footer=vhd_footer(MIB + 4096)), r"virtual size of 1052672 bytes, not a whole number of MiB"),
        (lambda b: b.page_blob("half.vhd", metadata={"vhdupload_format": "1", "vhdupload_state": "uploading"}), r"unfinished vhdupload upload: run the same `vhdupload upload` again"),
        (lambda b: b.block_blob("block.vhd", b"\0" * 1024), r"is a block blob.*only from page blobs"),
        (lambda b: b.url("missing.vhd"), r"does not exist: upload it with `vhdupload upload`"),
        (lambda b: b.page_blob("raw.img", footer=b""), r"does not end with a valid VHD footer"),
        (lambda b: b.page_blob("sizes.vhd", footer=vhd_footer(MIB)), r"its footer says the disk is 1048576 bytes"),
    ],
    ids=["dynamic", "unaligned", "unfinished", "block", "missing", "no-footer", "size-mismatch"],
)
def test_bad_os_blob_refused_without_any_arm_call(blobs, arm, compute, make, reason):
    url = make(blobs)
    with pytest.raises(PreflightError, match=reason):
        _register(blobs, compute, url)
    assert arm.requests == []


def test_bad_data_disk_refused_without_any_arm_call(blobs, arm, compute):
    os_url = blobs.page_blob("os.vhd")
    with pytest.raises(PreflightError, match="dynamic VHD"):
        _register(blobs, compute, os_url, data_disks=[blobs.page_blob("d.vhd", footer=vhd_footer(2 * MIB, disk_type=3))])
    assert arm.requests == []


def test_os_disk_over_4095_gib_refused_but_fine_as_data_disk(blobs):
    size = 4096 * GIB
    url = blobs.page_blob("big.vhd", size=size)  # sparse in Azurite: only the footer page is written
    reader = BlobReader(blobs.client("big.vhd"), url=url)
    with pytest.raises(PreflightError, match="an OS disk can be at most 4095 GiB"):
        check_blob(reader, role="os")
    assert check_blob(reader, role="data").virtual_size == size


def test_finished_vhdupload_upload_and_foreign_blobs_pass(blobs):
    done = blobs.page_blob("done.vhd", metadata={"vhdupload_format": "1", "vhdupload_state": "complete"})
    foreign = blobs.page_blob("foreign.vhd", metadata={"owner": "someone"})
    ours = check_blob(BlobReader(blobs.client("done.vhd"), url=done), role="os")
    theirs = check_blob(BlobReader(blobs.client("foreign.vhd"), url=foreign), role="os")
    assert ours.written_by_vhdupload and not theirs.written_by_vhdupload
    assert ours.blob_size == 2 * MIB + 512 and theirs.virtual_size == 2 * MIB


def test_preflight_reads_only_the_footer(blobs):
    url = blobs.page_blob("os.vhd")
    reads = []

    class Spy:
        def __init__(self, inner):
            self.inner = inner

        def get_blob_properties(self):
            return self.inner.get_blob_properties()

        def download_blob(self, *, offset, length):
            reads.append((offset, length))
            return self.inner.download_blob(offset=offset, length=length)

    check_blob(BlobReader(Spy(blobs.client("os.vhd")), url=url), role="os")
    assert reads == [(2 * MIB, 512)]


def test_skip_preflight_lets_azure_refuse_with_its_own_words(blobs, arm, compute):
    url = blobs.page_blob("dyn.vhd", footer=vhd_footer(2 * MIB, disk_type=3))
    with pytest.raises(Exception, match="Dynamic VHD type. Please retry with fixed VHD type") as info:
        _register(blobs, compute, url, skip_preflight=True)
    assert type(info.value).__name__ == "ArmError" and info.value.code == "InvalidParameter"
    assert len(arm.puts()) == 1
