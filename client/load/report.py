"""What a load test measured, the same for both tools, and its report.

:class:`RunFigures` collects a run: latency samples per series over time
(:class:`~client.load.figures.Timeline`), counters, and the chaos ledger.
Series and counters are named by format:

- series ``{format}.ack`` (a command's answer), ``{format}.deliver`` (an
  event reaching a watcher), ``connect``, ``reconnect`` (a drop to the
  welcome on the next node);
- counters ``{format}.commands``, ``{format}.acks``,
  ``{format}.rejected.{code}``, ``{format}.late`` (refused as too late
  though sent in time), ``{format}.missed`` (a window gone before the
  player could act), ``{format}.failed.{code}`` (``timeout``, ``closed``,
  ``unavailable``...), and ``requests``, ``errors``, ``deliveries``,
  ``gaps``, ``missing``, ``duplicates``, ``resyncs``, ``reconnects``,
  ``reconnect_failures``, ``resumed``, ``replayed``, ``connect_failures``.

:meth:`RunFigures.metrics` gives the SLO metrics (:mod:`client.load.slo`);
:func:`summary_lines` the text summary, :func:`html_section` the HTML the
Locust report and the swarm's ``report.html`` show, with one latency-over-
time plot per auction format (:func:`plot_format`, matplotlib: the
``[load]`` extra). Everything travels as plain maps between Locust's workers
and its master (:meth:`RunFigures.to_wire`).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from client.load.chaos import Kill, Ledger
from client.load.figures import Histogram, Timeline
from client.load.slo import FORMATS, Verdict, latency_figures
from client.load.streams import SeqTracker

PLOT_POINTS = 300
"""At most this many intervals per plot line (the interval grows with the run)."""


@dataclass
class RunFigures:
    t0_ms: int = 0
    """Wall clock (ms) of the run's second 0: samples are filed by ``(wall - t0) / 1000``."""
    timeline: Timeline = field(default_factory=Timeline)
    counts: Counter[str] = field(default_factory=Counter)
    ledger: Ledger = field(default_factory=Ledger)
    chaos: bool = False
    """Nodes may be killed: keep what the takeover figure needs."""

    # ----------------------------------------------------------- collecting
    def sample(self, series: str, at_ms: float, ms: float) -> None:
        self.timeline.add(series, (at_ms - self.t0_ms) / 1000, ms)

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def recovered(self, auction: str, fmt: str, failed_at_ms: int, answered_at_ms: int) -> None:
        self.ledger.recovered(f"{auction}|{fmt}", failed_at_ms, answered_at_ms)

    def judge(self, tracker: SeqTracker, seq: int) -> bool:
        """Check one ``seq`` of a stream; count what it found. False for a duplicate."""
        gaps, duplicates, missing = tracker.gaps, tracker.duplicates, tracker.missing
        verdict = tracker.see(seq)
        tracker.settle()
        for name, new in (
            ("gaps", tracker.gaps - gaps),
            ("duplicates", tracker.duplicates - duplicates),
        ):
            if new:
                self.count(name, new)
                self.count("errors", new)
        if tracker.missing > missing:
            self.count("missing", tracker.missing - missing)
        return verdict != "duplicate"

    def late(self, auction: str, fmt: str, at_ms: int, arrived_ms: float) -> None:
        """A reference stream read an event due at ``at_ms`` at ``arrived_ms`` (server clock).

        Kept only around kills (the takeover figure): a run without chaos keeps nothing."""
        if self.chaos:
            self.ledger.late(f"{auction}|{fmt}", at_ms, arrived_ms)

    # ------------------------------------------------------------ the wire
    def to_wire(self) -> dict[str, Any]:
        """Everything collected since the last call (a Locust worker's report), then reset."""
        wire = {
            "timeline": self.timeline.take().to_wire(),
            "counts": dict(self.counts),
            "recoveries": [list(r) for r in self.ledger.recoveries],
            "lateness": {
                auction: {str(s): ms for s, ms in seconds.items()}
                for auction, seconds in self.ledger.lateness.items()
            },
        }
        self.counts.clear()
        self.ledger.recoveries.clear()
        self.ledger.lateness.clear()
        return wire

    def merge_wire(self, wire: Mapping[str, Any]) -> None:
        self.timeline.merge(Timeline.from_wire(wire.get("timeline", {})))
        for name, n in dict(wire.get("counts", {})).items():
            self.counts[str(name)] += int(n)
        for auction, failed, answered in wire.get("recoveries", []):
            self.ledger.recovered(str(auction), int(failed), int(answered))
        for auction, seconds in dict(wire.get("lateness", {})).items():
            mine = self.ledger.lateness.setdefault(str(auction), {})
            for second, ms in dict(seconds).items():
                mine[int(second)] = max(mine.get(int(second), 0.0), float(ms))

    # ------------------------------------------------------------- figures
    def formats(self) -> list[str]:
        seen = {s.split(".", 1)[0] for s in self.timeline.series() if "." in s}
        seen |= {c.split(".", 1)[0] for c in self.counts if "." in c}
        return [f for f in FORMATS if f in seen]

    def takeover(self, fmt: str | None = None) -> Histogram:
        h = Histogram()
        for _, key, ms in self.ledger.takeovers():
            if fmt is None or key.endswith(f"|{fmt}"):
                h.add(ms)
        return h

    def missed(self, fmt: str | None = None) -> int:
        formats = [fmt] if fmt else FORMATS
        return sum(self.counts[f"{f}.missed"] + self.counts[f"{f}.late"] for f in formats)

    def metrics(self) -> dict[str, float]:
        t = self.timeline
        out: dict[str, float] = {}
        out.update(latency_figures("ack", t.combined(f"{f}.ack" for f in FORMATS)))
        out.update(latency_figures("deliver", t.combined(f"{f}.deliver" for f in FORMATS)))
        out.update(latency_figures("connect", t.overall("connect")))
        out.update(latency_figures("reconnect", t.overall("reconnect")))
        out.update(latency_figures("takeover", self.takeover()))
        for f in FORMATS:
            out.update(latency_figures(f"{f}.ack", t.overall(f"{f}.ack")))
            out.update(latency_figures(f"{f}.deliver", t.overall(f"{f}.deliver")))
            out.update(latency_figures(f"{f}.takeover", self.takeover(f)))
            out[f"{f}.missed_turns"] = float(self.missed(f))
        c = self.counts
        for name in ("errors", "gaps", "duplicates", "resyncs", "reconnects", "requests"):
            out[name] = float(c[name])
        out["missed_turns"] = float(self.missed())
        out["error_rate"] = 100.0 * c["errors"] / c["requests"] if c["requests"] else math.nan
        return out

    def kills(self) -> list[Kill]:
        return list(self.ledger.kills)


