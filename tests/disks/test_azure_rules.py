"""Azure's rules (``azure_rules``): the sizes and the readiness check."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.vhd.builders import build_fixed
from vhdupload import open_disk
from vhdupload.azure_rules import (
    MANAGED_DISK_MAX_UPLOAD_SIZE,
    MANAGED_DISK_MIN_UPLOAD_SIZE,
    MIB,
    OS_DISK_MAX_VIRTUAL_SIZE,
    PAGE_BLOB_MAX_SIZE,
    PAGE_BLOB_MAX_VIRTUAL_SIZE,
    azure_readiness,
    round_up_to_mib,
)
from vhdupload.errors import NotAVhdError


def test_constants():
    assert MANAGED_DISK_MIN_UPLOAD_SIZE == 20_972_032
    assert MANAGED_DISK_MAX_UPLOAD_SIZE == 35_183_298_347_520
    assert PAGE_BLOB_MAX_VIRTUAL_SIZE + MIB == PAGE_BLOB_MAX_SIZE == 8 * 1024**4
    assert OS_DISK_MAX_VIRTUAL_SIZE == 4095 * 1024**3
    assert [round_up_to_mib(n) for n in (0, 1, MIB, MIB + 1)] == [0, MIB, MIB, 2 * MIB]


def test_readiness_of_sizes(tmp_path):
    big = build_fixed(tmp_path / "big.vhd", virtual_size=5000 * 1024**3)  # sparse
    with open_disk(big) as disk:
        readiness = azure_readiness(disk)
    assert readiness.ready
    assert any("OS disk" in w for w in readiness.warnings)
    huge = build_fixed(tmp_path / "huge.vhd", virtual_size=PAGE_BLOB_MAX_SIZE)
    with open_disk(huge) as disk:
        readiness = azure_readiness(disk)
    assert not readiness.ready and any("page-blob limit" in p for p in readiness.problems)
    # past the managed-disk maximum (too big to create as a real file here: a stand-in disk)
    stand_in = SimpleNamespace(path="x.vhd", disk_type="fixed", virtual_size=33 * 1024**4,
                               file_size=33 * 1024**4 + 512)
    readiness = azure_readiness(stand_in)
    assert any("too big for a managed-disk upload" in w for w in readiness.warnings)
    small = SimpleNamespace(path="x.vhd", disk_type="fixed", virtual_size=20 * MIB, file_size=20 * MIB + 512)
    readiness = azure_readiness(small)
    assert readiness.ready and readiness.warnings == []  # 20 MiB + 512 is the managed-disk minimum
    smaller = SimpleNamespace(path="x.vhd", disk_type="fixed", virtual_size=19 * MIB, file_size=19 * MIB + 512)
    assert any("too small for a managed-disk upload" in w for w in azure_readiness(smaller).warnings)
    longer = build_fixed(tmp_path / "long.vhd", virtual_size=MIB)
    with open(longer, "ab") as f:
        f.write(bytes(512))  # trailing junk after the footer: footer no longer at the end
    with pytest.raises(NotAVhdError):
        open_disk(longer)
