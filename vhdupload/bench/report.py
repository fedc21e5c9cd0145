"""The bench's result: one row per (tool, threads), a recommendation, ratios; as a table a
person reads and as the one JSON object ``--json`` prints."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, NotRequired, TypedDict


@dataclass(frozen=True)
class Run:
    tool: str  # vhdupload, sdk or azcopy
    threads: int | None  # None: the tool chose (AzCopy)
    seconds: float
    data_rate: float  # data bytes of the image per second
    effective_rate: float  # virtual bytes per second
    bytes_sent: int
    requests: int
    retries: int

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["data_rate"] = round(self.data_rate, 1)
        data["effective_rate"] = round(self.effective_rate, 1)
        return data


class ImageInfo(TypedDict):
    """The image a bench ran on, as its report shows it."""

    size: int  # virtual bytes
    fill: float  # the fraction of the disk that holds data
    pattern: str  # a synthetic image's pattern, or "file"
    data_bytes: int
    path: NotRequired[str]  # when the user gave the image


@dataclass
class BenchReport:
    image: ImageInfo
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # "azcopy: not on PATH", ...

    def rows(self) -> list[Run]:
        """One row per (tool, threads): the median of its repeats (by seconds)."""
        groups: dict[tuple[str, int | None], list[Run]] = {}
        for run in self.runs:
            groups.setdefault((run.tool, run.threads), []).append(run)
        out = []
        for runs in groups.values():
            ordered = sorted(runs, key=lambda r: r.seconds)
            out.append(ordered[(len(ordered) - 1) // 2] if len(ordered) % 2 else _median_run(ordered))
        return out

    @property
    def recommended_threads(self) -> int | None:
        return recommended_threads([r for r in self.rows() if r.tool == "vhdupload"])

    def ratios(self) -> dict[str, float]:
        """Competitor seconds ÷ vhdupload's at the same thread count (else its best), > 1: vhdupload faster."""
        rows = self.rows()
        ours = {r.threads: r for r in rows if r.tool == "vhdupload"}
        if not ours:
            return {}
        best = min(ours.values(), key=lambda r: r.seconds)
        out = {}
        for row in rows:
            if row.tool == "vhdupload":
                continue
            mine = ours.get(row.threads, best)
            if mine.seconds > 0:
                out[row.tool] = row.seconds / mine.seconds
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [r.to_dict() for r in self.runs],
            "recommended_threads": self.recommended_threads,
            "image": self.image,
            "ratios": {tool: round(value, 3) for tool, value in self.ratios().items()},
            "notes": self.notes,
        }

    def table(self) -> str:
        header = ("tool", "threads", "seconds", "data rate", "effective rate", "requests/s", "bytes sent", "retries")
        lines = [header]
        for row in self.rows():
            lines.append((
                row.tool,
                str(row.threads) if row.threads is not None else "auto",
                f"{row.seconds:.2f}",
                f"{row.data_rate / 2**20:.1f} MiB/s",  # IEC units, as every size and rate the tool prints
                f"{row.effective_rate / 2**20:.1f} MiB/s",
                f"{row.requests_per_second:.0f}",
                _size(row.bytes_sent),
                str(row.retries),
            ))
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
                for line in lines]
        image = self.image
        title = (f"image: {_size(image['size'])} {image.get('pattern', 'file')}, "
                 f"{_size(image['data_bytes'])} of data ({image['data_bytes'] / image['size']:.0%})")
        out = [title, "", *text, ""]
        recommended = self.recommended_threads
        if recommended is not None:
            out.append(f"recommended: --threads {recommended} (the fewest within 5 % of the best data rate)")
        for tool, ratio in self.ratios().items():
            faster = "faster" if ratio >= 1 else "slower"
            shown = ratio if ratio >= 1 else 1 / ratio
            out.append(f"vhdupload is {shown:.2f}x {faster} than {tool}")
        out += [f"note: {note}" for note in self.notes]
        return "\n".join(out)


def recommended_threads(rows: list[Run]) -> int | None:
    """The smallest thread count whose data rate is within 5 % of the best."""
    rows = [r for r in rows if r.threads is not None]
    if not rows:
        return None
    best = max(r.data_rate for r in rows)
    return min(r.threads for r in rows if r.data_rate >= 0.95 * best)  # type: ignore[type-var]


def _median_run(runs: list[Run]) -> Run:
    """An even number of repeats: the mean of the middle two, field by field."""
    n = len(runs)
    pair = runs[n // 2 - 1 : n // 2 + 1]
    seconds = statistics.mean(r.seconds for r in pair)
    first = pair[0]
    return Run(
        tool=first.tool, threads=first.threads, seconds=seconds,
        data_rate=statistics.mean(r.data_rate for r in pair),
        effective_rate=statistics.mean(r.effective_rate for r in pair),
        bytes_sent=int(statistics.mean(r.bytes_sent for r in pair)),
        requests=int(statistics.mean(r.requests for r in pair)),
        retries=max(r.retries for r in pair),
    )


def _size(n: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"
