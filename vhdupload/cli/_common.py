"""What every command shares: how loud it is (``-v/--verbose``, ``--debug``), one-line JSON,
and the CLI's wording of library errors (the library never names a flag; this module does).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from ..errors import EndpointUnreachableError, HostNotFoundError, NoCredentialError
from ..errors import ArmError, NotAVhdError, VhdUploadError
from ..printable import printable
from ..redact import RedactingFilter, redact

_LEVELS = {None: 0, "verbose": 1, "debug": 2}
_state: dict[str, str | None] = {"level": None}

SIGN_IN_HINT = (
    "no credential for Azure Storage worked: run `az login`, or give a SAS (in the URL or --sas-token), "
    "--account-key or --connection-string; AZURE_TOKEN_CREDENTIALS picks the sign-in method"
)
#: The same for Azure Resource Manager, where a storage key or SAS is no help.
ARM_SIGN_IN_HINT = (
    "no credential for Azure Resource Manager worked: run `az login` (or set the AZURE_CLIENT_* variables; "
    "AZURE_TOKEN_CREDENTIALS picks the sign-in method); a --dry-run works without one"
)


class _EscapingFilter(logging.Filter):
    """-v/--debug logs quote servers and files too: no escape sequence reaches the terminal.
    The values a record quotes (its ``args``) are escaped whole, so a value cannot start a line;
    the message keeps the line breaks of its own text (the SDK's request dumps span lines),
    each line escaped by the one function. Runs before :class:`RedactingFilter`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(printable(a) if isinstance(a, str) else a for a in record.args)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem
            return True
        record.msg = "\n".join(printable(line) for line in message.split("\n"))
        record.args = None
        return True


def reset() -> None:
    """Back to quiet (``main`` may run many times in one process: tests, embedding programs)."""
    _state["level"] = None
    root = logging.getLogger("vhdupload")
    for handler in [h for h in root.handlers if getattr(h, "_vhdupload_cli", False)]:
        for name in ("vhdupload", "azure"):
            logging.getLogger(name).removeHandler(handler)
    # Without a handler of its own, Python's last-resort handler prints every azure-identity
    # warning: the whole DefaultAzureCredential chain, ~15 lines, before our one-line error.
    azure = logging.getLogger("azure")
    if not any(isinstance(h, logging.NullHandler) for h in azure.handlers):
        azure.addHandler(logging.NullHandler())


def level() -> str | None:
    """``None``, ``"verbose"`` or ``"debug"``."""
    return _state["level"]


def set_level(wanted: str) -> None:
    """Raise the log level to ``wanted`` (never lower it) and log to stderr, secrets redacted."""
    if _LEVELS[wanted] <= _LEVELS[_state["level"]]:
        return
    _state["level"] = wanted
    root = logging.getLogger("vhdupload")
    handler = next((h for h in root.handlers if getattr(h, "_vhdupload_cli", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._vhdupload_cli = True  # type: ignore[attr-defined]
        handler.addFilter(_EscapingFilter())  # first: it sees the values before they are formatted in
        handler.addFilter(RedactingFilter())
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        for name in ("vhdupload", "azure"):
            logging.getLogger(name).addHandler(handler)
    logging.getLogger("vhdupload").setLevel(logging.DEBUG)
    # --verbose: what azure-identity tried, and the SDK's warnings; --debug: every HTTP exchange.
    logging.getLogger("azure").setLevel(logging.DEBUG if wanted == "debug" else logging.WARNING)
    logging.getLogger("azure.identity").setLevel(logging.DEBUG if wanted == "debug" else logging.INFO)


def say(*lines: str, err: bool = False) -> None:
    """Print ``lines``, one to a line: the CLI's one way to print text for a person.

    Each line goes through :func:`~vhdupload.printable.printable` (and :func:`redact`) whole, so a
    newline or an escape sequence inside a value (an ``os-release`` name, a tag, a server's error
    text) shows as ``\\n`` or ``\\x1b``: the only line breaks are the ones joined here. Give
    multi-line text as separate lines, never joined beforehand.
    """
    if lines:
        typer.echo("\n".join(printable(redact(str(line))) for line in lines), err=err)


def echo_json(value: Any) -> None:
    """One JSON object on one line of stdout: the same style for every command's ``--json``."""
    typer.echo(json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str))


def error_lines(exc: VhdUploadError) -> list[str]:
    """The ``error:`` line for ``exc`` in the CLI's words, plus (with -v/--debug) what lies under it."""
    loud = level() is not None
    if isinstance(exc, EndpointUnreachableError):
        lines = [f"error: nothing listens at {exc.address}: start Azurite ({azurite_hint()}) or pass --blob-endpoint"]
        return lines + ([f"  {redact(str(exc))}"] if loud else [])
    if isinstance(exc, HostNotFoundError):
        lines = [f"error: cannot resolve {exc.host}: {_check_host(exc.host)}"]
        return lines + ([f"  {redact(str(exc))}"] if loud else [])
    arm_side = isinstance(exc, ArmError) and exc.code == "AuthenticationFailed" and exc.status is None
    if isinstance(exc, NoCredentialError) or arm_side:
        hint = ARM_SIGN_IN_HINT if arm_side else SIGN_IN_HINT
        lines = [f"error: {hint}" + ("" if loud else " (-v shows each credential tried)")]
        if loud:
            details = getattr(exc, "details", "") or redact(str(exc.__cause__ or exc))
            lines += [f"  {line}" for line in details.strip().splitlines()]
        return lines
    hint = " (allow longer with --arm-timeout SECONDS)" if isinstance(exc, ArmError) and exc.code == "OperationTimedOut" else ""
    return [f"error: {printable(redact(str(exc)))}{hint}"]  # errors quote server texts: one line, no escapes


#: The blob endpoints' suffixes of the clouds ``--account-name`` places an account in.
_ACCOUNT_SUFFIXES = (".blob.core.windows.net", ".blob.core.chinacloudapi.cn", ".blob.core.usgovcloudapi.net")


def _check_host(host: str) -> str:
    if host.endswith(_ACCOUNT_SUFFIXES):
        return "check --account-name (or the account in the blob URL)"
    return "check the blob URL or --blob-endpoint"


#: How to start Azurite where the repository's ``./run`` is not at hand (a pip install).
AZURITE_ELSEWHERE = (
    "`npx azurite-blob --blobHost 127.0.0.1 --blobPort 10000 --inMemoryPersistence`, or "
    "`docker run -p 127.0.0.1:10000:10000 mcr.microsoft.com/azure-storage/azurite azurite-blob --blobHost 0.0.0.0`"
)


def azurite_hint() -> str:
    """The command that starts Azurite from here: ``./run azurite`` in a checkout of the
    repository, else npx or a container (after ``pip install`` there is no ``./run``)."""
    root = Path(__file__).resolve().parents[2]
    script = root / "run"
    if not (script.is_file() and (root / "pyproject.toml").is_file() and (root / "vhdupload").is_dir()):
        return AZURITE_ELSEWHERE
    if Path.cwd().resolve() == root:
        return "`./run azurite`"
    return f"`{script} azurite`"


def suggest_raw_first(command: Callable[..., Any]) -> Callable[..., Any]:
    """A command over a ``source`` that, given a file with no VHD footer, suggests ``--raw``
    (read as it is, no copy) before ``convert`` (a temporary copy)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except NotAVhdError as exc:
            source = kwargs.get("source") or kwargs.get("src") or kwargs.get("path") or "SOURCE"
            raise NotAVhdError(
                f"{source} is not a disk image vhdupload recognises (no VHD footer, no other format's signature) and "
                "its first bytes hold no partition table or file system: if it is a raw disk image all the same, "
                "add --raw (it is read as it is, no copy)"
            ) from exc

    return run


# -- how a source is read: --raw, or --format (the same on inspect, convert, upload, verify) ------
from typing import Annotated as _Annotated, Optional as _Optional  # noqa: E402

SOURCE_FORMATS = ("auto", "raw")
RawFlag = _Annotated[bool, typer.Option("--raw", help="The source is a raw disk image, whatever its bytes (same as --format raw).")]
FormatOption = _Annotated[
    _Optional[str],
    typer.Option("--format", metavar="FORMAT", help="How to read the source: auto (recognised from its bytes: VHD, "
                 "VHDX, VMDK, an OVA's disk) or raw (same as --raw)."),
]


def source_is_raw(raw: bool, source_format: str | None) -> bool:
    """Whether ``--raw``/``--format`` say the source is raw; a usage error for another --format."""
    if source_format is not None and source_format.lower() not in SOURCE_FORMATS:
        raise typer.BadParameter(f"{source_format!r} is not one of {', '.join(SOURCE_FORMATS)}", param_hint="--format")
    return raw or (source_format or "auto").lower() == "raw"


# -- the options of every command that calls Azure ------------------------------------------------
from typing import Annotated, Optional  # noqa: E402

from ..transfer.settings import DEFAULT_MAX_RETRIES  # noqa: E402

TimeoutOption = Annotated[
    Optional[float], typer.Option("--timeout", min=1, metavar="SECONDS", help="Seconds one request may take before it is retried.")
]
MaxRetriesOption = Annotated[
    int, typer.Option("--max-retries", min=0, metavar="N", help="Retries of one request before giving up.")
]
DEFAULT_RETRIES = DEFAULT_MAX_RETRIES
ThreadsOption = Annotated[
    str,
    typer.Option(
        "--threads", metavar="N|auto",
        help="Requests in flight at once, 1 to 256; auto: upload and publish adapt to the link (16 to start, "
        "up to 64), verify reads with 8.",
    ),
]


def parse_threads(value: str | None) -> int | None:
    """``--threads``: None for ``auto`` (the library adapts, or picks its default), else 1..256."""
    text = (value or "auto").strip().lower()
    if text == "auto":
        return None
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise typer.BadParameter(f"{value!r} is not a number from 1 to 256, nor auto", param_hint="--threads")
    return int(text)


def setup_logging(verbose: bool) -> None:
    """``-v``: log the package (debug) and the SDK (info) to stderr, secrets redacted."""
    if not verbose:
        return
    root = logging.getLogger("vhdupload")
    if any(getattr(h, "_vhdupload_cli", False) for h in root.handlers):
        return  # main() may run several times in one process (tests, embedding programs)
    handler = logging.StreamHandler(sys.stderr)
    handler._vhdupload_cli = True  # type: ignore[attr-defined]
    handler.addFilter(_EscapingFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name, level in (("vhdupload", logging.DEBUG), ("azure", logging.INFO)):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.addHandler(handler)
