"""Planning a gallery image version: the gallery and its image definition when missing, then the
version, with the definition's promises (security type, disk controllers, accelerated
networking, architecture) read from the OS disk and checked against it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from ..errors import InputError
from ..guest import Capabilities
from ..guest.generation import detect_os_type
from . import az_command, bodies, resource_ids
from .compare import first_difference
from .disk_sources import DiskCheck, check_os_type, disk_generation, is_disk_id
from .gallery_features import (
    check_existing_definition, check_security, default_security_type, new_definition_features, security_type,
)
from .guest_check import GuestCheck, check_guest
from .plans import ArmRequest, RegistrationPlan
from .prepare import DataDisks, _blob_urls, _data_disks, _existing, _generation, _named, _os_disk_check, _preflight, _put
from .preflight import BlobCheck
from .blobs import BlobReader
from .replication import Distribution
from .specs import GalleryVersionSpec, PlanContext
from .storage_accounts import storage_account_ids


@dataclass
class _Sources:
    """What the pre-flight found of the version's disks."""

    os_disk: str
    data: list[bodies.DataDisk]
    checks: list[BlobCheck | DiskCheck]
    reader: BlobReader | None
    guest: GuestCheck
    os_check: DiskCheck | None
    os_type: str | None  # as given or as the managed disk records it
    os_type_given: str | None


@dataclass
class _Draft:
    """The plan being built: its requests, notes and warnings."""

    requests: list[ArmRequest] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def plan_gallery_version(spec: GalleryVersionSpec, *, context: PlanContext) -> RegistrationPlan:
    """Plan a gallery image version; the gallery and the image definition are added when missing.

    The OS disk's blob is examined first (unless ``skip_guest_check``): a clearly non-generalized
    disk for a generalized version is refused; ``os_type`` and ``architecture`` (x64, Arm64 or
    auto) of a new definition default to what the disk holds, and a contradiction is refused. A
    new definition says what the disk can do (``features``: its security type, by default
    ``TrustedLaunchSupported`` on Generation 2; NVMe and accelerated networking when their drivers
    are inside); an existing one that promises more than the disk can do is refused.
    """
    version = bodies.gallery_version(spec.version)
    state = bodies.os_state(spec.os_state) or "Generalized"
    wanted_security = security_type(spec.security_type)
    sources = _read_sources(spec, context, state)
    profile, distribution_notes = Distribution(
        target_regions=spec.target_regions, replica_count=spec.replica_count,
        storage_account_type=spec.storage_account_type, replication_mode=spec.replication_mode,
        exclude_from_latest=spec.exclude_from_latest, end_of_life=spec.end_of_life,
    ).publishing_profile(spec.location)
    draft = _Draft(notes=list(sources.guest.notes), warnings=list(sources.guest.warnings))
    common = {"resource_group": spec.resource_group, "subscription": context.subscription_id}
    compute_client = context.compute_client
    tag_map = bodies.parse_tags(spec.tags)

    gallery_found = _existing(compute_client.galleries.get, spec.resource_group, spec.gallery,
                              action=f"read the gallery {spec.gallery}")
    if gallery_found is None:
        body = bodies.gallery_body(location=spec.location, tags=tag_map)
        draft.requests.append(ArmRequest(
            description=f"gallery {spec.gallery}",
            resource_id=resource_ids.gallery_id(context.subscription_id, spec.resource_group, spec.gallery),
            body=body,
            az_command=az_command.az_sig_create(gallery=spec.gallery, body=body, **common),
            begin=_put("galleries", spec.resource_group, spec.gallery),
        ))
        draft.notes.append(f"the gallery {spec.gallery} does not exist and will be created")
    definition = None if gallery_found is None else _existing(
        compute_client.gallery_images.get, spec.resource_group, spec.gallery, spec.image_definition,
        action=f"read the image definition {spec.image_definition}",
    )
    if definition is not None:
        _check_definition(spec, sources, definition, state=state, security=wanted_security, draft=draft)
    else:
        _new_definition(spec, sources, context, state=state, security=wanted_security, draft=draft, tags=tag_map)

    blob_urls = [u for u in [sources.os_disk, *(d.url for d in sources.data)] if not is_disk_id(u)]
    ids = storage_account_ids(
        compute_client, subscription_id=context.subscription_id, urls=blob_urls, given=spec.storage_account_id
    ) if blob_urls else {}
    body = bodies.gallery_version_body(
        location=spec.location, os_disk=sources.os_disk, storage_account_ids=ids, data_disks=sources.data,
        publishing_profile=profile, tags=tag_map,
    )
    draft.notes += distribution_notes
    request = ArmRequest(
        description=f"image version {spec.image_definition} {version}",
        resource_id=resource_ids.image_version_id(
            context.subscription_id, spec.resource_group, spec.gallery, spec.image_definition, version),
        body=body,
        az_command=az_command.az_sig_image_version_create(
            gallery=spec.gallery, definition=spec.image_definition, version=version, body=body, **common
        ),
        begin=_put("gallery_image_versions", spec.resource_group, spec.gallery, spec.image_definition, version),
    )
    draft.requests.append(request)
    existing = None if definition is None else _existing_version(spec, version, body, compute_client, draft)
    return RegistrationPlan(kind="gallery-version", requests=draft.requests, checks=sources.checks,
                            notes=draft.notes, warnings=draft.warnings, existing=existing)


