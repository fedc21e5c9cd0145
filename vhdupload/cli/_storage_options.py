"""The storage-credential options every command that touches a blob shares, as typer aliases.

Use them as parameter annotations::

    def cmd(dest: str, account_url: AccountUrlOption = None, connection_string: ConnectionStringOption = None,
            account_key: AccountKeyOption = None, emulator: EmulatorOption = False): ...
        client = blob_client_from_options(dest, StorageOptions(account_url, connection_string, account_key))

The account name, SAS, connection string and key also come from ``AZURE_STORAGE_ACCOUNT``,
``AZURE_STORAGE_SAS_TOKEN``, ``AZURE_STORAGE_CONNECTION_STRING`` and ``AZURE_STORAGE_KEY`` (read by :func:`vhdupload.azure.credentials.resolve_blob_client`, not by
typer, so their values never show in ``--help``).
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class StorageOptions:
    """The storage-credential options as given (None or False: not given)."""

    account_url: str | None = None
    connection_string: str | None = None
    account_key: str | None = None
    account_name: str | None = None
    sas_token: str | None = None
    emulator: bool = False

    def given(self) -> list[str]:
        return [name for name, value in vars(self).items() if value]

    def resolving(self, dest: str, options: dict[str, Any]) -> Any:
        """The ``BlobClient`` of ``dest`` as ``az storage`` resolves these options, with the SDK's
        client ``options`` (pool, timeout, retries)."""
        return resolve_blob_client(
            dest, account_url=self.account_url, connection_string=self.connection_string,
            account_key=self.account_key, emulator=self.emulator, account_name=self.account_name,
            sas_token=self.sas_token, **options,
        )


def blob_client_from_options(dest: str, storage: StorageOptions, *, threads: int = 8, timeout: float | None = None,
                             retry_total: int = 0) -> Any:
    """A ``BlobClient`` for ``dest`` from the shared options, pool sized; the SDK's retries are
    off (``retry_total=0``) for the calls the upload engine retries itself."""
    return storage.resolving(dest, client_options(threads=threads, timeout=timeout, retry_total=retry_total))
