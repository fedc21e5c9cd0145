"""The registration entry points show their real keywords, and keep them equal to their plans'."""

from __future__ import annotations

import inspect

import pytest

from tests.support.registration import LOC, RG, SUB
import vhdupload
import vhdupload.registration
import vhdupload.vhd
from vhdupload.registration import operations, prepare

CONNECTION = {name: None for name in (*operations.CONNECTION_KEYWORDS, "polling_interval")}

ENTRY_POINTS = [
    (prepare.plan_image, operations.begin_register_image, operations.register_image),
    (prepare.plan_capture, operations.begin_capture_vm_image, operations.capture_vm_image),
    (prepare.plan_gallery_version, operations.begin_register_gallery_version, operations.register_gallery_version),
    (prepare.plan_disk, operations.begin_register_disk, operations.register_disk),
]


def _parameters(function) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(function).parameters)


def test_register_image_shows_its_keywords():
    signature = inspect.signature(vhdupload.registration.register_image)
    params = signature.parameters
    assert list(params)[:5] == ["name", "resource_group", "location", "os_disk", "os_type"]
    assert {"data_disks", "hyper_v_generation", "blob_client_factory", "skip_preflight", *CONNECTION} <= set(params)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    assert params["name"].default is inspect.Parameter.empty
    assert params["hyper_v_generation"].default == "auto"
    assert params["skip_preflight"].default is False
    assert params["credential"].default is None
    assert "os_disk" in (vhdupload.registration.register_image.__doc__ or "")
    assert "compute_client" in (vhdupload.registration.register_image.__doc__ or "")


@pytest.mark.parametrize("planner, begin, register", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_entry_points_take_their_plans_options_and_the_connection(planner, begin, register):
    plan = _parameters(planner)
    for name in ("subscription_id", "compute_client"):  # given by the connection
        plan.pop(name, None)
    started = _parameters(begin)
    assert {n: p for n, p in started.items() if n not in CONNECTION} == plan  # names, defaults and types
    assert {n: p.default for n, p in started.items() if n in CONNECTION} == CONNECTION
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in started.values())
    assert _parameters(register) == started
    assert inspect.signature(begin).return_annotation == "Registration"


@pytest.mark.parametrize("planner, begin, register", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_an_unknown_keyword_is_a_type_error(planner, begin, register):
    client = object()  # refused when the call is bound, before anything uses the client
    for function in (register, begin):
        with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
            function(resource_group=RG, location=LOC, subscription_id=SUB, compute_client=client, colour="blue")


def test_a_missing_option_is_a_type_error():
    with pytest.raises(TypeError, match="os_disk"):
        vhdupload.registration.register_image(name="x", resource_group=RG, location=LOC, os_type="linux", compute_client=object())


def test_positional_arguments_are_refused():
    with pytest.raises(TypeError):
        vhdupload.registration.register_disk("x", RG, LOC, "https://a.blob.core.windows.net/c/d.vhd")  # type: ignore[misc]