def _read_sources(spec: GalleryVersionSpec, context: PlanContext, state: str) -> _Sources:
    os_disk = _named(spec.os_disk)
    data = _data_disks(cast(DataDisks, spec.data_disks), os_disk)  # the Registrar named destination values
    os_disk, data, factory = _blob_urls(os_disk, data, context.blob_client_factory)
    checks, reader = _preflight(os_disk, data, factory=factory, skip=spec.skip_preflight,
                                compute_client=context.compute_client, subscription_id=context.subscription_id)
    guest = check_guest(reader, os_state=state, skip=spec.skip_guest_check)
    given = bodies.os_type(spec.os_type)
    guest.check_os_type(given)
    os_check = _os_disk_check(checks)
    kind_os = check_os_type(os_check, given) if os_check is not None else given
    return _Sources(os_disk, data, checks, reader, guest, os_check, kind_os, given)


def _capabilities(spec: GalleryVersionSpec, sources: _Sources) -> Capabilities | None:
    if spec.capabilities is not None:
        return spec.capabilities
    report = sources.guest.report
    return report.capabilities if report is not None and report.read else None


def _check_definition(spec: GalleryVersionSpec, sources: _Sources, definition: bodies.Body, *, state: str,
                      security: str | None, draft: _Draft) -> None:
    """An existing definition: refuse what contradicts the disk, before anything is sent."""
    name = spec.image_definition
    props = definition.get("properties") or {}
    for label, wanted, actual in (("OS type", sources.os_type, props.get("osType")), ("OS state", state, props.get("osState"))):
        if wanted and actual and wanted.lower() != str(actual).lower():
            raise InputError(
                f"the image definition {name} is for {label} {actual}, not {wanted}: "
                "use a definition that matches, or another image definition name to create one"
            )
    existing_arch = props.get("architecture") or "x64"  # ARM's default for a definition without one
    wanted_arch = sources.guest.architecture(spec.architecture)
    if wanted_arch and wanted_arch.lower() != str(existing_arch).lower():
        raise InputError(
            f"the image definition {name} is for architecture {existing_arch}, but the OS disk is "
            f"{wanted_arch}: use another image definition name to create one for {wanted_arch}"
        )
    existing_gen = props.get("hyperVGeneration")
    wanted_gen = bodies.generation_or_none(spec.hyper_v_generation)
    if wanted_gen and existing_gen and wanted_gen.lower() != str(existing_gen).lower():
        raise InputError(
            f"the image definition {name} is for Hyper-V generation {existing_gen}, not {wanted_gen}: a version "
            "takes its definition's generation; use another image definition name to create one for this generation"
        )
    disk_gen = None
    if existing_gen and sources.os_check is not None:
        disk_gen = disk_generation(existing_gen, sources.os_check).generation  # a disk of another generation is refused
    elif sources.reader is not None:
        choice = _generation(existing_gen or "auto", sources.reader)
        disk_gen = choice.generation
        draft.warnings += choice.warnings
    draft.warnings += check_existing_definition(
        name, props, capabilities=_capabilities(spec, sources), generation=disk_gen or existing_gen, security_wanted=security,
    )