# ------------------------------------------------------------------ text
def _ms(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


def format_rows(run: RunFigures) -> list[list[str]]:
    """One row per format: commands, answers, latencies, misses, deliveries."""
    rows = []
    c = run.counts
    for f in run.formats():
        ack = run.timeline.overall(f"{f}.ack")
        deliver = run.timeline.overall(f"{f}.deliver")
        rejected = sorted(
            (k.split(".", 2)[2], n) for k, n in c.items() if k.startswith(f"{f}.rejected.")
        )
        failed = sorted(
            (k.split(".", 2)[2], n) for k, n in c.items() if k.startswith(f"{f}.failed.")
        )
        rows.append(
            [
                f,
                f"{c[f + '.commands']:,}",
                f"{c[f + '.acks']:,}",
                ", ".join(f"{code} {n}" for code, n in rejected) or "none",
                _ms(ack.percentile(50)),
                _ms(ack.percentile(99)),
                f"{c[f + '.missed']} / {c[f + '.late']}",
                ", ".join(f"{code} {n}" for code, n in failed) or "none",
                f"{deliver.count:,}",
                _ms(deliver.percentile(50)),
                _ms(deliver.percentile(99)),
            ]
        )
    return rows


FORMAT_HEADER = [
    "format",
    "commands",
    "acks",
    "rejected (auction outcomes)",
    "ack p50 ms",
    "ack p99 ms",
    "missed / late (server slow)",
    "failed",
    "deliveries",
    "deliver p50 ms",
    "deliver p99 ms",
]


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def stream_line(run: RunFigures) -> str:
    c = run.counts
    return (
        f"streams: {c['deliveries']:,} events delivered; gaps {c['gaps']} "
        f"({c['missing']} events missing), duplicates {c['duplicates']}, resyncs {c['resyncs']}"
    )


def chaos_lines(run: RunFigures) -> list[str]:
    c = run.counts
    reconnect = run.timeline.overall("reconnect")
    lines = [
        f"reconnects: {c['reconnects']:,} (p50 {_ms(reconnect.percentile(50))} ms, max "
        f"{_ms(reconnect.max if reconnect.count else math.nan)} ms), failed "
        f"{c['reconnect_failures']}; resumed streams {c['resumed']:,} ({c['replayed']:,} events "
        "replayed)",
    ]
    takeovers = run.ledger.takeovers()
    for kill in run.kills():
        if not kill.ok:
            lines.append(f"kill at {kill.test_s:.1f} s of {kill.node} FAILED: {kill.error}")
            continue
        hit = sorted(ms for k, _, ms in takeovers if k.at_ms == kill.at_ms)
        auctions = len({key.split("|")[0] for k, key, _ in takeovers if k.at_ms == kill.at_ms})
        if not hit:
            lines.append(
                f"kill at {kill.test_s:.1f} s of {kill.node} ({kill.how}): no auction was "
                "seen after it (no command in flight, no deadline due)"
            )
            continue
        lines.append(
            f"kill at {kill.test_s:.1f} s of {kill.node} ({kill.how}): {auctions} auctions "
            f"seen after it; takeover max {hit[-1] / 1000:.2f} s, p50 "
            f"{hit[len(hit) // 2] / 1000:.2f} s"
        )
    return lines


def summary_lines(run: RunFigures, verdict: Verdict | None, title: str) -> list[str]:
    lines = [title, ""]
    rows = format_rows(run)
    if rows:
        lines += [*_table(FORMAT_HEADER, rows), ""]
    lines.append(stream_line(run))
    if run.kills() or run.counts["reconnects"] or run.counts["reconnect_failures"]:
        lines += chaos_lines(run)
    if verdict is not None:
        lines += ["", *verdict.lines()]
    return lines


# ----------------------------------------------------------------- plots
def plot_format(run: RunFigures, fmt: str) -> bytes | None:
    """A PNG of ``fmt``'s ack and delivery latency (p50, p99) over the run, kills marked.

    None when matplotlib is missing (``pip install 'underbid[load]'``) or
    there is nothing to plot."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    series = [(f"{fmt}.ack", "command → answer"), (f"{fmt}.deliver", "event → watcher")]
    last = max(run.timeline.last_second(), 1)
    width = max(1, math.ceil(last / PLOT_POINTS))
    if not any(run.timeline.overall(s).count for s, _ in series):
        return None
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig, axes = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    floor = Histogram.FLOOR_MS
    for ax, (name, what) in zip(axes, series, strict=True):
        points = run.timeline.points(name, width)
        if points:
            xs = [p[0] for p in points]
            style = {"marker": "o", "markersize": 2.5, "linewidth": 1.2}
            ax.plot(xs, [max(floor, p[2]) for p in points], label="p50", color="#2b6cb0", **style)
            ax.plot(xs, [max(floor, p[3]) for p in points], label="p99", color="#c05621", **style)
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.legend(loc="upper right", fontsize=8)
        else:
            ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
        ax.set_ylabel(f"{what}\nms (log scale)")
        ax.grid(True, which="both", alpha=0.3)
        for kill in run.kills():
            ax.axvline(kill.test_s, color="#e53e3e", linestyle="--", linewidth=1)
    end = max([float(last + 1), *(k.test_s + 1 for k in run.kills())])
    for ax in axes:
        ax.set_xlim(0, end)  # every format's plot on the run's whole time: comparable
    killed = "; red: a node killed" if run.kills() else ""
    axes[0].set_title(f"{fmt}: latency over time ({width} s intervals{killed})")
    axes[1].set_xlabel("seconds into the run")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=90)
    plt.close(fig)
    return out.getvalue()


def plots(run: RunFigures) -> dict[str, bytes]:
    out = {}
    for fmt in run.formats():
        png = plot_format(run, fmt)
        if png is not None:
            out[fmt] = png
    return out


# ------------------------------------------------------------------ html
def _html_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
#underbid-report { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
  padding: 1rem 1.5rem; background: #fff; color: #1a202c; border-top: 3px solid #2b6cb0; }
#underbid-report table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .85rem; }
#underbid-report th, #underbid-report td { border: 1px solid #cbd5e0; padding: .25rem .5rem; }
#underbid-report th { background: #edf2f7; text-align: left; }
#underbid-report .pass { color: #276749; font-weight: bold; }
#underbid-report .fail { color: #c53030; font-weight: bold; }
#underbid-report img { max-width: 100%; display: block; margin: .5rem 0 1.5rem; }
"""


def html_section(
    run: RunFigures, verdict: Verdict | None, title: str, images: Mapping[str, bytes]
) -> str:
    """The report's Underbid section: verdict, tables, and the plots (inline PNGs)."""
    parts = [f"<style>{STYLE}</style>", '<section id="underbid-report">']
    parts.append(f"<h2>{html.escape(title)}</h2>")
    if verdict is not None:
        cls = "pass" if verdict.passed else "fail"
        parts.append(f'<p class="{cls}">SLO verdict: {"PASS" if verdict.passed else "FAIL"}</p>')
        parts.append(
            _html_table(
                ["threshold", "measured", "verdict"],
                [
                    [
                        c.threshold.text,
                        "no data" if c.actual is None else c.describe().split(" = ", 1)[-1],
                        "pass" if c.passed else "FAIL",
                    ]
                    for c in verdict.checks
                ],
            )
        )
    rows = format_rows(run)
    if rows:
        parts.append("<h3>Per auction format</h3>")
        parts.append(_html_table(FORMAT_HEADER, rows))
    parts.append(f"<p>{html.escape(stream_line(run))}</p>")
    if run.kills() or run.counts["reconnects"]:
        parts.append("<h3>Nodes killed and what it cost</h3><ul>")
        parts += [f"<li>{html.escape(line)}</li>" for line in chaos_lines(run)]
        parts.append("</ul>")
    if images:
        parts.append("<h3>Latency over time, per auction format</h3>")
    for fmt, png in images.items():
        data = base64.b64encode(png).decode()
        parts.append(
            f'<img alt="{html.escape(fmt)} latency over time" src="data:image/png;base64,{data}">'
        )
    if not images and rows:
        parts.append("<p>(no plots: matplotlib is not installed: pip install 'underbid[load]')</p>")
    parts.append("</section>")
    return "\n".join(parts)


def inject(report_html: str, section: str) -> str:
    """Locust's HTML report with our section before ``</body>`` (appended if there is none)."""
    marker = report_html.rfind("</body>")
    if marker < 0:
        return report_html + section
    return report_html[:marker] + section + report_html[marker:]


def standalone(section: str, title: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>'
        f"{html.escape(title)}</title></head><body>{section}</body></html>"
    )


__all__ = [
    "RunFigures",
    "html_section",
    "inject",
    "plot_format",
    "plots",
    "standalone",
    "summary_lines",
]
