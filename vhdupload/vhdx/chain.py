"""Finding a differencing VHDX's parent.

Candidates, in order: the locator's ``relative_path`` (relative to the child, ``\\``
separators), ``absolute_win32_path`` and ``volume_path`` when they are paths that exist here
(a POSIX path written by a tool on Linux), then each path's file name next to the child. The
first candidate that opens as a VHDX whose header DataWriteGuid is the child's
``parent_linkage`` (or ``parent_linkage2``) is the parent. A VHD parent (a mixed chain) is
refused: Hyper-V makes no such chain and a VHD has no DataWriteGuid to check. Cycles and
chains deeper than :data:`MAX_CHAIN_DEPTH` are refused.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable

from ..errors import FormatError, ParentChainError
from ..virtual_disk import VirtualDisk
from .disk import VhdxDisk
from .parent_locator import ParentLocator

MAX_CHAIN_DEPTH = 64
_LONG_PREFIX = "\\\\?\\"

OpenParent = Callable[[pathlib.Path, tuple[pathlib.Path, ...]], VirtualDisk]


def parent_candidates(child: pathlib.Path, locator: ParentLocator) -> list[pathlib.Path]:
    directory = child.parent
    candidates: list[pathlib.Path] = []
    names: list[str] = []
    for key, text in locator.paths:
        if text.startswith(_LONG_PREFIX):
            text = text[len(_LONG_PREFIX):]
        posix = text.replace("\\", "/")
        if key == "relative_path":
            candidates.append(directory / posix)
        elif posix.startswith("/") and not posix.startswith("//"):
            candidates.append(pathlib.Path(posix))
        names.append(posix.rsplit("/", 1)[-1])
    candidates.extend(directory / name for name in names if name not in ("", ".", ".."))
    unique: list[pathlib.Path] = []
    seen: set[str] = set()
    for c in candidates:
        key = os.path.realpath(c)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique


def open_parent(*, child: pathlib.Path, locator: ParentLocator, chain: tuple[pathlib.Path, ...],
                open_fn: OpenParent) -> VhdxDisk:
    """Open and identify the parent of ``child``; ``chain`` holds the real paths so far (child included)."""
    if len(chain) > MAX_CHAIN_DEPTH:
        raise ParentChainError(f"{child}: differencing chain deeper than {MAX_CHAIN_DEPTH} disks")
    linkages = locator.linkages
    candidates = parent_candidates(child, locator)
    wrong: list[str] = []
    for candidate in candidates:
        if not candidate.is_file():
            continue
        real = pathlib.Path(os.path.realpath(candidate))
        if real in chain:
            raise ParentChainError(
                f"{child}: its parent {candidate} is already in the chain (a cycle): fix the parent locator"
            )
        try:
            parent = open_fn(candidate, chain + (real,))
        except ParentChainError:
            raise
        except FormatError as exc:
            raise ParentChainError(f"{child}: its parent {candidate} is not a readable VHDX: {exc}") from exc
        if not isinstance(parent, VhdxDisk):
            parent.close()
            raise ParentChainError(
                f"{child}: its parent {candidate} is a {parent.disk_type} VHD, and a VHDX differencing disk over a "
                "VHD is not supported: merge the chain in Hyper-V (Edit Disk > Merge) or convert the parent to VHDX"
            )
        if parent.data_write_guid not in linkages:
            wrong.append(f"{candidate} has DataWriteGuid {parent.data_write_guid}")
            parent.close()
            continue
        return parent
    expected = " or ".join(str(g) for g in linkages)
    if wrong:
        raise ParentChainError(
            f"{child}: no parent with the expected DataWriteGuid {expected} ({'; '.join(wrong)}): the parent "
            "was modified or replaced since the child was made; restore the original parent"
        )
    tried = ", ".join(str(c) for c in candidates) or "the locator names no path"
    raise ParentChainError(
        f"{child}: differencing VHDX's parent is missing (tried {tried}); put the parent VHDX next to it"
    )
