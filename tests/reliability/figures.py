"""What the reliability tests share: the long-variant switch, seeds, figures for RELIABILITY.md,
sparse test images and read-back helpers.

Every reliability test has a fast variant (small counts, in the normal suite) and a long one
marked ``reliability`` (full counts), which runs only when selected (``-m reliability``, as
``./run reliability`` does). A long variant records what it injected and what survived with
:func:`record`; ``scripts/reliability.py`` turns those records into RELIABILITY.md.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

from tests.support.uploads import write_random

MIB = 1 << 20
#: Where long variants write their figures (one JSON file per section); unset: nowhere.
FIGURES_ENV = "VHDUPLOAD_RELIABILITY_FIGURES"
#: The seed of every seeded choice (faults, kill moments, flipped pages); ``--seed`` sets it.
SEED_ENV = "VHDUPLOAD_RELIABILITY_SEED"
DEFAULT_SEED = 20261130


def seed() -> int:
    return int(os.environ.get(SEED_ENV, DEFAULT_SEED))


def long_run(request) -> None:
    """Skip a long variant unless the run selected the ``reliability`` marker."""
    if "reliability" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("long variant: run it with `./run reliability` (pytest -m reliability)")


def record(section: str, **figures) -> None:
    """Add one record of figures to ``section`` (a no-op unless the figures directory is set)."""
    directory = os.environ.get(FIGURES_ENV)
    if not directory:
        return
    path = Path(directory) / f"{section}.json"
    entries = json.loads(path.read_text()) if path.exists() else []
    entries.append({"at": time.strftime("%Y-%m-%d %H:%M:%S"), **figures})
    path.write_text(json.dumps(entries, indent=1, default=str))


def scattered_image(path: Path, *, size: int, runs: int, seed_value: int, run_bytes: tuple[int, int] = (16 * 1024, 768 * 1024)) -> tuple[bytes, list[tuple[int, int]]]:
    """A sparse raw image of ``size`` bytes with ``runs`` random-data runs (4 KiB aligned,
    apart from one another), seeded; returns its content and the runs."""
    rng = random.Random(seed_value)
    slot = size // runs
    placed = []
    for i in range(runs):
        length = min(rng.randrange(run_bytes[0], run_bytes[1] + 1, 4096), slot - 8192)
        offset = i * slot + rng.randrange(0, max(1, (slot - length) // 4096)) * 4096
        placed.append((offset, length))
    content = write_random(path, size, runs=placed, seed=seed_value)
    return content, placed


def one_line(text: str) -> bool:
    """Whether ``text`` is exactly one line, ``error: ...``, with no traceback."""
    return text.count("\n") == 1 and text.startswith("error: ") and "Traceback" not in text
