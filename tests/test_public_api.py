"""The public API stays small and documented: what ``vhdupload.__all__`` lists (issue 12)."""

from __future__ import annotations

import inspect
import pathlib

import pytest

import vhdupload

MAX_PUBLIC_NAMES = 30
PUBLIC = list(vhdupload.__all__)
# Functions and classes: what a docstring documents (``__version__`` is a plain string).
DOCUMENTED = [name for name in PUBLIC if inspect.isfunction(getattr(vhdupload, name, None))
              or inspect.isclass(getattr(vhdupload, name, None))]


def test_at_most_thirty_public_names() -> None:
    assert len(PUBLIC) <= MAX_PUBLIC_NAMES, f"{len(PUBLIC)} public names: {PUBLIC}"


def test_no_name_listed_twice() -> None:
    assert len(set(PUBLIC)) == len(PUBLIC), sorted(n for n in PUBLIC if PUBLIC.count(n) > 1)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_listed_name_exists(name: str) -> None:
    assert hasattr(vhdupload, name), f"vhdupload.__all__ lists {name!r}, which the package does not define"


def test_the_listed_names_are_functions_classes_or_the_version() -> None:
    others = [n for n in PUBLIC if n not in DOCUMENTED and n != "__version__"]
    assert not others, f"neither function nor class, so not checked for a docstring: {others}"


@pytest.mark.parametrize("name", DOCUMENTED)
def test_every_public_function_and_class_has_a_docstring(name: str) -> None:
    obj = getattr(vhdupload, name)
    # The object's own docstring: a class inheriting one (or a dataclass's generated signature
    # line) documents nothing about itself.
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    if inspect.isclass(obj) and doc and doc.startswith(f"{obj.__name__}("):
        doc = None  # what @dataclass writes when the class has none
    assert doc and doc.strip(), f"vhdupload.{name} has no docstring"


def test_the_package_ships_its_type_information() -> None:
    # py.typed is what tells mypy and pyright to use the package's annotations (PEP 561).
    assert (pathlib.Path(vhdupload.__file__).parent / "py.typed").is_file()
