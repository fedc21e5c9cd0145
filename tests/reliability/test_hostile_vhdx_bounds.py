"""Hostile VHDX structures and manifests that once cost quadratic time, gigabytes or a traceback
(issue 22: items 1, 2, 11, 12). Each file is built here with the project's test writer
(tests/vhdx/writer.py, tests/vhd/builders.py); each case has a time bound and, for the BAT, a
memory bound measured in a fresh process (``ru_maxrss``).

Figures on the 2-core test machine (see the report of each case below): a 64 MiB log with an
entry header every 4 KiB, 0.8 s (was ~70 min); a 2^24-entry all-zero BAT, about 2 s and 90 MiB
peak for the whole process (was 65 s and 2 GB); a 4 TiB fixed VHDX with 1 MiB blocks, likewise.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from vhdupload import open_disk
from vhdupload.cli import main
from vhdupload.errors import CorruptVhdError, ParentChainError, PublishCheckError
from vhdupload.publish import load_manifest

from tests.reliability.figures import one_line, record
from tests.vhd.builders import build_differencing, build_dynamic
from tests.vhdx.writer import MIB, Spec, contiguous_bat, log_entry, uniform_bat, write_vhdx

ROOT = Path(__file__).resolve().parents[2]
LOG_GUID = uuid.UUID("0badc0de-0000-4000-8000-000000000022")
#: Bounds: generous (a shared 2-core machine), far below what the unbounded code took.
LOG_SECONDS = 10
BAT_SECONDS = 30
BAT_RSS_MIB = 200


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


# -- 1. a log that cost the square of its size ----------------------------------------------------

def _hostile_log(path: Path, *, log_length: int, count: int = 0) -> Path:
    """A log with a plausible entry header at every 4 KiB: right signature, LogGuid and sequence,
    a length of the whole log, a wrong CRC (and ``count`` descriptors that run into the next header)."""
    entry = bytearray(log_entry(sequence=1, tail=0, log_guid=LOG_GUID, writes=[]))
    struct.pack_into("<II", entry, 8, log_length, 0)  # length of the whole log, tail 0
    struct.pack_into("<I", entry, 24, count)
    log = bytearray(entry * (log_length // 4096))
    for i in range(log_length // 4096):
        struct.pack_into("<Q", log, i * 4096 + 16, i + 1)  # rising sequence numbers
    write_vhdx(path, Spec(virtual_size=8 * MIB, log_guid=LOG_GUID, log_length=log_length, log_offset=4 * MIB),
               log=bytes(log))
    return path


def test_a_64_mib_log_of_overlapping_entries_is_judged_in_seconds(tmp_path, capsys):
    path = _hostile_log(tmp_path / "log.vhdx", log_length=64 * MIB)
    started = time.perf_counter()
    with pytest.raises(CorruptVhdError, match="log holds overlapping entries"):
        open_disk(path)
    seconds = time.perf_counter() - started
    assert seconds < LOG_SECONDS
    code, err = _cli(capsys, "inspect", str(path))
    assert code != 0 and one_line(err) and "log.vhdx" in err
    record("hostile_bounds", case="64 MiB log, an entry header every 4 KiB", seconds=round(seconds, 2))


def test_log_headers_whose_descriptors_run_into_the_next_header_cost_no_crc(tmp_path):
    # 126 descriptors each: the first sector's descriptor area is zeros, not "zero"/"desc"
    path = _hostile_log(tmp_path / "log.vhdx", log_length=16 * MIB, count=126 + 128 * 100)
    started = time.perf_counter()
    with open_disk(path) as disk:
        assert disk.log_state == "empty"
    assert time.perf_counter() - started < LOG_SECONDS


def test_a_valid_entry_that_wraps_around_the_log_is_replayed(tmp_path):
    """The ring is read once; an entry whose data sector is at the ring's start still checks."""
    path = tmp_path / "wrap.vhdx"
    spec = Spec(virtual_size=8 * MIB, blocks={0: (6, b"A" * MIB)})
    write_vhdx(path, spec)
    with open(path, "rb") as f:
        f.seek(3 * MIB)
        bat_sector = bytearray(f.read(4096))
    struct.pack_into("<Q", bat_sector, 0, 2)  # the log's write: block 0 is now ZERO
    entry = log_entry(sequence=9, tail=MIB - 4096, log_guid=LOG_GUID, writes=[("data", 3 * MIB, bytes(bat_sector))])
    assert len(entry) == 8192
    log = entry[4096:] + bytes(MIB - 8192) + entry[:4096]  # header in the last sector, data in the first
    spec.log_guid = LOG_GUID
    write_vhdx(path, spec, log=log)
    with open_disk(path) as disk:
        assert disk.log_state.startswith("replayed 1 log entries")
        assert disk.read(0, 4096) == bytes(4096)


