"""The resource names in a registration spec, checked against Azure's rules before anything is
sent (the rules themselves: :mod:`vhdupload.azure.resource_names`, beside the blob-name rules,
so that a :class:`~vhdupload.ManagedDisk` below this layer checks its name with the same ones)."""

from __future__ import annotations

from ..azure.resource_names import check_names
from .specs import CaptureSpec, DiskImportSpec, GalleryVersionSpec, ImageSpec, RegistrationSpec


def check_spec_names(spec: RegistrationSpec) -> None:
    """Raise :class:`~vhdupload.InputError` naming every resource name of ``spec`` Azure would refuse."""
    if isinstance(spec, GalleryVersionSpec):
        check_names(("gallery", spec.gallery), ("gallery image definition", spec.image_definition),
                    ("gallery image version", spec.version), ("resource group", spec.resource_group))
    elif isinstance(spec, DiskImportSpec):
        check_names(("managed disk", spec.name), ("resource group", spec.resource_group))
    elif isinstance(spec, CaptureSpec):
        is_id = isinstance(spec.source_vm, str) and spec.source_vm.startswith("/")  # an ID is parsed elsewhere
        vm = [] if is_id else [("virtual machine", spec.source_vm)]
        check_names(("image", spec.name), ("resource group", spec.resource_group), *vm)
    elif isinstance(spec, ImageSpec):
        check_names(("image", spec.name), ("resource group", spec.resource_group))
