"""The exception tree of vhdupload.

Every error the library raises derives from :class:`VhdUploadError`; lower-library errors
(``OSError``, ``azure.core`` errors) are translated with ``raise ... from`` so a caller needs
to catch only this tree. Messages are one line: what is wrong, then what to do about it.

::

    VhdUploadError
    ├── InputError                 a bad argument or path (missing file, DST exists, ...)
    │   └── PublishCheckError      a publish manifest or its disks fail the checks (carries ``problems``)
    ├── FormatError                the file is not a readable VHD
    │   ├── NotAVhdError           no VHD footer at all (a raw image: use ``convert``/``--raw``)
    │   ├── OtherFormatError       a VHDX, qcow2, VMDK or VDI image, recognised and explained
    │   ├── CorruptVhdError        a damaged footer, header, BAT or bitmap; truncated files
    │   └── ParentChainError       a differencing disk whose parent is missing, wrong or cyclic
    ├── NotAzureReadyError         readable, but Azure would refuse it (carries ``problems``)
    │   └── NotGeneralizedError    an OS disk registered as generalized that clearly is not
    ├── SourceChangedError         the source file changed while it was being uploaded
    ├── CancelledError             the caller's cancellation event was set
    ├── StorageError               talking to Azure Storage failed
    │   ├── AuthenticationError    no usable credential, or the service refused it
    │   │   └── NoCredentialError  no credential produced a token (carries ``details``)
    │   ├── EndpointUnreachableError  nothing listens at a loopback endpoint (an emulator not running)
    │   ├── DestinationConflictError  the blob holds something else (needs ``--overwrite``)
    │   ├── LeaseHeldError         another upload holds the blob's lease
    │   └── TransferError          a request kept failing after all retries
    └── RegistrationError          turning blobs into images or disks failed
        ├── PreflightError         a source blob would be refused by Azure
        ├── ReplicationFailedError a gallery version exists, but some regions failed to replicate
        └── ArmError               Azure Resource Manager answered with an error
"""

from __future__ import annotations

from typing import Any


class VhdUploadError(Exception):
    """Root of every error vhdupload raises."""


class InputError(VhdUploadError):
    """An argument or a path the caller gave is not usable."""


class PublishCheckError(InputError):
    """``publish`` found problems before doing anything remote; ``problems`` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        head = self.problems[0] if len(self.problems) == 1 else f"{len(self.problems)} problems: " + "; ".join(self.problems)
        super().__init__(head)


class FormatError(VhdUploadError):
    """The file is not a readable VHD."""


class NotAVhdError(FormatError):
    """The file has no VHD footer at all; it may be a raw disk image."""


class OtherFormatError(FormatError):
    """The file is a disk image of another format (VHDX, qcow2, VMDK, VDI)."""

    def __init__(self, message: str, *, format_name: str) -> None:
        super().__init__(message)
        self.format_name = format_name


class CorruptVhdError(FormatError):
    """A VHD structure is damaged, inconsistent or points outside the file."""


class ParentChainError(FormatError):
    """A differencing disk's parent is missing, has the wrong identity or forms a cycle."""


#: What to do about a damaged file: ends every CorruptVhdError that reaches a caller, and every
#: ParentChainError caused by a damaged parent.
REPAIR_HINT = "get an intact copy (copy or export the disk again from where it was made)"


def with_repair_hint(message: str) -> str:
    """``message`` ending with what to do about a damaged file (once)."""
    return message if message.endswith(REPAIR_HINT) else f"{message}; {REPAIR_HINT}"


class NotAzureReadyError(VhdUploadError):
    """The VHD is readable but Azure would refuse it; ``problems`` lists why."""

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class NotGeneralizedError(NotAzureReadyError):
    """An OS disk meant to be generalized was not (Sysprep / ``waagent -deprovision``); ``problems``
    are the signs found inside it. VMs made from it would hang in provisioning."""


class SourceChangedError(VhdUploadError):
    """The source changed during the upload, so the blob would be a mix of two versions."""


class CancelledError(VhdUploadError):
    """The operation was cancelled by the caller."""


class StorageError(VhdUploadError):
    """A request to Azure Storage failed."""


class AuthenticationError(StorageError):
    """No usable credential was found, or the service refused the one given."""


class DestinationConflictError(StorageError):
    """The destination blob holds a finished or foreign upload."""


class SkipFreeMismatchError(DestinationConflictError):
    """The destination holds a finished upload of this source sent with free space left home
    (``recorded_skip_free``) or not, and this upload asks the other way."""

    def __init__(self, message: str, *, recorded_skip_free: bool) -> None:
        super().__init__(message)
        self.recorded_skip_free = recorded_skip_free


class LeaseHeldError(StorageError):
    """Another upload holds the destination blob's lease."""

    def __init__(self, message: str, *, expires_in: float | None = None) -> None:
        super().__init__(message)
        self.expires_in = expires_in


class TransferError(StorageError):
    """A request kept failing after every retry."""


class RegistrationError(VhdUploadError):
    """Registering an image, gallery version or disk failed."""


class PreflightError(RegistrationError):
    """A source blob fails the checks Azure would apply."""


class ReplicationFailedError(RegistrationError):
    """A gallery image version exists, but its replication to some regions failed; ``status``
    (a :class:`vhdupload.ReplicationStatus`) holds every region's state and ARM's message."""

    def __init__(self, message: str, status: Any) -> None:
        super().__init__(message)
        self.status = status


class ArmError(RegistrationError):
    """Azure Resource Manager answered with an error."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class NoCredentialError(AuthenticationError):
    """No credential produced a token (none given, and Entra ID sign-in found none on this
    machine); ``details`` holds what each credential of the chain said."""

    def __init__(self, message: str, *, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class EndpointUnreachableError(StorageError):
    """Nothing listens at ``address`` (``host:port``) on this machine: an emulator that is not
    running. Not retried: a refused connection on loopback does not heal in seconds."""

    def __init__(self, message: str, *, address: str) -> None:
        super().__init__(message)
        self.address = address


class HostNotFoundError(StorageError):
    """The name ``host`` does not resolve (a mistyped account name or endpoint). Not retried:
    a name that does not exist does not come into existence in seconds."""

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message)
        self.host = host
