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
"""

from __future__ import annotations

import itertools
import json
import re
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

MIB = 1024 * 1024
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


@dataclass
class _Operation:
    resource_path: str
    polls_left: int
    error: dict | None
    kind: str  # "async" | "location"


@dataclass
class ArmDouble:
    """The double's state; ``url`` is what ``--arm-endpoint``/``base_url`` should point at."""

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
        double = self

        class Handler(_Handler):
            state = double

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="arm-double", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

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
            urls = [os_disk.get("blobUri", "")] + [d.get("blobUri", "") for d in storage.get("dataDisks") or []]
            luns = [d.get("lun") for d in storage.get("dataDisks") or []]
            if len(set(luns)) != len(luns):
                return "Data disks must have unique LUNs."
        elif "/versions/" in rest:
            storage = props.get("storageProfile") or {}
            sources = [(storage.get("osDiskImage") or {}).get("source") or {}]
            sources += [d.get("source") or {} for d in storage.get("dataDiskImages") or []]
            known = {a["id"].lower() for a in self.storage_accounts}
            for source in sources:
                if str(source.get("storageAccountId", "")).lower() not in known:
                    return f"The storage account {source.get('storageAccountId')!r} was not found."
            urls = [s.get("uri", "") for s in sources]
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


class _Handler(BaseHTTPRequestHandler):
    state: ArmDouble
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

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
        with self.state._lock:
            self.state.requests.append(
                RecordedRequest(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body)
            )
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
        return self._send(200, self._finish(op))

    def _finish(self, op: _Operation) -> dict:
        with self.state._lock:
            resource = self.state.resources[op.resource_path.lower()]
            resource["properties"]["provisioningState"] = "Succeeded"
            return resource

    def _op_url(self, kind: str, op_id: str) -> str:
        return f"{self.state.poll_base or self.state.url}/operations/{kind}/{op_id}?api-version=2026-04-01"

    def do_POST(self) -> None:  # noqa: N802
        path, _, _ = self._record()
        if not self._authorized():
            return
        if re.match(r"^/subscriptions/[^/]+/providers/Microsoft\.Compute/register$", path, re.I):
            self.state.compute_unregistered = False
            return self._send(200, {"namespace": "Microsoft.Compute", "registrationState": "Registered"})
        return self._error(405, "MethodNotAllowed", f"POST {path} is not served by the double")

    def do_DELETE(self) -> None:  # noqa: N802
        self._record()
        self._error(405, "MethodNotAllowed", "DELETE is not served by the double")

    do_PATCH = do_DELETE

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
        problem = self.state.refusal(rest, body)
        if problem:
            return self._error(400, "InvalidParameter", problem)
        resource = {
            "id": path, "name": segments[-1], "type": f"Microsoft.Compute/{kind}",
            **json.loads(json.dumps(body)),
        }
        resource.setdefault("properties", {})["provisioningState"] = "Creating"
        with self.state._lock:
            self.state.resources[path.lower()] = resource
            op_id = str(next(self.state._ids))
            error, self.state.fail_next = self.state.fail_next, None
            op_kind = "location" if kind == "disks" else "async"
            self.state._operations[op_id] = _Operation(path, self.state.polls, error, op_kind)
        if op_kind == "location":
            return self._send(202, None, {"Location": self._op_url("location", op_id), "retry-after-ms": "10"})
        return self._send(201, resource, {"Azure-AsyncOperation": self._op_url("async", op_id), "retry-after-ms": "10"})


def start_arm_double(*, azurite_connection_string: str, polls: int = 2) -> ArmDouble:
    return ArmDouble(azurite_connection_string=azurite_connection_string, polls=polls).start()
