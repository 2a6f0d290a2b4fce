"""Engine core throughput: bid commands/s and replayed events/s on one core.

    python -m benchmarks.engine [--bids 200000] [--repeat 5]

Each figure is printed beside a bare-Python baseline measured in the same
run on the same core, with the ratio, because absolute timings on a shared
2-core machine are noisy. The baselines do the irreducible work of the same
job in plain Python with no engine around it:

- bids: for each bid, compare it with the best amount less the step, build
  a record tuple, append it to a journal list and update a dict;
- replay: for each event, one dict update of the amount it carries.

Targets (quality bars): >= 150,000 bid commands/s; >= 500,000 events/s.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from auction.core import Auction, AuctionSpec, PlaceBid, parse_spec
from auction.core.events import Event

START = 1_700_000_000_000
BIDDERS = 50


def _open_spec() -> AuctionSpec:
    return parse_spec(
        {
            "id": "bench-open",
            "start_at": START,
            "format": "open",
            "start_value": 10**12,
            "open": {"duration_s": 604_800, "decrement": 1, "dynamic_close_s": 60},
            "bidders": [{"id": f"b{i}"} for i in range(BIDDERS)],
        }
    )


def _rounds_spec() -> AuctionSpec:
    return parse_spec(
        {
            "id": "bench-rounds",
            "start_at": START,
            "format": "rounds",
            "start_value": 10**12,
            "minimal_step": 1,
            "rounds": {"rounds": 3, "first_pause_s": 0, "pause_s": 0, "turn_s": 604_800},
            "bidders": [
                {"id": f"b{i}", "amount": 10**12 - i, "submitted_at": i} for i in range(BIDDERS)
            ],
        }
    )


def _open_commands(n: int) -> list[PlaceBid]:
    return [
        PlaceBid(bidder=f"b{i % BIDDERS}", amount=10**12 - 1 - i, bid_id=f"{i}") for i in range(n)
    ]


def _rounds_commands(auction: Auction, n: int) -> list[PlaceBid]:
    st: Any = auction.lot_states["1"]
    bidder = st.order[st.turn]
    top = st.amounts[bidder] - 1
    return [PlaceBid(bidder=bidder, amount=top - i, bid_id=f"{i}") for i in range(n)]


def _timed(fn: Callable[[], int], repeat: int) -> float:
    """Best rate (units per second) over ``repeat`` runs, garbage collector on."""
    best = 0.0
    for _ in range(repeat):
        gc.collect()  # start each run clean; the collector stays on, as in production
        t0 = time.perf_counter()
        units = fn()
        elapsed = time.perf_counter() - t0
        best = max(best, units / elapsed)
    return best


def _bench_bids(spec: AuctionSpec, commands: list[PlaceBid], repeat: int) -> float:
    """Bids/s handling ``commands`` on a fresh, started auction, 64 bids per ms."""

    def run() -> int:
        auction = Auction(spec)
        auction.advance(START)
        handle = auction.handle
        for i, cmd in enumerate(commands):
            handle(cmd, START + i // 64)
        return len(commands)

    return _timed(run, repeat)


def bench_open_bids(n: int, repeat: int) -> float:
    return _bench_bids(_open_spec(), _open_commands(n), repeat)


def bench_rounds_bids(n: int, repeat: int) -> float:
    spec = _rounds_spec()
    probe = Auction(spec)
    probe.advance(START)
    return _bench_bids(spec, _rounds_commands(probe, n), repeat)


def baseline_bids(n: int, repeat: int) -> float:
    amounts = [(f"b{i % BIDDERS}", 10**12 - 1 - i, f"{i}") for i in range(n)]

    def run() -> int:
        journal: list[tuple[int, str, int, str]] = []
        best_of: dict[str, int] = {}
        best = 10**12 + 1
        for i, (bidder, amount, bid_id) in enumerate(amounts):
            if amount <= best - 1:
                best = amount
                journal.append((START + i // 64, bidder, amount, bid_id))
                best_of[bidder] = amount
        return n

    return _timed(run, repeat)


def _journal(n: int) -> tuple[AuctionSpec, list[Event]]:
    spec = _open_spec()
    auction = Auction(spec)
    events = auction.advance(START)
    for i, cmd in enumerate(_open_commands(n)):
        events.extend(auction.handle(cmd, START + i // 64).events)
    return spec, events


def bench_replay(spec: AuctionSpec, events: list[Event], repeat: int) -> float:
    def run() -> int:
        Auction.replay(spec, events)
        return len(events)

    return _timed(run, repeat)


def baseline_replay(events: list[Event], repeat: int) -> float:
    pairs = [(getattr(e, "bidder", ""), getattr(e, "amount", 0)) for e in events]

    def run() -> int:
        state: dict[str, int] = {}
        for bidder, amount in pairs:
            state[bidder] = amount
        return len(pairs)

    return _timed(run, repeat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bids", type=int, default=200_000, help="bids per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (best is kept)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON rows")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    print(
        f"engine benchmark: Python {platform.python_version()}, one core, "
        f"{args.bids:,} bids per run, best of {args.repeat}",
        file=sys.stderr,
    )
    rows: list[tuple[str, float, str, float, float]] = []

    def row(name: str, value: float, base_name: str, base: float, target: float) -> None:
        rows.append((name, value, base_name, base, target))
        verdict = "ok" if value >= target else "BELOW TARGET"
        print(
            f"  {name}: {value:,.0f}/s  (bare: {base:,.0f}/s, ratio {value / base:.3f}; "
            f"target {target:,.0f}/s: {verdict})",
            file=sys.stderr,
        )

    base_bids = baseline_bids(args.bids, args.repeat)
    row(
        "open: bid commands",
        bench_open_bids(args.bids, args.repeat),
        "bare Python bid loop",
        base_bids,
        150_000,
    )
    row(
        "rounds: bid commands (posts in a turn)",
        bench_rounds_bids(args.bids, args.repeat),
        "bare Python bid loop",
        base_bids,
        150_000,
    )
    spec, events = _journal(args.bids)
    row(
        f"replay ({len(events):,} events)",
        bench_replay(spec, events, args.repeat),
        "bare Python dict fold",
        baseline_replay(events, args.repeat),
        500_000,
    )
    print("\n| figure | Underbid | bare baseline | ratio | target |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, value, base_name, base, target in rows:
        print(
            f"| {name} | {value:,.0f}/s | {base:,.0f}/s ({base_name}) | "
            f"{value / base:.3f} | {target:,.0f}/s |"
        )
    if args.json:  # machine-readable rows for benchmarks/suite.py
        import json

        doc = {
            "benchmark": "engine",
            "python": platform.python_version(),
            "settings": {"bids": args.bids, "repeat": args.repeat},
            "sections": [
                {
                    "title": "",
                    "rows": [
                        {
                            "name": name,
                            "value": value,
                            "unit": "/s",
                            "baseline": base_name,
                            "baseline_value": base,
                            "ratio": value / base,
                            "target": f"≥ {target:,.0f}/s",
                        }
                        for name, value, base_name, base, target in rows
                    ],
                }
            ],
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
