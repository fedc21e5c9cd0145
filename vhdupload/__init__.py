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
]
