"""The layers' import rules, read from the source (``ast``) of every module under ``vhdupload/``.

Nothing is imported to check them, so a violation is found even where it would only show as a
cycle at run time. The rules are the tables just below (``docs/ARCHITECTURE.md`` states them in
words): to add a module or a layer, add its row.

Data flows down: a module imports only from its own layer and the layers below it (``LAYERS``).

Format packages side by side (issue "One way through"): ``vhd``, ``vhdx`` and ``raw`` each
produce the shared :class:`vhdupload.virtual_disk.VirtualDisk` and know nothing of one another,
of guests, of Azure or of the destinations; the factory (``disks.open_disk``), Azure's rules,
``inspect``, ``convert`` and the fixed-VHD blob view sit above them.
"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[1] / "vhdupload"

# ---------------------------------------------------------------------------------------------
# The rules. Names are dotted module prefixes: "vhdupload.vhd" is the package and all it holds.
# ---------------------------------------------------------------------------------------------

#: The format readers. Each one is a package (or module) of its own; a new format is one more.
FORMATS = ("vhdupload.vhd", "vhdupload.vhdx", "vhdupload.raw", "vhdupload.vmdk", "vhdupload.qcow2",
           "vhdupload.vdi")

#: What every format produces and may use: the shared disk interface and its helpers, the errors.
FORMAT_BASE = ("vhdupload.virtual_disk", "vhdupload.ranges", "vhdupload.errors")

#: Above the formats: the factory and the compositions, the guest layer, Azure and the CLI.
ABOVE_FORMATS = (
    "vhdupload.disks",  # the factory, open_disk
    "vhdupload.sniff",  # the factory's refusals of other formats
    "vhdupload.azure_rules",
    "vhdupload.inspect",
    "vhdupload.convert",
    "vhdupload.blob_image",  # the fixed-VHD view Azure receives
    "vhdupload.guest",
    "vhdupload.allocation",
    "vhdupload.registration",
    "vhdupload.destinations",
    "vhdupload.publish",
    "vhdupload.azure",
    "vhdupload.cli",
)


@dataclass(frozen=True)
class Rule:
    layer: str  # the modules the rule applies to (a prefix)
    must_not_import: tuple[str, ...]  # prefixes; imports under `if TYPE_CHECKING:` count too
    why: str


def _other_formats(fmt: str) -> tuple[str, ...]:
    return tuple(f for f in FORMATS if f != fmt)


#: The whole package, bottom to top. A module may import from its own row and the rows above it
#: in this list (the layers below), never from a row further down the list. Each entry names a
#: top-level module or package of ``vhdupload``; every one of them must be placed here.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("errors", "keywords", "printable", "redact")),
    ("disks and ranges, no I/O", ("virtual_disk", "ranges", "planning", "crc64")),
    ("formats", ("vhd", "vhdx", "raw", "vmdk", "qcow2", "vdi")),
    ("archives of disks", ("ova",)),  # an OVA's disks are VMDKs: ova opens them with vmdk
    ("above the formats", ("disks", "sniff", "azure_rules", "blob_image")),
    ("guest", ("guest",)),
    ("allocation maps", ("allocation",)),
    ("compositions", ("inspect", "convert")),
    ("transfer", ("source_proof", "transfer", "engine")),
    ("Azure SDK calls", ("azure",)),
    ("destinations", ("upload_decision", "destinations")),
    ("operations over any destination", ("endpoints", "upload_result", "source_checks", "upload_session", "upload",
                                         "verify_ranges", "verify", "status")),
    ("registration", ("registration",)),
    ("publish", ("publish",)),
    ("bench", ("bench",)),
    ("command line and the package's face", ("cli", "__init__")),
)

#: Who must not import whom.
RULES: list[Rule] = [
    *(Rule(fmt, _other_formats(fmt) + ABOVE_FORMATS + ("vhdupload.upload", "vhdupload.verify"),
           "a format reader knows only its own format; the factory above picks the reader")
      for fmt in FORMATS),
    Rule("vhdupload.virtual_disk", ("vhdupload.vhdx", "vhdupload.raw") + ABOVE_FORMATS,
         "the interface every format produces knows no reader (see TYPE_ONLY for the VHD footer's type)"),
    Rule("vhdupload.ranges", FORMATS + ABOVE_FORMATS, "plain range arithmetic"),
]

#: The only vhdupload modules (besides their own package) a layer may import at all.
MAY_ONLY_IMPORT: dict[str, tuple[str, ...]] = {fmt: FORMAT_BASE for fmt in FORMATS}
#: An OVA is a tar whose disks are VMDKs (the OVF standard's disk format): it reads them with vmdk only.
MAY_ONLY_IMPORT["vhdupload.ova"] = FORMAT_BASE + ("vhdupload.vmdk",)

#: Imports a rule allows when they are for the type checker only (under `if TYPE_CHECKING:`).
TYPE_ONLY: dict[str, tuple[str, ...]] = {
    # VirtualDisk.footer is the VHD footer a VHD was read with (None for other formats): its type
    # names the VHD's Footer, and nothing of vhd is imported when the program runs.
    "vhdupload.virtual_disk": ("vhdupload.vhd.footer",),
}

#: Layers whose modules import the package's own modules only at module level: an import inside
#: a function or a class hides a cycle or a layer leak (``# noqa: PLC0415``) instead of removing it.
NO_FUNCTION_LEVEL_IMPORTS: tuple[str, ...] = ("vhdupload",)

#: Everywhere: a ``_private`` name (or module) is used only inside the package that defines it.
PRIVATE_NAMES_STAY_HOME = ("vhdupload",)

#: Violations known when the rules were written, in code being rewritten elsewhere: each is to
#: go (make the name public, or move the code), and then its line here too (the test says so).
NOT_YET: set[str] = set()


# ---------------------------------------------------------------------------------------------
# Reading the imports.
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what is imported, as a dotted name: "vhdupload.vhd.footer.Footer"
    line: int
    in_function: bool  # inside a def/class body
    type_only: bool  # under `if TYPE_CHECKING:`

    def where(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(module: str, path: pathlib.Path) -> str:
    """The package a module belongs to (a package's ``__init__`` belongs to that package)."""
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: pathlib.Path, source: str | None = None) -> Iterator[Import]:
    module = module_name(path)
    package = package_of(module, path)
    tree = ast.parse(source if source is not None else path.read_text(), filename=str(path))

    def visit(node: ast.AST, *, in_function: bool, type_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(module, alias.name, child.lineno, in_function, type_only)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[:len(base) - (child.level - 1)]
                    source_module = ".".join(base + ([child.module] if child.module else []))
                else:
                    source_module = child.module or ""
                if source_module == "__future__":
                    continue
                for alias in child.names:
                    yield Import(module, f"{source_module}.{alias.name}", child.lineno, in_function, type_only)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                yield from visit(child, in_function=True, type_only=type_only)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), in_function=in_function,
                                     type_only=True)
                for stmt in child.orelse:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), in_function=in_function,
                                     type_only=type_only)
            else:
                yield from visit(child, in_function=in_function, type_only=type_only)

    yield from visit(tree, in_function=False, type_only=False)


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


