"""``open_vmdk``: a VMDK from its first file: a sparse extent (``KDMV``) that embeds its
descriptor, or a descriptor text file that names its extent files.

A sparse file opened directly is its own single extent (as qemu reads it); its embedded
descriptor gives the CID and the parent. A descriptor file's extents are opened relative to
its directory (:func:`chain.extent_path` says which names are refused).
"""

from __future__ import annotations

import os
import pathlib
import stat

from ..errors import CorruptVhdError, InputError, OtherFormatError
from ..virtual_disk import VirtualDisk
from . import chain
from .descriptor import MAX_DESCRIPTOR_FILE, Descriptor, is_descriptor, parse_descriptor
from .disk import VmdkDisk
from .extent import Extent, FlatExtent, SparseExtent, ZeroExtent
from .header import (COWD_MAGIC, GD_AT_END, HEADER_SIZE, SECTOR, SparseHeader, check_header, is_sparse_vmdk,
                     parse_header)
from .span import Span


def is_vmdk(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts a VMDK: a sparse extent or a descriptor."""
    return is_sparse_vmdk(head) or head.startswith(COWD_MAGIC) or is_descriptor(head)


def open_vmdk(*, fd: int, path: pathlib.Path, file_size: int, chain_paths: tuple[pathlib.Path, ...],
              open_parent: chain.OpenParent) -> VmdkDisk:
    """The VMDK at ``path`` (already open as ``fd``, which the returned disk then owns)."""
    own = Span(fd=fd, path=path, size=file_size)
    opened: list[Span] = []
    try:
        extents, descriptor, create_type, stat_paths = _layout(own, directory=path.parent, opened=opened)
    except CorruptVhdError as exc:
        _close(opened)
        raise CorruptVhdError(f"{path}: {exc}") from None
    except (OtherFormatError, InputError) as exc:
        _close(opened)
        raise type(exc)(f"{path}: {exc}", **_format_name(exc)) from None
    except BaseException:
        _close(opened)
        raise
    parent = None
    if descriptor is not None and descriptor.has_parent:
        assert descriptor.parent_hint is not None
        real = pathlib.Path(os.path.realpath(path))
        chain_paths = chain_paths if real in chain_paths else chain_paths + (real,)
        try:
            parent = chain.open_parent(child=path, hint=descriptor.parent_hint, parent_cid=descriptor.parent_cid,
                                       chain=chain_paths, open_fn=open_parent, is_vmdk=_cid_of)
        except BaseException:
            _close(opened)
            raise
    return VmdkDisk(path=path, own=own, extents=extents, descriptor=descriptor, parent=parent,
                    stat_paths=[path, *stat_paths], create_type=create_type)


def open_vmdk_span(span: Span, *, name: pathlib.Path, stat_paths: list[pathlib.Path]) -> VmdkDisk:
    """A self-contained VMDK held in ``span`` (a member of an archive, which the disk then owns):
    a sparse or stream-optimized extent; no other file is opened, and no parent is followed."""
    try:
        extents, descriptor, create_type, _ = _layout(span, directory=None, opened=[])
    except CorruptVhdError as exc:
        raise CorruptVhdError(f"{name}: {exc}") from None
    except (OtherFormatError, InputError) as exc:
        raise type(exc)(f"{name}: {exc}", **_format_name(exc)) from None
    if descriptor is not None and descriptor.has_parent:
        raise InputError(f"{name} is a VMDK snapshot delta (it names the parent {descriptor.parent_hint!r}); "
                         "an archive's disk must stand alone: export the VM again, or consolidate its snapshots")
    return VmdkDisk(path=name, own=span, extents=extents, descriptor=descriptor, parent=None,
                    stat_paths=stat_paths, create_type=create_type)


def _layout(own: Span, *, directory: pathlib.Path | None,
            opened: list[Span]) -> tuple[list[Extent], Descriptor | None, str, list[pathlib.Path]]:
    head = own.read_upto(0, HEADER_SIZE, what="header")
    if is_sparse_vmdk(head) or head.startswith(COWD_MAGIC):
        header = _sparse_header(own, head)
        descriptor = _embedded_descriptor(own, header)
        create_type = descriptor.create_type if descriptor is not None and descriptor.create_type else (
            "streamOptimized" if header.markers else "monolithicSparse")
        return [SparseExtent(span=own, header=header, length=header.capacity * SECTOR)], descriptor, create_type, []
    if not is_descriptor(head):
        raise CorruptVhdError("is neither a VMDK sparse extent nor a VMDK descriptor")
    if own.size > MAX_DESCRIPTOR_FILE:
        raise CorruptVhdError(f"starts like a VMDK descriptor but is {own.size} bytes (a descriptor is text of "
                              "a few hundred bytes): it is damaged")
    descriptor = parse_descriptor(own.read(0, own.size, what="descriptor"))
    if not descriptor.extents:
        raise CorruptVhdError("the VMDK descriptor names no extents")
    if directory is None:
        raise InputError("is a VMDK descriptor that names other files; an archive's disk must be one "
                         "self-contained VMDK (stream-optimized or sparse)")
    extents: list[Extent] = []
    files: dict[str, Span] = {}
    stat_paths: list[pathlib.Path] = []
    for line in descriptor.extents:
        length = line.sectors * SECTOR
        if line.kind == "ZERO" or line.sectors == 0:
            extents.append(ZeroExtent(length=length))
            continue
        assert line.file_name is not None
        target = chain.extent_path(directory, line.file_name)
        key = os.path.realpath(target)
        span = files.get(key)
        if span is None:
            span = _open_extent_file(target)
            opened.append(span)
            files[key] = span
            stat_paths.append(target)
        if line.kind == "SPARSE":
            head = span.read_upto(0, HEADER_SIZE, what="extent header")
            header = _sparse_header(span, head, where=target.name)
            if header.capacity < line.sectors:
                raise CorruptVhdError(f"extent {target.name} holds {header.capacity} sectors, fewer than the "
                                      f"{line.sectors} the descriptor gives it")
            extents.append(SparseExtent(span=span, header=header, length=length))
        else:  # FLAT, VMFS
            offset = line.offset * SECTOR
            if offset + length > span.size:
                raise CorruptVhdError(f"flat extent {target.name} is {span.size} bytes, shorter than the "
                                      f"{offset + length} the descriptor says: it is truncated")
            extents.append(FlatExtent(span=span, offset=offset, length=length))
    return extents, descriptor, descriptor.create_type or "custom", stat_paths


def _sparse_header(span: Span, head: bytes, *, where: str = "") -> SparseHeader:
    what = f"header of {where}" if where else "header"
    header = parse_header(head, what=what)
    if header.gd_offset == GD_AT_END:
        # stream-optimized as VMware writes it: the real header is the footer, 1 KiB before the end
        if span.size < 3 * SECTOR:
            raise CorruptVhdError("stream-optimized VMDK is too short to hold its footer: it is truncated")
        header = parse_header(span.read(span.size - 2 * SECTOR, SECTOR, what="footer"), what="footer")
        if header.gd_offset == GD_AT_END:
            raise CorruptVhdError("stream-optimized VMDK's footer does not say where the grain directory is "
                                  "(the file is cut short)")
    check_header(header, what=what)
    return header


def _embedded_descriptor(span: Span, header: SparseHeader) -> Descriptor | None:
    if header.descriptor_offset == 0 or header.descriptor_size == 0:
        return None
    raw = span.read(header.descriptor_offset * SECTOR, header.descriptor_size * SECTOR, what="embedded descriptor")
    return parse_descriptor(raw)


def _open_extent_file(path: pathlib.Path) -> Span:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"its extent file {path} is missing: put it beside the descriptor") from None
    except OSError as exc:
        raise InputError(f"cannot read its extent file {path} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"its extent file {path} is not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"cannot open its extent file {path} ({exc.strerror or exc})") from None
    return Span(fd=fd, path=path, size=st.st_size)


def _cid_of(disk: VirtualDisk) -> int | None:
    if not isinstance(disk, VmdkDisk):
        return None
    return disk.cid if disk.cid is not None else 0


def _format_name(exc: Exception) -> dict[str, str]:
    return {"format_name": exc.format_name} if isinstance(exc, OtherFormatError) else {}


def _close(spans: list[Span]) -> None:
    for span in spans:
        span.close()
