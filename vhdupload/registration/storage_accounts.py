"""Finding a blob's storage account ID through ARM (Azure needs it for gallery versions and disk imports).

``azure-mgmt-storage`` is not a dependency: the storage accounts list is one plain ARM GET sent
through the compute client's own pipeline (same credential, same endpoint, same policies).
"""

from __future__ import annotations

from typing import Any

from azure.core.rest import HttpRequest

from ..errors import InputError
from ..azure.arm import arm_errors
from .blobs import parse_blob_url

STORAGE_API_VERSION = "2023-05-01"


def find_storage_account_id(compute_client: Any, *, subscription_id: str, blob_url: str) -> str | None:
    """The ID of the storage account holding ``blob_url`` in the subscription, or None."""
    location = parse_blob_url(blob_url)
    url = f"/subscriptions/{subscription_id}/providers/Microsoft.Storage/storageAccounts?api-version={STORAGE_API_VERSION}"
    by_name = None
    with arm_errors("list the storage accounts of the subscription"):
        while url:
            response = compute_client.send_request(HttpRequest("GET", url))
            if response.status_code == 403:  # may not list accounts: the caller is asked for the ID
                return None
            response.raise_for_status()
            page = response.json()
            for account in page.get("value", []):
                endpoint = ((account.get("properties") or {}).get("primaryEndpoints") or {}).get("blob") or ""
                if endpoint and location.url.lower().startswith(endpoint.rstrip("/").lower() + "/"):
                    account_id: str = account["id"]
                    return account_id
                if str(account.get("name", "")).lower() == location.account.lower():
                    by_name = by_name or account["id"]
            url = page.get("nextLink")
    return by_name


def storage_account_ids(
    compute_client: Any | None,
    *,
    subscription_id: str,
    urls: list[str],
    given: str | None = None,
) -> dict[str, str]:
    """Map each blob URL to its storage account ID: ``given`` for blobs in that account, else ARM.

    Refuses, asking for ``--storage-account-id``, when an account cannot be found.
    """
    result: dict[str, str] = {}
    cache: dict[str, str | None] = {}
    for url in urls:
        location = parse_blob_url(url)
        if given and given.rstrip("/").rsplit("/", 1)[-1].lower() == location.account.lower():
            result[location.url] = given
            continue
        if given and len({parse_blob_url(u).account for u in urls}) == 1:
            result[location.url] = given
            continue
        if location.account not in cache:
            cache[location.account] = (
                find_storage_account_id(compute_client, subscription_id=subscription_id, blob_url=url)
                if compute_client is not None
                else None
            )
        found = cache[location.account]
        if found is None:
            raise InputError(
                f"cannot find the storage account {location.account!r} of {location.url} in subscription "
                f"{subscription_id} through ARM: pass --storage-account-id "
                f"/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Storage/storageAccounts/{location.account}"
            )
        result[location.url] = found
    return result
