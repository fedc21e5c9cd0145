"""The two ends every command starts from: the local source disk and the destination blob."""

from __future__ import annotations

import functools
from os import PathLike
from typing import Any, TypedDict, Unpack

from azure.core.exceptions import AzureError

from .azure.credentials import client_options, resolve_blob_client
from .azure.errors import translate
from .errors import InputError, VhdUploadError
from .redact import redact
from .vhd import VirtualDisk, open_disk


def open_source(source: str | PathLike, *, raw: bool = False) -> VirtualDisk:
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
    **storage: Unpack[StorageCredentials],
) -> Any:
    """``blob_client`` if given, else one resolved from ``destination`` and the credentials."""
    unknown = set(storage) - set(StorageCredentials.__annotations__)
    if unknown:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(unknown))}")
    if blob_client is not None:
        return blob_client
    if destination is None:
        raise InputError("give a destination (a blob URL or CONTAINER/NAME) or a blob_client")
    return resolve_blob_client(destination, **storage, **client_options(threads=threads, timeout=timeout))


def package_errors(action: str):
    """Decorate a library entry so that it raises only the package's tree: Azure errors are
    translated, OS errors become InputError, anything else a VhdUploadError naming ``action``
    (a bug, but one a caller can still catch as documented)."""

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except (VhdUploadError, TypeError):
                raise  # ours already; a TypeError is the caller's wrong keyword
            except AzureError as exc:
                raise translate(exc, action=action) from exc
            except OSError as exc:
                raise InputError(f"{action} failed: {redact(str(exc))}") from exc
            except Exception as exc:
                raise VhdUploadError(f"{action} failed unexpectedly: {type(exc).__name__}: {redact(str(exc))}") from exc

        return wrapper

    return decorate
