"""TransferSettings refuses a misspelt keyword as the package's entry points do."""

from __future__ import annotations

import dataclasses

import pytest

from vhdupload.errors import InputError
from vhdupload.transfer import TransferSettings


def test_a_misspelt_keyword_is_an_input_error_naming_the_close_match():
    with pytest.raises(InputError) as caught:
        TransferSettings(thread=4)  # type: ignore[call-arg]
    assert str(caught.value) == "TransferSettings has no option 'thread'; did you mean 'threads'?"


def test_a_keyword_close_to_nothing_lists_what_it_takes():
    with pytest.raises(InputError, match=r"has no option 'colour'; it takes backoff_base, .*threads, timeout, wait_timeout$"):
        TransferSettings(colour="red")  # type: ignore[call-arg]


def test_the_known_keywords_still_build_and_replace():
    settings = TransferSettings(threads=4, max_gap=8192)
    assert settings.threads == 4 and not settings.adaptive
    assert dataclasses.replace(settings, threads=None).adaptive
    with pytest.raises(InputError, match="threads must be between 1 and 256"):
        TransferSettings(threads=0)
