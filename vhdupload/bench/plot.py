"""The bench's PNG: data rate against threads, one line per tool, the recommendation marked.

matplotlib is an optional extra (``pip install 'vhdupload[bench]'``): :func:`require_matplotlib`
says so before any work starts.
"""

from __future__ import annotations

import os

from ..errors import InputError
from .report import BenchReport

INSTALL_HINT = "--plot needs matplotlib: pip install 'vhdupload[bench]'"


def require_matplotlib() -> None:
    """Raise InputError (one line: what to install) when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError(INSTALL_HINT) from None


def write_plot(report: BenchReport, path: str | os.PathLike[str], *, title: str | None = None) -> None:
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    rows = report.rows()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    tools = sorted({r.tool for r in rows}, key=lambda t: (t != "vhdupload", t))
    threads_seen = sorted({r.threads for r in rows if r.threads is not None})
    colours = {"vhdupload": "C0", "sdk": "C1", "azcopy": "C2", "floor": "C7"}
    for tool in tools:
        colour = colours.get(tool)
        mine = [r for r in rows if r.tool == tool]
        with_threads = sorted(((r.threads, r) for r in mine if r.threads is not None), key=lambda pair: pair[0])
        chose_own = [r for r in mine if r.threads is None]  # vhdupload's adaptive default, AzCopy
        if len(with_threads) > 1:
            ax.plot([t for t, _ in with_threads], [r.data_rate / 2**20 for _, r in with_threads], marker="o",
                    label=tool, linewidth=2 if tool == "vhdupload" else 1.2, color=colour)
        elif with_threads:  # one point (the SDK at the top thread count): a dashed level, labelled
            ax.axhline(with_threads[0][1].data_rate / 2**20, linestyle="--", linewidth=1.2, color=colour,
                       label=f"{tool} (threads {with_threads[0][0]})")
        if chose_own:
            ours = tool == "vhdupload"
            ax.axhline(chose_own[0].data_rate / 2**20, linestyle=":" if ours else "--", linewidth=1.5, color=colour,
                       label=f"{tool} (adaptive default)" if ours else f"{tool} (its own concurrency)")
    recommended = report.recommended_threads
    if recommended is not None:
        row = next(r for r in rows if r.tool == "vhdupload" and r.threads == recommended)
        ax.scatter([recommended], [row.data_rate / 2**20], s=160, facecolors="none", edgecolors="black", zorder=5)
        ax.annotate(f"recommended: --threads {recommended}", (recommended, row.data_rate / 2**20),
                    textcoords="offset points", xytext=(8, -16), fontsize=9)
    if threads_seen:
        ax.set_xscale("log", base=2)
        ax.set_xticks(threads_seen)
        ax.set_xticklabels([str(t) for t in threads_seen])
    ax.set_xlabel("threads (requests in flight)")
    ax.set_ylabel("data rate, MiB/s")
    ax.set_ylim(bottom=0)
    image = report.image
    size = image["size"]
    shown = f"{size / 2**30:g} GiB" if size >= 2**30 else f"{size / 2**20:g} MiB"
    ax.set_title(title or f"{shown} {image.get('pattern', 'file')}, {image['data_bytes'] / 2**20:.0f} MiB of data")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
