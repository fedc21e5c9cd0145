"""Help text that reads like ``az``'s and AzCopy's, for every command, including those added later.

typer prints implementation types (``--threads <int range>``, ``source <str>``, ``{PATH}``)
and breaks long words at the column edge. :func:`style` walks the built command tree once and
gives every parameter a metavar a person understands (``N``, ``SECONDS``, ``URL``, ...), every
argument its plain name, ranges and defaults in words, and a formatter that never breaks a
word; it also adds ``-v/--verbose`` and ``--debug`` to every command that lacks them. Doing it
on the tree (not per option) keeps commands that other modules add in the same style.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import typer
from typer.core import TyperArgument, TyperOption

from ..azure.credentials import DEFAULT_REQUEST_TIMEOUT

try:  # typer >= 0.20 vendors click under its own name
    from typer import _click as click
    from typer._click._compat import term_len  # where formatting takes it from
    from typer._click.formatting import HelpFormatter, iter_rows, measure_table
except ImportError:  # pragma: no cover - older typer
    # typer < 0.20 depends on click instead; mypy, run where the newer typer is installed (and
    # click is not), sees a second definition of the same names from a module it cannot find.
    import click  # type: ignore[no-redef, import-not-found, unused-ignore]
    from click._compat import term_len  # type: ignore[no-redef, import-not-found, assignment, unused-ignore]
    from click.formatting import HelpFormatter, iter_rows, measure_table  # type: ignore[no-redef, import-not-found, assignment, unused-ignore]

#: Metavars by option name (the part after ``--``); other options get one from their type.
METAVARS = {
    "account-url": "URL", "blob-endpoint": "URL", "arm-endpoint": "URL", "arm-audience": "URL",
    "account-name": "NAME", "account-key": "KEY", "sas-token": "SAS", "connection-string": "STRING",
    "subscription": "ID", "resource-group": "NAME", "location": "REGION", "zone": "N",
    "managed-disk": "NAME", "gallery": "NAME", "image-definition": "NAME", "version": "MAJOR.MINOR.PATCH",
    "source-vm": "VM", "storage-account-id": "ID", "target-region": "REGION[=N][=TYPE]", "tag": "KEY=VALUE",
    "os-disk": "BLOB_URL", "source": "BLOB_URL", "data-disk": "BLOB_URL[,lun=N][,caching=...]",
    "os-type": "linux|windows", "os-state": "generalized|specialized", "hyper-v-generation": "auto|V1|V2",
    "cloud": "public|china|usgov", "max-bandwidth": "RATE", "timeout": "SECONDS", "sku": "SKU",
    "storage-sku": "SKU", "security-type": "TYPE", "data-access-auth-mode": "MODE", "publisher": "NAME",
    "offer": "NAME", "threads": "N", "max-retries": "N",
}

VERBOSE_HELP = "Log what is done, retries included, to stderr (secrets redacted); on a sign-in failure, each credential tried."
DEBUG_HELP = "Like --verbose, plus every HTTP request and response line (secrets redacted)."


def _words(help_text: str) -> str:
    """Ranges and string defaults in words: ``[1<=x<=256]`` -> ``[1 to 256]``, ``(60)`` -> ``60``."""
    help_text = re.sub(r"(-?[\d.]+)<=x<=(-?[\d.]+)", r"\1 to \2", help_text)
    help_text = re.sub(r"x>=(-?[\d.]+)", r"at least \1", help_text)
    help_text = re.sub(r"x<=(-?[\d.]+)", r"at most \1", help_text)
    help_text = re.sub(r"x>(-?[\d.]+)", r"more than \1", help_text)
    return re.sub(r"default: \((.*?)\)", r"default: \1", help_text)


class _Formatter(HelpFormatter):
    """click's formatter, but a long word (a URL, ``BLOB_URL[,lun=N]...``) moves to the next
    line whole instead of being cut at the column edge, and hyphens are not break points."""

    def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        rows = list(rows)
        widths = measure_table(rows)
        first_col = min(widths[0], col_max) + col_spacing
        for first, second in iter_rows(rows, len(widths)):
            self.write(f"{'':>{self.current_indent}}{first}")
            if not second:
                self.write("\n")
                continue
            if term_len(first) <= first_col - col_spacing:
                self.write(" " * (first_col - term_len(first)))
            else:
                self.write("\n" + " " * (first_col + self.current_indent))
            width = max(self.width - first_col - 2, 10)
            lines = textwrap.wrap(second, width, break_long_words=False, break_on_hyphens=False) or [""]
            self.write(lines[0] + "\n")
            for line in lines[1:]:
                self.write(f"{'':>{first_col + self.current_indent}}{line}\n")

    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        for number, paragraph in enumerate(text.split("\n\n")):
            if number:
                self.write_paragraph()
            self.write(textwrap.fill(" ".join(paragraph.split()), max(self.width - self.current_indent, 11),
                                     initial_indent=indent, subsequent_indent=indent, break_long_words=False,
                                     break_on_hyphens=False) + "\n")


class _Context(click.Context):
    formatter_class = _Formatter


class _Option(TyperOption):
    def get_help_record(self, ctx: Any) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        return None if record is None else (record[0], _words(record[1]))


class _Argument(TyperArgument):
    """An argument shown by its name alone: ``SOURCE`` and ``[DEST]``, not ``{source}`` and
    ``source <str>``."""

    def _label(self) -> str:
        return self.metavar or (self.name or "").upper()

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        label = self._label().strip("[]")
        label = label if self.required else f"[{label}]"
        return [label + ("..." if self.nargs != 1 else "")]

    def get_help_record(self, ctx: Any) -> tuple[str, str] | None:
        if self.hidden:
            return None
        help_text = self.help or ""
        return self._label(), _words(help_text + ("  [required]" if self.required else ""))


def _metavar(option: Any) -> str:
    name = next((o[2:] for o in option.opts if o.startswith("--")), option.name or "")
    if name in METAVARS:
        return METAVARS[name]
    annotation = getattr(getattr(option, "type_descriptor", None), "annotation", None)
    if annotation in (int, float):
        return "N"
    return name.upper().replace("-", "_")  # argparse's convention: --image-name IMAGE_NAME


def style(command: Any, *, on_verbose: Callable[[str], None]) -> Any:
    """Style ``command`` and every command below it (in place); returns it.

    ``on_verbose(level)`` is called with ``"verbose"`` or ``"debug"`` when a command is given
    ``-v/--verbose`` or ``--debug`` (an option the command declares itself is honoured too)."""
    command.context_class = _Context
    subcommands = getattr(command, "commands", None)
    if subcommands is not None:
        for sub in subcommands.values():
            style(sub, on_verbose=on_verbose)
    for param in command.params:
        if type(param) is TyperOption:
            param.__class__ = _Option
        elif type(param) is TyperArgument:
            param.__class__ = _Argument
        if isinstance(param, TyperOption) and not param.is_flag and param.metavar is None:
            param.metavar = _metavar(param)
        if isinstance(param, TyperOption) and "--timeout" in param.opts and param.default is None:
            param.show_default = str(DEFAULT_REQUEST_TIMEOUT)  # None means the library's default: say which
    if subcommands is None:
        _add_logging_flags(command, on_verbose)
        _add_output_option(command)
    return command


#: ``-o/--output`` as az users type it: json is ``--json``; table is what is printed anyway.
OUTPUT_HELP = "az's output option: json (the same as --json) or table (the text printed by default)."
_OUTPUT_AS_TEXT = {"table"}
_OUTPUT_AS_JSON = {"json", "jsonc"}


def _add_output_option(command: Any) -> None:
    """Give a command with ``--json`` az's ``-o/--output FORMAT`` too (``tsv``, ``yaml``, ``none``:
    a usage error with the hint)."""
    if not any(getattr(p, "name", None) == "as_json" for p in command.params) or \
            any("--output" in getattr(p, "opts", []) for p in command.params):
        return

    def remember(ctx: Any, param: Any, value: Any) -> Any:
        if value is None:
            return value
        wanted = str(value).strip().lower()
        if wanted in _OUTPUT_AS_JSON:
            ctx.meta["vhdupload.output_json"] = True
        elif wanted not in _OUTPUT_AS_TEXT:
            raise typer.BadParameter(
                f"{value!r} is not an output of vhdupload: -o json (one JSON object; pipe it to jq for other "
                "shapes) or -o table (the default text)", ctx=ctx, param=param)
        return value

    option = _fresh_output_option()
    option.expose_value = False
    option.callback = remember
    command.params.append(option)
    invoke = command.invoke

    def invoke_with_output(ctx: Any) -> Any:
        if ctx.meta.get("vhdupload.output_json"):
            ctx.params["as_json"] = True
        return invoke(ctx)

    command.invoke = invoke_with_output


_output = typer.Typer(add_completion=False)


@_output.command()
def _output_option(
    output: str = typer.Option(None, "--output", "-o", metavar="json|table", help=OUTPUT_HELP),
) -> None:
    """Only a template, as for the logging flags."""


def _fresh_output_option() -> Any:
    option = typer.main.get_command(_output).params[0]
    option.__class__ = _Option
    return option


def _add_logging_flags(command: Any, on_verbose: Callable[[str], None]) -> None:
    def record(level: str) -> Callable[..., Any]:
        def callback(ctx: Any, param: Any, value: Any) -> Any:
            if value:
                on_verbose(level)
            return value

        return callback

    names = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for param in command.params:  # a command's own --verbose still tells main() the level
        if "--verbose" in getattr(param, "opts", []) and param.callback is None:
            param.callback = record("verbose")
        if "--debug" in getattr(param, "opts", []) and param.callback is None:
            param.callback = record("debug")
    for flag in _fresh_flags():
        if flag.opts[0] not in names:
            flag.expose_value = False  # the command's function never sees it
            flag.is_eager = True  # logging is set up before the other options are checked
            flag.callback = record(flag.opts[0].lstrip("-"))
            command.params.append(flag)


_flags = typer.Typer(add_completion=False)


@_flags.command()
def _logging_flags(
    verbose: bool = typer.Option(False, "--verbose", "-v", help=VERBOSE_HELP),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Only a template: typer makes the two flag objects, each call a fresh pair."""


def _fresh_flags() -> list[Any]:
    params = list(typer.main.get_command(_flags).params)
    for param in params:
        param.__class__ = _Option
    return params
