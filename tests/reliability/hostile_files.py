"""Hostile VHDs for the fuzz: well-formed seeds and their mutations (mutation-driven), and whole
files drawn field by field (hypothesis-driven). Written with ``struct``, not with vhdupload.

Layout of the seeds (tests/vhd/builders.py): footer copy at 0, dynamic header at 512, BAT at
1536, parent locator data after the BAT, then blocks (sector bitmap + data), then the footer.
"""

from __future__ import annotations

import pathlib
import random
import struct
import uuid as uuid_module

from hypothesis import strategies as st

from tests.vhd.builders import MIB, build_differencing, build_dynamic, build_fixed, checksum

SECTOR = 512
U32_MAX = 0xFFFFFFFF
INTERESTING_U32 = [0, 1, 2, 3, 4, 511, 512, 513, 1024, 2047, 0x7FFFFFFF, 0x80000000, U32_MAX - 1, U32_MAX]
INTERESTING_U64 = [0, 1, 511, 512, 1536, 2**31, 2**32, 2**40, 2**41 - 512, 2**43, 2**63 - 1, 2**63, 2**64 - 1]
HOSTILE_NAMES = [
    "a" * 255 + ".vhd", "..", ".", "/", "/etc/passwd", "../../../../etc/shadow", "\\\\server\\share\\p.vhd",
    "C:\\", "p.vhd\0junk", "con", "p" * 40 + "/" + "q" * 300, "\u202ep.vhd", "\x1b[31mred.vhd", "é" * 200, "",
]

# (field offset, size) in the footer and in the dynamic header
FOOTER_FIELDS = [(8, 4), (12, 4), (16, 8), (24, 4), (40, 8), (48, 8), (56, 2), (58, 1), (59, 1), (60, 4), (84, 1)]
HEADER_FIELDS = [(8, 8), (16, 8), (24, 4), (28, 4), (32, 4), (56, 4)]
LOCATOR_FIELDS = [(0, 4), (4, 4), (8, 4), (12, 4), (16, 8)]  # inside each 24-byte entry at 576


def make_seeds(folder: pathlib.Path) -> list[pathlib.Path]:
    """Small well-formed disks of every kind (a differencing child's parent lies next to it)."""
    folder.mkdir(parents=True, exist_ok=True)
    writes = {0: b"boot" * 128, 70000: b"\x55" * 9000, MIB + 4096: b"\xaa" * 4096}
    seeds = [
        build_fixed(folder / "fixed.vhd", virtual_size=2 * MIB, writes=writes),
        build_fixed(folder / "fixed511.vhd", virtual_size=MIB, writes={0: b"x" * 512}, short_footer=True),
        build_dynamic(folder / "dyn64k.vhd", virtual_size=2 * MIB, block_size=64 * 1024, writes=writes),
        build_dynamic(folder / "dyn2m.vhd", virtual_size=4 * MIB + 512 * 3, writes=writes),
    ]
    parent = build_dynamic(folder / "p.vhd", virtual_size=2 * MIB, block_size=64 * 1024, writes={0: b"P" * 4096})
    seeds.append(build_differencing(folder / "child.vhd", parent=parent, block_size=64 * 1024,
                                    writes={8192: b"C" * 1024, MIB: b"D" * 512}))
    return seeds


class _Layout:
    """Where a seed's structures are, read from its bytes."""

    def __init__(self, data: bytes) -> None:
        self.size = len(data)
        self.footer_at = self.size - 512 if data[-512:-504] == b"conectix" else self.size - 511
        self.dynamic = data[:8] == b"conectix" and data[512:520] == b"cxsparse"
        self.header_at = 512 if self.dynamic else None
        self.bat_at = self.entries = self.block = None
        self.allocated: list[int] = []
        if self.dynamic:
            self.bat_at = struct.unpack_from(">Q", data, 512 + 16)[0]
            self.entries = struct.unpack_from(">I", data, 512 + 28)[0]
            self.block = struct.unpack_from(">I", data, 512 + 32)[0]
            if not 0 < self.entries <= 65536 or self.bat_at + 4 * self.entries > len(data):
                self.dynamic = False  # too damaged to aim at: later mutations treat it as flat
                return
            bat = struct.unpack_from(f">{self.entries}I", data, self.bat_at)
            self.allocated = [i for i, e in enumerate(bat) if e != U32_MAX]


def _fix_checksums(data: bytearray) -> None:
    for at in (len(data) - 512, 0):
        if at >= 0 and data[at:at + 8] == b"conectix":
            data[at + 64:at + 68] = bytes(4)
            data[at + 64:at + 68] = struct.pack(">I", checksum(bytes(data[at:at + 512])))
    if len(data) >= 512:
        offset = struct.unpack_from(">Q", data, len(data) - 512 + 16)[0] if data[-512:-504] == b"conectix" else 512
        if offset + 1024 <= len(data) and data[offset:offset + 8] == b"cxsparse":
            data[offset + 36:offset + 40] = bytes(4)
            data[offset + 36:offset + 40] = struct.pack(">I", checksum(bytes(data[offset:offset + 1024])))


