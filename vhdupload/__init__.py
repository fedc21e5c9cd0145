"""vhdupload: get disk images into Azure.

The public API is what ``__all__`` lists; everything else is private and may change.
"""

from __future__ import annotations

__version__ = "0.1.0"

import logging as _logging

# A library never prints: without this, Python's last-resort handler would write the package's
# warnings (a retried request...) to the embedding program's stderr. The CLI adds a handler
# with --verbose.
_logging.getLogger("vhdupload").addHandler(_logging.NullHandler())

from .errors import (
    ArmError,
    AuthenticationError,
    CancelledError,
    CorruptVhdError,
    DestinationConflictError,
    FormatError,
    InputError,
    LeaseHeldError,
    NotAVhdError,
    NotAzureReadyError,
    OtherFormatError,
    ParentChainError,
    PreflightError,
    RegistrationError,
    SourceChangedError,
    StorageError,
    TransferError,
    VhdUploadError,
)
from .vhd import (
    ConvertResult,
    DiskReport,
    Footer,
    Readiness,
    VirtualDisk,
    azure_readiness,
    convert_image,
    inspect_disk,
    make_fixed_footer,
    open_disk,
    round_up_to_mib,
)
from .azure.credentials import client_options, resolve_blob_client
from .status import UploadStatus, upload_status
from .transfer import Progress
from .upload import UploadResult, upload_vhd
from .verify import VerifyResult, verify_upload
from .registration import (
    DataDisk,
    Registration,
    RegistrationPlan,
    begin_capture_vm_image,
    begin_register_disk,
    begin_register_gallery_version,
    begin_register_image,
    capture_vm_image,
    detect_generation,
    make_compute_client,
    plan_capture,
    plan_disk,
    plan_gallery_version,
    plan_image,
    register_disk,
    register_gallery_version,
    register_image,
    run_plan,
)

__all__ = [
    "__version__",
    # errors
    "VhdUploadError",
    "InputError",
    "FormatError",
    "NotAVhdError",
    "OtherFormatError",
    "CorruptVhdError",
    "ParentChainError",
    "NotAzureReadyError",
    "SourceChangedError",
    "CancelledError",
    "StorageError",
    "AuthenticationError",
    "DestinationConflictError",
    "LeaseHeldError",
    "TransferError",
    "RegistrationError",
    "PreflightError",
    "ArmError",
    # the VHD format layer
    "open_disk",
    "VirtualDisk",
    "Footer",
    "make_fixed_footer",
    "azure_readiness",
    "Readiness",
    "round_up_to_mib",
    "inspect_disk",
    "DiskReport",
    "convert_image",
    "ConvertResult",
    # the upload engine
    "upload_vhd",
    "UploadResult",
    "Progress",
    "verify_upload",
    "VerifyResult",
    "upload_status",
    "UploadStatus",
    "resolve_blob_client",
    "client_options",
    # registration
    "register_image",
    "register_gallery_version",
    "register_disk",
    "capture_vm_image",
    "begin_register_image",
    "begin_register_gallery_version",
    "begin_register_disk",
    "begin_capture_vm_image",
    "Registration",
    "RegistrationPlan",
    "plan_image",
    "plan_capture",
    "plan_gallery_version",
    "plan_disk",
    "run_plan",
    "DataDisk",
    "detect_generation",
    "make_compute_client",
]
