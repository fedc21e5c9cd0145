"""Fixtures of the upload tests alone (the shared ones are in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def qemu_img_path(qemu_img) -> str:
    return qemu_img
