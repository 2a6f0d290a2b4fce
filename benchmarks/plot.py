"""The latency plot of the suite: bid -> last watcher p50 / p99 / p99.9 against
offered bids/s, the gateway beside the bare ``websockets`` server.

    python -m benchmarks.plot fanout.json docs/benchmarks-latency.png

Reads the ``curves`` of ``python -m benchmarks.fanout --json``: one point per
measured step (the latency phases and the saturation sweep), one panel per
watcher count. A step where the server did not keep up is drawn hollow: its
latency is that of a queue growing for the length of the step.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STYLES = {"gateway": "-", "bare": "--"}
COLOURS = {"p50": "tab:blue", "p99": "tab:orange", "p999": "tab:red"}
LABELS = {"p50": "p50", "p99": "p99", "p999": "p99.9"}
NAMES = {"bare": "bare websockets broadcast()"}


def plot_latency(curves: Sequence[dict[str, Any]], path: Path, title_note: str = "") -> bool:
    """Draw the plot to ``path`` (PNG); False (with a note on stderr) if there is nothing
    to draw or matplotlib is not installed."""
    points = [c for c in curves if c.get("p50") is not None]
    if not points:
        print("plot: no latency points to draw", file=sys.stderr)
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot: matplotlib is not installed (pip install -e '.[dev]')", file=sys.stderr)
        return False
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")
    sizes = sorted({int(c["watchers"]) for c in points})
    fig, axes = plt.subplots(1, len(sizes), figsize=(6.4 * len(sizes), 4.8), squeeze=False)
    for ax, n in zip(axes[0], sizes, strict=True):
        servers = sorted({str(c["server"]) for c in points if c["watchers"] == n}, reverse=True)
        for server in servers:
            mine = [c for c in points if c["watchers"] == n and c["server"] == server]
            # Lines through the sweep (through the latency phases when there is no sweep);
            # the latency phases as separate crosses, so that two steps at one rate never
            # draw a vertical jump.
            sweep = [c for c in mine if c.get("phase") == "sweep"]
            line = sorted(sweep or mine, key=lambda c: float(c["rate"]))
            crosses = [c for c in mine if c not in line]
            for key in ("p50", "p99", "p999"):
                colour = COLOURS[key]
                rates = [float(c["rate"]) for c in line]
                values = [float(c[key]) for c in line]
                ax.plot(
                    rates,
                    values,
                    STYLES.get(server, ":"),
                    color=colour,
                    label=f"{NAMES.get(server, server)} {LABELS[key]}",
                    linewidth=1.5,
                )
                kept = [
                    (r, v)
                    for r, v, c in zip(rates, values, line, strict=True)
                    if c.get("keeps_up", True)
                ]
                lost = [
                    (r, v)
                    for r, v, c in zip(rates, values, line, strict=True)
                    if not c.get("keeps_up", True)
                ]
                if kept:
                    ax.scatter(*zip(*kept, strict=True), color=colour, s=12)
                if lost:
                    ax.scatter(*zip(*lost, strict=True), facecolors="none", edgecolors=colour, s=30)
                if crosses:
                    ax.scatter(
                        [float(c["rate"]) for c in crosses],
                        [float(c[key]) for c in crosses],
                        marker="x" if server == "gateway" else "+",
                        color=colour,
                        s=30,
                    )
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("offered load (bids/s, open loop)")
        ax.set_ylabel("bid → last watcher (ms)")
        ax.set_title(f"{n:,} watchers (x, +: latency phases; hollow: overloaded)", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(
        "Fan-out latency against offered load" + (f" ({title_note})" if title_note else ""),
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m benchmarks.plot FANOUT.json OUT.png", file=sys.stderr)
        return 2
    document = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    return 0 if plot_latency(document.get("curves", []), Path(args[1])) else 1


if __name__ == "__main__":
    raise SystemExit(main())
