"""Where a gallery image version is replicated (its ``publishingProfile``) and how far it got.

The target-region syntax is the az CLI's ``--target-regions``: ``REGION[=REPLICAS][=STORAGE_TYPE]``
(``eastus=2=Standard_ZRS``). The progress is ARM's own: ``GET`` of the version with
``$expand=ReplicationStatus`` gives ``replicationStatus.summary[]`` (``region``, ``state``,
``progress``, ``details``), which is what ``az sig image-version show --expand ReplicationStatus``
and the portal show.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from ..azure.arm import arm_errors
from ..errors import InputError, RegistrationError, ReplicationFailedError
from ..keywords import refuse_unknown_keywords
from .bodies import Body

#: The storage a gallery keeps replicas in (``storageAccountType`` of a version or a region).
STORAGE_TYPES = {s.lower(): s for s in ("Standard_LRS", "Standard_ZRS", "Premium_LRS", "PremiumV2_LRS")}
REPLICATION_MODES = {"full": "Full", "shallow": "Shallow"}
#: ARM's limit on replicas per region (``regionalReplicaCount`` / ``replicaCount``).
MAX_REPLICAS = 100
_REGION = re.compile(r"^[a-z0-9]+$")


@refuse_unknown_keywords
@dataclass(frozen=True)
class TargetRegion:
    """One region a version is replicated to.

    :param name: the region, as ARM names it (``eastus``; spaces and case are folded).
    :param replicas: replicas in that region (None: the version's ``replica_count``, else 1).
    :param storage_account_type: ``Standard_LRS``, ``Standard_ZRS``, ``Premium_LRS`` or
        ``PremiumV2_LRS`` (None: the version's).
    """

    name: str
    replicas: int | None = None
    storage_account_type: str | None = None

    def to_body(self) -> Body:
        body: Body = {"name": self.name}
        if self.replicas is not None:
            body["regionalReplicaCount"] = self.replicas
        if self.storage_account_type is not None:
            body["storageAccountType"] = self.storage_account_type
        return body


def _region_name(value: object, where: str) -> str:
    name = str(value or "").strip().lower().replace(" ", "")
    if not _REGION.match(name):
        raise InputError(f"{where}: {value!r} is not an Azure region name like eastus or westeurope")
    return name


def _replicas(value: object, where: str) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
        raise InputError(f"{where}: replicas {value!r} is not a number from 1 to {MAX_REPLICAS}")
    count = int(value)
    if not 1 <= count <= MAX_REPLICAS:
        raise InputError(f"{where}: replicas {count} is not a number from 1 to {MAX_REPLICAS}")
    return count


def storage_type(value: object, where: str = "storage account type") -> str:
    found = STORAGE_TYPES.get(str(value).strip().lower()) if isinstance(value, str) else None
    if found is None:
        raise InputError(f"{where}: {value!r} is not one of {', '.join(STORAGE_TYPES.values())}")
    return found


def target_region(value: str | Mapping[str, Any] | TargetRegion) -> TargetRegion:
    """A target region from az's ``REGION[=REPLICAS][=STORAGE_TYPE]``, a manifest table
    (``name``, ``replicas``, ``storage_account_type``), an ARM ``targetRegions`` entry, or itself."""
    if isinstance(value, TargetRegion):
        return value
    if isinstance(value, str):
        where = f"target region {value!r}"
        pieces = [p.strip() for p in value.split("=")]
        if len(pieces) > 3 or not pieces[0]:
            raise InputError(f"{where} is not REGION[=REPLICAS][=STORAGE_TYPE] (for example eastus=2=Standard_ZRS)")
        name = _region_name(pieces[0], where)
        replicas = _replicas(pieces[1], where) if len(pieces) > 1 and pieces[1] else None
        kind = storage_type(pieces[2], where) if len(pieces) > 2 and pieces[2] else None
        return TargetRegion(name, replicas, kind)
    if isinstance(value, Mapping):
        where = f"target region {dict(value)!r}"
        known = {"name", "replicas", "storage_account_type", "regionalReplicaCount", "storageAccountType"}
        unknown = sorted(str(k) for k in value if k not in known)
        if unknown:
            raise InputError(f"{where}: unknown key {unknown[0]!r}; the keys are name, replicas, storage_account_type")
        replicas = value.get("replicas", value.get("regionalReplicaCount"))
        kind = value.get("storage_account_type", value.get("storageAccountType"))
        return TargetRegion(
            _region_name(value.get("name"), where),
            None if replicas is None else _replicas(replicas, where),
            None if kind is None else storage_type(kind, where),
        )
    raise InputError(f"a target region must be a string like eastus=2 or a table, not {type(value).__name__}")


def end_of_life(value: str | date | datetime | None) -> str | None:
    """``endOfLifeDate`` as ARM takes it (ISO 8601, UTC); a bare date is its midnight UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"end of life {value!r} is not a date like 2027-12-31") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat()


@refuse_unknown_keywords
@dataclass(frozen=True, kw_only=True)
class Distribution:
    """A gallery image version's ``publishingProfile``: where it goes and how it is kept.

    :param target_regions: regions to replicate to (:func:`target_region` forms); the gallery's
        own region is added when missing, because a version is always kept where it is made.
    :param replica_count: replicas per region where a region does not say (ARM's default: 1).
    :param storage_account_type: where a region does not say (ARM's default: ``Standard_LRS``).
    :param replication_mode: ``Full`` (ARM's default) or ``Shallow`` (no copy: test images only,
        the gallery's region only).
    :param exclude_from_latest: a VM asking for ``latest`` does not get this version.
    :param end_of_life: when the version stops being offered (a date or an ISO 8601 moment).
    """

    target_regions: Iterable[str | Mapping[str, Any] | TargetRegion] = ()
    replica_count: int | None = None
    storage_account_type: str | None = None
    replication_mode: str | None = None
    exclude_from_latest: bool = False
    end_of_life: str | date | datetime | None = None

    def publishing_profile(self, location: str) -> tuple[Body, list[str]]:
        """The ``publishingProfile`` body, and notes on what was added for the user."""
        notes: list[str] = []
        regions = [target_region(r) for r in self.target_regions]
        names = [r.name for r in regions]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InputError(f"target region {duplicates[0]} is given twice: give each region once")
        home = _region_name(location, "location")
        mode = REPLICATION_MODES.get(str(self.replication_mode).strip().lower()) if self.replication_mode else None
        if self.replication_mode and mode is None:
            raise InputError(f"replication mode {self.replication_mode!r} is not Full or Shallow")
        if mode == "Shallow" and any(n != home for n in names):
            # Packer's shallow-replication check (hashicorp/packer-plugin-azure#383): only the build region.
            raise InputError(
                f"replication mode Shallow keeps the version in its own region ({home}) only: drop the other "
                "target regions, or use replication mode Full"
            )
        if regions and home not in names:
            regions.insert(0, TargetRegion(home))
            notes.append(f"target regions: {home} (the gallery's region) added, where the version is made")
        profile: Body = {}
        if regions:
            profile["targetRegions"] = [r.to_body() for r in regions]
        else:
            profile["targetRegions"] = [{"name": location, "regionalReplicaCount": self.replica_count or 1}]
        if self.replica_count is not None:
            profile["replicaCount"] = _replicas(self.replica_count, "replica count")
        if self.storage_account_type is not None:
            profile["storageAccountType"] = storage_type(self.storage_account_type)
        if mode is not None:
            profile["replicationMode"] = mode
        if self.exclude_from_latest:
            profile["excludeFromLatest"] = True
        eol = end_of_life(self.end_of_life)
        if eol is not None:
            profile["endOfLifeDate"] = eol
        return profile, notes


# -- watching ------------------------------------------------------------------------------------

#: ``summary[].state`` values (ReplicationState): the last two are final.
IN_PROGRESS, COMPLETED, FAILED = "InProgress", "Completed", "Failed"


@dataclass(frozen=True)
class RegionReplication:
    """One region's replication: ``state`` (``Unknown``, ``InProgress``, ``Completed``,
    ``Failed``), ``progress`` in percent, ``details`` (ARM's message, for a failure)."""

    region: str
    state: str
    progress: int = 0
    details: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"region": self.region, "state": self.state, "progress": self.progress, "details": self.details}


