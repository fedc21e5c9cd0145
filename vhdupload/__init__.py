"""vhdupload: get disk images into Azure.

The public API is what ``__all__`` lists (30 names); everything else is private and may change.
It is shaped like an Azure SDK: plain functions for the transfers, one client (:class:`Registrar`)
for registration, small typed objects for what they take (:class:`TransferSettings`,
:class:`ManagedDiskSpec`, the registration specs) and return (results with ``to_dict()``).
Every error is a :class:`VhdUploadError`; the tree is drawn in :mod:`vhdupload.errors`, whose
finer classes may be caught from there.

::

    settings = vhdupload.TransferSettings(threads=16)
    result = vhdupload.upload_vhd("os.vhd", blob_url, credential=credential, settings=settings)
    registrar = vhdupload.Registrar(credential=credential, subscription_id=subscription)
    registrar.register(vhdupload.ImageSpec(name="app", resource_group="rg", location="westeurope",
                                           os_disk=result.blob_url, os_type="linux"))
"""

from __future__ import annotations

__version__ = "0.1.0"

import logging as _logging

# A library never prints: without this, Python's last-resort handler would write the package's
# warnings (a retried request...) to the embedding program's stderr. The CLI adds a handler
# with --verbose.
_logging.getLogger("vhdupload").addHandler(_logging.NullHandler())

from .errors import (
    CancelledError,
    DestinationConflictError,
    FormatError,
    InputError,
    NotAzureReadyError,
    RegistrationError,
    StorageError,
    VhdUploadError,
)
from .vhd import convert_image, inspect_disk, open_disk
from .azure.credentials import resolve_blob_client
from .transfer import Progress, TransferSettings
from .status import upload_status
from .upload import UploadResult, upload_vhd
from .verify import VerifyResult, verify_upload
from .destinations.managed_disk import ManagedDiskSpec
from .managed_disks import upload_to_managed_disk, verify_managed_disk
from .registration.bodies import DataDisk
from .registration.client import DiskImportSpec, GalleryVersionSpec, ImageSpec, Registrar
from .publish import PublishPlan, publish

__all__ = [
    "__version__",
    # errors (the rest of the tree: vhdupload.errors)
    "VhdUploadError",
    "InputError",
    "FormatError",
    "NotAzureReadyError",
    "StorageError",
    "DestinationConflictError",
    "CancelledError",
    "RegistrationError",
    # disks on this machine
    "open_disk",
    "inspect_disk",
    "convert_image",
    # transfers
    "TransferSettings",
    "Progress",
    "upload_vhd",
    "UploadResult",
    "verify_upload",
    "VerifyResult",
    "upload_status",
    "resolve_blob_client",
    # managed disks
    "ManagedDiskSpec",
    "upload_to_managed_disk",
    "verify_managed_disk",
    # registration
    "Registrar",
    "ImageSpec",
    "GalleryVersionSpec",
    "DiskImportSpec",
    "DataDisk",
    # from files to an image in one step
    "publish",
    "PublishPlan",
]
