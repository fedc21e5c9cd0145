"""Look inside a disk before it goes: which OS, which architecture, generalized or not, and
whether it is ready to provision on Azure -- read-only, from its partitions and file systems.

- :mod:`.source` bounded, cached reads (a byte cap and a deadline for the whole examination);
- :mod:`.partitions` GPT and MBR; :mod:`.lvm` LVM2 volume groups (libvslvm);
- :mod:`.probe` file-system signatures; :mod:`.filesystems` ext4, XFS, FAT and NTFS through the
  libyal readers (dependencies, LGPL-3.0);
- :mod:`.linux` and :mod:`.windows` the OS checks; :mod:`.machine` ELF/PE architectures;
- :mod:`.examine` puts them together into a :class:`GuestReport`; :mod:`.policy` decides what
  registration and upload do with it.

Nothing here imports the Azure layers: registration and upload call in.
"""

from __future__ import annotations

from .examine import examine, examine_blob, examine_reader
from .policy import choose_architecture, choose_os_type, readers_missing, require_generalized
from .report import Capabilities, GuestReport, Volume

__all__ = [
    "Capabilities",
    "GuestReport",
    "Volume",
    "choose_architecture",
    "choose_os_type",
    "examine",
    "examine_blob",
    "examine_reader",
    "readers_missing",
    "require_generalized",
]
