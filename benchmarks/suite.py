"""The whole benchmark suite: every figure, its same-run baseline and the ratio.

    python -m benchmarks                 # full run (about 9 minutes): rewrites docs/benchmarks.md
    python -m benchmarks --quick         # short runs (about 35 s): checks the machinery
    python -m benchmarks --only engine,fanout --doc /tmp/benchmarks.md --keep results/

Runs each benchmark (:mod:`benchmarks.engine`, :mod:`benchmarks.runtime`,
:mod:`benchmarks.journals`, :mod:`benchmarks.fanout`, :mod:`benchmarks.abuse`) in its
own subprocess, so that one's memory and threads never touch the next one's
figures, each with ``--json``. Then:

- rewrites the generated blocks of docs/benchmarks.md, and only them: the text
  between ``<!-- suite:NAME -->`` and ``<!-- /suite -->`` (``run``: date, machine,
  Python, command; ``engine``, ``runtime``, ``journals``, ``fanout``: the tables; ``plot``:
  the plot's image). The prose around them is kept as written;
- draws docs/benchmarks-latency.png (:mod:`benchmarks.plot`): bid -> last
  watcher p50 / p99 / p99.9 against offered bids/s, gateway beside the bare
  ``websockets`` server, from the fan-out benchmark's latency phases and sweep.

A benchmark that fails leaves its block as it was and makes the exit status 1
(the run block says which failed). ``--keep DIR`` keeps the JSON results.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
PLOT = "benchmarks-latency.png"
"""The plot's file name, beside the document."""


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    timeout_s: int


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("engine", "benchmarks.engine", (), ("--bids", "20000", "--repeat", "1"), 600),
    Benchmark(
        "runtime",
        "benchmarks.runtime",
        (),
        (
            "--appendfsync",
            "everysec",
            "--bids",
            "3000",
            "--throughput",
            "1x100",
            "--throughput-repeat",
            "1",
            "--seconds",
            "1",
            "--repeat",
            "1",
        ),
        1800,
    ),
    Benchmark(
        "journals",
        "benchmarks.journals",
        (),
        ("--bids", "3000", "--seconds", "1", "--repeat", "1"),
        1800,
    ),
    Benchmark(
        "fanout",
        "benchmarks.fanout",
        ("--watchers", "1000,10000"),
        (
            "--watchers",
            "200",
            "--rate",
            "20,50,100",
            "--seconds",
            "1",
            "--no-idle",
            "--no-sweep",
        ),
        3600,
    ),
    Benchmark(
        "abuse",
        "benchmarks.abuse",
        (),
        ("--connections", "10", "--flood-s", "1", "--sizes", "1000", "--repeat", "1"),
        900,
    ),
    Benchmark(
        "cluster",
        "benchmarks.cluster",
        (),
        ("--watchers", "100", "--seconds", "2", "--kills", "2"),
        2400,
    ),
)
NAMES = tuple(b.name for b in BENCHMARKS)

BLOCK = re.compile(r"(?m)^(<!-- suite:(?P<name>[a-z]+) -->\n)(?P<body>.*?)(<!-- /suite -->)", re.S)


