"""The ``vhdupload`` command line: a thin typer layer over the public API.

Each group of commands lives in its own module and adds itself to :data:`app`. :func:`main`
owns the exit codes and turns every error into one ``error: ...`` line on stderr, with no
traceback (and never typer's local-variable dumps, which would print secrets).
"""

from __future__ import annotations

import sys
from typing import Any

import typer

try:  # typer >= 0.20 vendors click under its own name
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer (click is not installed beside a newer one)
    from click import exceptions as click_exceptions  # type: ignore[import-not-found, no-redef]

from .. import __version__
from ..errors import VhdUploadError
from . import _common, _help
from ._exit import EXIT_ERROR, EXIT_USAGE

app = typer.Typer(
    name="vhdupload",
    help="Get disk images into Azure: inspect and convert VHDs, upload only their data, register images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=True,  # typer's --install-completion / --show-completion
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},  # sub-commands inherit it
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"vhdupload {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
    ),
) -> None:
    """Get disk images into Azure."""


from . import format_commands  # noqa: E402  (the modules register their commands on app)
from . import upload_commands  # noqa: E402
from . import register_commands  # noqa: E402
from . import publish_commands  # noqa: E402
from . import bench_commands  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return (or exit with) its exit code."""
    _common.reset()
    command = _help.style(typer.main.get_command(app), on_verbose=_common.set_level)
    _surface_interrupts(command)
    try:
        result = command.main(args=argv, prog_name="vhdupload", standalone_mode=False)
    except _Interrupted:
        typer.echo("error: interrupted", err=True)
        return _finish(130, argv)
    except click_exceptions.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        return _finish(EXIT_USAGE, argv)
    except click_exceptions.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _common.say(f"usage error: {exc.format_message()}{hint}", err=True)
        return _finish(EXIT_USAGE, argv)
    except typer.Abort:  # typer >= 0.20 keeps Abort in typer.exceptions, not its vendored click
        typer.echo("error: interrupted", err=True)
        return _finish(130, argv)
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        return _finish(130, argv)
    except SystemExit as exc:  # typer's --show-completion and --install-completion exit by themselves
        return _finish(exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_ERROR), argv)
    except click_exceptions.ClickException as exc:
        _common.say(f"error: {exc.format_message()}", err=True)
        return _finish(exc.exit_code, argv)
    except VhdUploadError as exc:
        _common.say(*_common.error_lines(exc), err=True)
        return _finish(EXIT_ERROR, argv)
    except OSError as exc:
        _common.say(f"error: {exc}", err=True)
        return _finish(EXIT_ERROR, argv)
    code = result if isinstance(result, int) else 0
    return _finish(code, argv)


class _Interrupted(Exception):
    """Ctrl-C that no command caught itself, carried past typer (which would turn it into a
    silent exit 130) to :func:`main`, which says so."""


def _surface_interrupts(command: Any) -> None:
    invoke = command.invoke

    def guarded(ctx: Any) -> Any:
        try:
            return invoke(ctx)
        except KeyboardInterrupt:
            raise _Interrupted() from None

    command.invoke = guarded


def _finish(code: int, argv: list[str] | None) -> int:
    if argv is None:
        sys.exit(code)
    return code
