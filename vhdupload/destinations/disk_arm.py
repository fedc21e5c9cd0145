"""The ARM side of a managed disk: read, create, delete, grant and revoke access, each with its
errors in plain words; ARM's clock; and the data-plane details of the disk endpoint (the Entra
ID token of Entra-only disks, the refused CRC64 header)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from ..azure.arm import OPERATION_DEADLINES, OperationWatch, wait_for
from ..azure.credentials import is_loopback
from ..azure.direct_put import DISK_SCOPE, BearerSigner
from ..azure.error_map import arm_error
from ..azure.errors import error_code
from ..errors import ArmError, DestinationConflictError
from ..redact import register_secret


def compute_models() -> Any:
    """azure-mgmt-compute's models. They take a tenth of a second to load, so only a command
    that works on a managed disk loads them, when it first needs one."""
    from azure.mgmt.compute import models

    return models


#: States in which the disk can take (or is taking) an upload. The state names are ARM's
#: ``diskState`` values as azure-mgmt-compute's ``DiskState`` enum spells them (and as the az CLI
#: and Add-AzVhd compare them).
UPLOADABLE = ("ReadyToUpload", "ActiveUpload")


@dataclass(frozen=True)
class Granted:
    """What one grant returned: the disk's SAS URL and, for a grant with
    ``getSecureVMGuestStateSAS``, those of its VM guest state and metadata (each a secret)."""

    disk: str
    security_data: str | None = None
    security_metadata: str | None = None


def checked_sas(url: str, *, what: str, disk: str) -> str:
    """``url`` if it may carry data and its signature: https, or plain http to loopback only
    (an emulator); a SAS from ARM over http to any other host would travel in cleartext."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname)):
        return url
    raise ArmError(
        f"Azure returned the {what} URL of the managed disk {disk} as {parts.scheme or 'no scheme'}://"
        f"{parts.hostname or ''}, not https: refusing to send the disk's data and the URL's signature in "
        "cleartext; check --arm-endpoint (only an https endpoint, or a loopback emulator, is trusted)"
    )


class ArmClock:
    """ARM's clock, learnt from the ``Date`` header of each answer."""

    def __init__(self) -> None:
        self._skew = 0.0

    def hook(self, pipeline_response: Any, deserialized: Any, _headers: Any) -> Any:
        """A ``cls=`` callback for the generated client's operations."""
        self.learn(pipeline_response.http_response.headers.get("Date"))
        return deserialized

    def learn(self, date: str | None) -> None:
        if not date:
            return
        try:
            self._skew = parsedate_to_datetime(date).timestamp() - time.time()
        except (TypeError, ValueError):
            pass

    def now(self) -> float:
        return time.time() + self._skew


def az_delete_command(resource_group: str, name: str) -> str:
    return f"az disk delete --resource-group {resource_group} --name {name} --yes"


