"""Recognise disk images of other formats, so they are explained rather than called garbage.

Each message names the format and how to get a VHD from it today. The route through a raw
image always works, and ``vhdupload convert`` then rounds the size up to a whole MiB (which
``qemu-img convert -O vpc`` does not do on its own).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable

from .errors import OtherFormatError

#: How many leading bytes sniffing needs.
SNIFF_SIZE = 1024

# (format name, qemu-img format name, test on the first bytes). VHDX is not here: it is read
# natively (vhdupload.vhdx), dispatched in disks.py before these are tried.
_SIGNATURES: list[tuple[str, str, Callable[[bytes], bool]]] = [
    ("qcow2", "qcow2", lambda head: head.startswith(b"QFI\xfb")),
    ("QED", "qed", lambda head: head.startswith(b"QED\x00")),
    # VDI: a text banner at 0 and the signature 0xBEDA107F (little-endian) at 64
    ("VDI", "vdi", lambda head: head[64:68] == b"\x7f\x10\xda\xbe" or head.startswith(b"<<< Oracle VM VirtualBox")
     or head.startswith(b"<<< Sun")),
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
