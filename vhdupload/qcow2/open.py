"""``open_qcow2``: the header, then the L1 table, then the backing file and the data file.

Damage is one CorruptVhdError naming the file and the structure; what is valid but not read
here (encryption, unknown features) is an OtherFormatError saying what to do.
"""

from __future__ import annotations

import os
import pathlib

from ..errors import CorruptVhdError, InputError, OtherFormatError
from ..virtual_disk import VirtualDisk, pread_exact
from . import backing as backing_module
from .compressed import require_zstd
from .disk import Qcow2Disk
from .header import COMPRESSION_ZSTD, MAX_CLUSTER_BITS, Header, parse_header
from .tables import Tables, parse_u64_be


def open_qcow2(*, fd: int, path: pathlib.Path, file_size: int, chain_paths: tuple[pathlib.Path, ...],
               open_parent: backing_module.OpenParent) -> Qcow2Disk:
    """The qcow2 image at ``path`` (already open as ``fd``, which the returned disk then owns)."""
    def read_meta(offset: int, length: int, what: str) -> bytes:
        if offset < 0 or offset + length > file_size:
            raise CorruptVhdError(
                f"qcow2 {what} ({length} bytes at offset {offset}) lies beyond the end of the file "
                f"({file_size} bytes): the file is truncated")
        return pread_exact(fd, offset, length, path=path)

    try:
        first = pread_exact(fd, 0, min(file_size, 1 << MAX_CLUSTER_BITS), path=path)
        header = parse_header(first, file_size=file_size)
        if header.compression_type == COMPRESSION_ZSTD:
            require_zstd()
        l1 = parse_u64_be(read_meta(header.l1_offset, header.l1_size * 8, "L1 table"))
        tables = Tables(header=header, l1=l1, file_size=file_size, has_data_file=header.data_file_name is not None,
                        read_meta=read_meta)
        tables.check_l1()
        tables.check_clusters()
    except CorruptVhdError as exc:
        raise CorruptVhdError(f"{path}: {exc}") from None
    except OtherFormatError as exc:
        raise OtherFormatError(f"{path}: {exc}", format_name="qcow2") from None
    notes = _notes(header)
    real = pathlib.Path(os.path.realpath(path))
    chain_paths = chain_paths if real in chain_paths else chain_paths + (real,)
    data_file = _open_data_file(path, header) if header.data_file_name is not None else None
    backing: VirtualDisk | None = None
    try:
        if header.backing_name is not None:
            backing, more = backing_module.open_backing(child=path, name=header.backing_name,
                                                        fmt=header.backing_format, chain=chain_paths,
                                                        open_parent=open_parent)
            notes += more
    except BaseException:
        if data_file is not None:
            os.close(data_file[1])
        raise
    return Qcow2Disk(path=path, fd=fd, file_size=file_size, header=header, tables=tables, backing=backing,
                     data_file=data_file, notes=notes)


def _notes(header: Header) -> list[str]:
    notes = []
    if header.nb_snapshots:
        notes.append(
            f"the image holds {header.nb_snapshots} internal snapshot(s); they are ignored and the current state "
            "(the active layer) is read; to upload a snapshot, `qemu-img convert -l SNAPSHOT -O qcow2` it first")
    if header.dirty:
        notes.append(
            "the image is marked dirty (lazy refcounts: it was not closed cleanly); its data is read as qemu reads "
            "it, and `qemu-img check -r all` would repair its refcounts")
    return notes


def _open_data_file(path: pathlib.Path, header: Header) -> tuple[pathlib.Path, int]:
    assert header.data_file_name is not None
    name = pathlib.Path(header.data_file_name)
    # A relative name: next to the image first (where a copied VM keeps it), then the working
    # directory (where qemu 7.2 looks, resolving it as qemu-img was given it when creating).
    candidates = [name] if name.is_absolute() else [path.parent / name, name]
    data_path = next((c for c in candidates if c.is_file()), None)
    if data_path is None:
        raise InputError(f"{path}: its external data file {candidates[0]} is missing: put it next to the image")
    try:
        return data_path, os.open(data_path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"{path}: cannot open its external data file {data_path} ({exc.strerror or exc})") from exc
