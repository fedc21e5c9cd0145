"""The benchmark's used-then-cleaned disk (benchmarks/free_space_image.py), built at 1/32 of its
files: ``inspect`` finds the deleted data on both volumes, and it is about what was deleted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vhdupload import inspect_disk

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import free_space_image  # noqa: E402


def test_the_deleted_files_are_found_as_deleted_data(tmp_path):
    if free_space_image.missing_tools():
        pytest.skip(f"not installed: {', '.join(free_space_image.missing_tools())}")
    image = free_space_image.build(tmp_path / "free.vhd", scale=1 / 32)
    report = inspect_disk(image.path)
    assert report.disk_type == "fixed" and report.guest is not None
    found = {v.content: v.free_bytes_with_data or 0 for v in report.guest.volumes}
    assert set(found) == {"fat", "ext"} and all(found.values())
    # what the packages installed after the clean overwrote, and partial blocks, are not counted
    assert 0.6 * image.deleted_bytes < sum(found.values()) <= image.deleted_bytes + 64 * 1024
    assert image.data_pages > image.kept_bytes + sum(found.values()) * 0.9
