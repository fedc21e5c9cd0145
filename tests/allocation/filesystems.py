"""File systems with kept and deleted files, made and changed by their own tools.

Each builder fills a volume with files, then deletes some with the file system's own code
(``debugfs rm``, ``mdel``, libntfs-3g's ``ntfs_delete``), so their data stays behind in blocks
the file system marks free. Deleted files hold :data:`DELETED` repeated, kept ones random bytes:
after a ``skip_free`` copy the pattern must be gone and every kept file equal.
"""

from __future__ import annotations

import ctypes
import os
import random
import subprocess
from pathlib import Path

from tests.guest.images import MIB, run, sparse_file, tool
from tests.guest.ntfs_writer import _library, make_ntfs

#: What every deleted file holds: found anywhere in a skip_free copy, free space leaked.
DELETED = b"DELETED-DATA-MUST-NOT-TRAVEL/"


def kept_files(seed: int, count: int = 6, largest: int = 3 * MIB) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"kept{i}.bin": rng.randbytes(rng.randrange(1, largest)) for i in range(count)}


def deleted_files(count: int = 4, size: int = 2 * MIB) -> dict[str, bytes]:
    return {f"gone{i}.bin": (DELETED * (size // len(DELETED) + 1))[:size] for i in range(count)}


def _env() -> dict[str, str]:
    return {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


def make_ext4(path: Path, size: int, kept: dict[str, bytes], gone: dict[str, bytes], *, options: tuple[str, ...] = ()) -> Path:
    tree = path.with_suffix(".tree")
    tree.mkdir()
    for name, data in {**kept, **gone}.items():
        (tree / name).write_bytes(data)
    sparse_file(path, size)
    run(tool("mkfs.ext4"), "-q", "-F", "-E", "root_owner=0:0", *options, "-d", str(tree), str(path))
    for name in gone:
        run(tool("debugfs"), "-w", "-R", f"rm /{name}", str(path))
    return path


def make_fat(path: Path, size: int, kept: dict[str, bytes], gone: dict[str, bytes], *, bits: int = 32) -> Path:
    sparse_file(path, size)
    run(tool("mkfs.fat"), "-F", str(bits), "-n", "DATA", str(path))
    staged = path.with_suffix(".files")
    staged.mkdir()
    for name, data in {**kept, **gone}.items():
        (staged / name).write_bytes(data)
        run(tool("mcopy"), "-i", str(path), str(staged / name), f"::{name}", env=_env())
    for name in gone:
        run(tool("mdel"), "-i", str(path), f"::{name}", env=_env())
    return path


def make_ntfs_volume(path: Path, size: int, kept: dict[str, bytes], gone: dict[str, bytes]) -> Path:
    make_ntfs(path, {**kept, **gone}, size=size)
    lib = _library()
    vp = ctypes.c_void_p
    lib.ntfs_delete.restype = ctypes.c_int
    lib.ntfs_delete.argtypes = [vp, ctypes.c_char_p, vp, vp, vp, ctypes.c_uint8]
    volume = lib.ntfs_mount(str(path).encode(), 0)
    assert volume
    try:
        for name in gone:
            inode = lib.ntfs_pathname_to_inode(volume, None, f"/{name}".encode())
            directory = lib.ntfs_pathname_to_inode(volume, None, b"/")
            assert inode and directory
            name_u = ctypes.c_void_p()
            length = lib.ntfs_mbstoucs(name.encode(), ctypes.byref(name_u))
            # ntfs_delete closes both inodes, whatever it returns
            assert lib.ntfs_delete(volume, f"/{name}".encode(), inode, directory, name_u, length) == 0, name
    finally:
        assert lib.ntfs_umount(volume, 0) == 0
    return path


def make_xfs(path: Path, size: int, kept: dict[str, bytes], *, options: tuple[str, ...] = ()) -> Path:
    """XFS from a protofile (mkfs.xfs cannot delete: its deleted data is written by the tests)."""
    staged = path.with_suffix(".files")
    staged.mkdir()
    lines = ["d--755 0 0"]
    for name, data in kept.items():
        (staged / name).write_bytes(data)
        lines.append(f"{name} ---644 0 0 {staged / name}")
    proto = path.with_suffix(".proto")
    proto.write_text("boot\n0 0\n" + "\n".join(lines) + "\n$\n")
    sparse_file(path, size)
    run(tool("mkfs.xfs"), "-q", "-f", *options, "-p", str(proto), str(path))
    return path


def read_xfs_file(image: Path, name: str, out: Path) -> bytes:
    import pyfsxfs

    volume = pyfsxfs.volume()
    volume.open(str(image))
    try:
        entry = volume.get_file_entry_by_path(f"/{name}")
        return bytes(entry.read_buffer_at_offset(entry.get_size(), 0))
    finally:
        volume.close()


def read_ext4_file(image: Path, name: str, out: Path) -> bytes:
    run(tool("debugfs"), "-R", f"dump /{name} {out}", str(image))
    return out.read_bytes()


def read_fat_file(image: Path, name: str, out: Path) -> bytes:
    run(tool("mcopy"), "-n", "-i", str(image), f"::{name}", str(out), env=_env())
    return out.read_bytes()


def read_ntfs_file(image: Path, name: str, out: Path) -> bytes:
    with open(out, "wb") as f:
        subprocess.run([tool("ntfscat"), str(image), f"/{name}"], check=True, stdout=f, stderr=subprocess.PIPE)
    return out.read_bytes()


def check(kind: str, image: Path) -> str:
    """Run the file system's own checker read-only; returns its output (raises when it fails)."""
    commands = {
        "ext": [tool("e2fsck"), "-fn", str(image)],
        "fat": [tool("fsck.fat"), "-n", str(image)],
        "ntfs": [tool("ntfsfix"), "-n", str(image)],
        "xfs": [tool("xfs_repair"), "-n", "-f", str(image)],
    }
    done = subprocess.run(commands[kind], capture_output=True, text=True)
    assert done.returncode == 0, f"{commands[kind][0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout
