"""The disk with one volume of each kind (tests/allocation/disks.py), built once."""

from __future__ import annotations

import pytest

from .disks import TestDisk, build


@pytest.fixture(scope="session")
def disk(tmp_path_factory) -> TestDisk:
    return build(tmp_path_factory.mktemp("allocation"))