# -- 2. memory from the BAT -------------------------------------------------------------------------

_MEASURE = """
import json, resource, sys, time
started = time.perf_counter()
from vhdupload import open_disk
out = {}
for name in sys.argv[1:]:
    t = time.perf_counter()
    with open_disk(name) as disk:
        extents = list(disk.extents())
        head = disk.read(0, 1 << 20)
        tail = disk.read(disk.virtual_size - (1 << 20), 1 << 20)
    out[name] = {"seconds": time.perf_counter() - t, "extents": extents,
                 "head": head.count(0), "tail": tail.count(0)}
# VmHWM: this process's own peak (ru_maxrss would count the parent's RSS at the fork, kept across exec)
try:
    with open("/proc/self/status") as f:
        out["rss_mib"] = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
except OSError:
    out["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["total_seconds"] = time.perf_counter() - started
print(json.dumps(out))
"""


def test_a_2_24_entry_bat_and_a_4_tib_fixed_vhdx_open_in_seconds_and_little_memory(tmp_path):
    zero_spec = Spec(virtual_size=(1 << 24) * MIB)  # 2^24 blocks of 1 MiB, every one in state ZERO
    zero = tmp_path / "zero.vhdx"
    write_vhdx(zero, zero_spec, bat_raw=uniform_bat(zero_spec, 2))
    fixed_spec = Spec(virtual_size=4 << 40, leave_block_allocated=True)  # 4 TiB, 1 MiB blocks, all present
    fixed = tmp_path / "fixed.vhdx"
    first = 64 * MIB
    write_vhdx(fixed, fixed_spec, bat_raw=contiguous_bat(fixed_spec, first_offset=first),
               file_size=first + fixed_spec.virtual_size)
    with open(fixed, "r+b") as f:  # data in the first and the last block; the rest is a hole
        f.seek(first)
        f.write(b"\x11" * 4096)
        f.seek(first + fixed_spec.virtual_size - 4096)
        f.write(b"\x22" * 4096)
    answer = subprocess.run([sys.executable, "-c", _MEASURE, str(zero), str(fixed)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert answer.returncode == 0, answer.stderr[-2000:]
    figures = json.loads(answer.stdout)
    assert figures[str(zero)]["extents"] == []
    assert figures[str(fixed)]["extents"] == [[0, 4096], [fixed_spec.virtual_size - 4096, fixed_spec.virtual_size]]
    assert figures[str(fixed)]["head"] == MIB - 4096 and figures[str(fixed)]["tail"] == MIB - 4096
    assert figures[str(zero)]["seconds"] < BAT_SECONDS and figures[str(fixed)]["seconds"] < BAT_SECONDS
    assert figures["rss_mib"] < BAT_RSS_MIB
    record("hostile_bounds", case="2^24-entry BAT, all ZERO", seconds=round(figures[str(zero)]["seconds"], 2),
           peak_rss_mib=round(figures["rss_mib"]))
    record("hostile_bounds", case="4 TiB fixed VHDX, 1 MiB blocks", seconds=round(figures[str(fixed)]["seconds"], 2),
           peak_rss_mib=round(figures["rss_mib"]))


def test_scattered_blocks_are_each_their_own_run(tmp_path):
    """Blocks stored in reverse order: every block a run of its own, each read from its place."""
    path = tmp_path / "scattered.vhdx"
    blocks = {b: (6, bytes([b + 1]) * MIB) for b in range(8)}
    layout = write_vhdx(path, Spec(virtual_size=8 * MIB, blocks=blocks))
    offsets = [layout.block_offsets[b] for b in range(8)]
    from tests.vhdx.writer import bat_entry  # noqa: PLC0415
    override = {b: bat_entry(6, offsets[7 - b]) for b in range(8)}
    write_vhdx(path, Spec(virtual_size=8 * MIB, blocks={b: (6, bytes([8 - b]) * MIB) for b in range(8)}),
               bat_override=override)
    with open_disk(path) as disk:
        assert [disk.read(b * MIB + 7, 1) for b in range(8)] == [bytes([b + 1]) for b in range(8)]
        assert list(disk.extents()) == [(0, 8 * MIB)]


# -- 11, 12. parent locators: NUL, /proc, devices, absurd lengths --------------------------------

def _child_with_locator(tmp_path: Path, text: str, *, key: str = "relative_path") -> Path:
    path = tmp_path / "child.vhdx"
    write_vhdx(path, Spec(virtual_size=8 * MIB, parent_linkage=uuid.uuid4(), parent_paths={key: text}))
    return path


def _names(message: str, path: Path) -> bool:
    """Whether ``message`` starts with ``path``: whole, or cut in the middle (``head…tail``) as
    the library cuts a long name (a longer temporary directory, as under pytest-xdist, is one)."""
    named = message.split(": ", 1)[0]
    if named == str(path):
        return True
    head, _, tail = named.partition("…")
    return bool(tail) and len(head) >= 20 and str(path).startswith(head) and str(path).endswith(tail)


@pytest.mark.parametrize(
    ("key", "text", "reason"),
    [
        ("relative_path", "par\0ent.vhdx", "NUL"),
        ("absolute_win32_path", "/proc/self/mem", "a file of /proc"),
        ("relative_path", "..\\" * 40 + "proc\\self\\mem", "a file of /proc"),
        ("absolute_win32_path", "/dev/zero", "not a regular file"),
        ("relative_path", "p" * 5000 + ".vhdx", "too long"),
    ],
    ids=["nul", "proc-self-mem", "proc-by-dotdot", "dev-zero", "5000-chars"],
)
def test_hostile_vhdx_parent_locators_name_the_child_and_the_locator(tmp_path, capsys, key, text, reason):
    child = _child_with_locator(tmp_path, text, key=key)
    with pytest.raises(ParentChainError) as info:
        open_disk(child)
    message = str(info.value)
    assert _names(message, child) and key in message and reason in message
    assert len(message) < 400 and "\0" not in message
    code, err = _cli(capsys, "inspect", str(child))
    assert code != 0 and one_line(err) and "child.vhdx" in err


@pytest.mark.parametrize(
    ("text", "reason"),
    # a VHD locator ends at its first NUL (a C string): "par" is looked for, and is missing
    [("/proc/self/mem", "W2ku locator, /proc/self/mem (a file of /proc"), ("par\0ent.vhd", "parent is missing"),
     ("q" * 5000, "file name too long")],
    ids=["proc-self-mem", "nul", "5000-chars"],
)
def test_hostile_vhd_parent_locators_name_the_child_and_the_locator(tmp_path, capsys, text, reason):
    parent = build_dynamic(tmp_path / "p.vhd", virtual_size=2 * MIB)
    child = build_differencing(tmp_path / "child.vhd", parent=parent, locators={"W2ku": text}, parent_name="")
    os.remove(parent)  # nothing else to find: the locator's is the only candidate
    with pytest.raises(ParentChainError) as info:
        open_disk(child)
    message = str(info.value)
    assert "child.vhd" in message and reason in message and len(message) <= 400
    code, err = _cli(capsys, "inspect", str(child))
    assert code != 0 and one_line(err)


# -- 11. a manifest nested 100k arrays deep -------------------------------------------------------

@pytest.mark.parametrize("nesting", ["[" * 100_000 + "]" * 100_000, "{a = " * 100_000 + "}" * 100_000])
def test_a_manifest_nested_100k_deep_is_one_line(tmp_path, capsys, nesting):
    path = tmp_path / "publish.toml"
    path.write_text("[image]\nname = " + nesting + "\n")
    with pytest.raises(PublishCheckError, match="nests arrays or inline tables deeper"):
        load_manifest(path)
    code, err = _cli(capsys, "publish", str(path), "--dry-run", "--subscription", str(uuid.UUID(int=0)))
    assert code != 0 and one_line(err) and "nests arrays" in err, err[:2000]


def test_a_bat_broken_into_too_many_runs_is_refused(tmp_path, monkeypatch):
    """Runs are capped (2^22: 17 bytes each); shown here with a cap of 8 and 16 alternating blocks."""
    import vhdupload.vhdx.bat as bat_module  # noqa: PLC0415

    monkeypatch.setattr(bat_module, "MAX_RUNS", 8)
    path = tmp_path / "striped.vhdx"
    write_vhdx(path, Spec(virtual_size=16 * MIB, parent_linkage=uuid.uuid4(),
                          blocks={b: (2 if b % 2 else 0, None) for b in range(16)}))
    with pytest.raises(CorruptVhdError, match="more than 8 runs"):
        open_disk(path)
