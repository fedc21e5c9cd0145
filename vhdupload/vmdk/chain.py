"""A VMDK's parent (``parentFileNameHint``) and its extent files: where names may lead.

Extent file names come from the descriptor, which may come from anyone (an OVA downloaded from
the web): a name that is absolute or climbs out of the descriptor's directory (``../../etc/passwd``)
is refused, because following it would upload some other file of this machine. Sub-directories
are allowed. The parent hint may be absolute or relative (``qemu-img create -b /abs/base.vmdk``
writes the path it was given), since the parent must also be a VMDK whose CID is the child's
``parentCID``: a file that is not the parent does not pass. Depth is capped, loops refused.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable

from ..errors import FormatError, InputError, ParentChainError
from ..virtual_disk import VirtualDisk

MAX_CHAIN_DEPTH = 64

OpenParent = Callable[[pathlib.Path, tuple[pathlib.Path, ...]], VirtualDisk]


def extent_path(directory: pathlib.Path, name: str) -> pathlib.Path:
    """``name`` (from a descriptor) inside ``directory``, or InputError if it would leave it."""
    posix = name.replace("\\", "/")
    if not posix or "\0" in posix:
        raise InputError(f"the VMDK descriptor names an extent file {name[:80]!r}, which is not a file name")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        raise InputError(
            f"the VMDK descriptor names the extent file {name[:80]!r} by an absolute path; vhdupload reads only "
            "extent files beside the descriptor: edit the descriptor to name it relative to its own directory"
        )
    depth = 0
    for part in posix.split("/"):
        if part == "..":
            depth -= 1
        elif part not in ("", "."):
            depth += 1
        if depth < 0:
            raise InputError(
                f"the VMDK descriptor names the extent file {name[:80]!r}, outside its own directory; vhdupload "
                "reads only extent files beside the descriptor: move the file there and edit the descriptor"
            )
    return directory / posix


def open_parent(*, child: pathlib.Path, hint: str, parent_cid: int, chain: tuple[pathlib.Path, ...],
                open_fn: OpenParent, is_vmdk: Callable[[VirtualDisk], int | None]) -> VirtualDisk:
    """The parent ``hint`` names (relative to ``child``'s directory); ``is_vmdk`` gives a disk's CID
    (None: not a VMDK). ``chain`` holds the real paths so far, the child's included."""
    if len(chain) > MAX_CHAIN_DEPTH:
        raise ParentChainError(f"{child}: VMDK parent chain deeper than {MAX_CHAIN_DEPTH} disks")
    candidate = pathlib.Path(hint.replace("\\", "/"))
    if not candidate.is_absolute():
        candidate = child.parent / candidate
    if not candidate.is_file():
        raise ParentChainError(
            f"{child}: its parent {candidate} (parentFileNameHint) is missing; put the parent VMDK there"
        )
    real = pathlib.Path(os.path.realpath(candidate))
    if real in chain:
        raise ParentChainError(f"{child}: its parent {candidate} is already in the chain (a loop): fix "
                               "the parentFileNameHint")
    try:
        parent = open_fn(candidate, chain + (real,))
    except ParentChainError:
        raise
    except FormatError as exc:
        raise ParentChainError(f"{child}: its parent {candidate} is not a readable VMDK: {exc}") from exc
    cid = is_vmdk(parent)
    if cid is None:
        parent.close()
        raise ParentChainError(f"{child}: its parent {candidate} is not a VMDK; a VMDK's parent is a VMDK")
    if cid != parent_cid:
        parent.close()
        raise ParentChainError(
            f"{child}: its parent {candidate} has CID {cid:08x}, but the child expects {parent_cid:08x}: the "
            "parent was changed after the child was made; restore the original parent"
        )
    return parent
