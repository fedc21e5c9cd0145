"""Turn a destination and the Azure CLI's credential conventions into a ``BlobClient``.

Order (the Azure CLI's): a SAS in the URL; a SAS token given apart; a connection string
(option, then ``AZURE_STORAGE_CONNECTION_STRING``); an account key (option, then
``AZURE_STORAGE_KEY``); ``AZURE_STORAGE_SAS_TOKEN``; a credential object the caller passed (how tests and embedding programs inject one); finally
Entra ID through ``DefaultAzureCredential`` (which honours ``AZURE_TOKEN_CREDENTIALS``).

Plain ``http://`` is accepted only for a loopback emulator, so a key or token never crosses a
network in the clear. The SDK's own retries are switched off (``retry_total=0``): the upload
engine owns and counts retries. Its connection pool is widened so that many threads do not
queue for sockets.
"""

from __future__ import annotations

import ipaddress
import os
import re
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests
import requests.adapters
from azure.core.credentials import AzureNamedKeyCredential, TokenCredential
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import BlobClient

from ..errors import AuthenticationError, InputError
from ..redact import register_secret, strip_query
from .blob_names import check_blob_name
from .name_lookup import StorageRetryPolicy

#: The Azurite / storage emulator development account (public, documented values).
EMULATOR_ACCOUNT = "devstoreaccount1"
EMULATOR_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
EMULATOR_ACCOUNT_URL = f"http://127.0.0.1:10000/{EMULATOR_ACCOUNT}"

_SAS_MARKER = "sig="
#: Seconds one request may wait for an answer before the engine retries it (``--timeout``).
DEFAULT_REQUEST_TIMEOUT = 60


