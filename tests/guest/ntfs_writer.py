"""Write directories and files into an NTFS image file with libntfs-3g, without FUSE or root.

``mkntfs`` (ntfs-3g) makes the empty file system; ``ntfscp`` could copy a file in but cannot
make the directories Windows keeps its files in, so this calls the same library ntfs-3g's tools
use (``libntfs-3g.so.89``, Debian ntfs-3g 2022.10) through ctypes: ``ntfs_mount`` the image
file, ``ntfs_create`` each directory and file, ``ntfs_attr_pwrite`` the unnamed $DATA,
``ntfs_umount``. Every pointer is opaque here, so no ntfs-3g struct layout is assumed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

import pytest

from .images import run, sparse_file, tool

_S_IFDIR, _S_IFREG = 0o040000, 0o100000
_AT_DATA = 0x80


def _library():
    name = ctypes.util.find_library("ntfs-3g") or "libntfs-3g.so.89"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        pytest.skip("libntfs-3g is not installed (Debian: ntfs-3g)")
    vp = ctypes.c_void_p
    lib.ntfs_mount.restype = vp
    lib.ntfs_mount.argtypes = [ctypes.c_char_p, ctypes.c_ulong]
    lib.ntfs_umount.argtypes = [vp, ctypes.c_int]
    lib.ntfs_pathname_to_inode.restype = vp
    lib.ntfs_pathname_to_inode.argtypes = [vp, vp, ctypes.c_char_p]
    lib.ntfs_create.restype = vp
    lib.ntfs_create.argtypes = [vp, ctypes.c_uint32, vp, ctypes.c_uint8, ctypes.c_uint32]
    lib.ntfs_mbstoucs.restype = ctypes.c_int
    lib.ntfs_mbstoucs.argtypes = [ctypes.c_char_p, ctypes.POINTER(vp)]
    lib.ntfs_attr_open.restype = vp
    lib.ntfs_attr_open.argtypes = [vp, ctypes.c_uint32, vp, ctypes.c_uint32]
    lib.ntfs_attr_pwrite.restype = ctypes.c_int64
    lib.ntfs_attr_pwrite.argtypes = [vp, ctypes.c_int64, ctypes.c_int64, ctypes.c_char_p]
    lib.ntfs_attr_close.argtypes = [vp]
    lib.ntfs_inode_close.argtypes = [vp]
    return lib


def make_ntfs(path: Path, files: dict[str, bytes | None], size: int = 64 * 1024 * 1024) -> Path:
    """An NTFS image with ``files`` (``"Windows/System32/x.exe": data``; None makes a directory).

    Parent directories are made as needed, in order.
    """
    sparse_file(path, size)
    run(tool("mkntfs"), "-q", "-F", "-Q", "-s", "512", str(path))
    lib = _library()
    unnamed = ctypes.addressof(ctypes.c_uint16.in_dll(lib, "AT_UNNAMED"))
    volume = lib.ntfs_mount(str(path).encode(), 0)
    assert volume, f"ntfs_mount({path}) failed"
    made: set[str] = set()

    def create(item: str, data: bytes | None) -> None:
        parent, _, name = item.rpartition("/")
        directory = lib.ntfs_pathname_to_inode(volume, None, ("/" + parent).encode())
        assert directory, f"no directory /{parent}"
        name_u = ctypes.c_void_p()
        length = lib.ntfs_mbstoucs(name.encode(), ctypes.byref(name_u))
        inode = lib.ntfs_create(directory, 0, name_u, length, _S_IFDIR if data is None else _S_IFREG)
        assert inode, f"ntfs_create(/{item}) failed"
        # The directory first: closing the new inode updates its entry in the directory through a
        # fresh copy of the directory, which closing a stale handle afterwards would overwrite.
        lib.ntfs_inode_close(directory)
        if data:
            attr = lib.ntfs_attr_open(inode, _AT_DATA, unnamed, 0)
            assert attr and lib.ntfs_attr_pwrite(attr, 0, len(data), data) == len(data), f"writing /{item} failed"
            lib.ntfs_attr_close(attr)
        lib.ntfs_inode_close(inode)

    try:
        for item, data in files.items():
            parts = item.strip("/").split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth])
                if directory not in made:
                    create(directory, None)
                    made.add(directory)
            if data is None:
                if item.strip("/") not in made:
                    create(item.strip("/"), None)
                    made.add(item.strip("/"))
            else:
                create(item.strip("/"), data)
    finally:
        assert lib.ntfs_umount(volume, 0) == 0, "ntfs_umount failed"
    return path


def state_ini(image_state: str) -> bytes:
    """State.ini as Sysprep writes it: UTF-16 LE with a byte-order mark."""
    return f"[State]\r\nImageState={image_state}\r\n".encode("utf-16")
