"""Finding a differencing VHDX's parent.

Candidates, in order: the locator's ``relative_path`` (relative to the child, ``\\``
separators), ``absolute_win32_path`` and ``volume_path`` when they are paths that exist here
(a POSIX path written by a tool on Linux), then each path's file name next to the child. The
first candidate that opens as a VHDX whose header DataWriteGuid is the child's
``parent_linkage`` (or ``parent_linkage2``) is the parent. A VHD parent (a mixed chain) is
refused: Hyper-V makes no such chain and a VHD has no DataWriteGuid to check. Cycles and
chains deeper than :data:`MAX_CHAIN_DEPTH` are refused.

The locator comes from the file, so it is hostile input: a name the OS cannot take (a NUL, too
long), a directory we may not read, or something that is not a plain file (a device, a file of
``/proc``, ``/sys`` or ``/dev``) is the child's problem, reported as one short
:class:`ParentChainError` naming the child, the locator key and the reason, as the VHD reader does.
"""

from __future__ import annotations

import errno
import os
import pathlib
import stat
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import FormatError, InputError, ParentChainError
from ..virtual_disk import VirtualDisk, os_error_words, pseudo_file_reason
from .disk import VhdxDisk
from .parent_locator import ParentLocator

MAX_CHAIN_DEPTH = 64
_LONG_PREFIX = "\\\\?\\"
#: Names from the file are shortened to this many characters in messages.
NAME_LIMIT = 80
#: "No such file" answers: the candidate is simply not there; try the next one.
_ABSENT = (errno.ENOENT, errno.ENOTDIR)

OpenParent = Callable[[pathlib.Path, tuple[pathlib.Path, ...]], VirtualDisk]


@dataclass(frozen=True)
class Candidate:
    path: pathlib.Path
    source: str  # the locator key that named it, for messages: "relative_path", ...


def shorten(text: object, limit: int = NAME_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, keeping both ends (``aaa…zzz``), as printable ``repr``
    escapes for control characters (a NUL among them)."""
    text = str(text)
    if not text.isprintable():
        text = repr(text)[1:-1]
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return f"{text[:head]}…{text[len(text) - (limit - 1 - head):]}"


def parent_candidates(child: pathlib.Path, locator: ParentLocator) -> list[Candidate]:
    directory = child.parent
    candidates: list[Candidate] = []
    names: list[tuple[str, str]] = []
    for key, text in locator.paths:
        if text.startswith(_LONG_PREFIX):
            text = text[len(_LONG_PREFIX):]
        posix = text.replace("\\", "/")
        if key == "relative_path":
            candidates.append(Candidate(directory / posix, key))
        elif posix.startswith("/") and not posix.startswith("//"):
            candidates.append(Candidate(pathlib.Path(posix), key))
        names.append((posix.rsplit("/", 1)[-1], f"{key}'s file name"))
    candidates.extend(Candidate(directory / name, source) for name, source in names if name not in ("", ".", ".."))
    unique: list[Candidate] = []
    seen: set[str] = set()
    for c in candidates:
        try:
            key = os.path.realpath(c.path)
        except (OSError, ValueError):  # a NUL, a name too long: judge the name as given
            key = str(c.path)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique


def open_parent(*, child: pathlib.Path, locator: ParentLocator, chain: tuple[pathlib.Path, ...],
                open_fn: OpenParent) -> VhdxDisk:
    """Open and identify the parent of ``child``; ``chain`` holds the real paths so far (child included)."""
    if len(chain) > MAX_CHAIN_DEPTH:
        raise ParentChainError(f"{shorten(child)}: differencing chain deeper than {MAX_CHAIN_DEPTH} disks")
    linkages = locator.linkages
    candidates = parent_candidates(child, locator)
    wrong: list[str] = []
    unusable: list[tuple[Candidate, str]] = []  # (candidate, why it cannot be a parent)
    for candidate in candidates:
        reason = _why_unusable(candidate.path)
        if reason == _ABSENT_MARK:
            continue
        if reason is not None:
            unusable.append((candidate, reason))
            continue
        real = pathlib.Path(os.path.realpath(candidate.path))
        if real in chain:
            raise ParentChainError(
                f"{shorten(child)}: its parent {shorten(candidate.path)} is already in the chain (a cycle): "
                "fix the parent locator"
            )
        try:
            parent = open_fn(candidate.path, chain + (real,))
        except ParentChainError:
            raise
        except FormatError as exc:
            raise ParentChainError(
                f"{shorten(child)}: its parent {shorten(candidate.path)} is not a readable VHDX: {exc}"
            ) from exc
        except InputError as exc:
            if isinstance(exc.__cause__, OSError):  # it vanished or became unreadable since the stat
                unusable.append((candidate, os_error_words(exc.__cause__)))
                continue
            raise ParentChainError(
                f"{shorten(child)}: its parent {shorten(candidate.path)}, named by its parent locator's "
                f"{candidate.source}, is not a disk image: {exc}"
            ) from exc
        except OSError as exc:
            unusable.append((candidate, os_error_words(exc)))
            continue
        if not isinstance(parent, VhdxDisk):
            parent.close()
            raise ParentChainError(
                f"{shorten(child)}: its parent {shorten(candidate.path)} is a {parent.disk_type} VHD, and a VHDX "
                "differencing disk over a VHD is not supported: merge the chain in Hyper-V (Edit Disk > Merge) or "
                "convert the parent to VHDX"
            )
        if parent.data_write_guid not in linkages:
            wrong.append(f"{shorten(candidate.path)} has DataWriteGuid {parent.data_write_guid}")
            parent.close()
            continue
        return parent
    expected = " or ".join(str(g) for g in linkages)
    if wrong:
        raise ParentChainError(
            f"{shorten(child)}: no parent with the expected DataWriteGuid {expected} ({'; '.join(wrong)}): the "
            "parent was modified or replaced since the child was made; restore the original parent"
        )
    if unusable:
        candidate, reason = unusable[0]
        raise ParentChainError(
            f"{shorten(child)}: cannot open the parent named by its parent locator's {candidate.source}, "
            f"{shorten(candidate.path)} ({reason}); put the parent VHDX next to the child, or fix the locator"
        )
    tried = ", ".join(shorten(c.path) for c in candidates) or "the locator names no path"
    raise ParentChainError(
        f"{shorten(child)}: differencing VHDX's parent is missing (tried {tried}); put the parent VHDX next to it"
    )


_ABSENT_MARK = "absent"


def _why_unusable(path: pathlib.Path) -> str | None:
    """None if ``path`` is a file we may try; ``_ABSENT_MARK`` if it is not there; otherwise why
    it cannot be a parent (the OS's reason, or what it is instead of a plain file)."""
    try:
        st = os.stat(path)
        real = os.path.realpath(path)
    except OSError as exc:
        return _ABSENT_MARK if exc.errno in _ABSENT else os_error_words(exc)
    except ValueError:  # a NUL: a name the OS cannot take at all
        return "the name holds a NUL character, which no file name can"
    if stat.S_ISDIR(st.st_mode):
        return _ABSENT_MARK
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file: a device, a pipe or a socket is never a parent"
    return pseudo_file_reason(real)


