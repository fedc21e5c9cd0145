"""A worker process for the hostile-input fuzz: runs CLI commands in-process, one per line of
stdin (a JSON list of arguments), under a 1 GiB address-space limit and a 10 s alarm per case,
and answers each with one JSON line: exit code, stderr, seconds, peak RSS.

Run as ``python -m tests.reliability.hostile_worker``; the limit is set before vhdupload is
imported, so everything the command loads counts against it, as under ``ulimit -v 1048576``.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import signal
import sys
import time

ADDRESS_SPACE = 1 << 30  # ulimit -v 1048576 (KiB)
CASE_SECONDS = 10


class CaseTimeout(BaseException):
    """Raised by the alarm: a case ran longer than CASE_SECONDS (BaseException: nothing may catch it)."""


def _alarm(signum, frame):
    raise CaseTimeout()


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    started = time.monotonic()
    from vhdupload.cli import main as cli_main  # noqa: PLC0415 (after the limit, on purpose)

    import_seconds = time.monotonic() - started
    signal.signal(signal.SIGALRM, _alarm)
    out = sys.stdout
    out.write(json.dumps({"ready": True, "import_seconds": import_seconds}) + "\n")
    out.flush()
    for line in sys.stdin:
        argv = json.loads(line)
        err, stdout = io.StringIO(), io.StringIO()
        t0 = time.monotonic()
        signal.alarm(CASE_SECONDS)
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(err):
                code = cli_main(argv)
        except SystemExit as exc:
            code = exc.code
        except CaseTimeout:
            code = "timeout"
        except BaseException as exc:  # what must never happen: a builtin exception out of the CLI
            code = f"exception {type(exc).__name__}: {exc}"[:500]
        finally:
            signal.alarm(0)
        seconds = time.monotonic() - t0
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out.write(json.dumps({"code": code, "stderr": err.getvalue(), "seconds": seconds,
                              "peak_rss_kib": peak_kib}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
