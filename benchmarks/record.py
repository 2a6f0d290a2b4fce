"""The verifiable record's costs: hashing per event, durable bids/s with and
without the log, signing and verification rates, `underbid verify` of a
100,000-event auction.

    python -m benchmarks.record [--bids 99998] [--repeat 3] [--events 100000]

Figures, each beside a bare baseline measured in the same run:

- **hashing per event** in process: :meth:`Ledger.add` (the journal encoding,
  the salt, the leaf, the tree) per ``BidPlaced``; baseline: the journal's own
  ``encode_event`` of the same events (what the runtime already pays);
- **durable bids/s, one auction, 100 bids in flight, Redis journal**
  (``appendfsync everysec``, redis-server on the other core), with the
  gateway's transparency listener folding every event and signing a
  checkpoint every second, and without it, alternating runs, best of
  ``--repeat`` each (benchmarks/runtime.py's harness). Target: the log costs at
  most 10 % of the durable bids/s;
- **signing and verifying checkpoints** per second (C2SP note, Ed25519 via
  pyca ``cryptography``); baseline: bare Ed25519 sign / verify of the same text;
- **`underbid verify`** of an ``open`` auction of ``--events`` events, the real
  command in a subprocess, and in process; baseline: what checking the record
  without signatures costs (``json.load`` and ``Auction.replay``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import uvloop

from auction.core import Auction, PlaceBid, events_from_record, parse_spec
from auction.core.events import BidPlaced, encode_event
from auction.core.ledger import Ledger
from auction.core.record import audit_record
from auction.runtime.host import Runtime
from auction.transparency.checkpoints import Checkpoint, open_checkpoint, sign_checkpoint
from auction.transparency.keys import SigningKey, Window, write_key_pair
from auction.transparency.notes import SignerKey
from auction.transparency.sealing import seal
from auction.transparency.verify import verify_record
from benchmarks.runtime import durable_bids
from tests.redis_server import RedisServer, find_redis_server

KEY = SigningKey(SignerKey.generate("bench.example"), Window())


def best(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def hashing(n: int, repeat: int) -> tuple[float, float]:
    """(CPU µs per event folding into the ledger, CPU µs per event encode_event alone)."""
    events = [
        BidPlaced(
            at=1_796_112_000_000 + i,
            lot="1",
            bidder=f"b{i % 50}",
            amount=10**12 - i,
            bid_id=f"{i}",
            surrogate_by="",
        )
        for i in range(n)
    ]

    # CPU time of this process: on a shared machine, wall time counts the others' load.
    def fold() -> float:
        ledger = Ledger("bench", bytes(32))
        t0 = time.process_time()
        ledger.add(1, events)
        return time.process_time() - t0

    def encode() -> float:
        t0 = time.process_time()
        for e in events:
            encode_event(e)
        return time.process_time() - t0

    return best(fold, repeat) / n * 1e6, best(encode, repeat) / n * 1e6


def signing(n: int) -> tuple[float, float, float, float]:
    """Checkpoints signed/s, bare Ed25519 signs/s, checkpoints verified/s, bare verifies/s."""
    cp = Checkpoint("bench.example/a0", 100_000, bytes(32), bytes(32), bytes(32), 1_796_112_000_000)
    text = cp.text().encode()
    private = KEY.private
    t0 = time.perf_counter()
    for i in range(n):
        note = sign_checkpoint(
            Checkpoint(cp.origin, i + 1, cp.root, cp.spec, cp.log_key, cp.time), [KEY]
        )
    sign_rate = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(n):
        signature = private.sign(text)
    bare_sign = n / (time.perf_counter() - t0)
    assert note is not None
    trusted = [KEY.trusted]
    t0 = time.perf_counter()
    for _ in range(n):
        open_checkpoint(note, trusted)
    verify_rate = n / (time.perf_counter() - t0)
    public = private.public_key()
    t0 = time.perf_counter()
    for _ in range(n):
        public.verify(signature, text)
    bare_verify = n / (time.perf_counter() - t0)
    return sign_rate, bare_sign, verify_rate, bare_verify


async def throughput(url: str, bids: int, repeat: int) -> tuple[float, float, float, float, int]:
    """Best bids/s with the log and without, best bids per CPU second of this process
    (the runtime's) with and without, and the checkpoints signed in the best log run."""
    from gateway.settings import RecordSettings
    from gateway.transparency import Transparency

    with_log = without = cpu_with = cpu_without = 0.0
    signed = 0
    for r in range(repeat):
        for on in (False, True):
            holder: dict[str, Any] = {}

            def attach(runtime: Runtime, holder: dict[str, Any] = holder) -> None:
                gateway = SimpleNamespace(
                    settings=SimpleNamespace(record=RecordSettings()),
                    runtime=runtime,
                    secret=b"bench-secret-0123456789abcdef0123",
                    clock=runtime.clock,
                    hubs=SimpleNamespace(groups={}),
                )
                holder["t"] = Transparency(gateway)  # type: ignore[arg-type]

            cpu = time.process_time()
            result = await durable_bids(
                url,
                f"rec{r}{int(on)}",
                1,
                bids,
                100,
                snapshot_every=1_000,
                profile=False,
                on_runtime=attach if on else None,
            )
            per_cpu = bids / (time.process_time() - cpu)
            if on:
                cpu_with = max(cpu_with, per_cpu)
            else:
                cpu_without = max(cpu_without, per_cpu)
            if on:
                t = holder["t"]
                assert t.logs["a0"].size == bids + 2, t.logs["a0"].size  # every event folded
                if result.rate > with_log:
                    with_log, signed = result.rate, t.stats["checkpoints_sent"]
            else:
                without = max(without, result.rate)
    return with_log, without, cpu_with, cpu_without, signed


def big_record(events: int, directory: Path) -> tuple[Path, Path]:
    """An open auction of ``events`` events, sealed; its record file and key file."""
    bids = events - 3  # lot_started, bidding_opened, lot_ended
    start = 1_796_112_000_000
    spec = {
        "id": "bench-100k",
        "title": "Benchmark",
        "start_at": start,
        "format": "open",
        "start_value": 10**12,
        "open": {"duration_s": 10**6, "decrement": 1},
        "bidders": [{"id": f"b{i}", "name": f"Bidder {i}"} for i in range(50)],
    }
    auction = Auction(parse_spec(spec))
    journal = []
    for n in range(1, bids + 1):
        outcome = auction.handle(
            PlaceBid(bidder=f"b{n % 50}", amount=10**12 - n, bid_id=f"{n}"), start + n
        )
        journal.extend(outcome.events)
    journal.extend(auction.advance(start + 10**9))
    assert auction.finished and len(journal) == events, len(journal)
    key_path = directory / "bench.key"
    key = write_key_pair(str(key_path), "bench.example", Window(), force=True)
    record = seal(audit_record(auction, journal), journal, secret=b"s" * 32, keys=[key])
    path = directory / "record.json"
    path.write_text(json.dumps(record))
    return path, key_path


def verify_times(path: Path, key_path: Path, repeat: int) -> tuple[float, float, float]:
    """(seconds for `underbid verify` in a subprocess, in process, bare load + replay)."""

    def command() -> float:
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "auction.cli", "verify", str(path), "--key", str(key_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return time.perf_counter() - t0

    from auction.transparency.keys import load_trusted_keys

    trusted = load_trusted_keys(str(key_path))

    def inproc() -> float:
        t0 = time.perf_counter()
        record = json.loads(path.read_text())
        verdict = verify_record(record, trusted)
        assert verdict.ok, verdict.render()
        return time.perf_counter() - t0

    def bare() -> float:
        t0 = time.perf_counter()
        record = json.loads(path.read_text())
        auction = Auction.replay(parse_spec(record["spec"]), events_from_record(record["events"]))
        assert auction.state_hash() == record["state_hash"]
        return time.perf_counter() - t0

    return best(command, repeat), best(inproc, repeat), best(bare, repeat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bids", type=int, default=99_998, help="bids per durable run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each figure (best kept)")
    parser.add_argument("--events", type=int, default=100_000, help="events of the verified record")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON rows")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []

    def row(
        figure: str, value: float, unit: str, baseline: str, base: float, target: str = "-"
    ) -> None:
        ratio = value / base if base else float("nan")
        rows.append(
            {
                "figure": figure,
                "value": value,
                "unit": unit,
                "baseline": baseline,
                "baseline_value": base,
                "ratio": ratio,
                "target": target,
            }
        )
        shown = f"{value:,.2f} {unit}"
        print(f"| {figure} | {shown} | {base:,.2f} {unit} {baseline} | {ratio:.2f} | {target} |")

    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print("| figure | value | baseline | ratio | target |")
    print("| --- | --- | --- | --- | --- |")
    fold, encode = hashing(args.events, args.repeat)
    row("log: fold one event into the ledger (CPU)", fold, "µs", "encode_event alone", encode)
    s, bs, v, bv = signing(2_000)
    row("checkpoints signed per second", s, "/s", "bare Ed25519 signs", bs)
    row("checkpoints verified per second", v, "/s", "bare Ed25519 verifies", bv)

    binary = find_redis_server()
    if binary is None:
        print("no redis-server: the durable bids/s figure is skipped")
    else:
        server = RedisServer(
            binary, appendfsync="everysec", extra_args=["--auto-aof-rewrite-percentage", "0"]
        )
        server.start()
        cores = sorted(os.sched_getaffinity(0))
        try:
            if len(cores) > 1:
                os.sched_setaffinity(server.pid, {cores[-1]})
                os.sched_setaffinity(0, {cores[0]})
            with_log, without, cpu_with, cpu_without, signed = uvloop.run(
                throughput(server.url, args.bids, args.repeat)
            )
        finally:
            if len(cores) > 1:
                os.sched_setaffinity(0, set(cores))
            server.close()
        row(
            "durable bids/s with the log (1 auction, 100 in flight)",
            with_log,
            "/s",
            "without the log, same harness",
            without,
            "≥ 0.90",
        )
        row(
            "durable bids per CPU second of the runtime's process, with the log",
            cpu_with,
            "/s",
            "without the log",
            cpu_without,
            "≥ 0.90",
        )
        print(f"  ({signed} checkpoints signed during the best run with the log)")

    with tempfile.TemporaryDirectory() as tmp:
        path, key_path = big_record(args.events, Path(tmp))
        size = path.stat().st_size / 1e6
        command, inproc, bare = verify_times(path, key_path, max(1, args.repeat - 1))
        row(
            f"`underbid verify`, {args.events:,} events ({size:.0f} MB)",
            command,
            "s",
            "bare json.load + Auction.replay",
            bare,
        )
        row(
            f"verify_record in process, {args.events:,} events",
            inproc,
            "s",
            "bare json.load + Auction.replay",
            bare,
        )
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
