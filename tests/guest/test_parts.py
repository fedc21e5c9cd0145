"""The small pieces: partition tables, signatures, binaries, verdict policy, the budget."""

from __future__ import annotations

import struct

import pytest

from vhdupload.errors import InputError, NotGeneralizedError, NotAzureReadyError
from vhdupload.guest import GuestReport, choose_architecture, choose_os_type, examine_reader, require_generalized
from vhdupload.guest.machine import elf_machine, pe_machine
from vhdupload.guest.partitions import read_partitions
from vhdupload.guest.source import Budget, BudgetExceeded, CachedDisk

from .images import MIB, elf_header, mbr_disk, pe_file

from .lvm_format import lvm_crc


def reader(data: bytes):
    return lambda offset, length: data[offset : offset + length]


def test_mbr_with_logical_partitions(tmp_path):
    path = mbr_disk(tmp_path / "d.raw", 64 * MIB, [(1, 8, "83"), (9, 40, "5")])
    # sfdisk cannot add logical partitions in the same script without an extended entry; write EBRs by hand
    data = bytearray(path.read_bytes())
    ext_lba = 9 * MIB // 512
    for index, (first, count, link) in enumerate([(2048, 4096, 8192), (2048, 4096, 0)]):
        ebr = ext_lba + (0 if index == 0 else 8192)
        base = ebr * 512
        struct.pack_into("<B3xBxxxII", data, base + 446, 0, 0x83, first, count)
        if link:
            struct.pack_into("<B3xBxxxII", data, base + 462, 0, 0x05, link, 8192)
        data[base + 510 : base + 512] = b"\x55\xaa"
    table = read_partitions(reader(bytes(data)), len(data))
    assert table.scheme == "mbr"
    assert [(p.number, p.start, p.type) for p in table.partitions] == [
        (1, 1 * MIB, "0x83"), (5, 10 * MIB, "0x83"), (6, 14 * MIB, "0x83"),
    ]


def test_a_looping_ebr_chain_ends(tmp_path):
    data = bytearray(mbr_disk(tmp_path / "d.raw", 16 * MIB, [(1, 8, "5")]).read_bytes())
    base = 2048 * 512
    struct.pack_into("<B3xBxxxII", data, base + 446, 0, 0x83, 2048, 2048)
    struct.pack_into("<B3xBxxxII", data, base + 462, 0, 0x05, 0 + 0, 16)  # points at itself (offset 0 is "none")
    struct.pack_into("<B3xBxxxII", data, base + 462, 0, 0x05, 16, 16)
    data[base + 510 : base + 512] = b"\x55\xaa"
    data[(2048 + 16) * 512 + 510 : (2048 + 16) * 512 + 512] = b"\x55\xaa"
    struct.pack_into("<B3xBxxxII", data, (2048 + 16) * 512 + 462, 0, 0x05, 16, 16)  # loops to itself
    table = read_partitions(reader(bytes(data)), len(data))
    assert len(table.partitions) == 1


def test_gpt_partition_outside_the_disk_is_a_warning(tmp_path):
    from .images import gpt_disk

    data = gpt_disk(tmp_path / "g.raw", 8 * MIB, [(1, 4, "8300")]).read_bytes()
    table = read_partitions(reader(data[: 4 * MIB]), 4 * MIB)  # the disk "shrank"
    assert table.partitions == [] and "lies outside the disk" in table.warnings[0]


def test_machines():
    assert elf_machine(elf_header(62)) == "x64"
    assert elf_machine(elf_header(183)) == "Arm64"
    assert elf_machine(elf_header(3)) == "x86 (32-bit)"
    assert elf_machine(b"#!/bin/sh\n" + bytes(20)) is None
    assert pe_machine(pe_file(0x8664)) == "x64"
    assert pe_machine(pe_file(0xAA64)) == "Arm64"
    assert pe_machine(b"MZ" + bytes(62)) is None


def test_lvm_crc_matches_lvm2s_check_value():
    # LVM2's calc_crc(INITIAL_CRC, "") is its seed, and the table-driven loop equals the bitwise one
    assert lvm_crc(b"") == 0xF597A6CF
    crc = 0xF597A6CF
    for byte in b"123456789":
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    assert lvm_crc(b"123456789") == crc


def test_require_generalized():
    dirty = GuestReport(os_type="linux", os_name="Debian 12", generalized=False, problems=["the agent's marker: fix it"])
    with pytest.raises(NotGeneralizedError) as caught:
        require_generalized(dirty, os_state="generalized")
    assert isinstance(caught.value, NotAzureReadyError)
    assert caught.value.problems == ["the agent's marker: fix it"]
    assert "Debian 12" in str(caught.value)
    assert require_generalized(dirty, os_state="specialized") == []
    clean = GuestReport(os_type="linux", generalized=True)
    assert require_generalized(clean) == []
    assert "registered as specialized" in require_generalized(clean, os_state="specialized")[0]
    unsure = GuestReport(os_type="linux", generalized=None, warnings=["can't tell whether it ran: keys, but no id"])
    assert require_generalized(unsure) == ["can't tell whether the OS disk was generalized: keys, but no id"]


def test_choose_os_type_and_architecture():
    report = GuestReport(os_type="windows", architecture="Arm64")
    assert choose_os_type("auto", report) == ("Windows", ["os type Windows: detected inside the disk"])
    assert choose_os_type("WINDOWS", report) == ("Windows", [])
    assert choose_os_type(None, None) == (None, [])
    with pytest.raises(InputError, match="os_type Linux was given, but the disk holds Windows"):
        choose_os_type("linux", report)
    assert choose_architecture("arm64", report) == ("Arm64", [])
    with pytest.raises(InputError, match="architecture x64 was given, but the disk holds Arm64"):
        choose_architecture("x64", report)
    with pytest.raises(InputError, match="is not one of x64, Arm64 or auto"):
        choose_architecture("sparc", report)


def test_budget_caps_bytes_and_time():
    budget = Budget(max_bytes=1000, seconds=60)
    disk = CachedDisk(lambda o, n: bytes(n), 10**12, budget=budget, block_size=512)
    disk.read(0, 512)
    disk.read(0, 512)  # cached: not charged again
    assert budget.used == 512
    with pytest.raises(BudgetExceeded):
        disk.read(4096, 1024)
    late = Budget(max_bytes=10**9, seconds=0)
    with pytest.raises(BudgetExceeded, match="longer than 0 s"):
        CachedDisk(lambda o, n: bytes(n), 10**6, budget=late).read(0, 1)


def test_a_reader_that_raises_ends_in_a_warning():
    def broken(offset, length):
        if offset:
            raise OSError("I/O error")
        return bytes(length)

    report = examine_reader(broken, 10 * MIB)
    assert report.os_type is None
    assert any("I/O error" in w for w in report.warnings)


def test_a_hanging_reader_is_cut_by_the_deadline():
    import time

    def slow(offset, length):
        time.sleep(0.5)
        return bytes(length)

    started = time.monotonic()
    report = examine_reader(slow, 10**12, seconds=0.2)
    assert time.monotonic() - started < 2
    assert any("longer than 0.2 s" in w for w in report.warnings), report.warnings
