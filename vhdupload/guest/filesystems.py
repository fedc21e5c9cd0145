"""File systems read through the libyal readers (dependencies of vhdupload, LGPL-3.0).

``pyfsext`` (ext2/3/4), ``pyfsxfs`` (XFS), ``pyfsfat`` (FAT) and ``pyfsntfs`` (NTFS) read a
volume through a file object: here a bounded :class:`~.source.Window`. :class:`GuestFs` gives
the few operations the checks need -- look a path up (following symbolic links inside the file
system, at most 40 of them), read a small file, list a directory -- and turns every reader
failure into :class:`FsError`, so a damaged file system never escapes as a crash.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .source import Budget, Window

if TYPE_CHECKING:
    from .report import GuestReport

#: probe kind -> (module, human name); the module's ``volume()`` reads the file system.
READERS = {
    "ext": ("pyfsext", "ext4"),
    "xfs": ("pyfsxfs", "XFS"),
    "fat": ("pyfsfat", "FAT"),
    "ntfs": ("pyfsntfs", "NTFS"),
}
_CASE_INSENSITIVE = {"fat", "ntfs"}
_MAX_SYMLINKS = 40
_MAX_DIRECTORY_SCAN = 100_000
_ENTRIES_KEPT = 4096
#: reader module -> the package that installs it (a dependency of vhdupload)
PACKAGES = {
    "pyfsext": "libfsext-python", "pyfsxfs": "libfsxfs-python", "pyfsfat": "libfsfat-python",
    "pyfsntfs": "libfsntfs-python", "pyvslvm": "libvslvm-python", "pyregf": "libregf-python",
}
_EXTRA = "install it (`pip install --force-reinstall vhdupload` installs every reader)"


class FsError(Exception):
    """A file system could not be read (damaged, unsupported, or over the budget)."""


class ReaderMissing(FsError):
    """The optional reader module for this kind of file system is not installed."""


def reader_module(kind: str) -> Any:
    module_name, human = READERS[kind]
    try:
        return importlib.import_module(module_name)
    except ImportError:
        raise ReaderMissing(f"{human} is not read: its reader ({PACKAGES[module_name]}) is missing; {_EXTRA}") from None


def install_hint(modules: list[str]) -> str:
    """How to install the reader ``modules`` (e.g. ``pyfsext``)."""
    packages = " ".join(PACKAGES.get(m, m) for m in modules) or " ".join(PACKAGES.values())
    return f"install them with `pip install {packages}` (or reinstall vhdupload, which depends on them)"


def missing_readers() -> list[str]:
    """The reader modules that cannot be imported."""
    missing = []
    for module_name in [m for m, _ in READERS.values()] + ["pyvslvm"]:
        try:
            importlib.import_module(module_name)
        except ImportError:
            missing.append(module_name)
    return missing


class GuestFs:
    """One opened file system (read-only). Paths use ``/`` whatever the file system."""

    def __init__(self, kind: str, volume: Window | Any, *, where: str, budget: Budget | None = None) -> None:
        self.kind = kind
        self.where = where  # e.g. "partition 2 (ext4)", for messages
        self._budget = budget
        self._listings: dict[int, dict[str, int]] = {}  # directory inode -> name -> position
        self._found: dict[tuple[int, str], Any] = {}  # (directory inode, name) -> entry
        module = reader_module(kind)
        self._volume = module.volume()
        try:
            self._volume.open_file_object(volume)
            self._root = self._volume.get_root_directory()
        except Exception as exc:  # libyal raises OSError/IOError and others on damaged input
            raise FsError(f"{where}: the {READERS[kind][1]} file system cannot be read ({_short(exc)})") from None

    @property
    def exhausted(self) -> bool:
        """The examination's budget is spent: every further lookup fails the same way."""
        return self._budget is not None and self._budget.exceeded is not None

    # -- lookups ----------------------------------------------------------------------------
    def entry(self, path: str, *, follow: bool = True) -> Any | None:
        """The entry at ``path`` (symbolic links followed; the last one only if ``follow``), or None."""
        try:
            return self._resolve(path, follow=follow)
        except FsError:
            raise
        except Exception as exc:
            raise FsError(f"{self.where}: reading {path} failed ({_short(exc)})") from None

    def exists(self, path: str) -> bool:
        return self.entry(path, follow=False) is not None

    def read(self, path: str, *, limit: int = 1024 * 1024) -> bytes | None:
        """The first ``limit`` bytes of the file at ``path``, or None if there is no such file."""
        entry = self.entry(path)
        if entry is None or self._is_dir(entry):
            return None
        try:
            size = int(entry.get_size())
            return entry.read_buffer_at_offset(min(size, limit), 0) if size else b""
        except Exception as exc:
            raise FsError(f"{self.where}: reading {path} failed ({_short(exc)})") from None

    def size(self, path: str) -> int | None:
        entry = self.entry(path)
        return None if entry is None else int(entry.get_size())

    def listdir(self, path: str) -> list[str] | None:
        """Names in the directory at ``path`` (at most 100,000), or None if it is not one."""
        entry = self.entry(path)
        if entry is None or not self._is_dir(entry):
            return None
        try:
            return [n for n in (self._name(e) for e in self._children(entry)) if n not in (".", "..", None)]
        except Exception as exc:
            raise FsError(f"{self.where}: listing {path} failed ({_short(exc)})") from None

    # -- internals --------------------------------------------------------------------------
    def _resolve(self, path: str, *, follow: bool) -> Any | None:
        # Symbolic links are expanded here, inside this file system. Every component (real
        # directories and ".." included) is one budget step, so links that walk far down and
        # back up cost what they do and no more than the budget allows.
        todo = [p for p in reversed(path.split("/")) if p]  # a stack: the next component last
        names: list[str] = []  # the canonical path so far
        entries: list[Any] = [self._root]  # the entry of each prefix of names
        hops = 0
        while todo:
            self._step()
            name = todo.pop()
            if name == ".":
                continue
            if name == "..":
                if names:
                    names.pop()
                    entries.pop()
                continue
            child = self._child(entries[-1], names, name)
            if child is None:
                return None
            target = self._link_target(child)
            if target is not None and (todo or follow):
                hops += 1
                if hops > _MAX_SYMLINKS:
                    raise FsError(f"{self.where}: too many symbolic links resolving {path}")
                if target.startswith("/"):
                    names, entries = [], [self._root]
                todo.extend(p for p in reversed(target.split("/")) if p)
                continue
            if todo and not self._is_dir(child):
                return None
            names.append(name)
            entries.append(child)
        return entries[-1]

    def _step(self) -> None:
        if self._budget is not None:
            self._budget.step()

    def _child(self, directory: Any, names: list[str], name: str) -> Any | None:
        """The entry ``name`` in ``directory`` (at ``names``), or None."""
        if self.kind in _CASE_INSENSITIVE:  # no links here: the reader's own case-insensitive lookup
            return self._volume.get_file_entry_by_path("\\" + "\\".join(names + [name]))
        # ext and XFS: the readers' by-name lookup fails on some versions and a whole-path
        # lookup costs a step per component each time, so each directory is listed once (each
        # entry a budget step, which also bounds what these caches hold) and what was found is kept.
        inode = int(directory.get_inode_number())
        found = self._found.get((inode, name))
        if found is not None:
            return found
        index = self._listings.get(inode)
        if index is None:
            index = {}
            for position, child in enumerate(self._children(directory)):
                child_name = self._name(child)
                if child_name is not None:
                    index.setdefault(child_name, position)
            self._listings[inode] = index
        where = index.get(name)
        if where is None:
            return None
        found = directory.get_sub_file_entry(where)
        if len(self._found) >= _ENTRIES_KEPT:
            self._found.clear()
        self._found[(inode, name)] = found
        return found

    def _children(self, directory: Any) -> Iterator[Any]:
        count = min(int(directory.get_number_of_sub_file_entries()), _MAX_DIRECTORY_SCAN)
        for index in range(count):
            self._step()
            yield directory.get_sub_file_entry(index)

    @staticmethod
    def _name(entry: Any) -> str | None:
        try:
            name: str | None = entry.get_name()
            return name
        except Exception:
            return None

    def _link_target(self, entry: Any) -> str | None:
        if self.kind not in ("ext", "xfs"):
            return None
        mode = int(entry.get_file_mode() or 0)
        if mode & 0o170000 != 0o120000:
            return None
        return entry.get_symbolic_link_target() or None

    def _is_dir(self, entry: Any) -> bool:
        if self.kind in ("ext", "xfs"):
            return int(entry.get_file_mode() or 0) & 0o170000 == 0o040000
        if self.kind == "ntfs":  # NTFS keeps no directory bit in its attributes: a directory has an index
            return bool(entry.has_directory_entries_index())
        return bool(int(entry.get_file_attribute_flags() or 0) & 0x10)  # FAT: ATTR_DIRECTORY


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def run_checks(fs: GuestFs, report: "GuestReport",
               checks: Iterable[tuple[str, Callable[[GuestFs, "GuestReport"], None]]]) -> None:
    """Run each ``(what, check)`` on its own: one that cannot read its files is recorded as
    unchecked (and said, while the budget lasts) and the others still run, so one unreadable
    file never hides the other signs."""
    for what, check in checks:
        try:
            check(fs, report)
        except FsError as exc:
            report.unchecked.append(what)
            if not fs.exhausted:  # once the budget is spent, one warning says so for all (examine)
                report.warn(f"could not check {what}: {exc}")
