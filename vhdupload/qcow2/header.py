"""The qcow2 header (versions 2 and 3) and its extensions, checked before anything is read through them.

Layout (big-endian), from qemu's docs/interop/qcow2.txt: magic, version, backing file name
(offset, size), cluster_bits, size, crypt_method, L1 size and offset, refcount table, snapshots;
version 3 adds the feature bits, refcount_order, header_length and the compression type. The
extensions (type, length, data padded to 8) follow the header up to the end of the first cluster.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import CorruptVhdError, OtherFormatError

MAGIC = b"QFI\xfb"
V2_HEADER_SIZE = 72
V3_HEADER_SIZE = 104
#: qemu's bounds: 512-byte to 2 MiB clusters (QCOW_MIN/MAX_CLUSTER_BITS).
MIN_CLUSTER_BITS, MAX_CLUSTER_BITS = 9, 21
#: qemu's bound on the L1 table (QCOW_MAX_L1_SIZE, 32 MiB): bounds memory at open.
MAX_L1_BYTES = 32 * 1024 * 1024
MAX_BACKING_NAME = 1023  # qemu's bound

# incompatible_features bits
DIRTY, CORRUPT, EXTERNAL_DATA_FILE, COMPRESSION_TYPE, EXTENDED_L2 = 1, 2, 4, 8, 16
_KNOWN_INCOMPATIBLE = DIRTY | CORRUPT | EXTERNAL_DATA_FILE | COMPRESSION_TYPE | EXTENDED_L2
# autoclear_features bits
RAW_DATA_FILE = 2

# header extension types
EXT_END = 0x00000000
EXT_BACKING_FORMAT = 0xE2792ACA
EXT_FEATURE_NAMES = 0x6803F857
EXT_ENCRYPTION = 0x0537BE77
EXT_DATA_FILE = 0x44415441

COMPRESSION_ZLIB, COMPRESSION_ZSTD = 0, 1
_CRYPT_NAMES = {1: "AES", 2: "LUKS"}


@dataclass(frozen=True)
class Header:
    version: int
    cluster_bits: int
    size: int  # the virtual disk's size in bytes
    l1_size: int  # entries
    l1_offset: int
    nb_snapshots: int
    incompatible: int
    autoclear: int
    compression_type: int
    backing_name: str | None
    backing_format: str | None
    data_file_name: str | None
    header_length: int

    @property
    def cluster_size(self) -> int:
        return 1 << self.cluster_bits

    @property
    def extended_l2(self) -> bool:
        return bool(self.incompatible & EXTENDED_L2)

    @property
    def l2_entry_size(self) -> int:
        return 16 if self.extended_l2 else 8

    @property
    def l2_entries(self) -> int:
        return self.cluster_size // self.l2_entry_size

    @property
    def dirty(self) -> bool:
        return bool(self.incompatible & DIRTY)

    @property
    def compression_name(self) -> str:
        return "zstd" if self.compression_type == COMPRESSION_ZSTD else "zlib"


def is_qcow2(head: bytes) -> bool:
    return head.startswith(MAGIC)


def parse_header(first_cluster: bytes, *, file_size: int) -> Header:
    """The header from the file's first bytes (at least its first cluster, or the whole file if
    shorter). CorruptVhdError for damage, OtherFormatError for what is valid but not read here."""
    if len(first_cluster) < V2_HEADER_SIZE:
        raise CorruptVhdError(f"qcow2 header is cut short: the file has only {len(first_cluster)} bytes")
    (magic, version, backing_offset, backing_size, cluster_bits, size, crypt_method, l1_size, l1_offset,
     _refcount_offset, _refcount_clusters, nb_snapshots, _snapshots_offset) = struct.unpack_from(
        ">4sIQIIQIIQQIIQ", first_cluster)
    assert magic == MAGIC
    if version not in (2, 3):
        raise OtherFormatError(
            f"qcow2 version {version} is not one qemu writes (2 or 3): convert it with "
            "`qemu-img convert -O qcow2` using the tool that made it", format_name="qcow2")
    if not MIN_CLUSTER_BITS <= cluster_bits <= MAX_CLUSTER_BITS:
        raise CorruptVhdError(
            f"qcow2 cluster_bits is {cluster_bits}, outside {MIN_CLUSTER_BITS}..{MAX_CLUSTER_BITS} "
            "(512 bytes to 2 MiB clusters)")
    cluster_size = 1 << cluster_bits
    incompatible = autoclear = compression_type = 0
    header_length = V2_HEADER_SIZE
    if version == 3:
        if len(first_cluster) < V3_HEADER_SIZE:
            raise CorruptVhdError("qcow2 version 3 header is cut short")
        incompatible, _compatible, autoclear, _refcount_order, header_length = struct.unpack_from(
            ">QQQII", first_cluster, 72)
        if header_length < V3_HEADER_SIZE or header_length > cluster_size or header_length % 8:
            raise CorruptVhdError(f"qcow2 header_length {header_length} is not a multiple of 8 in 104..{cluster_size}")
        if header_length > V3_HEADER_SIZE:
            compression_type = first_cluster[104]
    if crypt_method:
        what = _CRYPT_NAMES.get(crypt_method, f"method {crypt_method}")
        raise OtherFormatError(
            f"qcow2 image is encrypted ({what}): decrypt it first with `qemu-img convert --object "
            "secret,id=sec0,file=PASSFILE --image-opts driver=qcow2,file.filename=IMAGE,encrypt.key-secret=sec0 "
            "-O qcow2 PLAIN.qcow2`, then upload PLAIN.qcow2", format_name="qcow2")
    if incompatible & CORRUPT:
        raise CorruptVhdError(
            "qcow2 image is marked corrupt (qemu found inconsistent metadata and stopped writing it): "
            "repair a copy with `qemu-img check -r all` and upload that")
    unknown = incompatible & ~_KNOWN_INCOMPATIBLE
    if unknown:
        raise OtherFormatError(
            f"qcow2 image uses incompatible features this reader does not know (bits {unknown:#x}): convert it "
            "with `qemu-img convert -O qcow2 -o compat=1.1` from a qemu that knows them", format_name="qcow2")
    if incompatible & COMPRESSION_TYPE:
        if compression_type == COMPRESSION_ZLIB:
            raise CorruptVhdError("qcow2 compression-type bit is set but the compression type is zlib (0)")
    if compression_type not in (COMPRESSION_ZLIB, COMPRESSION_ZSTD):
        raise OtherFormatError(f"qcow2 compression type {compression_type} is unknown (0 zlib, 1 zstd)",
                               format_name="qcow2")
    if compression_type != COMPRESSION_ZLIB and not incompatible & COMPRESSION_TYPE:
        raise CorruptVhdError("qcow2 compression type is not zlib but the compression-type bit is clear")
    if incompatible & EXTENDED_L2 and cluster_bits < 14:
        raise CorruptVhdError("qcow2 extended L2 entries need clusters of at least 16 KiB")
    if l1_size * 8 > MAX_L1_BYTES:
        raise CorruptVhdError(f"qcow2 L1 table of {l1_size} entries is larger than qemu's 32 MiB bound")
    l2_entries = cluster_size // (16 if incompatible & EXTENDED_L2 else 8)
    needed = -(-size // (cluster_size * l2_entries))
    if l1_size < needed:
        raise CorruptVhdError(f"qcow2 L1 table has {l1_size} entries, fewer than the {needed} its size of {size} bytes needs")
    if l1_size and (l1_offset % cluster_size or l1_offset == 0 or l1_offset + l1_size * 8 > file_size):
        raise CorruptVhdError(
            f"qcow2 L1 table ({l1_size} entries at offset {l1_offset}) is misaligned or lies beyond the end of the "
            f"file ({file_size} bytes)")
    backing_name = None
    if backing_offset:
        if backing_size == 0 or backing_size > MAX_BACKING_NAME or backing_offset + backing_size > len(first_cluster):
            raise CorruptVhdError(
                f"qcow2 backing file name ({backing_size} bytes at offset {backing_offset}) is empty, too long or "
                "outside the first cluster")
        backing_name = _text(first_cluster[backing_offset:backing_offset + backing_size], "backing file name")
    extensions = _extensions(first_cluster, start=header_length,
                             stop=backing_offset if backing_offset else min(len(first_cluster), cluster_size))
    data_file_name = None
    if incompatible & EXTERNAL_DATA_FILE:
        raw_name = extensions.get(EXT_DATA_FILE)
        if not raw_name:
            raise OtherFormatError(
                "qcow2 image keeps its data in an external file whose name it does not record: convert it with "
                "`qemu-img convert --image-opts driver=qcow2,file.filename=IMAGE,data-file.filename=DATA -O qcow2 "
                "OUT.qcow2`", format_name="qcow2")
        data_file_name = _text(raw_name, "external data file name")
    backing_format = extensions.get(EXT_BACKING_FORMAT)
    return Header(
        version=version, cluster_bits=cluster_bits, size=size, l1_size=l1_size, l1_offset=l1_offset,
        nb_snapshots=nb_snapshots, incompatible=incompatible, autoclear=autoclear, compression_type=compression_type,
        backing_name=backing_name,
        backing_format=_text(backing_format, "backing format") if backing_format is not None else None,
        data_file_name=data_file_name, header_length=header_length,
    )


def _extensions(data: bytes, *, start: int, stop: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    pos = start
    while pos + 8 <= stop:
        kind, length = struct.unpack_from(">II", data, pos)
        if kind == EXT_END:
            return found
        end = pos + 8 + length
        if end > stop:
            raise CorruptVhdError(f"qcow2 header extension {kind:#x} at offset {pos} runs past its space")
        found.setdefault(kind, data[pos + 8:end])
        pos = end + (-length % 8)
    return found


def _text(raw: bytes, what: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptVhdError(f"qcow2 {what} is not UTF-8 text") from None
    if "\0" in text:
        text = text.split("\0", 1)[0]
    if not text:
        raise CorruptVhdError(f"qcow2 {what} is empty")
    return text
