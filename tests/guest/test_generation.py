"""Hyper-V generation from partition tables written by sgdisk and sfdisk."""

from __future__ import annotations

import pytest

from vhdupload.errors import InputError
from vhdupload.guest.generation import choose_generation, detect_generation

from tests.registration.disk_images import BIOS_BOOT, ESP, LINUX, blank, gpt, mbr, reader


def test_gpt_with_esp_is_v2(tmp_path):
    image = gpt(tmp_path / "d", (2048, 4095, ESP), (4096, 6143, LINUX))
    found = detect_generation(reader(image))
    assert found.generation == "V2"
    assert "EFI System Partition" in found.reason and found.note is None


def test_gpt_with_esp_and_bios_boot_is_v2_with_a_note(tmp_path):
    image = gpt(tmp_path / "d", (2048, 2559, BIOS_BOOT), (2560, 4095, ESP), (4096, 6143, LINUX))
    found = detect_generation(reader(image))
    assert found.generation == "V2"
    assert "both ways" in found.note


def test_gpt_with_bios_boot_only_is_v1(tmp_path):
    image = gpt(tmp_path / "d", (2048, 2559, BIOS_BOOT), (4096, 6143, LINUX))
    assert detect_generation(reader(image)).generation == "V1"


def test_gpt_without_boot_partitions_decides_nothing(tmp_path):
    image = gpt(tmp_path / "d", (4096, 6143, LINUX))
    assert detect_generation(reader(image)).generation is None


def test_mbr_without_active_flag_is_v1(tmp_path):
    image = mbr(tmp_path / "d", "83")
    assert image.read_bytes()[446] == 0  # no active flag, and that does not matter
    found = detect_generation(reader(image))
    assert found.generation == "V1" and "0x83" in found.reason


def test_mbr_with_efi_partition_is_v2(tmp_path):
    image = mbr(tmp_path / "d", "ef", "83")
    found = detect_generation(reader(image))
    assert found.generation == "V2" and "0xEF" in found.reason


def test_blank_disk_is_refused_asking_for_the_flag(tmp_path):
    image = blank(tmp_path / "d")
    assert detect_generation(reader(image)).generation is None
    with pytest.raises(InputError, match="--hyper-v-generation V1 .* or V2"):
        choose_generation("auto", reader(image))


def test_auto_says_what_was_detected_and_why(tmp_path):
    image = gpt(tmp_path / "d", (2048, 4095, ESP))
    choice = choose_generation("auto", reader(image))
    assert choice.generation == "V2"
    assert choice.notes == ["Hyper-V generation V2: the OS disk has a GPT with an EFI System Partition"]


def test_explicit_choice_wins_and_a_contradiction_is_warned(tmp_path):
    image = gpt(tmp_path / "d", (2048, 4095, ESP))
    choice = choose_generation("v1", reader(image))
    assert choice.generation == "V1"
    assert "means V2" in choice.warnings[0]
    assert choose_generation("V2", reader(image)).warnings == []


def test_auto_without_reading_the_disk_asks_for_the_flag():
    with pytest.raises(InputError, match="--skip-preflight: pass --hyper-v-generation"):
        choose_generation("auto", None)
    assert choose_generation("V2", None).generation == "V2"


def test_unknown_generation_is_refused():
    with pytest.raises(InputError, match="not V1, V2 or auto"):
        choose_generation("V3", None)


MS_RESERVED, MS_BASIC, WINDOWS_RE = "0c01", "0700", "2700"


@pytest.mark.parametrize(
    "make, os_type, words",
    [
        (lambda p: gpt(p, (2048, 4095, ESP), (4096, 6143, LINUX)), "Linux", "Linux filesystem"),
        (lambda p: gpt(p, (2048, 2559, ESP), (2560, 2815, MS_RESERVED), (2816, 6143, MS_BASIC)), "Windows", "Microsoft reserved"),
        (lambda p: mbr(p, "83"), "Linux", "Linux partitions"),
        (lambda p: mbr(p, "7", "27"), "Windows", "NTFS, Windows recovery"),
        (lambda p: gpt(p, (2048, 4095, ESP), (4096, 6143, MS_BASIC)), None, "no partition type"),
        (lambda p: gpt(p, (2048, 2559, MS_RESERVED), (4096, 6143, LINUX)), None, "both Linux"),
        (blank, None, "no partition type"),
    ],
    ids=["gpt-linux", "gpt-windows", "mbr-linux", "mbr-windows", "basic-data-only", "both", "blank"],
)
def test_os_type_from_partition_types(tmp_path, make, os_type, words):
    from vhdupload.guest.generation import detect_os_type

    found = detect_os_type(reader(make(tmp_path / "d")))
    assert found.os_type == os_type and words in found.reason