class DiskArm:
    """The ARM calls on one disk. ``disk`` is the last model read or written (None: absent)."""

    def __init__(self, compute: Any, *, resource_group: str, name: str,
                 watch: Callable[[str], OperationWatch] | None = None) -> None:
        self.compute = compute
        # each long-running operation's clock (announced, with a deadline): the connection's
        self._watch = watch or (lambda action: OperationWatch(action, deadline=OPERATION_DEADLINES["managed disk"]))
        self.resource_group = resource_group
        self.name = name
        self.clock = ArmClock()
        self.disk: Any = None

    @property
    def state(self) -> str | None:
        """ARM's ``diskState`` verbatim (``ActiveUpload``...), or None without a disk."""
        state = getattr(self.disk, "disk_state", None) if self.disk is not None else None
        return None if state is None else str(getattr(state, "value", state))

    def call(self, action: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except ArmError:
            raise
        except Exception as exc:  # azure-core's errors, in plain words
            raise arm_error(exc, action=action) from None

    def get(self) -> Any:
        try:
            self.disk = self.compute.disks.get(self.resource_group, self.name, cls=self.clock.hook)
        except ResourceNotFoundError:
            self.disk = None
        except HttpResponseError as exc:
            if exc.status_code != 404:
                raise arm_error(exc, action=f"read the managed disk {self.name}") from None
            self.disk = None
        except Exception as exc:
            raise arm_error(exc, action=f"read the managed disk {self.name}") from None
        return self.disk

    def create(self, disk: Any) -> None:
        action = f"create the managed disk {self.name}"
        self.disk = self.call(action, lambda: wait_for(
            self.compute.disks.begin_create_or_update(self.resource_group, self.name, disk), self._watch(action)))

    def update(self, update: Any, *, once: bool, action: str) -> None:
        self.disk = self.call(action, lambda: wait_for(self.compute.disks.begin_update(
            self.resource_group, self.name, update, **({"retry_total": 0} if once else {})), self._watch(action)))

    def delete(self) -> None:
        action = f"delete the managed disk {self.name}"
        self.call(action, lambda: wait_for(self.compute.disks.begin_delete(self.resource_group, self.name),
                                           self._watch(action)))
        self.disk = None

    def grant(self, access: str, seconds: int, *, guest_state: bool = False) -> Granted:
        """Grant ``access`` (Read or Write) for ``seconds``; the SAS URLs (secrets). With
        ``guest_state`` the grant also asks for the VM guest state's SAS
        (``getSecureVMGuestStateSAS``), as the az CLI's ``disk grant-access`` does by itself for a
        disk created ``UploadPreparedSecure`` (azure-cli vm/operations/disk.py, DiskGrantAccess)."""
        models = compute_models()
        data = models.GrantAccessData(access=access, duration_in_seconds=seconds)
        if guest_state:
            data.get_secure_vm_guest_state_sas = True
        try:
            result = wait_for(self.compute.disks.begin_grant_access(self.resource_group, self.name, data),
                              self._watch(f"grant {access.lower()} access to the managed disk {self.name}"))
        except ArmError:
            raise  # the wait's own deadline
        except Exception as exc:
            error = arm_error(exc, action=f"get {access.lower()} access to the managed disk {self.name}")
            if access == "Write" and error.status == 409:
                raise DestinationConflictError(
                    f"managed disk {self.name} (resource group {self.resource_group}) did not grant write access "
                    f"again ({error}); the upload cannot continue on it: add --overwrite to start afresh, or delete "
                    f"it with `{az_delete_command(self.resource_group, self.name)}`"
                ) from None
            raise error from None
        if access == "Write":
            self.disk_state_now("ActiveUpload")
        sas = getattr(result, "access_sas", None)
        if not sas:
            raise ArmError(f"Azure granted {access.lower()} access to {self.name} but returned no SAS")
        urls = [str(sas), getattr(result, "security_data_access_sas", None),
                getattr(result, "security_metadata_access_sas", None)]
        for url in urls:
            if url:
                register_secret(url.split("?", 1)[1] if "?" in url else url)
        names = ("access", "VM guest state access", "VM guest state metadata access")
        disk, data, metadata = (checked_sas(u, what=n, disk=self.name) if u else None for u, n in zip(urls, names))
        assert disk is not None
        return Granted(disk, data, metadata)

    def disk_state_now(self, state: str) -> None:
        """What a successful grant made of the disk's state (the last read is stale)."""
        if self.disk is not None:
            try:
                self.disk.disk_state = state
            except (AttributeError, TypeError):
                pass

    def revoke(self) -> None:
        action = f"revoke access to the managed disk {self.name}"
        self.call(action, lambda: wait_for(self.compute.disks.begin_revoke_access(self.resource_group, self.name),
                                           self._watch(action)))
        self.get()


class DiskTokenPolicy:
    """Adds an Entra ID token for ``https://disk.azure.com/`` (:data:`DISK_SCOPE`) to each request of the SDK's
    pipeline (reads, listings), beside the SAS in the URL: what a disk whose data access is
    Entra-ID-only wants. (Put Page, framed on the socket, adds the same itself.)"""

    def __init__(self, credential: Any) -> None:
        self._sign = BearerSigner(credential, scope=DISK_SCOPE)

    def on_request(self, request: Any) -> None:
        headers: dict[str, str] = {}
        self._sign(headers)
        request.http_request.headers.update(headers)


def refuses_crc_header(exc: HttpResponseError) -> bool:
    """Whether the endpoint answered that it does not take ``x-ms-content-crc64`` (a 400 naming
    the header), as opposed to a CRC mismatch (which the engine retries)."""
    if exc.status_code != 400:
        return False
    code = (error_code(exc) or "").lower()
    if "mismatch" in code:
        return False
    text = f"{code} {exc.message or ''} {getattr(exc.response, 'text', lambda: '')() if exc.response is not None else ''}"
    return "crc64" in text.lower() or code in ("unsupportedheader", "invalidheadervalue")
