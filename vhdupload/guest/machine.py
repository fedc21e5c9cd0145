"""The CPU architecture a binary was built for: the ELF ``e_machine`` or the PE ``Machine`` field."""

from __future__ import annotations

import struct

#: Azure's names (the gallery's ``architecture``) for what Azure runs; others are named for messages.
ELF_MACHINES = {62: "x64", 183: "Arm64", 3: "x86 (32-bit)", 40: "ARM (32-bit)", 243: "RISC-V", 21: "PowerPC64", 22: "s390x"}
PE_MACHINES = {0x8664: "x64", 0xAA64: "Arm64", 0x14C: "x86 (32-bit)", 0x1C4: "ARM (32-bit)"}


def elf_machine(head: bytes) -> str | None:
    """The architecture of an ELF file from its first 20 bytes, or None if it is not ELF."""
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[5] not in (1, 2):
        return None
    (machine,) = struct.unpack_from("<H" if head[5] == 1 else ">H", head, 18)
    return ELF_MACHINES.get(machine, f"ELF machine {machine}")


def pe_machine(head: bytes) -> str | None:
    """The architecture of a PE file (an .exe, .sys or .efi) from its first 4 KiB, or None."""
    if len(head) < 64 or head[:2] != b"MZ":
        return None
    (pe_offset,) = struct.unpack_from("<I", head, 0x3C)
    if pe_offset + 6 > len(head) or head[pe_offset : pe_offset + 4] != b"PE\0\0":
        return None
    (machine,) = struct.unpack_from("<H", head, pe_offset + 4)
    return PE_MACHINES.get(machine, f"PE machine 0x{machine:04X}")