@dataclass(frozen=True)
class ReplicationStatus:
    """A version's replication: the aggregated state and each region's."""

    aggregated_state: str
    regions: list[RegionReplication] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """Every region is final (completed or failed)."""
        return bool(self.regions) and all(r.state in (COMPLETED, FAILED) for r in self.regions)

    @property
    def failed(self) -> list[RegionReplication]:
        return [r for r in self.regions if r.state == FAILED]

    def to_dict(self) -> dict[str, Any]:
        """ARM's ``replicationStatus`` form (what ``--json`` prints)."""
        return {"aggregatedState": self.aggregated_state, "summary": [r.to_dict() for r in self.regions]}

    @classmethod
    def from_version(cls, version: Body) -> "ReplicationStatus":
        status = (version.get("properties") or {}).get("replicationStatus") or {}
        regions = []
        for item in status.get("summary") or []:
            if not isinstance(item, dict):
                continue
            progress = item.get("progress")
            regions.append(RegionReplication(
                region=str(item.get("region") or "?"),
                state=str(item.get("state") or "Unknown"),
                progress=max(0, min(100, int(progress))) if isinstance(progress, (int, float)) else 0,
                details=str(item["details"]) if item.get("details") else None,
            ))
        return cls(str(status.get("aggregatedState") or "Unknown"), regions)


