"""The two ends every command starts from: the local source disk and the destination blob."""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable
from os import PathLike
from typing import Any, ParamSpec, TypedDict, TypeVar, Unpack

from azure.core.exceptions import AzureError

from .azure.credentials import client_options, resolve_blob_client
from .azure.error_map import translate
from .errors import InputError, VhdUploadError
from .redact import redact
from .vhd import VirtualDisk, open_disk

P = ParamSpec("P")
R = TypeVar("R")


def open_source(source: "str | PathLike[str]", *, raw: bool = False) -> VirtualDisk:
    """``open_disk`` with OS errors turned into one-line InputErrors."""
    try:
        return open_disk(source, raw=raw)
    except VhdUploadError:
        raise
    except FileNotFoundError:
        raise InputError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{source} is a directory, not a disk image") from None
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None


class StorageCredentials(TypedDict, total=False):
    """The credential keywords every library entry takes (see ``resolve_blob_client``)."""

    credential: Any  # a TokenCredential (Entra ID), used after SAS, connection string and key
    account_url: str | None  # when the destination is CONTAINER/NAME
    connection_string: str | None
    account_key: str | None
    emulator: bool
    account_name: str | None  # CONTAINER/NAME in https://NAME.blob.core.windows.net (else AZURE_STORAGE_ACCOUNT)
    sas_token: str | None  # a SAS for a URL that carries none (else AZURE_STORAGE_SAS_TOKEN)


def destination_client(
    destination: str | None,
    *,
    blob_client: Any = None,
    threads: int = 8,
    timeout: float | None = None,
    retry_total: int = 0,
    **storage: Unpack[StorageCredentials],
) -> Any:
    """``blob_client`` if given, else one resolved from ``destination`` and the credentials
    (the one place a ``BlobClient`` is built: the library and the CLI alike). The SDK's own
    retries are off (``retry_total=0``) for the calls the package retries itself."""
    unknown = set(storage) - set(StorageCredentials.__annotations__)
    if unknown:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(unknown))}")
    if blob_client is not None:
        return blob_client
    if destination is None:
        raise InputError("give a destination (a blob URL or CONTAINER/NAME) or a blob_client")
    return resolve_blob_client(
        destination, **storage, **client_options(threads=threads, timeout=timeout, retry_total=retry_total)
    )


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
    """The keywords ``function`` takes: its named parameters, plus the storage credential
    keywords where it takes ``**storage``."""
    parameters = inspect.signature(function).parameters.values()
    names = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        names |= set(StorageCredentials.__annotations__)
    return names


#: The knobs that live in ``TransferSettings`` (a keyword of that name gets a pointer there).
_SETTINGS_FIELDS = ("threads", "max_retries", "timeout", "max_bandwidth", "max_gap")


def _unknown_keyword(name: str, keyword: str, known: set[str]) -> str:
    if keyword in _SETTINGS_FIELDS and "settings" in known:
        return f"{name}() takes {keyword} in its settings: pass settings=TransferSettings({keyword}=...)"
    close = difflib.get_close_matches(keyword, sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; it takes {', '.join(sorted(known))}"
    return f"{name}() has no option {keyword!r}{hint}"
