"""The Registrar's specs carry exactly their plans' options, and the old per-kind entry points
(eight functions repeating ~20-keyword signatures) are gone in favour of it."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import vhdupload
import vhdupload.registration
from vhdupload.registration import prepare

# Given by the Registrar itself, not by a spec.
FROM_THE_CLIENT = {"subscription_id", "compute_client", "blob_client_factory"}

SPECS = [
    (vhdupload.registration.ImageSpec, prepare.plan_image),
    (vhdupload.registration.CaptureSpec, prepare.plan_capture),
    (vhdupload.registration.GalleryVersionSpec, prepare.plan_gallery_version),
    (vhdupload.registration.DiskImportSpec, prepare.plan_disk),
]


@pytest.mark.parametrize("spec, planner", SPECS, ids=lambda x: x.__name__)
def test_each_spec_has_its_plans_options_with_the_same_defaults(spec, planner):
    options = {
        name: p.default for name, p in inspect.signature(planner).parameters.items() if name not in FROM_THE_CLIENT
    }
    fields = {
        f.name: (f.default if f.default is not dataclasses.MISSING else
                 f.default_factory() if f.default_factory is not dataclasses.MISSING else inspect.Parameter.empty)
        for f in dataclasses.fields(spec)
    }
    assert set(fields) == set(options)
    for name, default in options.items():
        if default is inspect.Parameter.empty:
            assert fields[name] is inspect.Parameter.empty, f"{spec.__name__}.{name} should be required"
        else:
            assert fields[name] == (list(default) if isinstance(fields[name], list) else default), name


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