def read_replication(compute_client: Any, version_id: str) -> ReplicationStatus:
    """One ``GET`` of the version with ``$expand=ReplicationStatus``."""
    rg, gallery, definition, version = _version_path(version_id)
    with arm_errors(f"read the replication of image version {definition} {version}"):
        found = compute_client.gallery_image_versions.get(rg, gallery, definition, version, expand="ReplicationStatus")
    return ReplicationStatus.from_version(found.as_dict() if hasattr(found, "as_dict") else dict(found))


def watch_replication(
    compute_client: Any,
    version_id: str,
    *,
    on_status: Callable[[ReplicationStatus], None] | None = None,
    poll_seconds: float = 15.0,
    timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplicationStatus:
    """Poll the version's replication until every region is final; ``on_status`` gets each
    reading. Raises :class:`ReplicationFailedError` naming each failed region with ARM's message,
    or :class:`RegistrationError` when ``timeout`` seconds pass first (the replication goes on)."""
    deadline = None if timeout is None else clock() + timeout
    while True:
        status = read_replication(compute_client, version_id)
        if on_status is not None:
            on_status(status)
        if status.done:
            break
        if deadline is not None and clock() >= deadline:
            waiting = ", ".join(f"{r.region} {r.progress}%" for r in status.regions if r.state not in (COMPLETED, FAILED))
            raise RegistrationError(
                f"the replication of {version_id.rsplit('/', 3)[-3]} {version_id.rsplit('/', 1)[-1]} is not done after "
                f"{timeout:.0f} s ({waiting or status.aggregated_state}); it goes on in Azure: run the same command "
                "again to keep watching"
            )
        sleep(poll_seconds)
    if status.failed:
        named = "; ".join(f"{r.region}: {r.details or 'failed'}" for r in status.failed)
        raise ReplicationFailedError(
            f"the image version exists, but its replication failed in {len(status.failed)} region(s): {named}. "
            "Fix the cause, then retry those regions with `az sig image-version update` (its --target-regions), "
            "or delete the version and run the same command again",
            status,
        )
    return status


def _version_path(version_id: str) -> tuple[str, str, str, str]:
    match = re.match(
        r"^/subscriptions/[^/]+/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/galleries/(?P<g>[^/]+)"
        r"/images/(?P<d>[^/]+)/versions/(?P<v>[^/]+)$", version_id.strip(), re.I,
    )
    if not match:
        raise InputError(f"{version_id!r} is not a gallery image version's resource ID")
    return match["rg"], match["g"], match["d"], match["v"]