def _put(data: bytearray, at: int, size: int, value: int) -> None:
    if 0 <= at and at + size <= len(data):
        data[at:at + size] = (value % (1 << (8 * size))).to_bytes(size, "big")


def mutate(seed: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    """``seed`` with 1 to 3 hostile changes; checksums fixed most of the time, so the damage
    reaches past them. Returns the bytes and a description of what was done."""
    data = bytearray(seed)
    layout = _Layout(seed)
    done = []
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(["flip", "footer", "header", "bat", "bat", "bitmap", "locator", "name", "cut", "grow"])
        if op in ("header", "bat", "bitmap", "locator", "name") and not layout.dynamic:
            op = "footer"
        if op == "flip":
            start = rng.choice([0, layout.footer_at, 512, layout.bat_at or 0, rng.randrange(len(data))])
            for _ in range(rng.randint(1, 8)):
                pos = min(len(data) - 1, start + rng.randrange(1024))
                data[pos] ^= rng.randrange(1, 256)
            done.append(f"flip@{start}")
        elif op == "footer":
            offset, size = rng.choice(FOOTER_FIELDS)
            value = rng.choice(INTERESTING_U64 + INTERESTING_U32 + [len(data), len(data) - 512, rng.getrandbits(64)])
            for at in ([layout.footer_at] + ([0] if layout.dynamic and rng.random() < 0.7 else [])):
                _put(data, at + offset, size, value)
            done.append(f"footer+{offset}={value}")
        elif op == "header":
            offset, size = rng.choice(HEADER_FIELDS)
            value = rng.choice(INTERESTING_U64 + INTERESTING_U32 + [len(data), layout.entries * 2, rng.getrandbits(32)])
            _put(data, 512 + offset, size, value)
            done.append(f"header+{offset}={value}")
        elif op == "bat":
            bat = [struct.unpack_from(">I", data, layout.bat_at + 4 * i)[0] for i in range(layout.entries)]
            index = rng.randrange(layout.entries)
            others = [e for e in bat if e != U32_MAX] or [0]
            value = rng.choice(INTERESTING_U32 + [rng.choice(others), rng.choice(others) + 1, rng.choice(others) - 1,
                                                  layout.bat_at // SECTOR, len(data) // SECTOR, rng.getrandbits(32)])
            if rng.random() < 0.2:  # every entry at once
                for i in range(layout.entries):
                    _put(data, layout.bat_at + 4 * i, 4, value)
            else:
                _put(data, layout.bat_at + 4 * index, 4, value)
            done.append(f"bat[{index}]={value}")
        elif op == "bitmap" and layout.allocated:
            index = rng.choice(layout.allocated)
            sector = struct.unpack_from(">I", data, layout.bat_at + 4 * index)[0]
            at = sector * SECTOR
            fill = rng.choice([b"\xff", b"\x00", bytes([rng.randrange(256)])])
            _put_bytes(data, at, fill * rng.choice([1, 8, 64, 512]))
            done.append(f"bitmap[{index}]={fill.hex()}")
        elif op == "locator":
            entry = rng.randrange(8)
            offset, size = rng.choice(LOCATOR_FIELDS)
            if offset == 0:
                value = int.from_bytes(rng.choice([b"W2ru", b"W2ku", b"Mac ", b"\0\0\0\0", b"W2r\xff"]), "big")
            else:
                value = rng.choice(INTERESTING_U64 + [len(data), len(data) - 100, 65536, 65537, rng.getrandbits(32)])
            _put(data, 512 + 576 + 24 * entry + offset, size, value)
            done.append(f"locator[{entry}]+{offset}={value}")
        elif op == "name":
            name = rng.choice(HOSTILE_NAMES)
            raw = name.encode("utf-16-be", "surrogatepass")[:512].ljust(512, b"\0")
            if rng.random() < 0.3:
                raw = bytes(rng.getrandbits(8) for _ in range(512))
            data[512 + 64:512 + 576] = raw
            # and the locator data too, when there is one
            code, _, length, _, at = struct.unpack_from(">4sIIIQ", data, 512 + 576)
            if code in (b"W2ru", b"W2ku") and 0 < length and at + length <= len(data):
                text = name.encode("utf-16-le", "surrogatepass")[:length].ljust(length, b"\0")
                data[at:at + length] = text
            done.append(f"name={name[:20]!r}")
        elif op == "cut":
            keep = rng.choice([1, 511, 512, 1024, 1536, len(data) // 2, len(data) - 1, len(data) - 511, rng.randrange(1, len(data))])
            del data[keep:]
            done.append(f"cut@{keep}")
            break  # the structures the other mutations aim at may be gone
        elif op == "grow":
            data += bytes(rng.getrandbits(8) for _ in range(rng.choice([1, 511, 512, 4096])))
            done.append("grow")
    if rng.random() < 0.75:
        _fix_checksums(data)
        done.append("checksums fixed")
    return bytes(data), done


def _put_bytes(data: bytearray, at: int, chunk: bytes) -> None:
    if 0 <= at < len(data):
        data[at:at + len(chunk)] = chunk[:len(data) - at]


# -- hypothesis: whole files, field by field ----------------------------------------------------

def _footer(*, disk_type: int, current_size: int, data_offset: int, uuid: bytes) -> bytes:
    def pack(check: int) -> bytes:
        return struct.pack(">8sIIQI4sI4sQQHBBII16sB427s", b"conectix", 2, 0x00010000, data_offset, 0,
                           b"vhdu", 0x00010000, b"Wi2k", current_size, current_size, 65535, 16, 255,
                           disk_type, check, uuid, 0, bytes(427))

    return pack(checksum(pack(0)))


sector_values = st.one_of(st.just(U32_MAX), st.integers(0, 80), st.sampled_from(INTERESTING_U32), st.integers(0, U32_MAX))


@st.composite
def sparse_files(draw, parent_uuid: bytes = bytes(16)) -> bytes:
    """A dynamic or differencing VHD whose every field is drawn: sizes, offsets, BAT, bitmaps, locators."""
    block = draw(st.one_of(st.sampled_from([512, 4096, 32768, 65536, 2 * MIB]), st.integers(0, U32_MAX)))
    n = draw(st.integers(0, 48))
    size_guess = n * block if block <= 2 * MIB else 0
    current_size = draw(st.one_of(st.just(size_guess), st.sampled_from(INTERESTING_U64), st.integers(0, 2**45)))
    table_offset = draw(st.one_of(st.just(1536), st.sampled_from([0, 512, 1024, 2048, 4096]), st.integers(0, 1 << 21)))
    max_entries = draw(st.one_of(st.just(n), st.sampled_from(INTERESTING_U32), st.integers(0, 4096)))
    bat = draw(st.lists(sector_values, min_size=n, max_size=n))
    file_len = draw(st.integers(2048, 1 << 20)) // 512 * 512 + draw(st.sampled_from([0, 0, 0, 1, 511]))
    disk_type = draw(st.sampled_from([3, 3, 4, 4, 2, 0, 7]))
    data_offset = draw(st.one_of(st.just(512), st.sampled_from(INTERESTING_U64)))
    bitmap = draw(st.binary(min_size=1, max_size=64))
    locators = draw(st.lists(st.tuples(
        st.sampled_from([b"W2ru", b"W2ku", b"Mac ", b"MacX", b"\0\0\0\0", b"W2r\x00"]),
        st.integers(0, U32_MAX), st.one_of(st.integers(0, 1024), st.sampled_from(INTERESTING_U32)),
        st.one_of(st.integers(0, 1 << 20), st.sampled_from(INTERESTING_U64)),
        st.one_of(st.sampled_from(HOSTILE_NAMES), st.text(max_size=64), st.just("p.vhd")),
    ), max_size=8))
    parent_name = draw(st.one_of(st.just("p.vhd"), st.sampled_from(HOSTILE_NAMES), st.text(max_size=256)))
    pick_parent = draw(st.booleans())

    data = bytearray(file_len)
    footer = _footer(disk_type=disk_type, current_size=current_size, data_offset=data_offset, uuid=uuid_module.uuid4().bytes)
    entries = b"".join(struct.pack(">4sIIIQ", code, space, length, 0, offset) for code, space, length, offset, _ in locators)
    name_raw = parent_name.encode("utf-16-be", "surrogatepass")[:512].ljust(512, b"\0")

    def header(check: int) -> bytes:
        return struct.pack(">8sQQIIII16sII512s", b"cxsparse", U32_MAX << 32 | U32_MAX, table_offset, 0x00010000,
                           max_entries, block, check, parent_uuid if pick_parent else bytes(16), 0, 0, name_raw,
                           ) + entries.ljust(192, b"\0") + bytes(256)

    head = header(checksum(header(0)))
    _put_bytes(data, 0, footer)
    if data_offset < file_len:
        _put_bytes(data, data_offset, head)
    if table_offset < file_len and bat:
        _put_bytes(data, table_offset, struct.pack(f">{len(bat)}I", *bat))
    for code, _, length, offset, text in locators:
        if offset < file_len:
            _put_bytes(data, offset, text.encode("utf-16-le", "surrogatepass")[:max(length, 0)])
    for entry in bat:
        if entry != U32_MAX and entry * SECTOR < file_len:
            _put_bytes(data, entry * SECTOR, bitmap * (512 // len(bitmap) + 1))
    data[-512:] = footer if len(data) >= 512 else data[-512:]
    return bytes(data)
