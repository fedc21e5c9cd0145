"""Finding a differencing disk's parent: the one place parent resolution happens.

Candidates, in order: the ``W2ru`` locator (a Windows path relative to the child), the
``W2ku`` locator (absolute; a drive-letter path cannot exist here, so its file name is looked
for next to the child), then the header's UTF-16BE parent name next to the child. The first
candidate that exists *and* whose footer UUID is the one the child records is the parent.
Cycles and chains deeper than :data:`MAX_CHAIN_DEPTH` are refused.

Everything here comes from the file, so it is hostile input: an OS error met on the way (a
name too long, a directory we may not read) is the child's problem, reported as a
:class:`ParentChainError` naming the child, the locator and the reason, in one short line.
The opener is passed in by the factory (:mod:`vhdupload.disks`), which this module never imports.
"""

from __future__ import annotations

import errno
import os
import pathlib
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from ..errors import CorruptVhdError, FormatError, InputError, ParentChainError, with_repair_hint
from ..virtual_disk import VirtualDisk, os_error_words, pread_exact, pseudo_file_reason
from .dynamic_header import DynamicHeader
from .layout import Region

MAX_CHAIN_DEPTH = 64
#: A Windows path is at most 32,767 UTF-16 code units; anything longer is damage.
MAX_LOCATOR_BYTES = 65536
#: The locators whose data we read (UTF-16LE Windows paths); others are ignored.
PATH_LOCATORS = (b"W2ru", b"W2ku")
#: Names from the file are shortened to this many characters in messages ...
NAME_LIMIT = 80
#: ... and a message about a parent that cannot be used stays within this many bytes.
MESSAGE_LIMIT = 400
#: "No such file" answers: the candidate is simply not there; try the next one.
_ABSENT = (errno.ENOENT, errno.ENOTDIR)

OpenParent = Callable[[pathlib.Path, tuple[pathlib.Path, ...]], VirtualDisk]


@dataclass(frozen=True)
class Candidate:
    path: pathlib.Path
    source: str  # which field named it, for messages: "W2ru locator", "parent name", ...