MODULES = sorted(PACKAGE_DIR.rglob("*.py"))
ALL_IMPORTS = [imp for path in MODULES for imp in imports_of(path)]
MODULE_NAMES = {module_name(path) for path in MODULES}
PACKAGES = {module_name(path) for path in MODULES if path.name == "__init__.py"}


def _is_module_or_package(prefix: str) -> bool:
    return prefix in MODULE_NAMES


# ---------------------------------------------------------------------------------------------
# The tests.
# ---------------------------------------------------------------------------------------------

def test_every_layer_the_rules_name_exists():
    """A renamed module must not switch its rules off silently."""
    named = {rule.layer for rule in RULES} | set(MAY_ONLY_IMPORT) | set(TYPE_ONLY) | set(NO_FUNCTION_LEVEL_IMPORTS)
    named |= {target for rule in RULES for target in rule.must_not_import}
    named |= {target for allowed in MAY_ONLY_IMPORT.values() for target in allowed}
    missing = sorted(name for name in named if not _is_module_or_package(name))
    assert not missing, f"the layer rules name modules that do not exist: {missing}"


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.layer)
def test_layers_do_not_import_what_they_must_not(rule):
    allowed_for_types = TYPE_ONLY.get(rule.layer, ())
    bad = [
        imp.where() for imp in ALL_IMPORTS
        if under(imp.module, rule.layer)
        and any(under(imp.target, forbidden) for forbidden in rule.must_not_import)
        and not (imp.type_only and any(under(imp.target, ok) for ok in allowed_for_types))
    ]
    assert not bad, f"{rule.layer} must not import these ({rule.why}):\n" + "\n".join(bad)


