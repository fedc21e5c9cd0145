"""LVM2 logical volumes inside a physical volume, read with libvslvm (``pyvslvm``).

Only volume groups whose physical volumes are all on this disk can be read (the usual case for
an image: one PV on the OS disk). Each logical volume is handed out as a file object whose
reads go through libvslvm's mapping to the PV's (bounded) window.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

from .filesystems import FsError, ReaderMissing, _short, install_hint
from .source import Window


class LogicalVolume:
    """A read-only file object over one LV (``read_at`` for the signature probe, too)."""

    def __init__(self, lv: Any, name: str) -> None:
        self._lv = lv
        self.name = name
        self.size = int(lv.get_size())
        self._pos = 0

    def read_at(self, offset: int, length: int) -> bytes:
        length = max(0, min(length, self.size - offset))
        return self._lv.read_buffer_at_offset(length, offset) if length and offset >= 0 else b""

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.size - self._pos
        data = self.read_at(self._pos, size)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the logical volume")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    get_offset = tell

    def get_size(self) -> int:
        return self.size


@dataclass
class VolumeGroup:
    name: str
    volumes: list[LogicalVolume]
    handle: Any  # kept open while the volumes are read


def open_volume_group(pv: Window, *, where: str) -> VolumeGroup:
    """The volume group of the PV in ``pv``; FsError when it cannot be read (ReaderMissing without libvslvm)."""
    try:
        pyvslvm = importlib.import_module("pyvslvm")
    except ImportError:
        raise ReaderMissing(
            f"{where}: an LVM2 physical volume, not read: its reader (libvslvm-python) is missing; "
            + install_hint(["pyvslvm"])
        ) from None
    try:
        handle = pyvslvm.handle()
        handle.open_file_object(pv)
        handle.open_physical_volume_files_as_file_objects([pv])
        group = handle.get_volume_group()
        volumes = []
        for index in range(min(int(group.get_number_of_logical_volumes()), 256)):
            lv = group.get_logical_volume(index)
            volumes.append(LogicalVolume(lv, lv.get_name() or f"lv{index}"))
        return VolumeGroup(group.get_name() or "?", volumes, handle)
    except Exception as exc:
        raise FsError(
            f"{where}: the LVM2 physical volume cannot be read ({_short(exc)}); a volume group spread "
            "over several disks cannot be read from one"
        ) from None
