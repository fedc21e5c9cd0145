"""What a publish does, as plain objects: the image to register, where the disks go, the disks.

A :class:`PublishPlan` comes from a manifest (:func:`vhdupload.publish.load_manifest`) or is built in
Python; :meth:`PublishPlan.validated` applies the same rules to both and lists every problem,
each naming its table (``[image]``, ``[storage]``, ``[[disk]] #2``) and key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from os import PathLike, fspath
from pathlib import Path
from typing import Any

from ..destinations.managed_disk import SKUS
from ..azure.blob_names import check_blob_name
from ..azure.resource_names import name_problem
from ..errors import InputError, PublishCheckError
from ..keywords import refuse_unknown_keywords
from ..registration.bodies import CACHING, MAX_LUN, OS_STATES, OS_TYPES
from ..registration.gallery_features import security_type as gallery_security_type
from ..registration.prepare import MANAGED_IMAGE_LIMIT
from ..registration.replication import Distribution

KINDS = ("managed-image", "gallery-version")
#: How a publish checks each upload (``verify = ...``): see :class:`~.runner.PublishOptions`.
VERIFY_CHOICES = ("ranges", "full", "none")
GALLERY_KEYS = ("gallery", "definition", "version", "publisher", "offer", "sku")
#: ``[image]`` keys of a gallery version's replication (``Distribution``), refused for a managed image.
DISTRIBUTION_KEYS = ("target_regions", "replica_count", "storage_account_type", "replication_mode",
                     "exclude_from_latest", "end_of_life")
GENERATIONS = {"auto": "auto", "v1": "V1", "v2": "V2"}


@refuse_unknown_keywords
@dataclass(frozen=True)
class ImageTarget:
    """The image to register (the manifest's ``[image]`` table)."""

    name: str
    resource_group: str
    location: str
    os_type: str = "auto"  # linux | windows | auto (what the OS disk holds, found by the guest check)
    kind: str = "managed-image"  # or "gallery-version"
    os_state: str = "generalized"  # "specialized" only for a gallery version
    hyper_v_generation: str = "auto"  # or V1 / V2
    gallery: str | None = None
    definition: str | None = None
    version: str | None = None
    publisher: str | None = None
    offer: str | None = None
    sku: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # a gallery version's definition and replication (docs/publish.md)
    security_type: str | None = None  # a new definition's; default TrustedLaunchSupported on V2
    target_regions: tuple[str | dict[str, Any], ...] = ()  # "eastus=2=Standard_ZRS" or {name, replicas, storage_account_type}
    replica_count: int | None = None
    storage_account_type: str | None = None
    replication_mode: str | None = None  # Full | Shallow
    exclude_from_latest: bool = False
    end_of_life: str | date | None = None

    def distribution(self) -> Distribution:
        """Where a gallery version goes (its ``publishingProfile``)."""
        return Distribution(
            target_regions=self.target_regions, replica_count=self.replica_count,
            storage_account_type=self.storage_account_type, replication_mode=self.replication_mode,
            exclude_from_latest=self.exclude_from_latest, end_of_life=self.end_of_life,
        )


@refuse_unknown_keywords
@dataclass(frozen=True)
class StorageTarget:
    """Where the disks go (``[storage]``): a container, or managed disks in the image's group."""

    container_url: str | None = None
    managed_disks: bool = False
    disk_sku: str | None = None
    disk_prefix: str | None = None  # default: the image name + "-"


@refuse_unknown_keywords
@dataclass(frozen=True)
class DiskSource:
    """One disk (a ``[[disk]]``): a local VHD, its role and, for a data disk, its LUN."""

    path: str | PathLike[str]  # a file; relative ones start at the plan's base
    role: str | None = "data"  # "os" | "data" (None: not said, taken as data)
    lun: int | None = None
    caching: str | None = None  # None | ReadOnly | ReadWrite
    blob: str | None = None  # the blob's name in the container (default: the file's name)
    #: An OS managed disk's VM guest state (and a Confidential VM disk's metadata) file, uploaded
    #: with it (``UploadPreparedSecure``), and its security type (TrustedLaunch when not said).
    vm_guest_state: str | PathLike[str] | None = None
    security_metadata: str | PathLike[str] | None = None
    security_type: str | None = None
    skip_free: bool | None = None  # leave free space home (None: yes for a generalized image's disks)


@refuse_unknown_keywords
@dataclass(frozen=True)
class PublishPlan:
    """Everything a publish needs; ``disks`` in manifest order. ``base`` is where relative paths start."""

    image: ImageTarget
    storage: StorageTarget
    disks: tuple[DiskSource, ...]
    base: Path | None = None
    verify: str | None = None  # "ranges" (default), "full" or "none": how each upload is checked

    @property
    def os_disk(self) -> DiskSource:
        return next(d for d in self.disks if d.role == "os")

    def label(self, index: int) -> str:
        """How problems name the disk at ``index``: ``[[disk]] #2 (data0.vhd)``."""
        return f"[[disk]] #{index + 1} ({Path(self.disks[index].path).name})"

    def resolved(self, disk: DiskSource) -> Path:
        path = Path(disk.path).expanduser()
        return path if path.is_absolute() or self.base is None else self.base / path

    def disk_name(self, disk: DiskSource) -> str:
        """The managed disk's name: the prefix (default: the image name and ``-``) + the file's stem."""
        prefix = self.storage.disk_prefix if self.storage.disk_prefix is not None else f"{self.image.name}-"
        return f"{prefix}{Path(disk.path).stem}"

    def security(self, disk: DiskSource) -> dict[str, Any]:
        """A managed OS disk's security options as :class:`~vhdupload.ManagedDisk` takes them."""
        if not disk.vm_guest_state:
            return {"security_type": disk.security_type} if disk.security_type else {}
        metadata = self.resolved(replace(disk, path=disk.security_metadata)) if disk.security_metadata else None
        return {"security_type": disk.security_type or "TrustedLaunch",
                "vm_guest_state": self.resolved(replace(disk, path=disk.vm_guest_state)), "security_metadata": metadata}

    def skips_free(self, disk: DiskSource) -> bool:
        """Whether ``disk`` is sent without its free space: as its ``skip_free`` says, else yes for
        the disks of a generalized image (meant to carry nothing of the machine it came from, and
        deleted files are exactly that) and no for a specialized one (sent bit for bit)."""
        if disk.skip_free is not None:
            return disk.skip_free
        return self.image.os_state.lower() == "generalized"

    def blob_name(self, disk: DiskSource) -> str:
        return disk.blob or Path(disk.path).name

    def validated(self) -> "PublishPlan":
        """The plan with values normalised (``Linux``, ``ReadOnly``, ``V2``...); raises
        :class:`PublishCheckError` with one line per problem. Files are not opened here."""
        problems: list[str] = []
        image = _image(self.image, problems)
        storage = _storage(self.storage, problems)
        # Without an OS disk, a disk with neither role nor lun is the OS disk missing its role:
        # say that once, rather than that its lun is missing.
        no_os = not any(d.role == "os" for d in self.disks)
        unsure = [i for i, d in enumerate(self.disks) if no_os and d.role is None and d.lun is None]
        disks = [_disk(d, f"[[disk]] #{i + 1}", problems, lun_needed=i not in unsure) for i, d in enumerate(self.disks)]
        os_disks = [i for i, d in enumerate(disks) if d.role == "os"]
        if not disks:
            problems.append("no [[disk]] given: give the OS disk (role = \"os\") and any data disks")
        elif len(os_disks) != 1:
            where = ", ".join(f"#{i + 1}" for i in os_disks)
            hint = f" (add role = \"os\" to [[disk]] #{unsure[0] + 1}?)" if unsure else ""
            problems.append(
                f"no [[disk]] has role = \"os\": exactly one disk must be the OS disk{hint}" if not os_disks
                else f"[[disk]] {where} all have role = \"os\": exactly one disk may be the OS disk"
            )
        if storage.managed_disks:
            problems += [f"[[disk]] #{i + 1}: blob applies to container_url only (a managed disk is named "
                         "disk_prefix + the file's stem)" for i, d in enumerate(disks) if d.blob]
        else:
            problems += [f"[[disk]] #{i + 1}: vm_guest_state applies to managed_disks = true only (a blob has no "
                         "guest state)" for i, d in enumerate(disks) if d.vm_guest_state]
        seen_luns: dict[int, int] = {}
        for i, d in enumerate(disks):
            if d.role == "data" and d.lun is not None:
                if d.lun in seen_luns:
                    problems.append(f"[[disk]] #{i + 1}: lun {d.lun} is also [[disk]] #{seen_luns[d.lun] + 1}'s: give each data disk its own lun")
                seen_luns.setdefault(d.lun, i)
        if len(disks) - 1 > MAX_LUN + 1:
            problems.append(f"{len(disks) - 1} data disks; Azure allows at most {MAX_LUN + 1}")
        if self.verify is not None and self.verify not in VERIFY_CHOICES:
            problems.append(f"verify = {self.verify!r} is not one of {', '.join(repr(v) for v in VERIFY_CHOICES)}")
        plan = replace(self, image=image, storage=storage, disks=tuple(disks))
        problems += _azure_name_problems(plan)
        names: dict[str, int] = {}
        for i, d in enumerate(disks):
            key = (plan.disk_name(d) if storage.managed_disks else plan.blob_name(d)).lower()
            if key in names:
                what = "managed disk name" if storage.managed_disks else "blob name"
                problems.append(f"[[disk]] #{i + 1}: its {what} {key!r} is also [[disk]] #{names[key] + 1}'s: "
                                "rename a file" + ("" if storage.managed_disks else " or set blob = \"...\""))
            names.setdefault(key, i)
        if problems:
            raise PublishCheckError(problems)
        return plan


def _azure_name_problems(plan: PublishPlan) -> list[str]:
    """Every name the run would send that Azure's rules refuse: found here, before any disk is
    uploaded (a bad image name used to fail only after every upload; ``..`` changed the URL)."""
    image = plan.image
    pairs: list[tuple[str, str, str]] = [("[image]", "resource group", image.resource_group)]
    if image.kind == "gallery-version":
        pairs += [("[image]", "gallery", image.gallery or ""), ("[image]", "gallery image definition", image.definition or ""),
                  ("[image]", "gallery image version", image.version or "")]
    else:
        pairs.append(("[image]", "image", image.name))
    problems = [f"{where}: {p}" for where, kind, name in pairs if name and (p := name_problem(kind, name))]
    for i, disk in enumerate(plan.disks):
        if not str(disk.path).strip() or str(disk.path) == ".":
            continue  # the missing path is reported already
        if plan.storage.managed_disks:
            if plan.storage.disk_prefix is None and not image.name:
                continue  # the default prefix is the missing image name: reported already
            problem = name_problem("managed disk", plan.disk_name(disk))
            if problem:
                problems.append(f"[[disk]] #{i + 1}: {problem} (disk_prefix + the file's stem): change disk_prefix "
                                "or rename the file")
        else:
            try:
                check_blob_name(plan.blob_name(disk))
            except InputError as exc:
                problems.append(f"[[disk]] #{i + 1}: {exc}")
    return problems


def _text(value: object, where: str, key: str, problems: list[str], *, required: bool = False) -> str | None:
    if value is None:
        if required:
            problems.append(f"{where}: {key} is missing")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: {key} must be a non-empty string, not {value!r}")
        return None
    return value.strip()


def _choice(value: str | None, table: dict[str, str], where: str, key: str, problems: list[str]) -> str | None:
    if value is None:
        return None
    found = table.get(value.strip().lower())
    if found is None:
        problems.append(f"{where}: {key} = {value!r} is not one of {', '.join(repr(v) for v in table.values())}")
    return found


def _image(image: ImageTarget, problems: list[str]) -> ImageTarget:
    where = "[image]"
    name = _text(image.name, where, "name", problems, required=True)
    rg = _text(image.resource_group, where, "resource_group", problems, required=True)
    location = _text(image.location, where, "location", problems, required=True)
    kind = _text(image.kind, where, "kind", problems) or "managed-image"
    if kind not in KINDS:
        problems.append(f"{where}: kind = {kind!r} is not \"managed-image\" or \"gallery-version\"")
    os_type = _text(image.os_type, where, "os_type", problems) or "auto"
    if os_type.lower() != "auto":
        os_type = _choice(os_type, OS_TYPES, where, "os_type", problems) or ""
    os_state = _choice(_text(image.os_state, where, "os_state", problems) or "generalized", OS_STATES, where, "os_state", problems)
    if os_state == "Specialized" and kind == "managed-image":
        problems.append(f"{where}: os_state = \"specialized\" is for kind = \"gallery-version\" only (a managed image is generalized)")
    generation = _choice(_text(image.hyper_v_generation, where, "hyper_v_generation", problems) or "auto", GENERATIONS,
                         where, "hyper_v_generation", problems)
    gallery: dict[str, Any] = {key: _text(getattr(image, key), where, key, problems) for key in GALLERY_KEYS}
    if kind == "gallery-version":
        for key in ("gallery", "definition", "version"):
            if not gallery[key]:
                problems.append(f"{where}: {key} is missing (kind = \"gallery-version\" needs gallery, definition and version)")
    else:
        for key in GALLERY_KEYS:
            if gallery[key]:
                problems.append(f"{where}: {key} applies to kind = \"gallery-version\" only")
    tags = image.tags or {}
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        problems.append(f"{where}: tags must be a table of strings, e.g. tags = {{ team = \"x\" }}")
        tags = {}
    security, distribution = _gallery_promises(image, kind, location, problems)
    return ImageTarget(
        name=name or "", resource_group=rg or "", location=location or "", os_type=os_type, kind=kind,
        os_state=os_state or "Generalized", hyper_v_generation=generation or "auto", tags=dict(tags), **gallery,
        security_type=security, **distribution,
    )


def _gallery_promises(image: ImageTarget, kind: str, location: str | None,
                      problems: list[str]) -> tuple[str | None, dict[str, Any]]:
    """The security type and the replication keys, checked here so that a mistake is found
    before anything is uploaded."""
    where = "[image]"
    security = None
    try:
        security = gallery_security_type(image.security_type if isinstance(image.security_type, str) else None)
    except InputError as exc:
        problems.append(f"{where}: security_type: {exc}")
    if image.security_type is not None and not isinstance(image.security_type, str):
        problems.append(f"{where}: security_type must be a string, e.g. \"TrustedLaunchSupported\"")
    if kind == "managed-image" and security not in (None, "Standard"):
        problems.append(f"{where}: security_type = \"{security}\": a managed image cannot back such a VM: "
                        "set kind = \"gallery-version\"")
    regions = image.target_regions
    if isinstance(regions, (str, dict)) or not isinstance(regions, (list, tuple)):
        problems.append(f"{where}: target_regions must be an array, e.g. [\"eastus=2\", {{ name = \"westeurope\" }}]")
        regions = ()
    values: dict[str, Any] = {
        "target_regions": tuple(regions), "replica_count": image.replica_count,
        "storage_account_type": image.storage_account_type, "replication_mode": image.replication_mode,
        "exclude_from_latest": image.exclude_from_latest, "end_of_life": image.end_of_life,
    }
    if not isinstance(values["exclude_from_latest"], bool):
        problems.append(f"{where}: exclude_from_latest must be true or false")
        values["exclude_from_latest"] = False
    given = [k for k in DISTRIBUTION_KEYS if values[k] not in (None, (), False)]
    if kind == "managed-image":
        problems += [f"{where}: {k} applies to kind = \"gallery-version\" only" for k in given]
    elif location:
        try:
            Distribution(**values).publishing_profile(location)
        except InputError as exc:
            problems.append(f"{where}: {exc}")
    return security, values


def _storage(storage: StorageTarget, problems: list[str]) -> StorageTarget:
    where = "[storage]"
    url = _text(storage.container_url, where, "container_url", problems)
    managed = storage.managed_disks
    if not isinstance(managed, bool):
        problems.append(f"{where}: managed_disks must be true or false, not {managed!r}")
        managed = False
    if url and managed:
        problems.append(f"{where}: give either container_url or managed_disks = true, not both")
    elif not url and not managed:
        problems.append(f"{where}: give container_url (a blob container's URL) or managed_disks = true")
    if url and "://" not in url:
        problems.append(f"{where}: container_url {url!r} is not a URL like https://ACCOUNT.blob.core.windows.net/CONTAINER")
    sku = _text(storage.disk_sku, where, "disk_sku", problems)
    prefix = storage.disk_prefix
    if prefix is not None and not isinstance(prefix, str):
        problems.append(f"{where}: disk_prefix must be a string, not {prefix!r}")
        prefix = None
    if not managed:
        for key, value in (("disk_sku", sku), ("disk_prefix", prefix)):
            if value is not None:
                problems.append(f"{where}: {key} applies to managed_disks = true only")
    if sku is not None:

        match = [s for s in SKUS if s.lower() == sku.lower()]
        if not match:
            problems.append(f"{where}: disk_sku = {sku!r} is not one of {', '.join(SKUS)}")
        sku = match[0] if match else None
    return StorageTarget(container_url=url, managed_disks=managed, disk_sku=sku, disk_prefix=prefix)


def _disk(disk: DiskSource, where: str, problems: list[str], *, lun_needed: bool = True) -> DiskSource:
    path = disk.path
    if not isinstance(path, (str, PathLike)) or not str(path).strip():
        problems.append(f"{where}: path is missing")
        path = Path("")
    role = _text(disk.role, where, "role", problems) or "data"
    if role not in ("os", "data"):
        problems.append(f"{where}: role = {role!r} is not \"os\" or \"data\"")
    lun = disk.lun
    if lun is not None and (not isinstance(lun, int) or isinstance(lun, bool) or not 0 <= lun <= MAX_LUN):
        problems.append(f"{where}: lun = {lun!r} is not a number from 0 to {MAX_LUN}")
        lun = None
    elif role == "os" and lun is not None:
        problems.append(f"{where}: the OS disk takes no lun")
    elif role == "data" and lun is None and disk.lun is None and lun_needed:
        problems.append(f"{where}: lun is missing (every data disk needs its own lun, 0 to {MAX_LUN})")
    caching = _choice(_text(disk.caching, where, "caching", problems), CACHING, where, "caching", problems)
    blob = _text(disk.blob, where, "blob", problems)
    secure = {k: _text(fspath(v) if isinstance(v, PathLike) else v, where, k, problems)
              for k, v in (("vm_guest_state", disk.vm_guest_state), ("security_metadata", disk.security_metadata),
                           ("security_type", disk.security_type))}
    if role != "os" and any(secure.values()):
        problems.append(f"{where}: vm_guest_state, security_metadata and security_type belong to the OS disk")
    skip_free = disk.skip_free
    if skip_free is not None and not isinstance(skip_free, bool):
        problems.append(f"{where}: skip_free = {skip_free!r} is not true or false")
        skip_free = None
    return DiskSource(path=Path(path), role=role, lun=lun, caching=caching, blob=blob, skip_free=skip_free, **secure)