@pytest.mark.parametrize("layer", sorted(MAY_ONLY_IMPORT))
def test_layers_import_only_what_they_may(layer):
    allowed = (layer, *MAY_ONLY_IMPORT[layer])
    bad = [
        imp.where() for imp in ALL_IMPORTS
        if under(imp.module, layer) and under(imp.target, "vhdupload")
        and not any(under(imp.target, ok) for ok in allowed)
    ]
    assert not bad, f"{layer} may import only {allowed} from vhdupload:\n" + "\n".join(bad)


@pytest.mark.parametrize("layer", NO_FUNCTION_LEVEL_IMPORTS)
def test_no_imports_inside_functions(layer):
    # Only the package's own modules: a third-party import may wait for its first use (an
    # optional extra such as matplotlib, or one costly to load); one of ours would hide a cycle.
    bad = [imp.where() for imp in ALL_IMPORTS
           if under(imp.module, layer) and imp.in_function and under(imp.target, "vhdupload")]
    assert not bad, f"{layer} imports inside a function or class (import at module level):\n" + "\n".join(bad)


def _package_holding(container: str) -> str:
    """The package whose own name a private name in ``container`` (a package or a module) is."""
    return container if container in PACKAGES else container.rpartition(".")[0]


def test_private_names_are_not_imported_across_packages():
    bad = []
    for path in MODULES:
        module = module_name(path)
        if not any(under(module, root) for root in PRIVATE_NAMES_STAY_HOME):
            continue
        package = package_of(module, path)
        for imp in imports_of(path):
            if not under(imp.target, "vhdupload"):
                continue
            parts = imp.target.split(".")
            for i, part in enumerate(parts):
                if part.startswith("_") and not part.endswith("__"):  # a _private name, not a __dunder__
                    if _package_holding(".".join(parts[:i])) != package:
                        bad.append(imp)
                        break
    known = {f"{imp.module} imports {imp.target}" for imp in bad}
    assert not NOT_YET - known, f"fixed, so take them out of NOT_YET: {sorted(NOT_YET - known)}"
    bad = [imp.where() for imp in bad if f"{imp.module} imports {imp.target}" not in NOT_YET]
    assert not bad, "private names imported from another package (make them public or move the code):\n" + \
        "\n".join(bad)


def _layer_of(module: str) -> int | None:
    """The row of ``LAYERS`` that holds ``module`` (``vhdupload`` itself is the package's face)."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    for rank, (_name, members) in enumerate(LAYERS):
        if top in members:
            return rank
    return None


def _target_module(target: str) -> str:
    """The vhdupload module an import names (``vhdupload.X.name`` may name a symbol of ``X``;
    ``from vhdupload import name`` is the package's face)."""
    return target if _layer_of(target) is not None else "vhdupload"


def test_every_top_level_module_has_a_layer():
    tops = {name.split(".")[1] for name in MODULE_NAMES if name.count(".") >= 1}
    placed = {member for _name, members in LAYERS for member in members}
    assert not tops - placed, f"place these in LAYERS (tests/test_layers.py, docs/ARCHITECTURE.md): {sorted(tops - placed)}"
    assert not placed - tops - {"__init__"}, f"LAYERS names modules that do not exist: {sorted(placed - tops)}"


def test_no_module_imports_a_layer_above_its_own():
    bad = []
    for imp in ALL_IMPORTS:
        if not under(imp.target, "vhdupload") or imp.type_only and imp.module in TYPE_ONLY:
            continue
        mine, theirs = _layer_of(imp.module), _layer_of(_target_module(imp.target))
        if mine is not None and theirs is not None and theirs > mine:
            bad.append(f"{imp.where()} ({LAYERS[mine][0]} -> {LAYERS[theirs][0]})")
    assert not bad, "imports against the layers (move the code down, or the import's user up):\n" + "\n".join(bad)


# ---------------------------------------------------------------------------------------------
# The reader itself, on made-up modules.
# ---------------------------------------------------------------------------------------------

def test_relative_imports_type_checking_and_function_level_imports_are_read():
    path = PACKAGE_DIR / "vhdx" / "made_up.py"
    source = (
        "from typing import TYPE_CHECKING\n"
        "from ..vhd.footer import Footer\n"
        "from . import bat\n"
        "if TYPE_CHECKING:\n"
        "    from ..guest import GuestReport\n"
        "def f():\n"
        "    from ..cli import main\n"
    )
    found = {(imp.target, imp.in_function, imp.type_only) for imp in imports_of(path, source)}
    assert found == {
        ("typing.TYPE_CHECKING", False, False),
        ("vhdupload.vhd.footer.Footer", False, False),
        ("vhdupload.vhdx.bat", False, False),
        ("vhdupload.guest.GuestReport", False, True),
        ("vhdupload.cli.main", True, False),
    }
