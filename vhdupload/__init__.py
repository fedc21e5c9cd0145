"""vhdupload: get disk images into Azure.

The public API is what ``__all__`` lists; everything else is private and may change.
It is shaped like an Azure SDK: destination values (:class:`PageBlob`, :class:`ManagedDisk`) and
plain functions written once over them (:func:`upload`, :func:`verify`, :func:`status`), one client (:class:`Registrar`)
for registration, small typed objects for what they take (:class:`TransferSettings`,
the registration specs) and return (results with ``to_dict()``).
Every error is a :class:`VhdUploadError`; the tree is drawn in :mod:`vhdupload.errors`, whose
finer classes may be caught from there.

::

    blob = vhdupload.PageBlob(blob_url, credential=credential)
    result = vhdupload.upload("os.vhd", blob, settings=vhdupload.TransferSettings(threads=16))
    registrar = vhdupload.Registrar(arm=vhdupload.ArmConnection(subscription, credential=credential))
    registrar.register(vhdupload.ImageSpec(name="app", resource_group="rg", location="westeurope",
                                           os_disk=result.blob_url, os_type="linux"))
"""

from __future__ import annotations

__version__ = "0.2.0"

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
    StorageError,
    VhdUploadError,
    RegistrationError,
)
from .virtual_disk import VirtualDisk
from .disks import open_disk
from .inspect import DiskReport, inspect_disk
from .convert import ConvertResult, convert_image
from .azure.arm import ArmConnection
from .azure.credentials import client_options
from .transfer import Progress, TransferSettings
from .transfer.concurrency import AdaptiveConcurrency
from .destinations import Destination, ManagedDisk, PageBlob, UploadStatus
from .upload import UploadResult, upload
from .verify import VerifyResult, verify
from .status import status
from .registration.bodies import DataDisk
from .registration.client import Registrar
from .registration.specs import CaptureSpec, DiskImportSpec, GalleryVersionSpec, ImageSpec
from .registration.operations import Registration
from .registration.plans import RegistrationPlan
from .registration.replication import ReplicationStatus, TargetRegion
from .guest import Capabilities
from .publish import DiskProgress, DiskResult, DiskSource, ImageTarget, PublishOptions, PublishPlan, PublishResult, StorageTarget, publish

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
    "VirtualDisk",
    "inspect_disk",
    "DiskReport",
    "convert_image",
    "ConvertResult",
    # where disks go
    "Destination",
    "PageBlob",
    "ManagedDisk",
    "ArmConnection",
    "client_options",
    # transfers, written once over any destination
    "TransferSettings",
    "AdaptiveConcurrency",
    "Progress",
    "upload",
    "UploadResult",
    "verify",
    "VerifyResult",
    "status",
    "UploadStatus",
    # registration
    "Registrar",
    "ImageSpec",
    "GalleryVersionSpec",
    "DiskImportSpec",
    "CaptureSpec",
    "DataDisk",
    "RegistrationPlan",
    "Registration",
    "TargetRegion",
    "ReplicationStatus",
    "Capabilities",
    # from files to an image in one step
    "publish",
    "PublishPlan",
    "PublishOptions",
    "PublishResult",
    "ImageTarget",
    "StorageTarget",
    "DiskSource",
    "DiskResult",
    "DiskProgress",
]
