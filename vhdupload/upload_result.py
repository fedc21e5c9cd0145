"""What an upload did: :class:`UploadResult`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

@dataclass(frozen=True)
class UploadResult:
    """What an upload did. ``to_dict`` gives the ``--json`` object."""

    blob_url: str  # without any SAS
    source: str
    virtual_size: int
    blob_size: int
    data_bytes: int  # nonzero 4 KiB pages found in the source (already complete: the data pages the destination holds)
    bytes_sent: int  # request bodies sent (merged zero gaps included, retries not)
    bytes_skipped: int  # bytes of the blob never sent: zeros
    bytes_present: int  # already on the blob when resuming
    requests: int
    retries: int
    seconds: float
    crc64: str  # 16 lowercase hex digits, of the whole blob
    resumed: bool
    already_complete: bool  # the blob already held this source: nothing was sent
    resized: bool  # the virtual size was rounded up to a whole MiB
    content_md5: str | None = None  # base64, when asked for
    disk_id: str | None = None  # a managed disk's ARM resource ID
    disk_state: str | None = None  # a managed disk's diskState afterwards, as ARM says it
    notes: list[str] = field(default_factory=list)  # what the user should know (not errors)
    threads: int = 0  # requests in flight: the pinned count, or where the adaptive limit settled
    concurrency: str = ""  # "pinned" or "adaptive, mostly 16 (8-24)"
    max_gap: int = 0  # zero gaps shorter than this were sent: the pinned value, or where it settled
    merging: str = ""  # "pinned" or "adaptive, mostly 240 KiB (120-240 KiB)"
    check_seconds: float = 0.0  # spent proving the source by CRC64 (resume watermark, complete check)
    free_bytes_skipped: int | None = None  # with skip_free: free space left out (not read, not sent); else None

    @property
    def rate(self) -> float:
        """Bytes of the blob covered per second."""
        return self.blob_size / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data
