"""The storage-credential options every command that touches a blob shares, as typer aliases.

Use them as parameter annotations::

    def cmd(dest: str, account_url: AccountUrlOption = None, connection_string: ConnectionStringOption = None,
            account_key: AccountKeyOption = None, emulator: EmulatorOption = False): ...
        client = blob_client_from_options(dest, account_url=account_url, ...)

The connection string and key also come from ``AZURE_STORAGE_CONNECTION_STRING`` and
``AZURE_STORAGE_KEY`` (read by :func:`vhdupload.azure.credentials.resolve_blob_client`, not by
typer, so their values never show in ``--help``).
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from ..azure.credentials import client_options, resolve_blob_client

AccountUrlOption = Annotated[
    Optional[str],
    typer.Option(
        "--account-url",
        help="Blob service URL, e.g. https://ACCOUNT.blob.core.windows.net (when DEST is CONTAINER/NAME).",
    ),
]
ConnectionStringOption = Annotated[
    Optional[str],
    typer.Option(
        "--connection-string",
        help="Storage connection string (else AZURE_STORAGE_CONNECTION_STRING).",
        show_default=False,
    ),
]
AccountKeyOption = Annotated[
    Optional[str],
    typer.Option("--account-key", help="Storage account key (else AZURE_STORAGE_KEY).", show_default=False),
]
EmulatorOption = Annotated[
    bool,
    typer.Option("--emulator", help="Use the local Azurite development account (http://127.0.0.1:10000)."),
]


def blob_client_from_options(
    dest: str,
    *,
    account_url: str | None = None,
    connection_string: str | None = None,
    account_key: str | None = None,
    emulator: bool = False,
    credential: Any = None,
    threads: int = 8,
    timeout: float | None = None,
) -> Any:
    """A ``BlobClient`` for ``dest`` from the shared options (SDK retries off, pool sized)."""
    return resolve_blob_client(
        dest,
        account_url=account_url,
        connection_string=connection_string,
        account_key=account_key,
        credential=credential,
        emulator=emulator,
        **client_options(threads=threads, timeout=timeout),
    )