def shorten(text: object, limit: int = NAME_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, keeping both ends (``aaa…zzz``)."""
    text = str(text)
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return f"{text[:head]}…{text[len(text) - (limit - 1 - head):]}"


def locator_regions(header: DynamicHeader, *, data_end: int) -> list[Region]:
    """The file ranges holding the data of the path locators we read (no block may overlap them)."""
    out = []
    for index, loc in enumerate(header.locators):
        if loc.platform_code in PATH_LOCATORS and 0 < loc.data_length <= MAX_LOCATOR_BYTES:
            stop = loc.data_offset + loc.data_length
            if stop <= data_end:  # a locator past the end is refused when it is read
                out.append(Region(loc.data_offset, stop, f"parent locator {index}'s data"))
    return out


def read_locators(*, fd: int, path: pathlib.Path, header: DynamicHeader, data_end: int) -> list[tuple[str, str]]:
    """``(platform code, path text)`` of every W2ru/W2ku locator, bounds-checked first."""
    found = []
    for index, loc in enumerate(header.locators):
        code = loc.platform_code
        if code not in PATH_LOCATORS or loc.data_length == 0:
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


def parent_candidates(child: pathlib.Path, *, locators: list[tuple[str, str]], parent_name: str) -> list[Candidate]:
    directory = child.parent
    candidates: list[Candidate] = []
    basenames: list[tuple[str, str]] = []
    for code, text in locators:
        posix = text.replace("\\", "/")
        if code == "W2ru":
            candidates.append(Candidate(directory / posix, f"{code} locator"))
        elif posix.startswith("/") and not posix.startswith("//"):
            candidates.append(Candidate(pathlib.Path(posix), f"{code} locator"))  # written on a POSIX system
        basenames.append((posix.rsplit("/", 1)[-1], f"{code} locator's file name"))
    if parent_name:
        basenames.insert(0, (parent_name.replace("\\", "/").rsplit("/", 1)[-1], "parent name"))
    candidates.extend(Candidate(directory / name, source) for name, source in basenames if name not in ("", ".", ".."))
    # The relative and the absolute locator usually name the same file: try (and name) it once.
    unique: list[Candidate] = []
    seen: set[str] = set()
    for c in candidates:
        try:
            key = os.path.realpath(c.path)
        except (OSError, ValueError):  # realpath may still fail on odd names; judge the name as given
            key = str(c.path)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique


def open_parent(
    *, child: pathlib.Path, fd: int, header: DynamicHeader, data_end: int,
    chain: tuple[pathlib.Path, ...], open_fn: OpenParent,
) -> VirtualDisk:
    """Find, open and check the parent of ``child``; ``chain`` holds the real paths so far
    (the child's included). ``open_fn(path, chain)`` opens a candidate as a VHD."""
    if len(chain) > MAX_CHAIN_DEPTH:
        raise ParentChainError(f"{shorten(child)}: differencing chain deeper than {MAX_CHAIN_DEPTH} disks")
    locators = read_locators(fd=fd, path=child, header=header, data_end=data_end)
    candidates = parent_candidates(child, locators=locators, parent_name=header.parent_name)
    wrong: list[str] = []
    unusable: list[tuple[Candidate, str]] = []  # (candidate, the OS's reason)
    for candidate in candidates:
        reason = _why_unusable(candidate.path)
        if reason is _ABSENT_MARK:
            continue
        if reason is not None:
            unusable.append((candidate, reason))
            continue
        real = pathlib.Path(os.path.realpath(candidate.path))
        if real in chain:
            raise ParentChainError(
                f"{shorten(child)}: its parent {shorten(candidate.path)} is already in the chain (a cycle): "
                "fix the parent locators"
            )
        try:
            parent = open_fn(candidate.path, chain + (real,))
        except ParentChainError:
            raise
        except FormatError as exc:
            raise ParentChainError(
                with_repair_hint(f"{shorten(child)}: its parent {shorten(candidate.path)} is not a readable VHD: {exc}")
            ) from exc
        except InputError as exc:
            if isinstance(exc.__cause__, OSError):  # it vanished or became unreadable since the stat
                unusable.append((candidate, os_error_words(exc.__cause__)))
                continue
            raise ParentChainError(
                f"{shorten(child)}: its parent {shorten(candidate.path)} is not a disk image: {exc}"
            ) from exc
        except OSError as exc:
            unusable.append((candidate, os_error_words(exc)))
            continue
        if parent.footer is None or parent.footer.uuid != header.parent_uuid:
            got = parent.footer.uuid if parent.footer else None
            parent.close()
            wrong.append(f"{shorten(candidate.path)} has UUID {got}")
            continue
        return parent
    expected = f"parent UUID {header.parent_uuid}"
    if wrong:
        raise ParentChainError(_bounded(
            f"{shorten(child)}: no parent with the expected {expected} ({'; '.join(wrong)}): "
            "the parent was replaced or modified; restore the original parent"
        ))
    wanted = header.parent_name or f"UUID {header.parent_uuid}"
    if unusable:
        candidate, reason = unusable[0]
        return _raise_unusable(child, candidate, reason, wanted)
    tried = ", ".join(shorten(c.path) for c in candidates) or "no locator or parent name"
    raise ParentChainError(_bounded(
        f"{shorten(child)}: differencing disk's parent is missing (tried {tried}); "
        f"put the parent VHD ({shorten(wanted)}) next to it"
    ))


_ABSENT_MARK = "absent"


def _why_unusable(path: pathlib.Path) -> str | None:
    """None if ``path`` is a file we may try; ``_ABSENT_MARK`` if it is not there (or not a
    file); otherwise the reason the OS gave for not even looking at it."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return _ABSENT_MARK if exc.errno in _ABSENT else os_error_words(exc)
    except ValueError:  # a name the OS cannot take at all
        return "the name is not a valid path"
    if not stat.S_ISREG(st.st_mode):
        return _ABSENT_MARK
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return None
    return pseudo_file_reason(real)


def _raise_unusable(child: pathlib.Path, candidate: Candidate, reason: str, wanted: str) -> NoReturn:
    def build(limit: int) -> str:
        return (
            f"{shorten(child, limit)}: cannot open the parent named by its {candidate.source}, "
            f"{shorten(candidate.path, limit)} ({reason}); put the parent VHD ({shorten(wanted, limit)}) "
            "next to the child, or fix the locator"
        )

    raise ParentChainError(_fit(build))


def _fit(build: Callable[[int], str]) -> str:
    """The message ``build(limit)`` makes, with names shortened until it fits in MESSAGE_LIMIT bytes."""
    limit = NAME_LIMIT
    message = build(limit)
    while len(message.encode("utf-8", "surrogateescape")) > MESSAGE_LIMIT and limit > 12:
        limit //= 2
        message = build(limit)
    return message


def _bounded(message: str) -> str:
    """``message`` cut to MESSAGE_LIMIT bytes if its parts were still too long together."""
    data = message.encode("utf-8", "surrogateescape")
    if len(data) <= MESSAGE_LIMIT:
        return message
    return data[: MESSAGE_LIMIT - 3].decode("utf-8", "ignore") + "…"

