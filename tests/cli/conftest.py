"""The CLI tests reuse the registration fixtures (ARM double, blobs in Azurite, a stub ``az``)."""

from tests.registration.conftest import arm, blobs, compute, credential  # noqa: F401 (fixtures)
from tests.registration.test_cli import stub_az  # noqa: F401 (fixture)
