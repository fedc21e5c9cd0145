"""The Registrar's specs carry exactly their plans' options, and the old per-kind entry points
(eight functions repeating ~20-keyword signatures) are gone in favour of it."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import vhdupload
import vhdupload.registration
from vhdupload.registration import gallery, prepare

SPECS = [
    (vhdupload.registration.ImageSpec, prepare.plan_image),
    (vhdupload.registration.CaptureSpec, prepare.plan_capture),
    (vhdupload.registration.GalleryVersionSpec, gallery.plan_gallery_version),
    (vhdupload.registration.DiskImportSpec, prepare.plan_disk),
]


@pytest.mark.parametrize("spec, planner", SPECS, ids=lambda x: x.__name__)
def test_each_planner_takes_its_spec_and_the_context_only(spec, planner):
    """A spec carries every option; the planner adds nothing of its own (no 20-keyword
    signatures to keep in step with the specs)."""
    parameters = inspect.signature(planner).parameters
    assert list(parameters) == ["spec", "context"]
    assert parameters["spec"].annotation in (spec.__name__, spec)
    assert parameters["context"].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("spec, planner", SPECS, ids=lambda x: x.__name__)
def test_every_spec_field_reaches_its_planner(spec, planner):
    # the planner, or the helpers of its own module (the gallery's is split into steps)
    source = inspect.getsource(planner) if planner.__module__.endswith(".prepare") else inspect.getsource(inspect.getmodule(planner))
    for field in dataclasses.fields(spec):
        assert f"spec.{field.name}" in source, f"{planner.__name__} ignores {spec.__name__}.{field.name}"


@pytest.mark.parametrize("spec, planner", SPECS, ids=lambda x: x.__name__)
def test_every_spec_field_is_documented(spec, planner):
    doc = inspect.getdoc(spec) or ""
    for field in dataclasses.fields(spec):
        assert f":param {field.name}:" in doc, f"{spec.__name__}.{field.name} is not documented"


def test_the_per_kind_entry_points_are_gone():
    for name in ("register_image", "begin_register_image", "capture_vm_image", "begin_capture_vm_image",
                 "register_gallery_version", "begin_register_gallery_version", "register_disk", "begin_register_disk"):
        assert not hasattr(vhdupload.registration, name), name
        assert not hasattr(vhdupload, name), name


def test_positional_spec_arguments_are_refused():
    with pytest.raises(TypeError):
        vhdupload.registration.DiskImportSpec("x", "rg", "westeurope", "https://a.blob.core.windows.net/c/d.vhd")  # type: ignore[misc]
