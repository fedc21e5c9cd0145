"""The upload's state, kept in the blob's own metadata so any machine can resume it.

Names are valid C# identifiers (Azure requires it) with the prefix ``vhdupload_``; values are
ASCII. The source is identified by what survives a copy to another machine: its virtual size,
its VHD UUID, and a CRC64 fingerprint of a sample of its data; never by path or mtime alone
(``source_stat`` only tells whether the very same file was modified since it was read). The
``complete`` mark is set only after the footer page, which is written last.
"""

from __future__ import annotations

import os
import uuid as uuid_module
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from .. import crc64
from ..planning import PAGE, align_down
from ..virtual_disk import VirtualDisk

PREFIX = "vhdupload_"
FORMAT = "1"
STATE_UPLOADING = "uploading"
STATE_COMPLETE = "complete"
#: The source changed while it was being sent: the pages on the blob may mix two versions, so
#: a rerun must not resume this upload (only ``--overwrite`` starts it afresh).
STATE_SOURCE_CHANGED = "source_changed"

KEY_FORMAT = PREFIX + "format"
KEY_STATE = PREFIX + "state"
KEY_CRC64 = PREFIX + "crc64"
KEY_HEARTBEAT = PREFIX + "heartbeat"
KEY_LEASE_SECONDS = PREFIX + "lease_seconds"
KEY_SOURCE_STAT = PREFIX + "source_stat"
#: ``[0, watermark)`` is on the destination, and its CRC64 is ``watermark_crc64``: what a rerun
#: proves against the local source before it resumes (see ``vhdupload.source_proof``).
KEY_WATERMARK = PREFIX + "watermark"
KEY_WATERMARK_CRC64 = PREFIX + "watermark_crc64"
#: ``true`` when the upload left the disk's free space home (``skip_free``): the destination
#: holds zeros there by design, which a rerun and ``verify`` must know. Absent: sent whole (an
#: upload made before the mark existed, or without ``skip_free``), so plain uploads' metadata is
#: what it always was.
KEY_SKIP_FREE = PREFIX + "skip_free"
_FLAG_WORDS = {"true": True, "false": False}

_SAMPLE = 64 * 1024
_SPREAD_SAMPLES = 16


@dataclass(frozen=True)
class SourceIdentity:
    """What makes two copies of a source the same source."""

    virtual_size: int
    uuid: str  # the VHD footer's UUID, hex; "" for a raw image
    fingerprint: str  # CRC64 (16 hex) of sampled data
    disk_type: str = ""
    name: str = ""

    def same_source(self, other: "SourceIdentity") -> bool:
        # The disk type may differ (a copy converted dynamic -> fixed holds the same bytes).
        return (self.virtual_size, self.uuid, self.fingerprint) == (other.virtual_size, other.uuid, other.fingerprint)

    def describe(self) -> str:
        uuid = f", UUID {uuid_module.UUID(hex=self.uuid)}" if self.uuid else ""  # 8-4-4-4-12, as everywhere else
        return f"{self.name or 'a source'} ({self.disk_type or 'disk'}, {self.virtual_size} bytes{uuid})"