def _new_definition(spec: GalleryVersionSpec, sources: _Sources, context: PlanContext, *, state: str,
                    security: str | None, draft: _Draft, tags: dict[str, str]) -> None:
    """A definition created for this disk: what it holds, and what it can do."""
    kind_os = sources.os_type
    undetected = ""
    if sources.os_check is not None and kind_os is not None and sources.os_type_given is None:
        draft.notes.append(f"OS type {kind_os} for the new image definition: the managed disk {sources.os_check.name} records it")
    if kind_os is None and sources.guest.os_type is not None:
        kind_os = sources.guest.os_type
        draft.notes.append(f"OS type {kind_os} for the new image definition: read inside the OS disk (pass --os-type to choose otherwise)")
    if kind_os is None and sources.reader is not None:
        detected = detect_os_type(sources.reader.read)
        undetected = f" (the OS disk has {detected.reason}, which does not tell the OS type)"
        if detected.os_type is not None:
            kind_os = detected.os_type
            draft.notes.append(
                f"OS type {kind_os} for the new image definition: the OS disk has {detected.reason} "
                "(pass --os-type to choose otherwise)"
            )
    if not (spec.publisher and spec.offer and spec.sku and kind_os):
        missing = [f"--{n}" for n, v in (("publisher", spec.publisher), ("offer", spec.offer), ("sku", spec.sku),
                                         ("os-type", kind_os)) if not v]
        raise InputError(
            f"the image definition {spec.image_definition} does not exist in gallery {spec.gallery}; to create it, "
            f"also give {', '.join(missing)}{undetected if '--os-type' in missing else ''}"
        )
    choice = (disk_generation(spec.hyper_v_generation, sources.os_check) if sources.os_check is not None
              else _generation(spec.hyper_v_generation, sources.reader))
    draft.notes += choice.notes
    draft.warnings += choice.warnings
    architecture = sources.guest.architecture(spec.architecture, draft.notes)
    chosen_security = security if security is not None else default_security_type(choice.generation)
    check_security(chosen_security, generation=choice.generation, architecture=architecture)
    if security is None and chosen_security is not None:
        draft.notes.append(f"security type {chosen_security} for the new image definition: Trusted Launch VMs, "
                           "Azure's default, can be made from it (choose another with the security type option)")
    capabilities = _capabilities(spec, sources)
    features = new_definition_features(security=chosen_security, capabilities=capabilities)
    body = bodies.image_definition_body(
        location=spec.location, os_type=kind_os, os_state=state, hyper_v_generation=choice.generation,
        publisher=spec.publisher, offer=spec.offer, sku=spec.sku, tags=tags, architecture=architecture,
        features=features,
    )
    draft.requests.append(ArmRequest(
        description=f"image definition {spec.image_definition}",
        resource_id=resource_ids.image_definition_id(context.subscription_id, spec.resource_group, spec.gallery,
                                                     spec.image_definition),
        body=body,
        az_command=az_command.az_sig_image_definition_create(
            gallery=spec.gallery, definition=spec.image_definition, body=body,
            resource_group=spec.resource_group, subscription=context.subscription_id,
        ),
        begin=_put("gallery_images", spec.resource_group, spec.gallery, spec.image_definition),
    ))
    draft.notes.append(f"the image definition {spec.image_definition} does not exist and will be created ({state})")


def _existing_version(spec: GalleryVersionSpec, version: str, body: bodies.Body, compute_client: Any,
                      draft: _Draft) -> Any:
    """The version ARM already has with this very body (a rerun: not sent again, its replication
    watched); None when there is none, or when it differs or failed (then it is sent again)."""
    getter = compute_client.gallery_image_versions.get
    found = _existing(getter, spec.resource_group, spec.gallery, spec.image_definition, version,
                      action=f"read the image version {spec.image_definition} {version}")
    if found is None:
        return None
    failed = str((found.get("properties") or {}).get("provisioningState", "")).lower() == "failed"
    difference = first_difference(body, found)
    if difference is not None or failed:
        return None  # sent as an update: ARM applies it, or says why not (a version's disks cannot change)
    draft.notes.append(f"the image version {spec.image_definition} {version} already exists with this body: "
                       "it is not sent again")
    return found
