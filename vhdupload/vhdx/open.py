"""``open_vhdx``: read and check every VHDX structure, in the order the spec trusts them.

File type identifier -> the current header -> log replay (in memory) -> region table ->
metadata -> BAT -> parent. Each structure is bounds-checked and CRC-checked before it is used;
damage is one CorruptVhdError naming the file and the structure.
"""

from __future__ import annotations

import pathlib

from ..errors import CorruptVhdError, OtherFormatError, ParentChainError
from . import chain
from .bat import Bat, Geometry, check_geometry
from .disk import VhdxDisk
from .fileview import FileView
from .header import HEADER_OFFSETS, HEADER_SIZE, current_header
from .identifier import HEADER_SECTION_SIZE, creator
from .log import replay_log
from .metadata import TABLE_SIZE, read_metadata
from .region_table import TABLE_OFFSETS, TABLE_SIZE as REGION_TABLE_SIZE, check_regions, first_valid_table

VHD_SET_SUFFIX = ".vhds"


def is_vhd_set(path: pathlib.Path) -> bool:
    return path.suffix.lower() == VHD_SET_SUFFIX


def open_vhdx(*, fd: int, path: pathlib.Path, file_size: int, chain_paths: tuple[pathlib.Path, ...],
              open_parent: chain.OpenParent) -> VhdxDisk:
    """The VHDX at ``path`` (already open as ``fd``, which the returned disk then owns)."""
    if is_vhd_set(path):
        raise OtherFormatError(
            f"{path} is a VHD Set (.vhds), the shared-disk wrapper Hyper-V keeps around .avhdx checkpoints: "
            "upload the newest .avhdx it refers to, or export a VHDX with Hyper-V's `Convert-VHD`",
            format_name="VHDX",
        )
    try:
        view = FileView(fd=fd, path=path, file_size=file_size)
        if file_size < HEADER_SECTION_SIZE:
            raise CorruptVhdError(
                f"VHDX is {file_size} bytes, shorter than its 1 MiB header section: the file is truncated"
            )
        section = view.read(0, HEADER_SECTION_SIZE, what="header section")
        header = current_header(*(section[o:o + HEADER_SIZE] for o in HEADER_OFFSETS))
        replay = replay_log(fd=fd, path=path, file_size=file_size, log_guid=header.log_guid,
                            log_offset=header.log_offset, log_length=header.log_length)
        view.set_overlay(replay.pieces, size=replay.file_size)
        tables = [view.read(o, REGION_TABLE_SIZE, what="region table") for o in TABLE_OFFSETS]
        regions = first_valid_table(tables)
        log_span = (header.log_offset, header.log_length) if header.has_log else None
        bat_region, meta_region = check_regions(regions, file_size=view.size, log=log_span)
        table = view.read(meta_region.offset, TABLE_SIZE, what="metadata table")
        metadata = read_metadata(
            table, region_length=meta_region.length,
            read_item=lambda o, n: view.read(meta_region.offset + o, n, what="metadata item"),
        )
        geometry = Geometry(virtual_size=metadata.virtual_size, block_size=metadata.block_size,
                            logical_sector_size=metadata.logical_sector_size, has_parent=metadata.has_parent)
        check_geometry(geometry, bat_region_length=bat_region.length)
        bat = Bat(geometry, lambda first, count: view.read(bat_region.offset + 8 * first, 8 * count, what="BAT"))
        reserved = [(0, HEADER_SECTION_SIZE, "header section")]
        reserved += [(r.offset, r.end, r.name) for r in regions.values()]
        if log_span is not None:
            reserved.append((log_span[0], log_span[0] + log_span[1], "log"))
        bat.check(file_size=view.size, reserved=reserved)
    except CorruptVhdError as exc:
        raise CorruptVhdError(f"{path}: {exc}") from None
    except OtherFormatError as exc:
        raise OtherFormatError(f"{path}: {exc}", format_name="VHDX") from None
    parent = None
    if metadata.has_parent:
        assert metadata.parent_locator is not None
        real = pathlib.Path(path).resolve()
        chain_paths = chain_paths if real in chain_paths else chain_paths + (real,)
        parent = chain.open_parent(child=path, locator=metadata.parent_locator, chain=chain_paths,
                                   open_fn=open_parent)
        if parent.logical_sector_size != metadata.logical_sector_size:
            parent.close()
            raise ParentChainError(
                f"{path}: its parent {parent.path} has {parent.logical_sector_size}-byte sectors and the child "
                f"{metadata.logical_sector_size}-byte ones, which the format forbids: restore the right parent"
            )
    return VhdxDisk(view=view, header=header, metadata=metadata, bat=bat, replay=replay,
                    creator=creator(section), parent=parent)