def fingerprint(disk: VirtualDisk) -> str:
    """CRC64 of 64 KiB samples at fixed places: the start, the end, and 16 places spread over
    the disk. The places depend on the size alone, never on how the file is laid out, so a
    sparse file and its dense copy, or a dynamic VHD and its fixed conversion, agree. (Where
    the data of a sparse image actually lies is compared on the blob itself before a resume:
    see ``upload._Session._spot_check``.)"""
    size = disk.virtual_size
    offsets = {0, align_down(max(size - _SAMPLE, 0), PAGE)}
    offsets.update(align_down(size * i // _SPREAD_SAMPLES, PAGE) for i in range(1, _SPREAD_SAMPLES))
    crc = crc64.EMPTY
    for offset in sorted(offsets):
        length = min(_SAMPLE, size - offset)
        if length > 0:
            crc = crc64.compute(disk.read(offset, length), crc)
    return crc64.to_hex(crc)


def source_identity(disk: VirtualDisk) -> SourceIdentity:
    if disk.footer is not None:
        uuid = disk.footer.uuid.hex
    else:  # a VHDX names itself by its page 83 disk ID; a raw image has nothing
        disk_id = getattr(disk, "disk_id", None)
        uuid = disk_id.hex if disk_id is not None else ""
    return SourceIdentity(
        virtual_size=disk.virtual_size,
        uuid=uuid,
        fingerprint=fingerprint(disk),
        disk_type=disk.disk_type,
        name=disk.path.name,
    )


def stat_token(stats: list[os.stat_result]) -> str:
    """``DEV:INODE:DIGEST`` for the ``os.stat`` results of a source's files (the disk first):
    the digest covers every file's size, mtime, inode and device."""
    if not stats:
        return ""
    keys = repr([(s.st_size, s.st_mtime_ns, s.st_ino, s.st_dev) for s in stats]).encode("ascii")
    return f"{stats[0].st_dev}:{stats[0].st_ino}:{crc64.to_hex(crc64.compute(keys))}"


@dataclass
class UploadState:
    """Everything the blob's metadata says about the upload it holds."""

    source: SourceIdentity
    blob_size: int
    footer_uuid: str  # the footer written last (pinned for raw images so reruns agree)
    footer_timestamp: int
    state: str = STATE_UPLOADING
    crc64: str | None = None
    heartbeat: int = 0
    lease_seconds: int = 0  # how long the writer's lease lasts (0: unknown, take the 60 s maximum)
    #: ``DEV:INODE:DIGEST`` of the source file(s) as the last writer saw them: on the same file
    #: (same device and inode) a different digest means it was modified since (see upload.py).
    source_stat: str = ""
    #: ``(W, CRC64 hex of the destination's bytes [0, W))``: [0, W) is known to be there. One
    #: tuple, replaced whole, so a heartbeat writing it from another thread never pairs a new W
    #: with an old CRC.
    watermark: tuple[int, str] = (0, "")
    #: The free space of the disk's file systems was left out (read as zeros): see KEY_SKIP_FREE.
    skip_free: bool = False
    extra: dict[str, str] = field(default_factory=dict)  # others' metadata, kept as is

    @property
    def complete(self) -> bool:
        return self.state == STATE_COMPLETE

    @property
    def source_changed(self) -> bool:
        return self.state == STATE_SOURCE_CHANGED

    def modified_since(self, stat_token: str) -> bool:
        """Whether ``stat_token`` (see :func:`stat_token`) shows the very file this upload read
        (same device and inode) modified since: a copy elsewhere has another inode and is
        judged by the fingerprint alone."""
        if not self.source_stat or not stat_token:
            return False
        recorded, current = self.source_stat.rsplit(":", 1), stat_token.rsplit(":", 1)
        return recorded[0] == current[0] and recorded[1] != current[1]

    @property
    def footer_uuid_value(self) -> uuid_module.UUID | None:
        return uuid_module.UUID(hex=self.footer_uuid) if self.footer_uuid else None

    def to_metadata(self) -> dict[str, str]:
        meta = dict(self.extra)
        meta.update(
            {
                KEY_FORMAT: FORMAT,
                KEY_STATE: self.state,
                PREFIX + "source_name": _ascii(self.source.name),
                PREFIX + "source_type": self.source.disk_type,
                PREFIX + "source_size": str(self.source.virtual_size),
                PREFIX + "source_uuid": self.source.uuid,
                PREFIX + "source_fingerprint": self.source.fingerprint,
                PREFIX + "blob_size": str(self.blob_size),
                PREFIX + "footer_uuid": self.footer_uuid,
                PREFIX + "footer_timestamp": str(self.footer_timestamp),
            }
        )
        if self.crc64:
            meta[KEY_CRC64] = self.crc64
        if self.heartbeat:
            meta[KEY_HEARTBEAT] = str(self.heartbeat)
        if self.lease_seconds:
            meta[KEY_LEASE_SECONDS] = str(self.lease_seconds)
        if self.source_stat:
            meta[KEY_SOURCE_STAT] = self.source_stat
        mark, mark_crc = self.watermark
        if mark and mark_crc:
            meta[KEY_WATERMARK] = str(mark)
            meta[KEY_WATERMARK_CRC64] = mark_crc
        if self.skip_free:
            meta[KEY_SKIP_FREE] = "true"
        return meta

    @classmethod
    def from_metadata(cls, metadata: dict[str, str] | None) -> "UploadState | None":
        """The state in ``metadata``, or None if the blob was not made by vhdupload."""
        meta = {k.lower(): v for k, v in (metadata or {}).items()}
        if meta.get(KEY_FORMAT) != FORMAT:
            return None
        try:
            source = SourceIdentity(
                virtual_size=int(meta[PREFIX + "source_size"]),
                uuid=meta.get(PREFIX + "source_uuid", ""),
                fingerprint=meta[PREFIX + "source_fingerprint"],
                disk_type=meta.get(PREFIX + "source_type", ""),
                name=unquote(meta.get(PREFIX + "source_name", "")),
            )
            return cls(
                source=source,
                blob_size=int(meta[PREFIX + "blob_size"]),
                footer_uuid=meta.get(PREFIX + "footer_uuid", ""),
                footer_timestamp=int(meta.get(PREFIX + "footer_timestamp", "0")),
                state=meta.get(KEY_STATE, STATE_UPLOADING),
                crc64=meta.get(KEY_CRC64),
                heartbeat=int(meta.get(KEY_HEARTBEAT, "0") or 0),
                lease_seconds=int(meta.get(KEY_LEASE_SECONDS, "0") or 0),
                source_stat=meta.get(KEY_SOURCE_STAT, ""),
                watermark=(int(meta.get(KEY_WATERMARK, "0") or 0), meta.get(KEY_WATERMARK_CRC64, "")),
                skip_free=_FLAG_WORDS[meta.get(KEY_SKIP_FREE, "false")],  # another word: not ours to trust
                extra={k: v for k, v in meta.items() if not k.startswith(PREFIX)},
            )
        except (KeyError, ValueError):
            return None


def _ascii(text: str) -> str:
    """Metadata values must be ASCII: percent-escape anything else (and '%' itself)."""
    return quote(text, safe=" !#$&'()*+,-./:;=?@[]^_`{|}~")
