"""Hyper-V generation (V1 = BIOS, V2 = UEFI) read from the OS disk's partition table.

Only a few sectors are read: the MBR, the GPT header and the GPT partition entries.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from typing import Callable

from ..errors import InputError

SECTOR = 512
ESP_GUID = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
BIOS_BOOT_GUID = uuid.UUID("21686148-6449-6e6f-744e-656564454649")
_MBR_PROTECTIVE = 0xEE
_MBR_ESP = 0xEF
_MAX_GPT_ENTRY_BYTES = 1024 * 1024

#: Reads ``length`` bytes at ``offset`` of the disk (fewer at its end).
ReadAt = Callable[[int, int], bytes]


@dataclass(frozen=True)
class GenerationDetection:
    """What the partition table says: ``generation`` is None when it decides nothing."""

    generation: str | None
    reason: str
    note: str | None = None


@dataclass
class GenerationChoice:
    """The generation to use, and what to tell the user about how it was chosen."""

    generation: str | None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def detect_generation(read_at: ReadAt) -> GenerationDetection:
    """Detect the generation from the partition table that ``read_at`` reads."""
    mbr = read_at(0, SECTOR)
    has_mbr = len(mbr) == SECTOR and mbr[510:512] == b"\x55\xaa"
    types = [mbr[446 + 16 * i + 4] for i in range(4)] if has_mbr else []
    if _MBR_PROTECTIVE in types or not has_mbr:
        gpt = _read_gpt(read_at)
        if gpt is not None:
            return _judge_gpt(gpt)
        if has_mbr:
            return GenerationDetection(None, "a protective MBR (type 0xEE) but no valid GPT header behind it")
        return GenerationDetection(None, "no partition table (no MBR boot signature and no GPT header)")
    if _MBR_ESP in types:
        return GenerationDetection("V2", "an MBR partition table with an EFI System Partition (type 0xEF)")
    used = [t for t in types if t]
    if used:
        listed = ", ".join(f"0x{t:02X}" for t in used)
        return GenerationDetection("V1", f"an MBR partition table without an EFI System Partition (types {listed})")
    return GenerationDetection(None, "an MBR boot signature but no partitions")


def _read_gpt(read_at: ReadAt) -> list[uuid.UUID] | None:
    header = read_at(SECTOR, SECTOR)
    if len(header) < 92 or header[:8] != b"EFI PART":
        return None
    entries_lba, count, entry_size = struct.unpack_from("<QII", header, 72)
    if entry_size < 128 or count == 0:
        return None
    length = min(count * entry_size, _MAX_GPT_ENTRY_BYTES)
    table = read_at(entries_lba * SECTOR, length)
    return [
        uuid.UUID(bytes_le=table[i : i + 16])
        for i in range(0, len(table) - entry_size + 1, entry_size)
        if table[i : i + 16] != b"\0" * 16
    ]


def _judge_gpt(type_guids: list[uuid.UUID]) -> GenerationDetection:
    esp, bios = ESP_GUID in type_guids, BIOS_BOOT_GUID in type_guids
    if esp and bios:
        return GenerationDetection(
            "V2",
            "a GPT with an EFI System Partition and a BIOS boot partition",
            note="the disk can boot both ways (a hybrid image); V2 chosen, pass --hyper-v-generation V1 for BIOS",
        )
    if esp:
        return GenerationDetection("V2", "a GPT with an EFI System Partition")
    if bios:
        return GenerationDetection("V1", "a GPT with a BIOS boot partition and no EFI System Partition")
    return GenerationDetection(None, "a GPT with neither an EFI System Partition nor a BIOS boot partition")


# Partition types that belong to one OS family only ("basic data" is shared, so it decides nothing).
_WINDOWS_GPT = {
    uuid.UUID("e3c9e316-0b5c-4db8-817d-f92df00215ae"): "Microsoft reserved",
    uuid.UUID("de94bba4-06d1-4d40-a16a-bfd50179d6ac"): "Windows recovery",
}
_LINUX_GPT = {
    uuid.UUID("0fc63daf-8483-4772-8e79-3d69d8477de4"): "Linux filesystem",
    uuid.UUID("e6d6d379-f507-44c2-a23c-238f2a3df928"): "Linux LVM",
    uuid.UUID("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"): "Linux swap",
    uuid.UUID("4f68bce3-e8cd-4db1-96e7-fbcaf984b709"): "Linux root (x86-64)",
    uuid.UUID("b921b045-1df0-41c3-af44-4c6f280d3fae"): "Linux root (ARM64)",
    uuid.UUID("bc13c2ff-59e6-4262-a352-b275fd6f7172"): "Linux extended boot",
}
_WINDOWS_MBR = {0x07: "NTFS", 0x27: "Windows recovery"}
_LINUX_MBR = {0x83: "Linux", 0x8E: "Linux LVM", 0x82: "Linux swap"}


@dataclass(frozen=True)
class OsTypeDetection:
    """``os_type`` ("Linux" | "Windows") when the partition types name one family only."""

    os_type: str | None
    reason: str


def detect_os_type(read_at: ReadAt) -> OsTypeDetection:
    """Guess the OS family from partition types alone (never from file systems)."""
    mbr = read_at(0, SECTOR)
    has_mbr = len(mbr) == SECTOR and mbr[510:512] == b"\x55\xaa"
    types = [mbr[446 + 16 * i + 4] for i in range(4)] if has_mbr else []
    if _MBR_PROTECTIVE in types or not has_mbr:
        guids = _read_gpt(read_at) or []
        windows = sorted({_WINDOWS_GPT[g] for g in guids if g in _WINDOWS_GPT})
        linux = sorted({_LINUX_GPT[g] for g in guids if g in _LINUX_GPT})
    else:
        windows = sorted({_WINDOWS_MBR[t] for t in types if t in _WINDOWS_MBR})
        linux = sorted({_LINUX_MBR[t] for t in types if t in _LINUX_MBR})
    if linux and not windows:
        return OsTypeDetection("Linux", f"{', '.join(linux)} partitions")
    if windows and not linux:
        return OsTypeDetection("Windows", f"{', '.join(windows)} partitions")
    if linux and windows:
        return OsTypeDetection(None, f"both Linux ({', '.join(linux)}) and Windows ({', '.join(windows)}) partitions")
    return OsTypeDetection(None, "no partition type that belongs to Linux or Windows only")


def normalize_generation(value: str | None) -> str | None:
    """``v1``/``1``/``V1`` → ``V1``; ``auto``/None stay as they are; anything else is refused."""
    if value is None:
        return None
    text = value.strip().upper()
    if text == "AUTO":
        return "auto"
    text = text if text.startswith("V") else f"V{text}"
    if text not in ("V1", "V2"):
        raise InputError(f"--hyper-v-generation {value!r} is not V1, V2 or auto")
    return text


def choose_generation(requested: str | None, read_at: ReadAt | None) -> GenerationChoice:
    """Combine an explicit choice (or ``auto``) with what the disk says.

    An explicit V1/V2 wins and a contradicting disk is warned about; ``auto`` needs the disk
    to decide, and otherwise refuses and asks for the flag. ``read_at`` None means the disk
    cannot be read (``--skip-preflight``).
    """
    requested = normalize_generation(requested)
    if requested is None:
        return GenerationChoice(None)
    detection = detect_generation(read_at) if read_at is not None else None
    if requested != "auto":
        choice = GenerationChoice(requested)
        if detection and detection.generation and detection.generation != requested:
            choice.warnings.append(
                f"--hyper-v-generation {requested} given, but the OS disk has {detection.reason}, "
                f"which means {detection.generation}; the VM may not boot"
            )
        return choice
    if detection is None:
        raise InputError("the OS disk is not read with --skip-preflight: pass --hyper-v-generation V1 or V2")
    if detection.generation is None:
        raise InputError(
            f"cannot tell the Hyper-V generation: the OS disk has {detection.reason}; "
            "pass --hyper-v-generation V1 (BIOS) or V2 (UEFI)"
        )
    choice = GenerationChoice(detection.generation, notes=[f"Hyper-V generation {detection.generation}: the OS disk has {detection.reason}"])
    if detection.note:
        choice.notes.append(detection.note)
    return choice
