"""Hostile input: mutation-driven and hypothesis-driven fuzz of footers, dynamic headers, BATs,
sector bitmaps and parent locators through `inspect` and `convert` (issue 11, part 6).

Every case must end in exit 0, 1 or 3 with at most 3 lines on stderr, within 10 s and within
1 GiB of address space (a worker process under RLIMIT_AS runs the CLI in-process, case after
case), and every VHD `convert` writes must open in `qemu-img info` with the size it claims.

The normal suite runs a bounded number of cases (seconds). The long variant,

    .venv/bin/python -m pytest -m long tests/reliability/test_hostile_fuzz.py   (or ./run reliability)

runs many more, launches a fresh `vhdupload` process per case for a sample (exit within 10 s
of launch, `ulimit -v 1048576` as the process limit), and writes its figures into the
"Hostile input" section of RELIABILITY.md. ``VHDUPLOAD_FUZZ_SEED`` and ``VHDUPLOAD_FUZZ_CASES``
change the seed and the number of mutation cases.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings

from .hostile_files import make_seeds, mutate, sparse_files

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("VHDUPLOAD_FUZZ_SEED", "20261130"))
QEMU_IMG = shutil.which("qemu-img")
MAX_STDERR_LINES = 3
LIMIT_SECONDS = 10
ADDRESS_SPACE = 1 << 30
#: Cases in the normal suite (a few seconds each way); the long variant runs far more.
FAST_MUTATIONS = 60
FAST_DRAWN = 30
#: Cases the long variant also runs as fresh processes (two launches each: inspect, convert).
LAUNCHED = 30


class Worker:
    """The CLI in a process of its own under the 1 GiB address-space limit."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.hostile_worker"], cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        ready = json.loads(self.proc.stdout.readline())
        self.import_seconds = ready["import_seconds"]

    def run(self, *argv: str) -> dict:
        self.proc.stdin.write(json.dumps(list(argv)) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:  # the worker died: killed by the limit, or crashed
            raise AssertionError(f"worker died on {argv}: {self.proc.stderr.read()[-2000:]}")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Tally:
    """What the fuzz tried and how each case ended, for the report."""

    def __init__(self) -> None:
        self.cases = 0
        self.outcomes: Counter[str] = Counter()
        self.max_lines = 0
        self.max_seconds = 0.0
        self.max_rss_kib = 0
        self.converted = 0
        self.qemu_checked = 0

    def add(self, command: str, result: dict) -> None:
        self.outcomes[f"{command} exit {result['code']}"] += 1
        self.max_lines = max(self.max_lines, len(result["stderr"].splitlines()))
        self.max_seconds = max(self.max_seconds, result["seconds"])
        self.max_rss_kib = max(self.max_rss_kib, result["peak_rss_kib"])


def check_case(worker: Worker, folder: pathlib.Path, data: bytes, tally: Tally, what: str) -> None:
    try:
        _check_case(worker, folder, data, tally, what)
    except AssertionError:
        # keep the failing input where a person can find it (the next case overwrites case.vhd)
        kept = folder / f"failed-{tally.cases}.vhd"
        kept.write_bytes(data)
        raise


def _check_case(worker: Worker, folder: pathlib.Path, data: bytes, tally: Tally, what: str) -> None:
    case, out = folder / "case.vhd", folder / "out.vhd"
    case.write_bytes(data)
    out.unlink(missing_ok=True)
    tally.cases += 1
    for command, argv in (("inspect", ["inspect", str(case)]), ("convert", ["convert", str(case), str(out)])):
        result = worker.run(*argv)
        tally.add(command, result)
        where = f"{command} of {what} (kept as {case})"
        assert result["code"] in (0, 1, 3), f"{where}: {result['code']}; stderr {result['stderr'][-500:]!r}"
        lines = result["stderr"].splitlines()
        assert len(lines) <= MAX_STDERR_LINES, f"{where}: {len(lines)} lines on stderr: {result['stderr'][:1000]!r}"
        assert "Traceback" not in result["stderr"], where
        assert worker.import_seconds + result["seconds"] < LIMIT_SECONDS, f"{where}: {result['seconds']:.1f} s"
        if command == "convert" and result["code"] == 0:
            tally.converted += 1
            _check_with_qemu(out, where)
            tally.qemu_checked += QEMU_IMG is not None
        elif command == "convert":
            assert not out.exists(), f"{where}: a refused convert left {out}"
    out.unlink(missing_ok=True)


def _check_with_qemu(out: pathlib.Path, where: str) -> None:
    size = out.stat().st_size - 512
    assert size > 0 and size % (1024 * 1024) == 0, f"{where}: output of {size} + 512 bytes"
    if QEMU_IMG is None:
        return
    info = subprocess.run([QEMU_IMG, "info", "--output=json", "-f", "vpc", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert info.returncode == 0, f"{where}: qemu-img info refused the output: {info.stderr}"
    assert json.loads(info.stdout)["virtual-size"] == size, f"{where}: qemu-img reads another size"


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    return folder, [p.read_bytes() for p in make_seeds(folder)]


def run_mutations(worker: Worker, folder: pathlib.Path, seeds: list[bytes], *, count: int, seed: int) -> Tally:
    rng = random.Random(seed)
    tally = Tally()
    for i in range(count):
        data, done = mutate(rng.choice(seeds), rng)
        check_case(worker, folder, data, tally, f"mutation case {i} (seed {seed}: {', '.join(done)})")
    return tally


def test_mutated_seeds(worker, seeds):
    folder, originals = seeds
    # the seeds themselves are fine: a control that the harness can pass
    tally = Tally()
    for data in originals:
        check_case(worker, folder, data, tally, "an unmutated seed")
    assert tally.outcomes["inspect exit 0"] == len(originals) == tally.converted
    tally = run_mutations(worker, folder, originals, count=FAST_MUTATIONS, seed=SEED)
    assert tally.cases == FAST_MUTATIONS
    assert tally.outcomes["inspect exit 1"] > 0 and tally.outcomes["inspect exit 0"] > 0  # both ways were reached


HYPOTHESIS_FAST = settings(max_examples=FAST_DRAWN, deadline=None, derandomize=True, database=None,
                           suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                  HealthCheck.large_base_example, HealthCheck.data_too_large])


def test_drawn_structures(worker, seeds):
    folder, _ = seeds
    parent_uuid = (folder / "p.vhd").read_bytes()[-512 + 68:-512 + 84]
    tally = Tally()

    @HYPOTHESIS_FAST
    @given(sparse_files(parent_uuid=parent_uuid))
    def one(data):
        check_case(worker, folder, data, tally, "a drawn file")

    one()
    assert tally.cases >= FAST_DRAWN


# -- the long variant, and the report ------------------------------------------------------------

def _long_selected(config) -> bool:
    expression = config.getoption("markexpr") or ""
    return "long" in expression or "reliability" in expression  # `./run reliability` selects the latter


def _launch(argv: list[str]) -> tuple[int, str, float]:
    """A fresh `vhdupload` process under `ulimit -v 1048576`: (exit code, stderr, seconds from launch)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "vhdupload_entry", *argv], cwd=ROOT, preexec_fn=limit,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=LIMIT_SECONDS * 3)
    return done.returncode, done.stderr, time.monotonic() - started


@pytest.mark.long
@pytest.mark.reliability
def test_long_fuzz_and_report(request, worker, seeds):
    if not _long_selected(request.config):
        pytest.skip("the long fuzz runs with -m long (or -m reliability)")
    folder, originals = seeds
    count = int(os.environ.get("VHDUPLOAD_FUZZ_CASES", "600"))
    started = time.monotonic()
    mutations = run_mutations(worker, folder, originals, count=count, seed=SEED)

    drawn = Tally()
    parent_uuid = (folder / "p.vhd").read_bytes()[-512 + 68:-512 + 84]

    @settings(max_examples=max(count // 3, 100), deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(sparse_files(parent_uuid=parent_uuid))
    def one(data):
        check_case(worker, folder, data, drawn, "a drawn file")

    one()

    # A sample as real launches of the command: exit within 10 s of launch, under ulimit -v.
    rng = random.Random(SEED + 1)
    launches = Counter()
    slowest = 0.0
    for i in range(LAUNCHED):
        data, done = mutate(rng.choice(originals), rng)
        case, out = folder / "case.vhd", folder / "out.vhd"
        case.write_bytes(data)
        out.unlink(missing_ok=True)
        for argv in (["inspect", str(case)], ["convert", str(case), str(out)]):
            code, err, seconds = _launch(argv)
            slowest = max(slowest, seconds)
            launches[f"{argv[0]} exit {code}"] += 1
            assert code in (0, 1, 3) and len(err.splitlines()) <= MAX_STDERR_LINES, (i, done, code, err[-500:])
            assert seconds < LIMIT_SECONDS, (i, done, seconds)
        if out.exists():
            _check_with_qemu(out, f"launched case {i}")
    elapsed = time.monotonic() - started
    try:  # the figures collector of ./run reliability, when it is there
        from .figures import record
    except ImportError:
        record = None
    if record is not None:
        record("hostile_input", seed=SEED, mutation_cases=mutations.cases, mutation_outcomes=dict(mutations.outcomes),
               drawn_cases=drawn.cases, drawn_outcomes=dict(drawn.outcomes), launched_cases=LAUNCHED,
               launched_outcomes=dict(launches), slowest_launch_seconds=round(slowest, 2),
               slowest_case_seconds=round(max(mutations.max_seconds, drawn.max_seconds), 2),
               peak_rss_mib=max(mutations.max_rss_kib, drawn.max_rss_kib) // 1024,
               converted=mutations.converted + drawn.converted,
               qemu_checked=mutations.qemu_checked + drawn.qemu_checked,
               max_stderr_lines=max(mutations.max_lines, drawn.max_lines), seconds=round(elapsed))
    _write_report(mutations=mutations, drawn=drawn, launches=launches, slowest=slowest, count=count,
                  elapsed=elapsed, import_seconds=worker.import_seconds)


BEGIN, END = "<!-- hostile-input:begin -->", "<!-- hostile-input:end -->"


def _outcomes(tally: Tally) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(tally.outcomes.items()))


def _write_report(*, mutations: Tally, drawn: Tally, launches: Counter, slowest: float, count: int,
                  elapsed: float, import_seconds: float) -> None:
    qemu = subprocess.run([QEMU_IMG, "--version"], capture_output=True, text=True).stdout.splitlines()[0] if QEMU_IMG else "absent"
    section = f"""{BEGIN}
## Hostile input

What was injected: well-formed seeds (fixed, old 511-byte footer, dynamic with 64 KiB and 2 MiB
blocks, a differencing child with its parent) mutated 1 to 3 times each (random byte flips in the
footer, its copy, the dynamic header, the BAT and the data; footer, header and parent-locator
fields set to edge values; BAT entries pointed at the footer copy, the header, the BAT, past the
end, at each other or at one shared block; bitmaps filled; hostile parent names such as 255
characters, `..`, `/etc/passwd`, bidi and escape codes; files cut short or grown), checksums
fixed again in 3 of 4 cases so the damage reaches past them; and whole dynamic/differencing files
drawn field by field by hypothesis (block sizes, sizes, table offsets and counts, BAT entries,
bitmaps, up to 8 locators, parent names).

What every case must survive: `vhdupload inspect` and `vhdupload convert` each end with exit 0, 1
or 3, at most {MAX_STDERR_LINES} lines on stderr and no traceback, within {LIMIT_SECONDS} s of
launch and within 1 GiB of address space; a refused `convert` leaves no file; every VHD `convert`
writes is a whole MiB plus the footer and opens in `qemu-img info` ({qemu}) with that size.

| run | cases | outcomes | slowest | peak RSS |
|---|---|---|---|---|
| mutations, seed {SEED} | {mutations.cases} | {_outcomes(mutations)} | {mutations.max_seconds:.2f} s (+ {import_seconds:.2f} s start-up) | {mutations.max_rss_kib // 1024} MiB |
| hypothesis, derandomized | {drawn.cases} | {_outcomes(drawn)} | {drawn.max_seconds:.2f} s (+ {import_seconds:.2f} s start-up) | {drawn.max_rss_kib // 1024} MiB |
| launched processes, seed {SEED + 1} | {LAUNCHED} | {", ".join(f"{k}: {v}" for k, v in sorted(launches.items()))} | {slowest:.2f} s from launch | under `ulimit -v 1048576` |

Converted outputs checked with qemu-img: {mutations.qemu_checked + drawn.qemu_checked} of
{mutations.converted + drawn.converted}. Most stderr lines in any case: {max(mutations.max_lines, drawn.max_lines)}.
All {mutations.cases + drawn.cases + LAUNCHED} cases survived ({elapsed:.0f} s in all).

Reproduce: `VHDUPLOAD_FUZZ_SEED={SEED} VHDUPLOAD_FUZZ_CASES={count} .venv/bin/python -m pytest -m long
tests/reliability/test_hostile_fuzz.py` (the normal suite runs {FAST_MUTATIONS} mutations and {FAST_DRAWN} drawn files of
the same kind in a few seconds).
{END}"""
    path = ROOT / "RELIABILITY.md"
    text = path.read_text() if path.exists() else "# Reliability\n\nFigures from runs of the reliability checks, each with the command that reproduces it.\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
