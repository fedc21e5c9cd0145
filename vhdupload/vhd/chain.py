"""Finding a differencing disk's parent.

Candidates, in order: the ``W2ru`` locator (a Windows path relative to the child), the
``W2ku`` locator (absolute; a drive-letter path cannot exist here, so its file name is looked
for next to the child), then the header's UTF-16BE parent name next to the child. The first
candidate that exists *and* whose footer UUID is the one the child records is the parent.
Cycles and chains deeper than :data:`MAX_CHAIN_DEPTH` are refused.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Callable

from ..errors import CorruptVhdError, FormatError, ParentChainError
from .disk import VirtualDisk, pread_exact
from .dynamic_header import DynamicHeader

MAX_CHAIN_DEPTH = 64
#: A Windows path is at most 32,767 UTF-16 code units; anything longer is damage.
MAX_LOCATOR_BYTES = 65536
_DRIVE_PATH = re.compile(r"^[A-Za-z]:[\\/]")

OpenParent = Callable[[pathlib.Path, tuple[pathlib.Path, ...]], VirtualDisk]


def locator_paths(*, fd: int, path: pathlib.Path, header: DynamicHeader, data_end: int) -> list[tuple[str, str]]:
    """``(platform code, path text)`` of every W2ru/W2ku locator, bounds-checked first."""
    found = []
    for index, loc in enumerate(header.locators):
        code = loc.platform_code
        if code not in (b"W2ru", b"W2ku") or loc.data_length == 0:
            continue
        if loc.data_length > MAX_LOCATOR_BYTES or loc.data_offset + loc.data_length > data_end:
            raise CorruptVhdError(
                f"{path}: parent locator {index} ({code.decode()}) claims {loc.data_length} bytes at "
                f"offset {loc.data_offset}, past the data area that ends at {data_end}"
            )
        raw = pread_exact(fd, loc.data_offset, loc.data_length, path=path)
        try:
            text = raw.decode("utf-16-le")
        except UnicodeDecodeError:
            raise CorruptVhdError(f"{path}: parent locator {index} ({code.decode()}) is not valid UTF-16LE") from None
        text = text.split("\0", 1)[0]
        if text:
            found.append((code.decode(), text))
    return found


def parent_candidates(child: pathlib.Path, *, locators: list[tuple[str, str]], parent_name: str) -> list[pathlib.Path]:
    directory = child.parent
    candidates: list[pathlib.Path] = []
    basenames: list[str] = []
    for code, text in locators:
        posix = text.replace("\\", "/")
        if code == "W2ru":
            candidates.append(directory / posix)
        elif posix.startswith("/") and not posix.startswith("//"):
            candidates.append(pathlib.Path(posix))  # written by a tool on a POSIX system
        basenames.append(posix.rsplit("/", 1)[-1])
    if parent_name:
        basenames.insert(0, parent_name.replace("\\", "/").rsplit("/", 1)[-1])
    candidates.extend(directory / name for name in basenames if name not in ("", ".", ".."))
    # The relative and the absolute locator usually name the same file: try (and name) it once.
    unique: list[pathlib.Path] = []
    seen: set[str] = set()
    for c in candidates:
        key = os.path.realpath(c)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique


def open_parent(
    *, child: pathlib.Path, header: DynamicHeader, locators: list[tuple[str, str]],
    chain: tuple[pathlib.Path, ...], open_fn: OpenParent,
) -> VirtualDisk:
    """Open the parent of ``child`` and check its identity; ``chain`` holds the real paths so far."""
    if len(chain) > MAX_CHAIN_DEPTH:
        raise ParentChainError(f"{child}: differencing chain deeper than {MAX_CHAIN_DEPTH} disks")
    candidates = parent_candidates(child, locators=locators, parent_name=header.parent_name)
    wrong: list[str] = []
    for candidate in candidates:
        if not candidate.is_file():
            continue
        real = pathlib.Path(os.path.realpath(candidate))
        if real in chain:
            raise ParentChainError(
                f"{child}: its parent {candidate} is already in the chain (a cycle): fix the parent locators"
            )
        try:
            parent = open_fn(candidate, chain + (real,))
        except ParentChainError:
            raise
        except FormatError as exc:
            from .open import with_repair_hint  # noqa: PLC0415 (open imports this module)

            raise ParentChainError(
                with_repair_hint(f"{child}: its parent {candidate} is not a readable VHD: {exc}")
            ) from exc
        if parent.footer is None or parent.footer.uuid != header.parent_uuid:
            got = parent.footer.uuid if parent.footer else None
            parent.close()
            wrong.append(f"{candidate} has UUID {got}")
            continue
        return parent
    expected = f"parent UUID {header.parent_uuid}"
    if wrong:
        raise ParentChainError(
            f"{child}: no parent with the expected {expected} ({'; '.join(wrong)}): "
            "the parent was replaced or modified; restore the original parent"
        )
    tried = ", ".join(str(c) for c in candidates) or "no locator or parent name"
    raise ParentChainError(
        f"{child}: differencing disk's parent is missing (tried {tried}); "
        f"put the parent VHD ({header.parent_name or 'UUID ' + str(header.parent_uuid)}) next to it"
    )
