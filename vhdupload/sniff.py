"""Recognise disk images of other formats, so they are explained rather than called garbage.

Each message names the format and how to get a VHD from it today. The route through a raw
image always works, and ``vhdupload convert`` then rounds the size up to a whole MiB (which
``qemu-img convert -O vpc`` does not do on its own).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable

from .errors import OtherFormatError

#: How many leading bytes sniffing needs (a GPT of 4096-byte sectors starts at 4096).
SNIFF_SIZE = 8192

# (format name, qemu-img format name, test on the first bytes). VHDX, VMDK, qcow2 and VDI are not
# here: they are read natively, dispatched in disks.py before these are tried.
_SIGNATURES: list[tuple[str, str, Callable[[bytes], bool]]] = [
    ("QED", "qed", lambda head: head.startswith(b"QED\x00")),
]


def detect_other_format(head: bytes) -> tuple[str, str] | None:
    """``(format name, qemu-img name)`` when ``head`` starts an image of another format."""
    for name, qemu_name, test in _SIGNATURES:
        if test(head):
            return name, qemu_name
    return None


def other_format_error(path: pathlib.Path, head: bytes) -> OtherFormatError | None:
    """An explaining error for an image of another format, or None if ``head`` is not one."""
    found = detect_other_format(head)
    if found is None:
        return None
    name, qemu_name = found
    stem = path.with_suffix("").name
    how = (
        f"convert it with `qemu-img convert -f {qemu_name} -O raw {path} {stem}.raw` "
        f"then `vhdupload convert {stem}.raw {stem}.vhd`"
    )
    if name == "VMDK descriptor":
        what = "a VMDK descriptor (text that points at extent files)"
    else:
        what = f"a {name} image"
    return OtherFormatError(f"{path} is {what}, not a VHD: {how}", format_name=name.split()[0])


# What the first bytes of a raw disk image hold: a partition table, or a file system made on the
# whole disk. One rule for every command (inspect, convert, upload, verify, publish): a file that
# no format recognises and that shows none of these is refused rather than guessed, since sending
# an arbitrary file to Azure as a disk helps nobody; ``--raw`` says it is a raw image anyway.
_RAW_MARKS: list[tuple[str, Callable[[bytes], bool]]] = [
    ("a GPT partition table", lambda h: h[512:520] == b"EFI PART" or h[4096:4104] == b"EFI PART"),
    ("an MBR partition table", lambda h: h[510:512] == b"\x55\xaa"),
    ("an ext2/3/4 file system", lambda h: h[1080:1082] == b"\x53\xef"),
    ("an XFS file system", lambda h: h.startswith(b"XFSB")),
    ("an NTFS file system", lambda h: h[3:11] == b"NTFS    "),
    ("a LUKS encrypted volume", lambda h: h.startswith(b"LUKS\xba\xbe")),
    ("an LVM physical volume", lambda h: b"LABELONE" in (h[0:8], h[512:520], h[1024:1032], h[1536:1544])),
]


def raw_disk_mark(head: bytes) -> str | None:
    """What in ``head`` (the file's first :data:`SNIFF_SIZE` bytes) says it is a raw disk image,
    or None."""
    for what, test in _RAW_MARKS:
        if test(head):
            return what
    return None
