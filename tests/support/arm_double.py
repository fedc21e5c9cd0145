"""A local stand-in for Azure Resource Manager's Compute API, on 127.0.0.1, for registration tests.

It speaks the long-running-operation protocol the real service speaks and ``azure-mgmt-compute``
polls:

- images, galleries, image definitions and image versions: ``PUT`` answers 201 with an
  ``Azure-AsyncOperation`` header; polling it says ``InProgress`` ``polls`` times, then
  ``Succeeded`` (or ``Failed`` with ``{"error": {"code", "message"}}``); the resource is then
  read with a ``GET``;
- disks: ``PUT`` answers 202 with a ``Location`` header that answers 202 while running and 200
  with the disk when done (or the error body with a 4xx).

Like Azure, it reads each source blob (from Azurite) and refuses one that is missing, not a page
blob, not a fixed VHD with a valid footer, or not a whole MiB, using Azure's own words. It also
serves ``GET`` of VMs (with an instance view) and the storage accounts list, and the resource
provider registration ``POST`` (see ``compute_unregistered``). Every request, whatever its method,
is recorded (``requests``) with its parsed JSON body. Polls come back with ``retry-after-ms`` so
tests never sleep for long.

Managed disks for direct upload (``createOption: Upload``) are served as Azure's disk endpoint
serves them; see :class:`ArmDouble`'s "managed-disk upload" section and ``tests/support/disk_proxy.py``:
``PUT`` validates ``uploadSizeBytes`` and the SKU and backs the disk with an empty page blob in
Azurite (container ``md-…``, blob ``abcd``, as the real ``accessSAS`` names them); ``POST
beginGetAccess``/``endGetAccess``, ``PATCH`` (tags) and ``DELETE`` are long-running operations
answered 202 + ``Location``; ``endGetAccess`` after an upload checks the VHD footer; the
``accessSAS`` points at the restricting proxy. Every answer carries a ``Date`` header on the
double's clock (``clock_offset``).
"""

from __future__ import annotations

import itertools
import json
import re
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobSasPermissions, BlobServiceClient, generate_blob_sas

from tests.support.disk_proxy import DiskProxy, start_disk_proxy
from tests.support.loopback_server import close, serve

MIB = 1024 * 1024
GIB = 1024 * MIB
#: What ``add_disk`` uses when not told (the registration tests' subscription and group).
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
DEFAULT_RESOURCE_GROUP = "images-rg"
DISK_SKUS = ("Standard_LRS", "Premium_LRS", "StandardSSD_LRS", "UltraSSD_LRS", "Premium_ZRS", "StandardSSD_ZRS", "PremiumV2_LRS")
_SKU_TIERS = {"Standard_LRS": "Standard", "Premium_LRS": "Premium", "StandardSSD_LRS": "Standard", "UltraSSD_LRS": "Ultra",
              "Premium_ZRS": "Premium", "StandardSSD_ZRS": "Standard", "PremiumV2_LRS": "Premium"}
MIN_UPLOAD_BYTES = 20 * MIB + 512
MAX_UPLOAD_BYTES = 32767 * GIB + 512
DISK_BLOB = "abcd"  # the blob name in every real accessSAS
_ASYNC_TYPES = {"images", "galleries", "galleries/images", "galleries/images/versions"}
_RESOURCE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/(?P<rest>.+)$", re.I
)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    at: float = 0.0  # the double's clock (time.time() + clock_offset) when it arrived


@dataclass
class _Operation:
    resource_path: str
    polls_left: int
    error: dict | None
    kind: str  # "async" | "location"
    outcome: tuple[int, Any] | None = None  # the final (status, body) of a POST/PATCH/DELETE


@dataclass
class UploadDisk:
    """What backs a managed disk made for upload: its page blob in Azurite."""

    path: str
    container: str
    blob: str
    upload_size: int
    bearer: bool = False  # dataAccessAuthMode AzureActiveDirectory: the proxy wants a token beside the SAS


