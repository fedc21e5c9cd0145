"""Compressed clusters: raw deflate (qemu's zlib, window bits -12) or zstd, inflated to exactly
one cluster.

Decompression happens in ``read()``, that is in the upload's worker threads: zlib and the zstd
binding release the GIL while they work. Output is bounded by ``max_length``, so a cluster that
would inflate past its size costs no more than one cluster of memory; one that inflates to less
is damage (qemu refuses it the same way).

zstd comes from ``backports.zstd``: the ``compression.zstd`` module of Python 3.14, backported
and maintained by the CPython core developer who wrote it, with wheels for every platform we
support; on 3.14 the standard library's own module is used. Without it, an image that is not
zstd-compressed still reads, and one that is fails with a one-line error saying what to install.
"""

from __future__ import annotations

import zlib
from types import ModuleType

from ..errors import CorruptVhdError, OtherFormatError

_zstd: ModuleType | None
try:  # Python 3.14+
    from compression import zstd as _zstd  # type: ignore[import-not-found,no-redef,unused-ignore]
except ImportError:
    try:
        from backports import zstd as _zstd  # type: ignore[no-redef,unused-ignore]
    except ImportError:
        _zstd = None

_ERRORS: tuple[type[Exception], ...] = (zlib.error, ValueError, EOFError) + (
    (_zstd.ZstdError,) if _zstd is not None else ())


def require_zstd() -> None:
    """OtherFormatError when zstd-compressed clusters cannot be read here."""
    if _zstd is None:
        raise OtherFormatError(
            "qcow2 image is zstd-compressed and the zstd module is missing: `pip install backports.zstd`",
            format_name="qcow2",
        )


def inflate(data: bytes, *, cluster_size: int, zstd: bool, where: str) -> bytes:
    """The cluster ``data`` holds, exactly ``cluster_size`` bytes; ``where`` names it for errors."""
    try:
        if zstd:
            assert _zstd is not None  # require_zstd() ran at open
            out = _zstd.ZstdDecompressor().decompress(data, max_length=cluster_size)
        else:
            out = zlib.decompressobj(-15).decompress(data, cluster_size)
    except _ERRORS as exc:
        raise CorruptVhdError(f"compressed cluster {where} does not decompress ({exc})") from None
    if len(out) != cluster_size:
        raise CorruptVhdError(
            f"compressed cluster {where} decompresses to {len(out)} bytes, not the cluster's {cluster_size}")
    return bytes(out)
