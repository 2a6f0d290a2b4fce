"""Every journal, durable bids/s and acknowledgement latency, each beside the
bare client of its own store measured in the same run.

    python -m benchmarks.journals [--journals memory,sqlite,redis,redis-replica,cluster]
                                  [--bids 50000] [--concurrency 1000]
                                  [--rate 1000] [--seconds 5] [--json PATH]

The runtime (:class:`~auction.runtime.host.Runtime`, one auction, its bidders
as coroutines in this process, uvloop) on each journal:

- ``memory``: :class:`~auction.runtime.memory.MemoryJournal`; bare: the same
  batches appended to a Python list;
- ``sqlite``: :class:`~auction.runtime.sqlite.SqliteJournal` in a temporary
  directory on the working directory's disk (WAL, ``synchronous=FULL``); bare:
  ``sqlite3`` with the same pragmas, one ``BEGIN; executemany(INSERT);
  COMMIT`` per batch of the sizes the runtime produced (throughput), one
  INSERT + COMMIT per arrival (latency), on the event loop's own thread;
- ``redis``: a private ``redis-server`` (AOF, ``appendfsync everysec``); bare:
  pipelined XADDs of the same batch sizes, one XADD per arrival;
- ``redis-replica``: the same server with a replica and ``min_replicas = 1``
  (every batch waits for the replica: WAIT); bare: the same pipelines ending
  in ``WAIT 1``, one XADD + WAIT per arrival;
- ``cluster``: a six-node Redis Cluster (three primaries, three replicas),
  ``min_replicas = 0``; bare: pipelined XADDs and one XADD per arrival through
  redis-py's cluster client.

Durable bids/s: ``--bids`` bids from ``--concurrency`` coroutines, each awaiting
its acknowledgement before its next bid (group commit batches whatever arrives
while a batch is in flight). Latency: open loop at ``--rate`` arrivals/s for
``--seconds``, from each bid's scheduled slot to its acknowledgement.
Targets (docs/benchmarks.md): SQLite >= 20,000 durable bids/s; with
``min_replicas = 1`` ack p99 <= 5 ms.

The Redis servers are pinned to the last core and this process to the first,
as in :mod:`benchmarks.runtime`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster

from auction.clock import SystemClock
from auction.core import PlaceBid
from auction.core.events import BidPlaced, encode_event
from auction.runtime.host import Runtime
from auction.runtime.journal import Append, Journal, JournalError
from auction.runtime.memory import MemoryJournal
from auction.runtime.redis import RedisJournal
from auction.runtime.sqlite import SqliteJournal
from benchmarks.runtime import (
    BIDDERS,
    LEASE_MS,
    START_VALUE,
    Row,
    _json_row,
    _spec,
    latency_of,
    open_loop,
    percentiles,
)
from tests.redis_server import RedisServer, find_redis_server
from tests.redis_topology import ClusterDeployment, SentinelDeployment

JOURNALS = ("memory", "sqlite", "redis", "redis-replica", "cluster")
POOL = 64
"""Connections of a bare Redis client (the runtime's journal needs a handful)."""


class Recording:
    """Any journal, with the shape of every batch it was sent."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.name = journal.name
        self.batches: list[list[int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.journal, name)

    async def append_batch(self, appends: Sequence[Append]) -> list[JournalError | None]:
        self.batches.append([len(a.events) for a in appends])
        return await self.journal.append_batch(appends)


@dataclass
class Store:
    """One journal under test and its bare client."""

    name: str
    open: Callable[[], Journal]
    """A fresh journal (a new key prefix or file each time)."""
    bare_batches: Callable[[list[list[int]], int], Awaitable[float]]
    """Events/s writing the same batches with the bare client."""
    bare_send: Callable[[int], Awaitable[Callable[[int], Awaitable[None]]]]
    """An async ``send(i)`` for one bare durable write per arrival."""
    baseline: str
    """What the bare figure is, for the table."""
    notes: list[str] = field(default_factory=list)


async def runtime_throughput(
    journal: Journal, bids: int, concurrency: int
) -> tuple[float, list[list[int]]]:
    recording = Recording(journal)
    runtime = Runtime(recording, SystemClock(), node_id="bench", lease_ms=LEASE_MS)  # type: ignore[arg-type]
    await runtime.start()
    await runtime.create(_spec("t"))
    serial = itertools.count(1)

    async def bidder() -> None:
        for n in serial:
            if n > bids:
                return
            command = PlaceBid(bidder=f"b{n % BIDDERS}", amount=START_VALUE - n, bid_id=f"{n}")
            outcome = await runtime.submit("t", command)
            if not outcome.accepted:
                raise AssertionError(f"bid {n} rejected: {outcome.rejection}")

    recording.batches.clear()
    gc.collect()
    began = time.perf_counter()
    await asyncio.gather(*(bidder() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    await runtime.stop()
    await journal.close()
    return bids / elapsed, recording.batches


def event_size() -> int:
    sample = BidPlaced(
        at=0, lot="1", bidder="b1", amount=START_VALUE, bid_id="50000", surrogate_by=""
    )
    return len(encode_event(sample))


# ------------------------------------------------------------------- stores
def memory_store() -> Store:
    async def batches(shapes: list[list[int]], size: int) -> float:
        payload = b"x" * size
        log: list[bytes] = []
        began = time.perf_counter()
        for batch in shapes:
            for count in batch:
                log.extend([payload] * count)
            await asyncio.sleep(0)  # one loop turn per batch, as the runtime takes
        return sum(map(sum, shapes)) / (time.perf_counter() - began)

    async def sender(size: int) -> Callable[[int], Awaitable[None]]:
        log: list[bytes] = []

        async def send(i: int) -> None:
            log.append(b"x" * size)

        return send

    return Store("memory", MemoryJournal, batches, sender, "Python list.extend, same batches")


def sqlite_store(directory: Path) -> Store:
    counter = itertools.count()

    def open_journal() -> Journal:
        return SqliteJournal(directory / f"j{next(counter)}.sqlite3")

    def bare_db() -> sqlite3.Connection:
        db = sqlite3.connect(directory / f"bare{next(counter)}.sqlite3", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(
            "CREATE TABLE events (auction INTEGER, seq INTEGER, data BLOB,"
            " PRIMARY KEY (auction, seq)) WITHOUT ROWID"
        )
        return db

    async def batches(shapes: list[list[int]], size: int) -> float:
        db = bare_db()
        payload = b"x" * size
        seq = itertools.count(1)
        began = time.perf_counter()
        for batch in shapes:
            db.execute("BEGIN")
            for count in batch:
                db.executemany(
                    "INSERT INTO events VALUES (1, ?, ?)",
                    [(next(seq), payload) for _ in range(count)],
                )
            db.execute("COMMIT")
        elapsed = time.perf_counter() - began
        db.close()
        return sum(map(sum, shapes)) / elapsed

    async def sender(size: int) -> Callable[[int], Awaitable[None]]:
        db = bare_db()
        payload = b"x" * size

        async def send(i: int) -> None:
            db.execute("INSERT INTO events VALUES (1, ?, ?)", (i, payload))  # autocommit: fsync

        return send

    return Store(
        "sqlite",
        open_journal,
        batches,
        sender,
        "bare sqlite3, WAL + synchronous=FULL, one transaction per batch",
    )


def redis_store(name: str, url: str, *, min_replicas: int = 0, cluster: bool = False) -> Store:
    counter = itertools.count()

    def open_journal() -> Journal:
        return RedisJournal(
            url, prefix=f"{name}{next(counter)}", timeout_s=30.0, min_replicas=min_replicas
        )

    patient = {"socket_timeout": 60.0, "socket_connect_timeout": 60.0}

    def client() -> Redis | RedisCluster:
        # A pool of POOL connections opened up front (see warm()): arrivals
        # beyond that wait for a free one, as they would in any bounded client,
        # instead of opening connections in a storm when the machine stalls.
        if cluster:
            first = url.removeprefix("redis+cluster://").split(",")[0]
            return RedisCluster.from_url(f"redis://{first}", max_connections=POOL, **patient)
        pool = BlockingConnectionPool.from_url(url, max_connections=POOL, timeout=60, **patient)
        return Redis(connection_pool=pool)

    async def warm(bare: Redis | RedisCluster) -> None:
        await asyncio.gather(*(bare.ping() for _ in range(POOL)))

    wait = ["WAIT", min_replicas, 1_000] if min_replicas else None

    async def batches(shapes: list[list[int]], size: int) -> float:
        bare = client()
        payload = b"x" * size
        key = f"bare{next(counter)}:{{t}}:events"
        began = time.perf_counter()
        for batch in shapes:
            pipe = bare.pipeline(transaction=False)
            for count in batch:
                for _ in range(count):
                    pipe.execute_command("XADD", key, "*", "e", payload)
            if wait:
                pipe.execute_command(*wait)
            replies = await pipe.execute()
            if wait and int(replies[-1]) < min_replicas:
                raise AssertionError("the replica did not confirm the bare pipeline")
        elapsed = time.perf_counter() - began
        await bare.aclose()
        return sum(map(sum, shapes)) / elapsed

    async def sender(size: int) -> Callable[[int], Awaitable[None]]:
        bare = client()
        payload = b"x" * size
        key = f"bare{next(counter)}:{{lat}}:events"
        await warm(bare)
        slots = asyncio.Semaphore(POOL)  # the cluster client's pool does not block

        async def send(i: int) -> None:
            async with slots:
                if wait:
                    pipe = bare.pipeline(transaction=False)
                    pipe.execute_command("XADD", key, "*", "e", payload)
                    pipe.execute_command(*wait)
                    await pipe.execute()
                else:
                    await bare.execute_command("XADD", key, "*", "e", payload)  # type: ignore[no-untyped-call]

        return send

    what = "bare redis-py pipelined XADD, same batches"
    if wait:
        what += " + WAIT 1"
    if cluster:
        what = what.replace("redis-py", "redis-py cluster client")
    return Store(name, open_journal, batches, sender, what)


# --------------------------------------------------------------------- main
async def measure(store: Store, args: argparse.Namespace) -> list[Row]:
    size = event_size()
    best_rate, best_bare, shapes = 0.0, 0.0, []
    for _ in range(args.repeat):  # runtime and bare alternate; the best of each is kept
        rate, batches = await runtime_throughput(store.open(), args.bids, args.concurrency)
        if rate > best_rate:
            best_rate, shapes = rate, batches
        best_bare = max(best_bare, await store.bare_batches(batches, size))
    sizes = [sum(b) for b in shapes]
    mean = sum(sizes) / len(sizes)
    latencies = await latency_of(store.open(), args.rate, args.seconds, "bench-latency")
    bare_latencies = await open_loop(args.rate, args.seconds, await store.bare_send(size))
    p, b = percentiles(latencies), percentiles(bare_latencies)
    target_bids = "≥ 20,000/s" if store.name == "sqlite" else "-"
    target_p99 = "≤ 5 ms" if store.name == "redis-replica" else "-"
    print(
        f"  {store.name}: {best_rate:,.0f} durable bids/s (bare {best_bare:,.0f}/s, "
        f"mean batch {mean:.0f}); ack p50/p99 {p[0]:.2f}/{p[1]:.2f} ms "
        f"(bare {b[0]:.2f}/{b[1]:.2f} ms)",
        file=sys.stderr,
    )
    label = {
        "memory": "memory",
        "sqlite": "SQLite (WAL, synchronous=FULL)",
        "redis": "Redis (appendfsync everysec)",
        "redis-replica": "Redis + 1 replica, min_replicas = 1",
        "cluster": "Redis Cluster (3 primaries + 3 replicas)",
    }[store.name]
    bare_latency_name = {
        "memory": "list.append per arrival",
        "sqlite": "bare INSERT + COMMIT per arrival",
        "redis-replica": "bare XADD + WAIT 1 per arrival",
    }.get(store.name, "bare XADD per arrival")
    return [
        (
            f"{label}: durable bids/s, {args.concurrency:,} in flight (batch mean {mean:.0f})",
            f"{best_rate:,.0f}/s",
            f"{best_bare:,.0f}/s {store.baseline}",
            f"{best_rate / best_bare:.3f}",
            target_bids,
        ),
        (
            f"{label}: ack p50 at {args.rate:,.0f} bids/s",
            f"{p[0]:.2f} ms",
            f"{b[0]:.2f} ms {bare_latency_name}",
            f"{p[0] / b[0]:.2f}" if b[0] else "-",
            "-",
        ),
        (
            f"{label}: ack p99 at {args.rate:,.0f} bids/s",
            f"{p[1]:.2f} ms",
            f"{b[1]:.2f} ms {bare_latency_name}",
            f"{p[1] / b[1]:.2f}" if b[1] else "-",
            target_p99,
        ),
    ]


def pin(pids: Sequence[int], cores: list[int]) -> None:
    if len(cores) > 1:
        for pid in pids:
            os.sched_setaffinity(pid, {cores[-1]})
        os.sched_setaffinity(0, {cores[0]})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--journals", default=",".join(JOURNALS), help="comma-separated")
    parser.add_argument("--bids", type=int, default=50_000, help="bids per throughput run")
    parser.add_argument("--concurrency", type=int, default=1_000, help="bids in flight")
    parser.add_argument("--rate", type=float, default=1_000.0, help="arrivals/s (latency)")
    parser.add_argument("--seconds", type=float, default=5.0, help="latency run length")
    parser.add_argument("--repeat", type=int, default=2, help="throughput runs (best kept)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON rows")
    args = parser.parse_args(argv)
    chosen = [j.strip() for j in args.journals.split(",") if j.strip()]
    if unknown := [j for j in chosen if j not in JOURNALS]:
        parser.error(f"unknown journals {unknown}; choose from {JOURNALS}")
    if find_redis_server() is None and set(chosen) - {"memory", "sqlite"}:
        print("no redis-server binary: install redis-server", file=sys.stderr)
        return 1
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"journals benchmark: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
        f", {len(cores) or '?'} cores, load average {load:.2f} at start",
        file=sys.stderr,
    )
    rows: list[Row] = []
    work = Path(tempfile.mkdtemp(prefix=".underbid-bench-", dir=Path.cwd()))
    server: RedisServer | None = None
    replica: RedisServer | None = None
    cluster: ClusterDeployment | None = None
    version = ""
    binary = find_redis_server()
    try:
        if binary and {"redis", "redis-replica"} & set(chosen):
            server = RedisServer(binary)
            server.start()
            pin([server.pid], cores)
            version = _version(binary)
        if "cluster" in chosen:
            cluster = ClusterDeployment()
            pin([s.pid for s in cluster.servers], cores)
        stores = {
            "memory": lambda: memory_store(),
            "sqlite": lambda: sqlite_store(work),
            "redis": lambda: redis_store("redis", server.url),  # type: ignore[union-attr]
            "redis-replica": lambda: redis_store(
                "redis-replica",
                server.url,  # type: ignore[union-attr]
                min_replicas=1,
            ),
            "cluster": lambda: redis_store(
                "cluster",
                cluster.url,  # type: ignore[union-attr]
                cluster=True,
            ),
        }
        for name in chosen:
            if name == "redis-replica" and server is not None and binary:
                # Only now: the standalone figures are measured without a replica.
                replica = RedisServer(
                    binary, extra_args=["--replicaof", "127.0.0.1", str(server.port)]
                )
                replica.start()
                SentinelDeployment.wait_replicated(server, 1)
                pin([replica.pid], cores)
            rows += uvloop.run(measure(stores[name](), args))
    finally:
        for running in (server, replica):
            if running is not None:
                running.close()
        if cluster is not None:
            cluster.close()
        shutil.rmtree(work, ignore_errors=True)
        if cores:
            os.sched_setaffinity(0, set(cores))
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    title = (
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
        + (f", Redis {version}" if version else "")
        + f"; load average {load:.2f} at start, {load_end:.2f} at the end"
    )
    print(f"\n### Journals ({title})\n")
    print("| figure | Underbid | bare baseline (same run) | ratio | target |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.json:
        import json

        doc = {
            "benchmark": "journals",
            "python": platform.python_version(),
            "settings": {"bids": args.bids, "rate": args.rate, "seconds": args.seconds},
            "sections": [{"title": title, "rows": [_json_row(row) for row in rows]}],
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, ensure_ascii=False)
    return 0


def _version(binary: str) -> str:
    import subprocess

    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.split()[2].removeprefix("v=") if out.stdout else "?"


if __name__ == "__main__":
    raise SystemExit(main())
