"""vhdupload: get disk images into Azure.

The public API is what ``__all__`` lists; everything else is private and may change.
"""

from __future__ import annotations

__version__ = "0.1.0"

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
]
