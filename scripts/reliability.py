"""Run the reliability checks at full counts and write their figures into RELIABILITY.md.

    ./run reliability [--seed N] [--no-hostile] [pytest args...]

Runs every test in tests/reliability: the long variants (marker ``reliability``; the hostile-input
fuzz's ``long``) at full counts, and the fast ones beside them (their expected failures,
``xfail(strict=True)``, are what was found and is not fixed yet). The long variants record
what they injected and what survived (``tests/reliability/figures.py``); this script renders
those records between the ``reliability-figures`` markers of RELIABILITY.md and leaves every
other part of the file (the hostile-input fuzz writes its own section) as it is.
Exit status: pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability.figures import DEFAULT_SEED, FIGURES_ENV, SEED_ENV  # noqa: E402

REPORT = ROOT / "RELIABILITY.md"
BEGIN, END = "<!-- reliability-figures:begin -->", "<!-- reliability-figures:end -->"
HOSTILE = "<!-- hostile-input:begin -->"  # the fuzz's own section (tests/reliability/test_hostile_fuzz.py)
HEADER = "# Reliability\n\nFigures from runs of the reliability checks, each with the command that reproduces it.\n"
MINE = ["test_wire_faults.py", "test_crashes.py", "test_load.py", "test_secrets.py", "test_long_uploads.py",
        "test_entra_id_disks.py", "test_hostile_vhdx_bounds.py"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the seed of every seeded choice")
    parser.add_argument("--no-hostile", action="store_true", help="leave out the hostile-input fuzz (its own section)")
    options, pytest_args = parser.parse_known_args(argv)
    figures = Path(tempfile.mkdtemp(prefix="reliability-"))
    junit = figures / "junit.xml"
    # Everything but the hostile-input fuzz (fast and long variants: "reliability or not reliability"
    # selects all and switches the long ones on), then the fuzz in a pytest of its own: it measures
    # its children's peak memory, which the uploads' Azurite would otherwise inflate.
    runs = [["-m", "reliability or not reliability", f"--junitxml={junit}",
             *[f"tests/reliability/{name}" for name in MINE]]]
    if not options.no_hostile:
        runs.append(["-m", "long", "tests/reliability/test_hostile_fuzz.py"])
    env = {**os.environ, FIGURES_ENV: str(figures), SEED_ENV: str(options.seed)}
    started = time.monotonic()
    status = 0
    for run in runs:
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEsxX", *run, *pytest_args]
        print("==> " + " ".join(command[1:]), file=sys.stderr, flush=True)
        status = max(status, subprocess.run(command, cwd=ROOT, env=env).returncode)
    seconds = time.monotonic() - started
    records = {path.stem: json.loads(path.read_text()) for path in figures.glob("*.json")}
    tests = _outcomes(junit)
    section = render(records, tests, seed=options.seed, seconds=seconds, status=status)
    text = REPORT.read_text() if REPORT.exists() else HEADER
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    elif HOSTILE in text:  # first time: before the hostile-input section
        at = text.index(HOSTILE)
        text = text[:at] + section + "\n\n" + text[at:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    REPORT.write_text(text.rstrip("\n") + "\n")
    print(f"==> wrote {REPORT.relative_to(ROOT)} ({seconds:.0f} s; pytest exit {status})", file=sys.stderr)
    return status


def _outcomes(junit: Path) -> list[dict]:
    if not junit.exists():
        return []
    found = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "failed", child.get("message", "")
            elif child.tag == "skipped":
                kind = child.get("type", "")
                outcome = "xfailed" if "xfail" in kind else "skipped"
                message = child.get("message", "")
        found.append({"name": case.get("name", ""), "file": case.get("classname", "").rsplit(".", 1)[-1],
                      "seconds": float(case.get("time", 0)), "outcome": outcome, "message": message})
    return found


# -- rendering ------------------------------------------------------------------------------------
_NAMES = {"timeout": "stall", "reset": "reset before", "reset-after": "reset after", "503-bare": "503 without Retry-After",
          "503": "503 with Retry-After"}


def _kinds(counts: dict) -> str:
    return ", ".join(f"{_NAMES.get(k, k)} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"


def render(records: dict, tests: list[dict], *, seed: int, seconds: float, status: int) -> str:
    out = [BEGIN, ""]
    out.append(f"Fresh run: {time.strftime('%Y-%m-%d')}, seed {seed}, {seconds / 60:.0f} min on {platform.machine()} "
               f"({os.cpu_count()} cores, Azurite and the ARM double on loopback). Reproduce: "
               f"`./run reliability --seed {seed}` (or `.venv/bin/python -m pytest -m \"reliability or not reliability\" tests/reliability/test_{{wire_faults,crashes,load,secrets,long_uploads}}.py`; "
               "`VHDUPLOAD_RELIABILITY_SEED` sets the seed). The normal suite runs the same checks at small counts.")
    mine = [t for t in tests if t["file"] in {m[:-3] for m in MINE}]
    failed = [t for t in mine if t["outcome"] == "failed"]
    if failed:
        out += ["", "**Failed in this run:** " + "; ".join(f"`{t['name']}`: {t['message'][:200]}" for t in failed)]
    out += _wire(records.get("wire", []))
    out += _crashes(records.get("crashes", []))
    out += _load(records.get("load", []))
    out += _secrets(records.get("secrets", []))
    out += _long(records.get("long", []))
    out += _bounds(records.get("hostile_bounds", []))
    xfailed = [t for t in mine if t["outcome"] == "xfailed"]
    out += ["", "## Found, not fixed yet", ""]
    if xfailed:
        out.append("Each is a test marked `xfail(strict=True)`: it fails today and will say so when fixed.")
        out.append("")
        for t in xfailed:
            reason = t["message"].removeprefix("reason: ")
            out.append(f"- `{t['file']}.py::{t['name']}`: {reason}")
    else:
        out.append("Nothing: no expected failure is left.")
    out += ["", END]
    return "\n".join(out)


def _wire(entries: list) -> list[str]:
    out = ["", "## Faults on the wire", ""]
    rates = [r for e in entries if e.get("kind") == "rates" for r in e["runs"]]
    alls = [o for e in entries if e.get("kind") == "all" for o in e["outcomes"]]
    if not rates and not alls:
        return out + ["Not run."]
    timeout = next((e.get("timeout") for e in entries if e.get("kind") == "rates"), "?")
    hold = next((e.get("hold") for e in entries if e.get("kind") == "rates"), "?")
    out.append(
        "Injected by the seeded fault proxy (`tests/support/fault_proxy.py`, `randomize`) into a share of *every* "
        "request (Put Page, properties, lease, metadata, page ranges, container): a reset before the service saw "
        f"the request, a reset after it acted, a stall of {hold} s past the client's {timeout} s timeout, an answer "
        "cut short, 500, 503 with `Retry-After: 1`, 503 without. Page blobs through the proxy in front of Azurite; "
        "managed disks through the proxy put in front of the ARM double's disk endpoint (the data plane; ARM calls "
        "are not faulted). Each upload must finish and the destination hold the source byte for byte (read back "
        "directly, and `verify`)."
    )
    if rates:
        out += ["", "| destination | rate | uploads | requests | faults injected | by kind | retries | verified |",
                "|---|---|---|---|---|---|---|---|"]
        groups: dict = {}
        for r in rates:
            groups.setdefault((r["destination"], r["rate"]), []).append(r)
        for (dest, rate), runs in groups.items():
            kinds: dict = {}
            for r in runs:
                for k, v in r["by_kind"].items():
                    kinds[k] = kinds.get(k, 0) + v
            out.append(f"| {dest} | {rate:.0%} | {len(runs)} (seeds {runs[0]['seed']}..{runs[-1]['seed']}) | "
                       f"{sum(r['requests'] for r in runs)} | {sum(r['faults'] for r in runs)} | {_kinds(kinds)} | "
                       f"{sum(r['retries'] for r in runs)} | {sum(1 for r in runs if r['verified'])} of {len(runs)} |")
    if alls:
        out += ["", "Every request faulted once the upload had recorded progress (a 48 MiB image at 3 MB/s), then "
                "the faults ended and the same command ran again (`--wait`: the dead lease could not be released):", "",
                "| faults | options | stopped after | the line | rerun |", "|---|---|---|---|---|"]
        for o in alls:
            verdict = "within 2 min" if o["stopped_after"] < 120 else "**over 2 min**"
            out.append(f"| {', '.join(_NAMES.get(a, a) for a in o['actions'])} | {o['options']} | {o['stopped_after']:.0f} s ({verdict}) | "
                       f"`{o['error']}` | resumed ({o['resumed_with_present']} bytes already there), verified |")
    return out


def _crashes(entries: list) -> list[str]:
    out = ["", "## Crashes", ""]
    if not entries:
        return out + ["Not run."]
    out.append(
        "`kill -9` of `vhdupload upload` (page blob: the CLI; managed disk: the library, heartbeat every second) at "
        "seeded moments of one upload of a 480 MiB image with 360 MiB of data at 4 MB/s: *early* (a seeded time "
        "after launch: imports, creating the destination, taking the lease) or *mid* (a seeded time after the run "
        "recorded progress of its own). After each kill: the dead upload's lease is waited out (page blob) or its "
        "heartbeat aged a minute on the ARM double's clock (managed disk); then the source is changed inside "
        "`[0, W)`, the range the destination proves: one seeded 4 KiB page flipped in place with its mtime put back "
        "(`os.utime`), and the same page flipped in a copy (another inode), each away from the fingerprint's "
        "samples and the spot checks; each such rerun must be refused (exit 1, one line naming `[0, W)` and "
        "`--overwrite`) and change nothing; the page is put back and the next moment comes. At the end the same "
        "command runs to completion and the destination is compared byte for byte."
    )
    out += ["", "| destination | kills (early/mid) | watermark after each kill (MiB) | changed-source reruns refused | "
            "end | time |", "|---|---|---|---|---|---|"]
    for e in entries:
        marks = " ".join(f"{w / (1 << 20):.0f}" for w in e["watermarks"])
        out.append(f"| {e['destination']} | {e['kills']} ({e['early']}/{e['mid']}) | {marks} | "
                   f"{e['refused']} of {e['changed_tried']} | {e['final']} | {e['seconds']} s |")
    sample = next((e["sample_refusal"] for e in entries if e.get("sample_refusal")), "")
    if sample:
        out += ["", f"A refusal, as printed: `{sample}`"]
    return out


def _load(entries: list) -> list[str]:
    out = ["", "## Load", ""]
    if not entries:
        return out + ["Not run."]
    out.append("Eight uploads at once (64 MiB images, 48 data runs each), through the library in one process "
               "(threads) and as eight `vhdupload` processes, three rounds; two uploads of one source to one "
               "blob at once (24 MiB at 4 MB/s), ten times, threads and processes alternating.")
    out += ["", "| what | runs | uploads | verified | refused | wall time |", "|---|---|---|---|---|---|"]
    outcomes = [o for e in entries for o in e["outcomes"]]
    groups: dict = {}
    for o in outcomes:
        groups.setdefault(o["mode"], []).append(o)
    for mode, runs in groups.items():
        uploads = sum(o.get("uploads", 2) for o in runs)
        verified = sum(o["verified"] for o in runs)
        refused = sum(o.get("refused", 0) for o in runs)
        wall = ", ".join(f"{o['seconds']:.0f} s" for o in runs if "seconds" in o) or "-"
        out.append(f"| {mode} | {len(runs)} | {uploads} | {verified} | {refused} | {wall} |")
    refusal = next((o["refusal"] for o in outcomes if o.get("refusal")), "")
    if refusal:
        out += ["", f"The refused one says: `{refusal}`"]
    return out


def _secrets(entries: list) -> list[str]:
    out = ["", "## Secrets", ""]
    if not entries:
        return out + ["Not run."]
    e = entries[-1]
    found = e["found"]
    out.append(
        f"{len(e['runs'])} runs of the `vhdupload` command ({', '.join(e['loudness'])}; upload, verify and status "
        "with an account key, a connection string, AZURE_STORAGE_KEY, a SAS URL, `--sas-token`, a read-only SAS "
        "and a wrong key (both refused), a managed disk with Entra-ID-only data access through the Azure CLI "
        "sign-in, and Entra ID over HTTPS): "
        f"{e['bytes_searched']:,} bytes of stdout and stderr searched for {len(e['secrets'])} secrets "
        f"({', '.join(e['secrets'])}), each as given, URL-encoded and URL-decoded: "
        + ("**found** " + json.dumps(found) if found else "none found.")
    )
    return out


def _long(entries: list) -> list[str]:
    out = ["", "## Long uploads", ""]
    if not entries:
        return out + ["Not run."]
    out += ["| what | credential lives | outcome |", "|---|---|---|"]
    for o in [o for e in entries for o in e["outcomes"]]:
        if o["what"].startswith("page blob"):
            out.append(f"| {o['what']} | {o['sas_seconds']} s | stopped after {o['failed_after']:.0f} s: `{o['error']}`; "
                       f"the rerun with a fresh SAS resumed ({o['resumed_with_present']} bytes already there), verified |")
        elif o["what"].startswith("managed disk"):
            out.append(f"| {o['what']} | {o['grant_seconds']} s | {o['upload_seconds']:.0f} s upload, "
                       f"{o['grants']} grants; note: \"{o['note']}\"; byte-identical, Unattached |")
        else:
            out.append(f"| {o['what']} | {o['token_lifetime']} s | {o['upload_seconds']:.0f} s upload, "
                       f"{o['tokens']} tokens used, verified |")
    return out


def _bounds(entries: list) -> list[str]:
    """Hostile inputs that once cost unbounded time or memory (issue 22), each with its bound."""
    out = ["", "## Hostile input: time and memory bounds", ""]
    if not entries:
        return out + ["Not run."]
    out += ["| case | time | peak RSS of the process |", "|---|---|---|"]
    for e in entries:
        rss = f"{e['peak_rss_mib']} MiB" if "peak_rss_mib" in e else "-"
        out.append(f"| {e['case']} | {e['seconds']} s | {rss} |")
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
