"""``open_vhd``: read a VHD's footer and return the right disk for it.

It chains footer -> dynamic header -> BAT -> parent; the structure modules (``dynamic``,
``chain``, ``layout``) never import it. The file is opened, and its format recognised, by the
factory above the formats (:func:`vhdupload.disks.open_disk`), which also passes in how a
parent is opened.
"""

from __future__ import annotations

import os
import pathlib

from ..errors import CorruptVhdError, NotAVhdError, VhdUploadError
from ..virtual_disk import VirtualDisk, pread_exact
from . import chain as parents
from .dynamic import DifferencingDisk, DynamicDisk, read_sparse_layout
from .fixed import FixedDisk
from .footer import (
    COOKIE,
    DISK_TYPE_DIFFERENCING,
    DISK_TYPE_DYNAMIC,
    DISK_TYPE_FIXED,
    FOOTER_SIZE,
    OLD_FOOTER_SIZE,
    Footer,
)

__all__ = ["open_vhd"]


def open_vhd(*, fd: int, path: pathlib.Path, file_size: int, head: bytes, chain_paths: tuple[pathlib.Path, ...],
             open_parent: parents.OpenParent) -> VirtualDisk:
    """The VHD at ``path`` (already open as ``fd``, which the returned disk then owns; ``head`` is
    the file's first bytes). NotAVhdError when the file has no footer at all."""
    footer, footer_bytes = _read_footer(fd, path, file_size, head)
    if footer is None or footer_bytes is None:  # both or neither: the second for the type checker
        raise NotAVhdError(
            f"{path} has no VHD footer (no 'conectix' cookie at its end): if it is a raw disk "
            f"image, make a VHD with `vhdupload convert {path} OUT.vhd`"
        )
    if footer.disk_type == DISK_TYPE_FIXED:
        return _fixed(fd, path, file_size, footer, footer_bytes)
    return _sparse(fd, path, file_size, footer, footer_bytes, chain=chain_paths, open_parent=open_parent)


def _sparse(fd: int, path: pathlib.Path, size: int, footer: Footer, footer_bytes: bytes, *,
            chain: tuple[pathlib.Path, ...], open_parent: parents.OpenParent) -> VirtualDisk:
    """A dynamic or differencing VHD: header and BAT checked, then (differencing) its parent."""
    layout = read_sparse_layout(fd=fd, path=path, file_size=size, footer=footer, footer_bytes=footer_bytes)
    if footer.disk_type != DISK_TYPE_DIFFERENCING:
        return DynamicDisk(path=path, fd=fd, file_size=size, virtual_size=footer.current_size, footer=footer,
                           footer_bytes=footer_bytes, header=layout.header, bat=layout.bat)
    parent = parents.open_parent(
        child=path, fd=fd, header=layout.header, data_end=layout.data_end,
        chain=chain or (pathlib.Path(os.path.realpath(path)),), open_fn=open_parent,
    )
    return DifferencingDisk(parent=parent, path=path, fd=fd, file_size=size, virtual_size=footer.current_size,
                            footer=footer, footer_bytes=footer_bytes, header=layout.header, bat=layout.bat)


def _read_footer(fd: int, path: pathlib.Path, size: int, head: bytes) -> tuple[Footer | None, bytes | None]:
    """The file's footer and its exact bytes, or (None, None) when it has none at all.

    A cookie with a bad checksum is a damaged footer, never "no footer".
    """
    for length in (FOOTER_SIZE, OLD_FOOTER_SIZE):
        if size < length:
            continue
        tail = pread_exact(fd, size - length, length, path=path)
        if tail[:8] == COOKIE:
            try:
                return Footer.parse(tail), tail
            except VhdUploadError as exc:
                raise CorruptVhdError(f"{path}: {exc}") from None
    # No footer at the end. Dynamic and differencing disks keep a copy at offset 0: if that
    # is there, the end of the file is missing (truncated), which must not pass as "raw".
    if head[:8] == COOKIE and len(head) >= FOOTER_SIZE:
        try:
            copy = Footer.parse(head[:FOOTER_SIZE])
        except VhdUploadError:
            copy = None
        if copy is not None and copy.disk_type in (DISK_TYPE_DYNAMIC, DISK_TYPE_DIFFERENCING):
            raise CorruptVhdError(
                f"{path}: the {copy.disk_type_name} VHD's footer copy at offset 0 is intact but "
                "the footer at the end of the file is missing: the file is truncated"
            )
    return None, None


def _fixed(fd: int, path: pathlib.Path, size: int, footer: Footer, footer_bytes: bytes) -> FixedDisk:
    virtual_size = footer.current_size
    data_end = size - len(footer_bytes)
    if data_end < virtual_size:
        raise CorruptVhdError(
            f"{path}: fixed VHD is truncated: its footer says {virtual_size} bytes of data but "
            f"the file holds only {data_end} before the footer"
        )
    return FixedDisk(path=path, fd=fd, file_size=size, virtual_size=virtual_size, footer=footer,
                     footer_bytes=footer_bytes)