@dataclass(frozen=True)
class Destination:
    """A parsed destination: where the blob lives, and a SAS if the URL carried one."""

    account_url: str  # scheme://host[:port][/account for path-style], no trailing slash
    account_name: str | None
    container: str
    blob: str
    sas: str | None

    @property
    def url(self) -> str:
        """The blob URL without any SAS: the form that may be shown and stored."""
        return f"{self.account_url}/{quote(self.container)}/{quote(self.blob, safe='/')}"


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_scheme(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return
    if parts.scheme == "http":
        raise InputError(
            f"refusing plain http to {parts.hostname}: only a loopback emulator may use http; use https"
        )
    raise InputError(f"{strip_query(url)!r} is not an http(s) URL")


def _path_style(host: str | None) -> bool:
    """Emulators and IP endpoints put the account name in the path, not the host name."""
    if is_loopback(host):
        return True
    try:
        ipaddress.ip_address((host or "").strip("[]"))
        return True
    except ValueError:
        return False


_CONTAINER_NAME = re.compile(r"^(?:[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}|\$root|\$web)$")


def _checked(target: Destination) -> Destination:
    """Refuse a container name Azure would refuse, before any request (its own answer is a
    bare "400 OutOfRangeInput" or "InvalidResourceName")."""
    if not _CONTAINER_NAME.match(target.container):
        raise InputError(
            f"{target.container!r} is not a valid container name: 3 to 63 lowercase letters, digits and "
            "single hyphens, starting and ending with a letter or digit"
        )
    check_blob_name(target.blob)  # Azure's naming rules: length, control characters, trailing / or .
    return target


def parse_destination(dest: str, *, account_url: str | None = None) -> Destination:
    """Parse ``https://ACCOUNT.blob.core.windows.net/CONTAINER/NAME[?SAS]``, a path-style
    ``http://127.0.0.1:PORT/ACCOUNT/CONTAINER/NAME``, or ``CONTAINER/NAME`` with ``account_url``."""
    if "://" in dest:
        _check_scheme(dest)
        parts = urlsplit(dest)
        segments = [unquote(s) for s in parts.path.lstrip("/").split("/")]
        base = f"{parts.scheme}://{parts.netloc}"
        account = None
        if _path_style(parts.hostname):
            if len(segments) < 3 or not all(segments[:3]):
                raise InputError(f"{strip_query(dest)!r} needs the form http://HOST:PORT/ACCOUNT/CONTAINER/NAME")
            account, segments = segments[0], segments[1:]
            base = f"{base}/{quote(account)}"
        else:
            account = (parts.hostname or "").split(".", 1)[0] or None
        if len(segments) < 2 or not segments[0] or not segments[-1]:
            raise InputError(f"{strip_query(dest)!r} is not a blob URL: it needs a container and a blob name")
        sas = parts.query if _SAS_MARKER in parts.query else None
        return _checked(Destination(base, account, segments[0], "/".join(segments[1:]), sas))
    container, _, blob = dest.partition("/")
    if not container or not blob:
        raise InputError(f"{dest!r} is neither a blob URL nor CONTAINER/NAME")
    if not account_url:
        raise InputError(
            f"{dest!r} names no account: give --account-url, --connection-string or --emulator, or a full blob URL"
        )
    _check_scheme(account_url)
    parts = urlsplit(account_url.rstrip("/"))
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    if _path_style(parts.hostname):
        account = parts.path.strip("/").split("/")[0] or None
    else:
        account = (parts.hostname or "").split(".", 1)[0] or None
    sas = parts.query if _SAS_MARKER in parts.query else None
    return _checked(Destination(base, account, container, blob, sas))


def _connection_string_parts(connection_string: str) -> dict[str, str]:
    try:
        pairs = [item.split("=", 1) for item in connection_string.strip().rstrip(";").split(";") if item]
        settings = {key.strip().lower(): value.strip() for key, value in pairs}
    except ValueError:
        raise InputError("the connection string is malformed: expected KEY=VALUE;KEY=VALUE...") from None
    if settings.get("usedevelopmentstorage", "").lower() == "true":
        return {"blobendpoint": EMULATOR_ACCOUNT_URL, "accountname": EMULATOR_ACCOUNT, "accountkey": EMULATOR_KEY}
    if "blobendpoint" not in settings:
        name = settings.get("accountname")
        if not name:
            raise InputError("the connection string has neither BlobEndpoint nor AccountName")
        protocol = settings.get("defaultendpointsprotocol", "https")
        suffix = settings.get("endpointsuffix", "core.windows.net")
        settings["blobendpoint"] = f"{protocol}://{name}.blob.{suffix}"
    return settings


def client_options(*, threads: int = 8, timeout: float | None = None, **extra: Any) -> dict[str, Any]:
    """SDK options for an engine that owns retries and runs ``threads`` requests at once."""
    session = requests.Session()
    # requests looks the proxy and CA variables up in os.environ on every request, which cost
    # ~20 % of the client CPU per Put Page here. Read them once instead; only a NO_PROXY list
    # (which needs per-URL matching) keeps requests' own lookup.
    proxies = urllib.request.getproxies()
    if not any(k.lower() == "no_proxy" for k in os.environ) or not proxies:
        session.trust_env = False
        session.proxies.update(proxies)
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(threads * 2, 10), max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # A ready transport ignores the client's connection keywords: they go to the transport.
    connection: dict[str, Any] = {}
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and not session.trust_env:
        connection["connection_verify"] = bundle  # what requests would have read from the environment
    # azure-core waits 300 s for an answer by default; a request that hangs that long is
    # better retried (seen here: a busy Azurite left a first batch of Put Pages unanswered).
    timeout = timeout or DEFAULT_REQUEST_TIMEOUT
    connection["connection_timeout"] = min(timeout, 20)
    connection["read_timeout"] = timeout
    for name in ("connection_verify", "connection_cert", "connection_timeout", "read_timeout"):
        if name in extra:
            connection[name] = extra.pop(name)
    options: dict[str, Any] = {
        "retry_total": 0,
        "transport": RequestsTransport(session=session, session_owner=True, **connection),
        "max_single_put_size": 4 * 1024 * 1024,
    }
    options.update(extra)
    if options["retry_total"]:  # the SDK retries (registration's reads): never a name that does not resolve
        options.setdefault("retry_policy", StorageRetryPolicy(retry_total=options["retry_total"]))
    return options


def public_blob_endpoint(account_name: str) -> str:
    """The public cloud's blob endpoint of a storage account (what ``az storage`` assumes)."""
    if not re.fullmatch(r"[a-z0-9]{3,24}", account_name):
        raise InputError(f"{account_name!r} is not a storage account name: 3 to 24 lowercase letters and digits")
    return f"https://{account_name}.blob.core.windows.net"


def resolve_blob_client(
    dest: str,
    *,
    account_url: str | None = None,
    connection_string: str | None = None,
    account_key: str | None = None,
    credential: Any = None,
    emulator: bool = False,
    account_name: str | None = None,
    sas_token: str | None = None,
    **client_kwargs: Any,
) -> BlobClient:
    """A ``BlobClient`` for ``dest`` with the first credential that applies (see module doc).

    As ``az storage`` takes them: ``account_name`` (else ``AZURE_STORAGE_ACCOUNT``) places a
    ``CONTAINER/NAME`` in the public cloud, ``https://NAME.blob.core.windows.net``, unless
    ``account_url`` (the blob endpoint) is given; ``sas_token`` (else
    ``AZURE_STORAGE_SAS_TOKEN``) is a SAS for a URL that carries none.

    ``client_kwargs`` go to the SDK (``transport``, ``retry_total``...); without them the
    defaults of :func:`client_options` apply.
    """
    options = client_kwargs or client_options()
    connection_string = connection_string or None
    account_key = account_key or None
    sas_token = (sas_token or "").lstrip("?") or None
    if emulator:
        account_url = account_url or EMULATOR_ACCOUNT_URL
        if not (connection_string or account_key or credential or sas_token):
            account_key = EMULATOR_KEY
    # A credential object comes after the variables (the order above, az's): publish handed its
    # ARM sign-in down as one, and AZURE_STORAGE_CONNECTION_STRING / _KEY were never read.
    explicit = connection_string or account_key or sas_token
    if not explicit:
        connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING") or None
        if not connection_string:
            account_key = os.environ.get("AZURE_STORAGE_KEY") or None
        if not (connection_string or account_key):
            sas_token = (os.environ.get("AZURE_STORAGE_SAS_TOKEN") or "").lstrip("?") or None
    for secret in (account_key, connection_string, sas_token):
        register_secret(secret)

    settings = _connection_string_parts(connection_string) if connection_string else None
    if settings and not account_url and "://" not in dest:
        account_url = settings["blobendpoint"]
    account_name = account_name or os.environ.get("AZURE_STORAGE_ACCOUNT") or None
    if account_name and not account_url and "://" not in dest:
        account_url = public_blob_endpoint(account_name)
    target = parse_destination(dest, account_url=account_url)

    if target.sas:
        register_secret(target.sas)
        resolved: str | AzureNamedKeyCredential | TokenCredential = target.sas
    elif sas_token:
        resolved = sas_token
    elif settings is not None:
        if "accountkey" in settings:
            register_secret(settings["accountkey"])
            resolved = AzureNamedKeyCredential(settings.get("accountname") or target.account_name or "", settings["accountkey"])
        elif "sharedaccesssignature" in settings:
            register_secret(settings["sharedaccesssignature"])
            resolved = settings["sharedaccesssignature"]
        else:
            raise InputError("the connection string has neither AccountKey nor SharedAccessSignature")
    elif account_key:
        if not target.account_name:
            raise InputError("an account key needs the account name: give a full blob URL or --account-url")
        resolved = AzureNamedKeyCredential(target.account_name, account_key)
    elif credential is not None:
        resolved = credential
    else:
        resolved = _default_credential()
    if not isinstance(resolved, str) and not isinstance(resolved, AzureNamedKeyCredential):
        # A bearer token over plain http would be refused by the SDK and is unsafe anyway.
        if target.account_url.startswith("http://"):
            raise InputError("Entra ID tokens need https; use a key, a SAS or --emulator for an http emulator")
    try:
        return BlobClient(
            target.account_url,
            container_name=target.container,
            blob_name=target.blob,
            credential=resolved,
            **options,
        )
    except ValueError as exc:
        raise InputError(f"cannot use destination {target.url}: {exc}") from None


def _default_credential() -> TokenCredential:
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:  # pragma: no cover - a dependency
        raise AuthenticationError("azure-identity is not installed; give a SAS, a key or a connection string") from exc
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)

