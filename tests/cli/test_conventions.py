"""The CLI's conventions, checked on every command and sub-command (those added later too):
help without implementation types, ``-h``, shell completion, ``-v``/``--debug`` everywhere,
``--timeout``/``--max-retries`` wherever Azure is called, one-line ``--json``."""

from __future__ import annotations

import re

import pytest
import typer

from vhdupload.cli import _common, _help, app, main

TYPE_STRINGS = ("<int range>", "<float range>", "<list[str]>", "<str>", "<int>", "<float>", "<bool>", "<path>")


def _commands() -> list[tuple[str, ...]]:
    """The path of every command and group, the root included."""
    root = _help.style(typer.main.get_command(app), on_verbose=lambda level: None)
    found: list[tuple[str, ...]] = []

    def walk(command, path: tuple[str, ...]) -> None:
        found.append(path)
        for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
            walk(sub, (*path, name))

    walk(root, ())
    return found


COMMANDS = _commands()
LEAVES = [path for path in COMMANDS if path and path != ("register",)]
#: Commands that send requests to Azure (storage or ARM).
TALKS_TO_AZURE = [p for p in LEAVES if p[0] in ("upload", "verify", "status", "register", "publish", "bench")]


def _help_text(capsys, *args: str) -> str:
    code = main([*args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_there_are_commands_to_check():
    names = {" ".join(p) for p in LEAVES}
    assert {"upload", "verify", "status", "inspect", "convert", "register image", "register disk",
            "register gallery-version"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "vhdupload")
def test_help_names_no_implementation_type_and_h_is_help(path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    text = _help_text(capsys, *path, "--help")
    assert text.startswith("Usage: vhdupload")
    for type_string in TYPE_STRINGS:
        assert type_string not in text, f"{type_string} in the help of {' '.join(path)}:\n{text}"
    assert not re.search(r"\{[a-z_]+\}|\{[A-Z_]+\}", text.splitlines()[0]), text.splitlines()[0]  # no {source}
    assert not re.search(r"\d<=x|x<=\d|x>=\d", text), text
    assert _help_text(capsys, *path, "-h") == text


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_command_has_verbose_and_debug(path, capsys):
    text = _help_text(capsys, *path, "--help")
    assert re.search(r"^\s+-v, --verbose\s", text, re.M), text
    assert re.search(r"^\s+--debug\s", text, re.M), text


@pytest.mark.parametrize("path", TALKS_TO_AZURE, ids=" ".join)
def test_every_command_that_calls_azure_takes_timeout_and_max_retries(path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    text = _help_text(capsys, *path, "--help")
    assert re.search(r"--timeout SECONDS\s+.*\[default: 60", text.replace("\n", " ")), text
    assert "--max-retries N" in text, text


def test_long_words_are_never_cut_at_the_edge(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    text = _help_text(capsys, "register", "image", "--help")
    assert "[,lun=N][,caching=None|ReadOnly|ReadWrite]" in text
    assert "https://NAME.blob.core.windows.net" in text
    for line in text.splitlines():
        assert not re.search(r"[A-Za-z]-$", line.rstrip()), f"a word broken at a hyphen: {line!r}"


def test_register_storage_options_do_not_mention_a_dest(capsys):
    for kind in ("image", "disk", "gallery-version"):
        assert "DEST" not in _help_text(capsys, "register", kind, "--help")


def test_storage_options_as_az_storage_names_them(capsys):
    text = _help_text(capsys, "upload", "--help")
    for option in ("--account-name NAME", "--sas-token SAS", "--blob-endpoint, --account-url URL",
                   "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_SAS_TOKEN"):
        assert option in text, option


def test_shell_completion_is_typers_own(capsys):
    assert main(["--show-completion", "bash"]) == 0
    out, _ = capsys.readouterr()
    assert "_VHDUPLOAD_COMPLETE" in out and "complete " in out
    assert "--install-completion" in _help_text(capsys, "--help")


def test_json_is_one_line_for_every_style():
    lines = []
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        _common.echo_json({"b": 1, "a": {"nested": [1, 2]}})
    lines = buffer.getvalue().splitlines()
    assert lines == ['{"a": {"nested": [1, 2]}, "b": 1}']
