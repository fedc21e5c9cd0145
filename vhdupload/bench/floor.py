"""What no uploader can beat on a link with a byte rate and a request rate.

An upload that must send every nonzero page takes at least ``max(bytes / B, requests / R)`` on
a link (or an account) that moves at most ``B`` bytes and ``R`` requests per second. Merging
the zero gap between two runs trades one request for the gap's bytes, so the *shaped floor* is
the smallest such time over every way of merging gaps into requests of at most 4 MiB.

Merging the smallest gaps first is the cheapest way to shed any given number of requests, so
the floor is found by merging gaps in increasing order and keeping the best point (the 4 MiB
cap makes a merge of two large runs shed no request; that is accounted for exactly).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .. import planning
from ..blob_image import BlobImage

Range = tuple[int, int]


@dataclass(frozen=True)
class Floor:
    seconds: float
    bytes: int  # bytes sent at the best merge
    requests: int
    max_gap: int  # merging every gap shorter than this reaches it


def _requests(length: int) -> int:
    return -(-length // planning.CHUNK)


def shaped_floor(runs: Sequence[Range], *, bytes_per_second: float, requests_per_second: float) -> Floor:
    """The floor for sending ``runs`` (sorted, disjoint data ranges) over a shaped link."""
    runs = planning.coalesce(runs)
    if not runs:
        return Floor(0.0, 0, 0, 0)
    # Union-find over runs; gap i sits between run i and run i + 1.
    parent = list(range(len(runs)))
    lengths = [stop - start for start, stop in runs]

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    sent = sum(lengths)
    requests = sum(_requests(n) for n in lengths)

    def time_of(b: int, r: int) -> float:
        return max(b / bytes_per_second, r / requests_per_second)

    best = Floor(time_of(sent, requests), sent, requests, 0)
    gaps = sorted((runs[i + 1][0] - runs[i][1], i) for i in range(len(runs) - 1))
    for gap, i in gaps:
        a, b = find(i), find(i + 1)
        merged = lengths[a] + gap + lengths[b]
        saved = _requests(lengths[a]) + _requests(lengths[b]) - _requests(merged)
        parent[b] = a
        lengths[a] = merged
        sent += gap
        requests -= saved
        t = time_of(sent, requests)
        if t < best.seconds:
            best = Floor(t, sent, requests, gap + 1)
        if sent / bytes_per_second >= best.seconds:
            break  # bytes only grow from here: no later point can be better
    return best


def data_runs(image: BlobImage) -> list[Range]:
    """The nonzero 4 KiB pages of the blob ``image`` becomes (its footer page included), read
    the way the engine reads them: only the extents, chunk by chunk."""
    runs: list[Range] = []
    for pieces in planning.chunk_pieces(image.extents(), stop=image.data_size):
        for lo, hi in pieces:
            for run in planning.nonzero_runs(image.read(lo, hi - lo), base=lo):
                if runs and runs[-1][1] == run[0]:
                    runs[-1] = (runs[-1][0], run[1])
                else:
                    runs.append(run)
    runs.append((image.data_size, image.size))
    return runs


def requests_for(runs: Iterable[Range], *, max_gap: int) -> list[Range]:
    """The Put Page ranges the engine sends for ``runs`` with ``max_gap``: gaps merged inside each
    4 MiB chunk, never across one (the footer page kept apart)."""
    out: list[Range] = []
    by_chunk: dict[int, list[Range]] = {}
    for start, stop in runs:
        while start < stop:
            index = start // planning.CHUNK
            end = min(stop, (index + 1) * planning.CHUNK)
            by_chunk.setdefault(index, []).append((start, end))
            start = end
    for index in sorted(by_chunk):
        out.extend(planning.merge_gaps(by_chunk[index], max_gap=max_gap))
    return out
