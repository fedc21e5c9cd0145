"""The storage-credential options every command that touches a blob shares, as typer aliases.

Use them as parameter annotations::

    def cmd(dest: str, account_url: AccountUrlOption = None, connection_string: ConnectionStringOption = None,
            account_key: AccountKeyOption = None, emulator: EmulatorOption = False): ...
        client = blob_client_from_options(dest, account_url=account_url, ...)

The account name, SAS, connection string and key also come from ``AZURE_STORAGE_ACCOUNT``,
``AZURE_STORAGE_SAS_TOKEN``, ``AZURE_STORAGE_CONNECTION_STRING`` and ``AZURE_STORAGE_KEY`` (read by :func:`vhdupload.azure.credentials.resolve_blob_client`, not by
typer, so their values never show in ``--help``).
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from ..azure.credentials import client_options, resolve_blob_client

AccountUrlOption = Annotated[
    Optional[str],
    typer.Option(
        "--blob-endpoint", "--account-url",
        metavar="URL",
        help="The blob service endpoint for a blob given as CONTAINER/NAME: an emulator, a sovereign cloud "
        "or a private endpoint (default: https://NAME.blob.core.windows.net of --account-name).",
    ),
]
AccountNameOption = Annotated[
    Optional[str],
    typer.Option(
        "--account-name", metavar="NAME",
        help="Storage account of a blob given as CONTAINER/NAME, in the public cloud (else AZURE_STORAGE_ACCOUNT).",
        show_default=False,
    ),
]
SasTokenOption = Annotated[
    Optional[str],
    typer.Option(
        "--sas-token", metavar="SAS",
        help="A shared access signature for the blob (else AZURE_STORAGE_SAS_TOKEN).",
        show_default=False,
    ),
]
ConnectionStringOption = Annotated[
    Optional[str],
    typer.Option(
        "--connection-string", metavar="STRING",
        help="Storage connection string (else AZURE_STORAGE_CONNECTION_STRING).",
        show_default=False,
    ),
]
AccountKeyOption = Annotated[
    Optional[str],
    typer.Option("--account-key", metavar="KEY", help="Storage account key (else AZURE_STORAGE_KEY).", show_default=False),
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
    account_name: str | None = None,
    sas_token: str | None = None,
    credential: Any = None,
    threads: int = 8,
    timeout: float | None = None,
    retry_total: int = 0,
) -> Any:
    """A ``BlobClient`` for ``dest`` from the shared options, pool sized; the SDK's retries are
    off (``retry_total=0``) for the calls the upload engine retries itself."""
    return resolve_blob_client(
        dest, account_url=account_url, connection_string=connection_string, account_key=account_key,
        credential=credential, emulator=emulator, account_name=account_name, sas_token=sas_token,
        **client_options(threads=threads, timeout=timeout, retry_total=retry_total),
    )