# ----------------------------------------------------------------- running
def run_benchmark(
    bench: Benchmark, quick: bool, out_dir: Path
) -> tuple[dict[str, Any] | None, str]:
    """Run one benchmark in a subprocess; its JSON document, or None and why not."""
    path = out_dir / f"{bench.name}.json"
    log_path = out_dir / f"{bench.name}.log"
    argv = [sys.executable, "-m", bench.module, *(bench.quick if quick else bench.full)]
    argv += ["--json", str(path)]
    started = time.perf_counter()
    print(f"== {bench.name}: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
    with open(log_path, "w", encoding="utf-8") as log:
        try:
            code = subprocess.run(
                argv,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=bench.timeout_s,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            return None, f"timed out after {bench.timeout_s} s (log: {log_path})"
    elapsed = time.perf_counter() - started
    print(f"   {bench.name} finished in {elapsed:.0f} s (exit {code})", file=sys.stderr)
    if code != 0 or not path.exists():
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        return None, f"exit status {code} (log: {log_path}): " + " / ".join(tail)
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    document["elapsed_s"] = elapsed
    return document, ""


# --------------------------------------------------------------- rendering
def format_value(value: float | None, unit: str, prefix: str = "") -> str:
    """``71447, "/s"`` -> ``71,447/s``; ``0.54, "ms"`` -> ``0.54 ms``; None -> ``-``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "/s":
        text = f"{value:,.0f}/s"
    elif unit == "ms":
        text = f"{value:,.0f} ms" if value >= 100 or value == int(value) else f"{value:.2f} ms"
    elif unit == "KiB":
        text = f"{value:.1f} KiB"
    elif unit in ("µs", "us"):
        text = f"{value:.2f} µs"
    elif unit:
        text = f"{value:,.0f} {unit}" if value == int(value) else f"{value:,.2f} {unit}"
    else:
        text = f"{value:,.0f}" if value == int(value) else f"{value:,.3g}"
    return prefix + text


def render_rows(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table: figure | Underbid | bare baseline (same run) | ratio | target."""
    lines = [
        "| figure | Underbid | bare baseline (same run) | ratio | target |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        unit = str(row.get("unit", ""))
        value = format_value(row.get("value"), unit, str(row.get("value_prefix", "")))
        base = format_value(row.get("baseline_value"), unit)
        if base != "-" and row.get("baseline"):
            base = f"{base} {row['baseline']}"
        ratio = row.get("ratio")
        ratio_text = "-" if ratio is None else f"{ratio:.2f}"
        target = row.get("target") or "-"
        lines.append(f"| {row['name']} | {value} | {base} | {ratio_text} | {target} |")
    return "\n".join(lines)


def render_document(document: Mapping[str, Any]) -> str:
    """The generated block of one benchmark: a table per section."""
    parts: list[str] = []
    for section in document.get("sections", []):
        if section.get("title"):
            parts.append(f"{section['title']}:")
            parts.append("")
        parts.append(render_rows(section.get("rows", [])))
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def machine_summary() -> str:
    """CPU model, cores available, memory, kernel: what the figures depend on."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            total_kib = int(fh.readline().split()[1])
        memory = f", {total_kib / 2**20:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{model}, {cores} cores{memory}, {platform.system()} {platform.release()}"


def render_run(
    when: str,
    command: str,
    quick: bool,
    results: Mapping[str, dict[str, Any] | None],
    failures: Mapping[str, str],
) -> str:
    lines = [
        f"Generated by `{command}` on {when}: {machine_summary()}, "
        f"Python {platform.python_version()}"
        + (" (**quick mode: short runs, not representative**)" if quick else "")
        + ".",
    ]
    timings = [
        f"{name} {doc['elapsed_s']:.0f} s" for name, doc in results.items() if doc is not None
    ]
    if timings:
        lines[0] += f" Run times: {', '.join(timings)}."
    for name, why in failures.items():
        lines.append("")
        lines.append(
            f"**{name} failed** in this run; its figures below are from an earlier one: {why}"
        )
    return "\n".join(lines) + "\n"


def replace_blocks(text: str, blocks: Mapping[str, str]) -> tuple[str, list[str]]:
    """Put each generated block between its markers; returns the text and the names missing.

    Only the text between ``<!-- suite:NAME -->`` and ``<!-- /suite -->`` changes.
    """
    seen: set[str] = set()

    def swap(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in blocks:
            return match[0]
        seen.add(name)
        return f"{match[1]}{blocks[name]}{match[4]}"

    new = BLOCK.sub(swap, text)
    return new, [name for name in blocks if name not in seen]


def update_document(path: Path, blocks: Mapping[str, str]) -> list[str]:
    """Rewrite the blocks of the document at ``path``; the names without markers."""
    text = path.read_text(encoding="utf-8")
    new, missing = replace_blocks(text, blocks)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return missing


# -------------------------------------------------------------------- main
def main(
    argv: Sequence[str] | None = None,
    runner: Callable[[Benchmark, bool, Path], tuple[dict[str, Any] | None, str]] = run_benchmark,
) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="short runs (under a minute)")
    parser.add_argument("--only", default=",".join(NAMES), help=f"some of {','.join(NAMES)}")
    parser.add_argument("--doc", type=Path, default=DOC, help="the document to rewrite")
    parser.add_argument("--keep", type=Path, help="keep the JSON results and logs here")
    parser.add_argument("--no-plot", action="store_true", help="do not draw the PNG plot")
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    if unknown := [n for n in chosen if n not in NAMES]:
        parser.error(f"unknown benchmarks {unknown}; choose from {NAMES}")
    out_dir = args.keep or Path(tempfile.mkdtemp(prefix="underbid-bench-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    command = "python -m benchmarks" + (" --quick" if args.quick else "")
    if args.only != ",".join(NAMES):
        command += f" --only {args.only}"
    results: dict[str, dict[str, Any] | None] = {}
    failures: dict[str, str] = {}
    for bench in BENCHMARKS:
        if bench.name not in chosen:
            continue
        document, why = runner(bench, args.quick, out_dir)
        results[bench.name] = document
        if document is None:
            failures[bench.name] = why
            print(f"   {bench.name} FAILED: {why}", file=sys.stderr)
    blocks = {name: render_document(doc) for name, doc in results.items() if doc is not None}
    blocks["run"] = render_run(when, command, args.quick, results, failures)
    fanout = results.get("fanout")
    if fanout is not None and not args.no_plot:
        from benchmarks.plot import plot_latency

        image = args.doc.parent / PLOT
        if plot_latency(fanout.get("curves", []), image, title_note=when):
            blocks["plot"] = (
                f"![bid → last watcher latency against offered load]({PLOT})\n\n"
                f"({when}; {fanout.get('python', '')}; from the fan-out benchmark's "
                "latency phases and sweep.)\n"
            )
            print(f"   wrote {image}", file=sys.stderr)
    (out_dir / "suite.json").write_text(
        json.dumps({"when": when, "results": results, "failures": failures}, indent=2),
        encoding="utf-8",
    )
    missing = update_document(args.doc, blocks)
    if missing:
        print(f"   no markers in {args.doc} for: {', '.join(missing)}", file=sys.stderr)
    print(f"wrote {args.doc}; results in {out_dir}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
