"""What every library entry shares: the local source disk opened with one-line errors, and the
decorator that keeps the package's errors (and only those) coming out of it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from os import PathLike
from typing import Any, ParamSpec, TypeVar

from azure.core.exceptions import AzureError

from .azure.error_map import translate
from .errors import InputError, VhdUploadError
from .keywords import parameter_names, unknown_keyword
from .redact import redact
from .disks import open_disk
from .virtual_disk import VirtualDisk

P = ParamSpec("P")
R = TypeVar("R")


def open_source(source: "str | PathLike[str]", *, raw: bool = False) -> VirtualDisk:
    """``open_disk`` with OS errors turned into one-line InputErrors; a raw image is detected
    the way every command detects it (``open_disk(format="detect")``)."""
    try:
        return open_disk(source, format="raw" if raw else "detect")
    except VhdUploadError:
        raise
    except FileNotFoundError:
        raise InputError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{source} is a directory, not a disk image") from None
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None


def package_errors(action: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a library entry so that it raises only the package's tree: a misspelt keyword
    is an InputError naming the close match, Azure errors are translated, OS errors become
    InputError, anything else a VhdUploadError naming ``action`` (a bug, but one a caller can
    still catch as documented)."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        known = _keywords(function)

        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            unknown = sorted(set(kwargs) - known)
            if unknown:
                raise InputError(_unknown_keyword(function.__name__, unknown[0], known))
            try:
                return function(*args, **kwargs)
            except VhdUploadError:
                raise
            except TypeError as exc:
                if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
                    # raised binding the arguments: the caller's call, not a bug inside
                    raise InputError(f"{function.__name__}(): {exc}") from None
                raise VhdUploadError(f"{action} failed unexpectedly: TypeError: {redact(str(exc))}") from exc
            except AzureError as exc:
                raise translate(exc, action=action) from exc
            except OSError as exc:
                raise InputError(f"{action} failed: {redact(str(exc))}") from exc
            except Exception as exc:
                raise VhdUploadError(f"{action} failed unexpectedly: {type(exc).__name__}: {redact(str(exc))}") from exc

        return wrapper

    return decorate


def _keywords(function: Callable[..., Any]) -> set[str]:
    """The keywords ``function`` takes: its named parameters."""
    return parameter_names(function)


#: The knobs that live in ``TransferSettings`` (a keyword of that name gets a pointer there).
_SETTINGS_FIELDS = ("threads", "max_retries", "timeout", "max_bandwidth", "max_gap")


def _unknown_keyword(name: str, keyword: str, known: set[str]) -> str:
    if keyword in _SETTINGS_FIELDS and "settings" in known:
        return f"{name}() takes {keyword} in its settings: pass settings=TransferSettings({keyword}=...)"
    return unknown_keyword(f"{name}()", keyword, known)
