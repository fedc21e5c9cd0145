"""Session-scoped disk images for the guest tests (built by tests/guest/image_set.py)."""

from __future__ import annotations

import pytest

from .image_set import Images


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> Images:
    return Images(tmp_path_factory.mktemp("guest-images"))