@dataclass
class ArmDouble:
    """The double's state; ``url`` is what ``--arm-endpoint``/``base_url`` should point at.

    Managed-disk upload, for tests: ``add_disk`` (a disk already in a state: another tool's),
    ``disk``/``disk_state``/``set_disk_state``, ``disk_bytes``/``disk_blob`` (the backing blob
    straight from Azurite), ``active_grants``, ``disk_calls``/``disk_patches``, ``existing_disk_puts``;
    switches ``refuse_regrant``, ``refuse_update_while_uploading``, ``refuse_delete_while_granted``,
    ``fail_next`` (the next LRO, disk grant/revoke/update/delete included, fails with it and changes
    nothing), ``clock_offset``; ``proxy`` (``disk_proxy.DiskProxy``: ``requests``,
    ``outside_surface()``, ``refuse_crc64``, ``refuse_page_ranges``, ``bearer_tokens``).
    """

    azurite_connection_string: str
    polls: int = 2
    requests: list[RecordedRequest] = field(default_factory=list)
    resources: dict[str, dict] = field(default_factory=dict)
    storage_accounts: list[dict] = field(default_factory=list)
    fail_next: dict | None = None  # {"code":..., "message":...}: the next LRO ends Failed with it
    #: Like a subscription that never used Compute: its GETs answer 409 MissingSubscriptionRegistration
    #: until ``POST .../providers/Microsoft.Compute/register`` (which azure-mgmt-core sends by itself).
    compute_unregistered: bool = False
    #: Where operation (poll) URLs point; None: the double itself. A test sets a foreign http:// base
    #: to show that no token is sent over plain http anywhere but loopback.
    poll_base: str | None = None
    # -- managed-disk upload (see the section below) --
    #: Seconds added to the double's clock: the ``Date`` header of every answer and ``at`` of requests.
    clock_offset: float = 0.0
    #: Refuse a second ``beginGetAccess`` Write on an ``ActiveUpload`` disk (409), as Azure might.
    refuse_regrant: bool = False
    #: Refuse ``PATCH`` of a disk in ``ActiveUpload`` (409), as Azure might.
    refuse_update_while_uploading: bool = False
    #: Refuse ``DELETE`` of a disk with an active grant (409), as Azure might.
    refuse_delete_while_granted: bool = False
    #: Seconds every granted SAS lasts, whatever ``durationInSeconds`` asked (None: as asked): a
    #: long upload outliving its grant, in a test's time (Azurite then refuses the expired SAS).
    grant_seconds: int | None = None
    # -- gallery image versions' replication (see ``replication_of``) --
    #: Percent each region's replication advances per ``GET ... $expand=ReplicationStatus``.
    replication_step: int = 50
    #: Regions whose replication fails (region → ARM's message), until removed.
    failing_regions: dict[str, str] = field(default_factory=dict)
    #: Replication per version (lower-cased path): region → {"state", "progress", "details"}.
    replication: dict[str, dict[str, dict]] = field(default_factory=dict)
    #: Every ``PUT`` of a disk that already existed (the code should PATCH tags instead).
    existing_disk_puts: list[RecordedRequest] = field(default_factory=list)
    #: Upload disks by lower-cased resource path: their backing blob.
    upload_disks: dict[str, UploadDisk] = field(default_factory=dict)
    proxy: DiskProxy | None = None
    port: int = 0
    _operations: dict[str, _Operation] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what tests arrange ---------------------------------------------------------------
    def add_storage_account(self, *, subscription: str, resource_group: str, name: str, blob_endpoint: str) -> str:
        account_id = f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Storage/storageAccounts/{name}"
        self.storage_accounts.append(
            {"id": account_id, "name": name, "properties": {"primaryEndpoints": {"blob": blob_endpoint.rstrip("/") + "/"}}}
        )
        return account_id

    def add_vm(
        self, *, subscription: str, resource_group: str, name: str, location: str = "westeurope",
        power_state: str = "deallocated", generalized: bool = True, hyper_v_generation: str = "V2",
    ) -> str:
        vm_id = f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Compute/virtualMachines/{name}"
        statuses = [{"code": "ProvisioningState/succeeded"}, {"code": f"PowerState/{power_state}"}]
        if generalized:
            statuses.append({"code": "OSState/generalized", "displayStatus": "VM generalized"})
        self.resources[vm_id.lower()] = {
            "id": vm_id, "name": name, "type": "Microsoft.Compute/virtualMachines", "location": location,
            "properties": {"provisioningState": "Succeeded", "_instanceView": {"hyperVGeneration": hyper_v_generation, "statuses": statuses}},
        }
        return vm_id

    def arm_calls(self) -> list[RecordedRequest]:
        return list(self.requests)

    def puts(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "PUT"]

    def writes(self) -> list[RecordedRequest]:
        """Every request that could change something: anything but GET and HEAD."""
        return [r for r in self.requests if r.method not in ("GET", "HEAD")]

    def polls_of(self, kind: str) -> int:
        return sum(1 for r in self.requests if r.method == "GET" and f"/{kind}/" in r.path)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> "ArmDouble":
        self._server = serve(_Handler, self, name="arm-double")
        self.port = self._server.server_address[1]
        return self

    def stop(self) -> None:
        close(self._server)
        if self.proxy is not None:
            self.proxy.stop()

    # -- managed-disk upload ----------------------------------------------------------------
    def now(self) -> float:
        """The double's clock: what its ``Date`` headers say."""
        return time.time() + self.clock_offset

    def _service(self) -> BlobServiceClient:
        return BlobServiceClient.from_connection_string(self.azurite_connection_string)

    def ensure_proxy(self) -> DiskProxy:
        if self.proxy is None:
            upstream = urlsplit(self._service().url)
            self.proxy = start_disk_proxy(upstream_host=upstream.hostname or "127.0.0.1", upstream_port=upstream.port or 80)
        return self.proxy

    @staticmethod
    def disk_path(name: str, *, resource_group: str = DEFAULT_RESOURCE_GROUP, subscription: str = DEFAULT_SUBSCRIPTION) -> str:
        return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Compute/disks/{name}"

    def _find_disk(self, name: str, resource_group: str | None) -> str:
        """The lower-cased path of the disk ``name`` (in ``resource_group`` if given)."""
        found = [
            key for key, res in self.resources.items()
            if res.get("type") == "Microsoft.Compute/disks" and res.get("name", "").lower() == name.lower()
            and (resource_group is None or f"/resourcegroups/{resource_group.lower()}/" in key)
        ]
        if len(found) != 1:
            raise KeyError(f"{len(found)} disks named {name!r} in the double")
        return found[0]

    def disk(self, name: str, *, resource_group: str | None = None) -> dict:
        """The disk resource as ``GET`` would answer it (a copy)."""
        return json.loads(json.dumps(self.resources[self._find_disk(name, resource_group)]))

    def disk_state(self, name: str, *, resource_group: str | None = None) -> str:
        return self.resources[self._find_disk(name, resource_group)]["properties"].get("diskState", "")

    def set_disk_state(self, name: str, state: str, *, resource_group: str | None = None, managed_by: str | None = None) -> None:
        with self._lock:
            resource = self.resources[self._find_disk(name, resource_group)]
            resource["properties"]["diskState"] = state
            if managed_by is not None:
                resource["managedBy"] = managed_by

    def disk_blob(self, name: str, *, resource_group: str | None = None) -> BlobClient:
        """The disk's backing page blob, straight in Azurite (account key: no restrictions)."""
        backing = self.upload_disks[self._find_disk(name, resource_group)]
        return self._service().get_blob_client(backing.container, backing.blob)

    def disk_bytes(self, name: str, *, resource_group: str | None = None) -> bytes:
        """Everything the disk holds, footer included (small disks only: tests)."""
        return self.disk_blob(name, resource_group=resource_group).download_blob().readall()

    def active_grants(self, name: str, *, resource_group: str | None = None) -> list:
        backing = self.upload_disks[self._find_disk(name, resource_group)]
        proxy = self.ensure_proxy()
        with proxy._lock:
            return [g for g in proxy.grants if g.active and (g.container, g.blob) == (backing.container, backing.blob)]

    def disk_calls(self, name: str | None = None) -> list[RecordedRequest]:
        """ARM requests made to disks (any, or the one named), polls excluded."""
        return [
            r for r in self.requests
            if "/providers/microsoft.compute/disks/" in r.path.lower()
            and (name is None or r.path.lower().split("/disks/", 1)[1].split("/", 1)[0] == name.lower())
        ]

    def disk_patches(self, name: str) -> list[RecordedRequest]:
        """The PATCHes of the disk (tag updates), with ``at`` on the double's clock."""
        return [r for r in self.disk_calls(name) if r.method == "PATCH"]

    def add_disk(
        self, name: str, *, state: str = "Unattached", tags: dict[str, str] | None = None,
        upload_size_bytes: int = MIN_UPLOAD_BYTES, content: bytes = b"", footer: bool | None = None,
        resource_group: str = DEFAULT_RESOURCE_GROUP, subscription: str = DEFAULT_SUBSCRIPTION,
        location: str = "westeurope", sku: str = "Standard_LRS", managed_by: str | None = None,
        properties: dict | None = None,
    ) -> dict:
        """Put a disk straight into ``state`` ("another tool's disk"), backed by a page blob that
        holds ``content`` at 0 and, unless ``footer`` is False (default: for every state but
        ReadyToUpload/ActiveUpload), a valid fixed footer. ``properties`` are merged into the disk's
        (e.g. ``{"osType": "Linux", "dataAccessAuthMode": "AzureActiveDirectory"}``). ``ActiveUpload``/``ActiveSAS`` disks get
        an active grant of their own (another tool's SAS). ``Attached`` gets ``managedBy``."""
        path = self.disk_path(name, resource_group=resource_group, subscription=subscription)
        resource = self._upload_disk_resource(
            path, name, {"location": location, "tags": dict(tags or {}), "sku": {"name": sku},
                         "properties": {**(properties or {}),
                                        "creationData": {"createOption": "Upload", "uploadSizeBytes": upload_size_bytes}}},
        )
        resource["properties"]["diskState"] = state
        resource["properties"]["provisioningState"] = "Succeeded"
        if state == "Attached":
            resource["managedBy"] = managed_by or (
                f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Compute/virtualMachines/vm1"
            )
        backing = self.upload_disks[path.lower()]
        blob = self._service().get_blob_client(backing.container, backing.blob)
        if content:
            padded = content + b"\0" * (-len(content) % 512)
            blob.upload_page(padded, offset=0, length=len(padded))
        if footer if footer is not None else state not in ("ReadyToUpload", "ActiveUpload"):
            blob.upload_page(_fixed_footer(upload_size_bytes - 512), offset=upload_size_bytes - 512, length=512)
        if state in ("ActiveUpload", "ActiveSAS"):
            self._grant(backing, write=state == "ActiveUpload", duration=3600)
        with self._lock:
            self.resources[path.lower()] = resource
        return json.loads(json.dumps(resource))

    def _upload_disk_resource(self, path: str, name: str, body: dict) -> dict:
        """A new Upload disk for a validated body, with its empty backing page blob."""
        props = body.get("properties") or {}
        size = props["creationData"]["uploadSizeBytes"]
        container = f"md-{uuid.uuid4().hex[:12]}"
        service = self._service()
        service.create_container(container)
        service.get_blob_client(container, DISK_BLOB).create_page_blob(size)
        bearer = props.get("dataAccessAuthMode") == "AzureActiveDirectory"
        with self._lock:
            self.upload_disks[path.lower()] = UploadDisk(path, container, DISK_BLOB, size, bearer)
        sku = (body.get("sku") or {}).get("name") or "Standard_LRS"
        data_size = size - 512
        resource = {
            **json.loads(json.dumps(body)),
            "id": path, "name": name, "type": "Microsoft.Compute/disks",
            "sku": {"name": sku, "tier": _SKU_TIERS[sku]},
        }
        resource.setdefault("tags", {})
        resource["properties"] = {
            **json.loads(json.dumps(props)),
            "diskSizeGB": -(-data_size // GIB),
            "diskSizeBytes": data_size,
            "uniqueId": str(uuid.uuid4()),
            "timeCreated": datetime.fromtimestamp(self.now(), timezone.utc).isoformat(),
            "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
            "networkAccessPolicy": props.get("networkAccessPolicy", "AllowAll"),
            "publicNetworkAccess": props.get("publicNetworkAccess", "Enabled"),
            "diskState": "ReadyToUpload",
            "provisioningState": "Creating",
        }
        return resource

    def _grant(self, backing: UploadDisk, *, write: bool, duration: int) -> str:
        """A real Azurite SAS for the backing blob, registered at the proxy; the accessSAS URL."""
        service = self._service()
        start = datetime.now(timezone.utc) - timedelta(minutes=5)
        sas = generate_blob_sas(
            service.account_name, backing.container, backing.blob, account_key=service.credential.account_key,
            permission=BlobSasPermissions(read=True, write=write), start=start,
            expiry=datetime.now(timezone.utc) + timedelta(seconds=self.grant_seconds or duration),
        )
        sig = parse_qs(sas)["sig"][0]
        proxy = self.ensure_proxy()
        proxy.allow(sig=sig, container=backing.container, blob=backing.blob, write=write, bearer=backing.bearer)
        return f"{proxy.url}/{service.account_name}/{backing.container}/{backing.blob}?{sas}"

    def upload_refusal(self, body: dict) -> tuple[str, str, str] | None:
        """(code, message, target) for an Upload disk body Azure would refuse, or None."""
        props = body.get("properties") or {}
        creation = props.get("creationData") or {}
        if "location" not in body:
            return "LocationRequired", "The location property is required for this definition.", "location"
        size = creation.get("uploadSizeBytes")
        target = "disk.creationData.uploadSizeBytes"
        if size is None:
            return "InvalidParameter", "Required parameter 'uploadSizeBytes' is missing (null).", target
        if not isinstance(size, int) or isinstance(size, bool):
            return "InvalidParameter", f"The value '{size}' of parameter 'uploadSizeBytes' is not a valid integer.", target
        if size < MIN_UPLOAD_BYTES or size > MAX_UPLOAD_BYTES:
            return ("InvalidParameter",
                    f"The specified upload size {size} bytes is out of range: the size must be between {MIN_UPLOAD_BYTES} "
                    f"(20 MiB + 512 bytes) and {MAX_UPLOAD_BYTES} (32767 GiB + 512 bytes).", target)
        if (size - 512) % MIB:
            return ("InvalidParameter",
                    f"The specified upload size {size} bytes is not valid: it must be a whole number of MiB plus 512 bytes "
                    "for the VHD footer.", target)
        sku = (body.get("sku") or {}).get("name")
        if sku is not None and sku not in DISK_SKUS:
            return ("InvalidParameter",
                    f"The value '{sku}' is not valid for parameter 'sku.name'. Allowed values are: {', '.join(DISK_SKUS)}.",
                    "sku.name")
        os_type = props.get("osType")
        if os_type is not None and str(os_type).lower() not in ("linux", "windows"):
            return "InvalidParameter", f"The value '{os_type}' is not valid for parameter 'osType'.", "osType"
        generation = props.get("hyperVGeneration")
        if generation is not None and generation not in ("V1", "V2"):
            return "InvalidParameter", f"The value '{generation}' is not valid for parameter 'hyperVGeneration'.", "hyperVGeneration"
        mode = props.get("dataAccessAuthMode")
        if mode is not None and mode not in ("AzureActiveDirectory", "None"):
            return "InvalidParameter", f"The value '{mode}' is not valid for parameter 'dataAccessAuthMode'.", "dataAccessAuthMode"
        security = (props.get("securityProfile") or {}).get("securityType")
        if security == "TrustedLaunch" and generation != "V2":
            return ("InvalidParameter",
                    "Security type 'TrustedLaunch' is only supported for disks with hyperVGeneration 'V2'.",
                    "securityProfile.securityType")
        return None

    # -- what Azure checks ----------------------------------------------------------------
    def blob_problem(self, url: str) -> str | None:
        """Azure's complaint about a source blob, or None when it would take it."""
        path = [p for p in urlsplit(url).path.split("/") if p]
        if len(path) < 3:
            return f"The blob URI {url} is not valid."
        service = BlobServiceClient.from_connection_string(self.azurite_connection_string)
        blob = service.get_blob_client(path[1], "/".join(path[2:]))
        try:
            props = blob.get_blob_properties()
        except ResourceNotFoundError:
            return f"The blob {url} does not exist."
        if props.blob_type != "PageBlob":
            return f"The blob {url} is not a page blob."
        size = props.size
        footer = blob.download_blob(offset=max(0, size - 512), length=min(512, size)).readall() if size else b""
        if len(footer) != 512 or footer[:8] != b"conectix":
            return f"The specified cookie value in VHD footer indicates that disk '{url}' with blob {url} is not a supported VHD. Disk is expected to have cookie value 'conectix'."
        checksum = ~sum(footer[:64] + b"\0\0\0\0" + footer[68:]) & 0xFFFFFFFF
        if struct.unpack(">I", footer[64:68])[0] != checksum:
            return f"The VHD footer of {url} has a wrong checksum."
        if struct.unpack(">I", footer[60:64])[0] != 2:
            return f"Disk '{url}' is of Dynamic VHD type. Please retry with fixed VHD type."
        virtual = struct.unpack(">Q", footer[48:56])[0]
        if virtual % MIB or size != virtual + 512:
            return f"Disk '{url}' has an unsupported virtual size of {virtual} bytes. The size must be a whole number (in MBs)."
        return None

    def source_disk_problem(self, disk_id: str) -> str | None:
        """Azure's complaint about a managed disk given as an image source, or None."""
        resource = self.resources.get(str(disk_id).lower())
        if resource is None or resource.get("type") != "Microsoft.Compute/disks":
            return f"The Resource '{disk_id}' was not found."
        state = resource["properties"].get("diskState")
        if state != "Unattached":
            return f"Disk '{resource['name']}' is in state '{state}'; an image can only be created from an unattached disk."
        return None

    def refusal(self, rest: str, body: dict) -> str | None:
        """Validate a PUT body the way the Compute API would."""
        props = body.get("properties") or {}
        if "location" not in body:
            return "The location property is required for this definition."
        urls: list[str] = []
        if rest.startswith("images/"):
            storage = props.get("storageProfile") or {}
            if "sourceVirtualMachine" in props:
                return None
            os_disk = storage.get("osDisk") or {}
            if os_disk.get("osState") != "Generalized":
                return "Managed images can only be created from generalized OS disks (osState must be Generalized)."
            luns = [d.get("lun") for d in storage.get("dataDisks") or []]
            if len(set(luns)) != len(luns):
                return "Data disks must have unique LUNs."
            urls = []
            for disk in [os_disk, *(storage.get("dataDisks") or [])]:
                if "managedDisk" in disk:  # an image from managed disks: by ID
                    problem = self.source_disk_problem((disk.get("managedDisk") or {}).get("id", ""))
                    if problem:
                        return problem
                else:
                    urls.append(disk.get("blobUri", ""))
        elif rest.startswith("galleries/") and rest.count("/") == 3:  # an image definition
            return definition_refusal(props)
        elif "/versions/" in rest:
            storage = props.get("storageProfile") or {}
            sources = [(storage.get("osDiskImage") or {}).get("source") or {}]
            sources += [d.get("source") or {} for d in storage.get("dataDiskImages") or []]
            known = {a["id"].lower() for a in self.storage_accounts}
            for source in sources:
                if "id" in source:  # a managed disk (or snapshot) by ID
                    problem = self.source_disk_problem(source["id"])
                    if problem:
                        return problem
                    continue
                if str(source.get("storageAccountId", "")).lower() not in known:
                    return f"The storage account {source.get('storageAccountId')!r} was not found."
            urls = [s.get("uri", "") for s in sources if "id" not in s]
        elif rest.startswith("disks/"):
            creation = props.get("creationData") or {}
            if creation.get("createOption") != "Import" or not creation.get("storageAccountId"):
                return "Required parameter 'storageAccountId' is missing (null)."
            urls = [creation.get("sourceUri", "")]
        for url in urls:
            problem = self.blob_problem(url)
            if problem:
                return problem
        return None


    def start_replication(self, path: str, body: dict) -> None:
        """A version was PUT: each of its target regions starts (an update restarts failed ones)."""
        profile = (body.get("properties") or {}).get("publishingProfile") or {}
        regions = [str(r.get("name", "")).lower().replace(" ", "") for r in profile.get("targetRegions") or []]
        with self._lock:
            known = self.replication.setdefault(path.lower(), {})
            for region in regions:
                if known.get(region, {}).get("state") in (None, "Failed"):
                    known[region] = {"state": "InProgress", "progress": 0, "details": None}
            for region in [r for r in known if r not in regions]:
                del known[region]

    def replication_of(self, path: str) -> dict:
        """``replicationStatus`` as ARM gives it, one step further than last time."""
        with self._lock:
            regions = self.replication.get(path.lower(), {})
            for region, status in regions.items():
                if status["state"] != "InProgress":
                    continue
                status["progress"] = min(100, status["progress"] + self.replication_step)
                if region in self.failing_regions and status["progress"] >= 50:
                    status.update(state="Failed", details=self.failing_regions[region])
                elif status["progress"] >= 100:
                    status["state"] = "Completed"
            states = {s["state"] for s in regions.values()}
            aggregated = ("Failed" if "Failed" in states else "InProgress" if "InProgress" in states
                          else "Completed" if states else "Unknown")
            return {"aggregatedState": aggregated, "summary": [
                {"region": region, "state": s["state"], "progress": s["progress"], **({"details": s["details"]} if s["details"] else {})}
                for region, s in regions.items()
            ]}


#: Gallery ``SecurityType`` values the Compute API takes (GalleryImageFeature).
GALLERY_SECURITY_TYPES = {"standard", "trustedlaunch", "trustedlaunchsupported", "confidentialvm",
                          "confidentialvmsupported", "trustedlaunchandconfidentialvmsupported"}


def definition_refusal(props: dict) -> str | None:
    """What the Compute API says of an image definition's features, or None."""
    features = {str(f.get("name", "")).lower(): str(f.get("value", "")) for f in props.get("features") or []}
    security = features.get("securitytype")
    if security is not None and security.lower() not in GALLERY_SECURITY_TYPES:
        return f"The value '{security}' for feature 'SecurityType' is invalid."
    if security is not None and security.lower() != "standard" and props.get("hyperVGeneration", "V1") != "V2":
        return f"The feature 'SecurityType' with value '{security}' is supported only for Hyper-V Generation V2 images."
    controllers = features.get("diskcontrollertypes")
    if controllers is not None and not {c.strip().lower() for c in controllers.split(",")} <= {"scsi", "nvme"}:
        return f"The value '{controllers}' for feature 'DiskControllerTypes' is invalid."
    return None


def _fixed_footer(virtual_size: int) -> bytes:
    from vhdupload.vhd import make_fixed_footer

    return make_fixed_footer(virtual_size=virtual_size).to_bytes()


class _Handler(BaseHTTPRequestHandler):
    state: ArmDouble
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:  # the Date header, on the double's clock
        return formatdate(self.state.now() if timestamp is None else timestamp, usegmt=True)

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", "double")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"error": {"code": code, "message": message}})

    def _record(self) -> tuple[str, dict, Any]:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        self._recorded = RecordedRequest(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body, self.state.now())
        with self.state._lock:
            self.state.requests.append(self._recorded)
        return parts.path, parse_qs(parts.query), body

    def _authorized(self) -> bool:
        if not str(self.headers.get("Authorization", "")).startswith("Bearer "):
            self._error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802
        path, query, _ = self._record()
        if not self._authorized():
            return
        state = self.state
        if re.match(r"^/subscriptions/[^/]+/providers/Microsoft\.Storage/storageAccounts$", path, re.I):
            return self._send(200, {"value": state.storage_accounts})
        if re.match(r"^/subscriptions/[^/]+/providers/Microsoft\.Compute$", path, re.I):
            state_text = "NotRegistered" if state.compute_unregistered else "Registered"
            return self._send(200, {"namespace": "Microsoft.Compute", "registrationState": state_text})
        match = re.match(r"^/operations/(?P<kind>async|location)/(?P<op>\d+)$", path)
        if match:
            return self._poll(match["kind"], match["op"])
        if state.compute_unregistered and "/providers/microsoft.compute/" in path.lower():
            return self._error(
                409, "MissingSubscriptionRegistration",
                "The subscription is not registered to use namespace 'Microsoft.Compute'.",
            )
        resource = state.resources.get(path.lower())
        if resource is None:
            return self._error(404, "ResourceNotFound", f"The Resource '{path}' was not found.")
        resource = json.loads(json.dumps(resource))
        if "/versions/" in path.lower() and "ReplicationStatus" in (query.get("$expand") or []):
            resource["properties"]["replicationStatus"] = state.replication_of(path)
        view = resource["properties"].pop("_instanceView", None)
        if view is not None and "instanceView" in (query.get("$expand") or []):
            resource["properties"]["instanceView"] = view
        return self._send(200, resource)

    def _poll(self, kind: str, op_id: str) -> None:
        state = self.state
        with state._lock:
            op = state._operations.get(op_id)
            if op is None:
                return self._error(404, "NotFound", "no such operation")
            running = op.polls_left > 0
            op.polls_left -= 1
        fast = {"retry-after-ms": "10"}
        if kind == "async":
            if running:
                return self._send(200, {"name": op_id, "status": "InProgress"}, fast)
            if op.error:
                return self._send(200, {"name": op_id, "status": "Failed", "error": op.error})
            self._finish(op)
            return self._send(200, {"name": op_id, "status": "Succeeded"})
        if running:
            return self._send(202, None, {**fast, "Location": self._op_url("location", op_id)})
        if op.error:
            return self._send(400, {"error": op.error})
        if op.outcome is not None:
            return self._send(*op.outcome)
        return self._send(200, self._finish(op))

    def _finish(self, op: _Operation) -> dict:
        with self.state._lock:
            resource = self.state.resources[op.resource_path.lower()]
            resource["properties"]["provisioningState"] = "Succeeded"
            return resource

    def _op_url(self, kind: str, op_id: str) -> str:
        return f"{self.state.poll_base or self.state.url}/operations/{kind}/{op_id}?api-version=2026-04-01"

    def do_POST(self) -> None:  # noqa: N802
        path, _, body = self._record()
        if not self._authorized():
            return
        if re.match(r"^/subscriptions/[^/]+/providers/Microsoft\.Compute/register$", path, re.I):
            self.state.compute_unregistered = False
            return self._send(200, {"namespace": "Microsoft.Compute", "registrationState": "Registered"})
        match = re.match(r"^(?P<disk>.+/providers/Microsoft\.Compute/disks/[^/]+)/(?P<action>beginGetAccess|endGetAccess)$", path, re.I)
        if match:
            resource = self.state.resources.get(match["disk"].lower())
            if resource is None:
                return self._error(404, "ResourceNotFound", f"The Resource '{match['disk']}' was not found.")
            if match["action"].lower() == "begingetaccess":
                return self._begin_get_access(resource, body if isinstance(body, dict) else {})
            return self._end_get_access(resource)
        return self._error(405, "MethodNotAllowed", f"POST {path} is not served by the double")

    # -- managed disks: grant, revoke, update, delete ------------------------------------------
    def _lro(self, path: str, outcome: tuple[int, Any] | None, error: dict | None = None) -> None:
        """Answer 202 + Location; the polls end with ``outcome`` (or the ``error`` as a 400)."""
        with self.state._lock:
            op_id = str(next(self.state._ids))
            self.state._operations[op_id] = _Operation(path, self.state.polls, error, "location", outcome)
        self._send(202, None, {"Location": self._op_url("location", op_id), "retry-after-ms": "10"})

    def _not_allowed(self, operation: str, resource: dict, state: str) -> None:
        self._error(
            409, "OperationNotAllowed",
            f"Operation '{operation}' is not allowed on disk '{resource['name']}' since the disk is in state '{state}'.",
        )

    def _failed_as_told(self, path: str) -> bool:
        """``fail_next`` set: this operation ends Failed with it and changes nothing."""
        with self.state._lock:
            error, self.state.fail_next = self.state.fail_next, None
        if error is None:
            return False
        self._lro(path, None, error)
        return True

    def _begin_get_access(self, resource: dict, body: dict) -> None:
        state = self.state
        access = body.get("access")
        duration = body.get("durationInSeconds")
        if access not in ("Write", "Read"):
            return self._error(400, "InvalidParameter", f"The value '{access}' is not valid for parameter 'access'. Allowed values are: Read, Write.")
        if not isinstance(duration, int) or isinstance(duration, bool) or duration <= 0:
            return self._error(400, "InvalidParameter", f"The value '{duration}' is not valid for parameter 'durationInSeconds'.")
        backing = state.upload_disks.get(resource["id"].lower())
        disk_state = resource["properties"].get("diskState", "Unattached")
        if backing is None:
            return self._error(409, "OperationNotAllowed", f"The disk '{resource['name']}' has no data the double can grant access to.")
        if access == "Write":
            if disk_state == "ActiveUpload" and state.refuse_regrant:
                return self._error(
                    409, "OperationNotAllowed",
                    f"Disk '{resource['name']}' is already in state 'ActiveUpload' with an active SAS; "
                    "revoke access before granting it again.",
                )
            if disk_state not in ("ReadyToUpload", "ActiveUpload"):
                return self._not_allowed("BeginGetAccess", resource, disk_state)
            new_state = "ActiveUpload"
        else:
            if disk_state not in ("Unattached", "ActiveSAS"):
                return self._not_allowed("BeginGetAccess", resource, disk_state)
            new_state = "ActiveSAS"
        if self._failed_as_told(resource["id"]):
            return
        url = state._grant(backing, write=access == "Write", duration=duration)
        with state._lock:
            resource["properties"]["diskState"] = new_state
        self._lro(resource["id"], (200, {"accessSAS": url}))

    def _end_get_access(self, resource: dict) -> None:
        state = self.state
        backing = state.upload_disks.get(resource["id"].lower())
        disk_state = resource["properties"].get("diskState", "Unattached")
        if backing is None or disk_state not in ("ActiveUpload", "ActiveSAS"):
            return self._lro(resource["id"], (200, None))  # nothing granted: nothing to end
        if self._failed_as_told(resource["id"]):
            return
        state.ensure_proxy().revoke(container=backing.container, blob=backing.blob)
        if disk_state == "ActiveUpload":
            problem = _footer_problem(state, backing, resource["name"])
            if problem:  # the grant is gone, the disk stays ActiveUpload
                return self._lro(resource["id"], None, {"code": "InvalidVhd", "message": problem})
        with state._lock:
            resource["properties"]["diskState"] = "Unattached"
        self._lro(resource["id"], (200, None))

    def do_PATCH(self) -> None:  # noqa: N802
        path, _, body = self._record()
        if not self._authorized():
            return
        state = self.state
        resource = state.resources.get(path.lower())
        if resource is None or resource.get("type") != "Microsoft.Compute/disks":
            return self._error(404, "ResourceNotFound", f"The Resource '{path}' was not found.")
        if not isinstance(body, dict):
            return self._error(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
        disk_state = resource["properties"].get("diskState")
        if disk_state == "ActiveUpload" and state.refuse_update_while_uploading:
            return self._not_allowed("Update", resource, disk_state)
        sku = (body.get("sku") or {}).get("name")
        if sku is not None and sku not in DISK_SKUS:
            return self._error(400, "InvalidParameter", f"The value '{sku}' is not valid for parameter 'sku.name'.")
        if self._failed_as_told(path):
            return
        with state._lock:
            if "tags" in body:  # ARM replaces the tags object whole
                resource["tags"] = dict(body["tags"] or {})
            if sku is not None:
                resource["sku"] = {"name": sku, "tier": _SKU_TIERS[sku]}
            for key, value in (body.get("properties") or {}).items():
                resource["properties"][key] = value
            snapshot = json.loads(json.dumps(resource))
        self._lro(path, (200, snapshot))

    def do_DELETE(self) -> None:  # noqa: N802
        path, _, _ = self._record()
        if not self._authorized():
            return
        state = self.state
        if "/providers/microsoft.compute/disks/" not in path.lower():
            return self._delete_async(path)
        resource = state.resources.get(path.lower())
        if resource is None:
            return self._send(204)  # ARM: deleting what is not there succeeds
        disk_state = resource["properties"].get("diskState")
        if disk_state == "Attached" or resource.get("managedBy"):
            return self._error(
                409, "OperationNotAllowed",
                f"Disk {resource['name']} is attached to VM {resource.get('managedBy', '')}.",
            )
        backing = state.upload_disks.get(path.lower())
        if backing is not None and state.refuse_delete_while_granted and state.active_grants(resource["name"]):
            return self._not_allowed("Delete", resource, disk_state or "")
        if self._failed_as_told(path):
            return
        with state._lock:
            state.resources.pop(path.lower(), None)
            state.upload_disks.pop(path.lower(), None)
        if backing is not None:
            state.ensure_proxy().revoke(container=backing.container, blob=backing.blob)
            state._service().delete_container(backing.container)
        self._lro(path, (200, None))

    def _delete_async(self, path: str) -> None:
        """DELETE of an image, gallery, image definition or version: 202 + Location, then gone;
        204 when there is nothing to delete (ARM's answer)."""
        state = self.state
        match = _RESOURCE.match(path)
        kind = "/".join(match["rest"].split("/")[0::2]) if match else ""
        if kind not in _ASYNC_TYPES:
            return self._error(405, "MethodNotAllowed", f"DELETE {path} is not served by the double")
        if state.resources.get(path.lower()) is None:
            return self._send(204)
        children = [k for k in state.resources if k.startswith(path.lower() + "/")]
        if children:
            return self._error(409, "CannotDeleteResource", f"Can not delete resource before nested resources are deleted.")
        if self._failed_as_told(path):
            return
        with state._lock:
            state.resources.pop(path.lower(), None)
        self._lro(path, (200, None))

    def do_PUT(self) -> None:  # noqa: N802
        path, _, body = self._record()
        if not self._authorized():
            return
        match = _RESOURCE.match(path)
        if not match or not isinstance(body, dict):
            return self._error(400, "InvalidRequest", f"unsupported PUT {path}")
        rest = match["rest"]
        segments = rest.split("/")
        kind = "/".join(segments[0::2])
        if kind not in _ASYNC_TYPES | {"disks"}:
            return self._error(400, "InvalidResourceType", f"The resource type '{kind}' is not supported here.")
        parent = "/".join(path.split("/")[:-2])
        if kind.startswith("galleries/") and parent.lower() not in self.state.resources:
            return self._error(404, "ParentResourceNotFound", f"Can not perform requested operation on nested resource. Parent resource '{segments[-3]}' not found.")
        existing = self.state.resources.get(path.lower())
        if kind == "disks" and existing is not None:
            with self.state._lock:
                self.state.existing_disk_puts.append(self._recorded)
        if kind == "disks" and ((body.get("properties") or {}).get("creationData") or {}).get("createOption") == "Upload":
            return self._put_upload_disk(path, segments[-1], body, existing)
        problem = self.state.refusal(rest, body)
        if problem:
            return self._error(400, "InvalidParameter", problem)
        resource = {
            "id": path, "name": segments[-1], "type": f"Microsoft.Compute/{kind}",
            **json.loads(json.dumps(body)),
        }
        resource.setdefault("properties", {})["provisioningState"] = "Creating"
        if kind == "galleries/images/versions":
            self.state.start_replication(path, body)
        with self.state._lock:
            self.state.resources[path.lower()] = resource
            op_id = str(next(self.state._ids))
            error, self.state.fail_next = self.state.fail_next, None
            op_kind = "location" if kind == "disks" else "async"
            self.state._operations[op_id] = _Operation(path, self.state.polls, error, op_kind)
        if op_kind == "location":
            return self._send(202, None, {"Location": self._op_url("location", op_id), "retry-after-ms": "10"})
        return self._send(201, resource, {"Azure-AsyncOperation": self._op_url("async", op_id), "retry-after-ms": "10"})


    def _put_upload_disk(self, path: str, name: str, body: dict, existing: dict | None) -> None:
        state = self.state
        refusal = state.upload_refusal(body)
        if refusal:
            code, message, target = refusal
            return self._send(400, {"error": {"code": code, "message": message, "target": target}})
        if existing is not None:  # ARM's update: the data and its state stay
            old_creation = existing["properties"].get("creationData") or {}
            new_creation = body["properties"]["creationData"]
            if (old_creation.get("createOption"), old_creation.get("uploadSizeBytes")) != (
                new_creation.get("createOption"), new_creation.get("uploadSizeBytes")
            ):
                return self._error(409, "PropertyChangeNotAllowed", "Changing property 'creationData' is not allowed.")
            with state._lock:
                for key in ("tags", "zones"):
                    if key in body:
                        existing[key] = json.loads(json.dumps(body[key]))
                sku = (body.get("sku") or {}).get("name")
                if sku:
                    existing["sku"] = {"name": sku, "tier": _SKU_TIERS[sku]}
                for key, value in body["properties"].items():
                    if key != "creationData":
                        existing["properties"][key] = value
                snapshot = json.loads(json.dumps(existing))
            return self._lro(path, (200, snapshot))
        resource = state._upload_disk_resource(path, name, body)
        with state._lock:
            state.resources[path.lower()] = resource
            op_id = str(next(state._ids))
            error, state.fail_next = state.fail_next, None
            state._operations[op_id] = _Operation(path, state.polls, error, "location")
        return self._send(202, None, {"Location": self._op_url("location", op_id), "retry-after-ms": "10"})


def _footer_problem(state: ArmDouble, backing: UploadDisk, name: str) -> str | None:
    """What ``endGetAccess`` says of the disk's last 512 bytes, or None for a valid fixed footer."""
    blob = state._service().get_blob_client(backing.container, backing.blob)
    size = backing.upload_size
    footer = blob.download_blob(offset=size - 512, length=512).readall()
    where = f"disk '{name}' with blob https://md-impexp.blob.storage.azure.net/{backing.container}/{backing.blob}"
    if footer[:8] != b"conectix":
        return (f"The specified cookie value in VHD footer indicates that {where} is not a supported VHD. "
                "Disk is expected to have cookie value 'conectix'.")
    checksum = ~sum(footer[:64] + b"\0\0\0\0" + footer[68:]) & 0xFFFFFFFF
    if struct.unpack(">I", footer[64:68])[0] != checksum:
        return f"The VHD footer checksum of {where} is not valid."
    if struct.unpack(">I", footer[60:64])[0] != 2:
        return f"The VHD footer of {where} is not of a fixed VHD; only fixed VHDs are supported."
    current = struct.unpack(">Q", footer[48:56])[0]
    if current != size - 512:
        return (f"The VHD footer of {where} gives a current size of {current} bytes, but the disk holds "
                f"{size - 512} bytes before the footer.")
    return None


def start_arm_double(*, azurite_connection_string: str, polls: int = 2) -> ArmDouble:
    return ArmDouble(azurite_connection_string=azurite_connection_string, polls=polls).start()
