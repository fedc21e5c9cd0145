"""An OVA read in place: the tar's member headers are indexed, no member is extracted; a
member is a byte range of the archive file, read by offset.

Only what an OVA is (a plain, uncompressed POSIX tar) is taken; GNU sparse members, links and
absurd member counts are refused, so a hostile archive costs at most a scan of its headers.
"""

from __future__ import annotations

import os
import pathlib
import tarfile
from dataclasses import dataclass

from ..errors import CorruptVhdError, InputError

SUFFIX = ".ova"
#: An OVA holds an OVF, a manifest, a certificate and a few disks; thousands of members is not one.
MAX_MEMBERS = 10_000


@dataclass(frozen=True)
class Member:
    name: str
    offset: int  # where its data starts in the archive file
    size: int


def is_ova_path(path: pathlib.Path) -> bool:
    return path.suffix.lower() == SUFFIX


def read_index(fd: int, path: pathlib.Path) -> dict[str, Member]:
    """The regular-file members of the tar open as ``fd``, by name (the first of a repeated name wins)."""
    members: dict[str, Member] = {}
    with os.fdopen(os.dup(fd), "rb") as stream:
        try:
            with tarfile.TarFile(fileobj=stream, mode="r") as archive:
                count = 0
                while True:
                    info = archive.next()
                    if info is None:
                        break
                    count += 1
                    if count > MAX_MEMBERS:
                        raise CorruptVhdError(f"{path} holds more than {MAX_MEMBERS} members: not an OVA")
                    if info.issparse():
                        raise InputError(f"{path}: member {info.name} is a GNU sparse file, which an OVA never "
                                         "holds: make the OVA again with a plain tar (or export it again)")
                    if info.isfile():
                        members.setdefault(_clean(info.name), Member(info.name, info.offset_data, info.size))
        except tarfile.TarError as exc:
            raise CorruptVhdError(f"{path} is not a readable tar archive (an OVA is one): {exc}") from None
    return members


def _clean(name: str) -> str:
    return name[2:] if name.startswith("./") else name
