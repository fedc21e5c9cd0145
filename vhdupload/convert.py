"""``convert_image``: any disk ``open_disk`` reads (or a raw image) in, a fixed, whole-MiB,
sparse VHD out. It composes the factory, Azure's size rule and the VHD footer builder."""

from __future__ import annotations

import os
import pathlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from .allocation import without_free_space
from .azure_rules import round_up_to_mib
from .disks import as_path, open_disk
from .errors import InputError
from .vhd.footer import COOKIE, make_fixed_footer

CHUNK_SIZE = 4 * 1024 * 1024
_ZEROS = bytes(CHUNK_SIZE)


@dataclass(frozen=True)
class ConvertResult:
    """What :func:`convert_image` wrote: the output's size and identity, and the bytes of data it holds."""

    source: str
    destination: str
    source_type: str  # "fixed" | "dynamic" | "differencing" | "raw"
    source_size: int  # the source's virtual size
    virtual_size: int  # the output's, a whole MiB
    uuid: str
    data_bytes: int  # bytes actually written (holes left where the source has no data)
    free_bytes_skipped: int | None = None  # with skip_free: free space left as holes; else None
    notes: tuple[str, ...] = ()  # with skip_free: the volumes copied as they are, and why


def convert_image(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    raw: bool = False,
    skip_free: bool = False,
) -> ConvertResult:
    """Write ``src`` (a VHD of any kind, or a raw image when it has no footer at all) to
    ``dst`` as a fixed VHD whose size is rounded up to a whole MiB.

    The output is sparse: only the source's extents are written (and all-zero chunks of them
    are skipped); the rest is holes. It goes to a temporary file next to ``dst`` that is
    renamed into place, so ``dst`` is never half-written. A damaged footer is refused rather
    than taken as raw. ``progress(done, total)`` is called with bytes of extents processed.
    ``raw`` takes ``src`` as a raw image whatever its bytes (when detection cannot tell).
    ``skip_free`` leaves the free space of the disk's file systems (and what no partition
    covers) as holes: deleted files' data is not copied (see :func:`vhdupload.upload`).
    """
    src_path, dst_path = as_path(src, what="source"), as_path(dst, what="destination")
    if progress is not None and not callable(progress):
        raise InputError(f"progress must be a callable or None, got {type(progress).__name__}")
    disk = open_disk(src_path, format="raw" if raw else "detect")  # no signature and no footer at all: a raw image
    free = None
    if skip_free:
        disk, free = without_free_space(disk)
    with disk:
        _check_destination(src_path, dst_path, force=force)
        if disk.virtual_size == 0:
            raise InputError(f"{src_path} holds a disk of 0 bytes: nothing to convert")
        if disk.read(0, min(disk.virtual_size, len(COOKIE))) == COOKIE:
            # A fixed VHD may hold anything, but readers that look for a footer copy at offset 0
            # first (qemu) would take the output for a dynamic VHD and fail; a real disk starts
            # with a boot sector, so this is a VHD stored inside an image.
            raise InputError(
                f"{src_path}: the disk's first sector starts with a VHD footer ('conectix'), as if a VHD "
                "were stored inside it; other tools would misread the output: convert the inner VHD instead"
            )
        size = round_up_to_mib(disk.virtual_size)
        footer = make_fixed_footer(virtual_size=size, template=disk.footer)
        extents = list(disk.extents())
        total = sum(b - a for a, b in extents)
        tmp_name = dst_path.parent / f".{dst_path.name}.{secrets.token_hex(6)}.tmp"
        # 0o666 through O_CREAT lets the kernel apply the umask, like any newly written file.
        try:
            fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as exc:
            raise InputError(
                f"cannot create a file in {dst_path.parent} ({exc.strerror or exc}): "
                "write the VHD to a directory you can write to"
            ) from None
        try:
            written = 0
            done = 0
            os.ftruncate(fd, size)  # holes everywhere until data is written
            for start, stop in extents:
                for pos in range(start, stop, CHUNK_SIZE):
                    n = min(CHUNK_SIZE, stop - pos)
                    chunk = disk.read(pos, n)
                    if chunk != _ZEROS[:n]:  # keep all-zero chunks as holes
                        _pwrite_all(fd, chunk, pos)
                        written += n
                    done += n
                    if progress is not None:
                        progress(done, total)
            _pwrite_all(fd, footer.to_bytes(), size)
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(tmp_name, dst_path)
        except BaseException as exc:
            if fd >= 0:
                os.close(fd)
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
            if isinstance(exc, OSError):  # writing failed (no space, file too large, I/O error)
                raise InputError(
                    f"cannot write {dst_path} ({exc.strerror or exc}); nothing was written: "
                    "free some space or choose another destination"
                ) from None
            raise
    return ConvertResult(
        source=str(src_path), destination=str(dst_path), source_type=disk.disk_type,
        source_size=disk.virtual_size, virtual_size=size, uuid=str(footer.uuid), data_bytes=written,
        free_bytes_skipped=free.free_bytes if free is not None else None,
        notes=tuple(free.kept()) if free is not None else (),
    )


def _check_destination(src: pathlib.Path, dst: pathlib.Path, *, force: bool) -> None:
    if dst.is_dir():
        raise InputError(f"{dst} is a directory: give the path of the VHD file to write")
    if not dst.parent.is_dir():
        raise InputError(f"{dst.parent} does not exist: create the directory first")
    if dst.exists():
        if src.exists() and os.path.samefile(src, dst):
            raise InputError(f"{dst} is the source itself: write the VHD to another path")
        if not force:
            raise InputError(f"{dst} already exists: choose another path or pass --force to replace it")


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
