"""A runtime node in its own process, for the crash tests (test scaffolding).

    python -m tests.runtime.worker --journal URL --node NAME --port PORT [--lease-ms N]
                                   [--min-replicas N] [--replica-timeout-ms MS]

Runs a :class:`~auction.runtime.host.Runtime` on uvloop with the journal the
URL names (:func:`~auction.runtime.journal.open_journal`: Redis, Sentinel,
Cluster or ``sqlite:PATH``) and the real :class:`~auction.clock.SystemClock`,
background loops on (timers, lease renewal, adoption of auctions whose lease
lapsed), and serves newline-delimited JSON on ``127.0.0.1:PORT`` (``--port 0``
picks a free port). Once listening it prints ``READY <port>`` on stdout.

The journal is wrapped to record every acquisition and every append with its
epoch and outcome (``time.monotonic()``, comparable between processes on one
machine): the failover tests read these records (op ``log``) to count
appends accepted from a writer whose epoch another node had already taken.

Requests (one JSON object a line; an optional ``"id"`` is echoed back so a
client can match pipelined replies)::

    {"op": "create", "spec": {...}}
    {"op": "bid", "auction": A, "bidder": B, "amount": N, "bid_id": X}
    {"op": "state", "auction": A}
    {"op": "hosted"}
    {"op": "log"}

Replies::

    {"ok": true, ...}             create: "auction"
                                  bid: "bid_id", "accepted", "duplicate", "code"
                                       ("" or the engine's rejection code)
                                  state: "state_hash", "seq", "durable_seq"
                                  hosted: "auctions"
                                  log: "acquired" [[t, auction, epoch]],
                                       "appended" [[t0, t1, auction, epoch,
                                       first_seq, events, ok]]
    {"ok": false, "code": C, "message": M}
                                  C is "unavailable" (the journal did not confirm:
                                  nothing acknowledged), "not_hosted", "bad_request"
                                  or another error's code

Every reply carries ``"node"``. A bid is answered only once ``Runtime.submit``
has returned (its events are durable in Redis) or raised. Each connection is
one task reading requests; each request is its own task, started in the order
the requests arrived (so the engine decides one connection's bids in order),
answered whenever it completes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import msgspec
import uvloop

from auction.clock import SystemClock
from auction.core import PlaceBid
from auction.runtime.host import Runtime
from auction.runtime.journal import Append, Journal, JournalError, JournalUnavailable, open_journal

MAX_LINE = 1 << 20
"""Longest request line accepted (a spec with many bidders fits easily)."""


class RecordingJournal:
    """The journal, with a record of every acquisition and append (see above)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.name = journal.name
        self.acquired: list[tuple[float, str, int]] = []
        self.appended: list[tuple[float, float, str, int, int, int, bool]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.journal, name)

    async def acquire(self, auction_id: str, owner: str, ttl_ms: int) -> int | None:
        epoch = await self.journal.acquire(auction_id, owner, ttl_ms)
        if epoch is not None:
            self.acquired.append((time.monotonic(), auction_id, epoch))
        return epoch

    async def append_batch(self, appends: Sequence[Append]) -> list[JournalError | None]:
        sent = time.monotonic()
        try:
            results = await self.journal.append_batch(appends)
        except JournalUnavailable:
            self._record(appends, sent, [False] * len(appends))
            raise
        self._record(appends, sent, [result is None for result in results])
        return results

    def _record(self, appends: Sequence[Append], sent: float, accepted: list[bool]) -> None:
        done = time.monotonic()
        for append, ok in zip(appends, accepted, strict=True):
            self.appended.append(
                (
                    sent,
                    done,
                    append.auction_id,
                    append.epoch,
                    append.first_seq,
                    len(append.events),
                    ok,
                )
            )


class Worker:
    def __init__(self, runtime: Runtime, journal: RecordingJournal) -> None:
        self.journal = journal
        """What the runtime wrote, and under which epochs."""
        self.runtime = runtime
        """The node's runtime."""
        self.requests: set[asyncio.Task[None]] = set()
        """Requests being answered (kept referenced until they finish)."""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ConnectionError, asyncio.LimitOverrunError, ValueError):
                    break
                if not line:
                    break
                task = asyncio.create_task(self.answer(line, writer))
                self.requests.add(task)
                task.add_done_callback(self.requests.discard)
        finally:
            with contextlib.suppress(ConnectionError):
                writer.close()

    async def answer(self, line: bytes, writer: asyncio.StreamWriter) -> None:
        request: Any = None
        try:
            request = msgspec.json.decode(line)
            if not isinstance(request, dict):
                raise TypeError("a request is a JSON object")
            reply = await self.handle(request)
        except (msgspec.DecodeError, TypeError, KeyError, ValueError) as exc:
            reply = {"ok": False, "code": "bad_request", "message": str(exc)}
        except JournalUnavailable as exc:
            reply = {"ok": False, "code": "unavailable", "message": str(exc)}
        except Exception as exc:  # every error is a reply, never a dead connection
            code = getattr(exc, "code", None) or type(exc).__name__
            reply = {"ok": False, "code": str(code), "message": str(exc)}
        reply["node"] = self.runtime.node_id
        if isinstance(request, dict) and "id" in request:
            reply["id"] = request["id"]
        if not writer.is_closing():
            writer.write(msgspec.json.encode(reply) + b"\n")

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        runtime = self.runtime
        if op == "bid":
            auction_id = request["auction"]
            command = PlaceBid(
                bidder=str(request["bidder"]),
                amount=int(request["amount"]),
                bid_id=str(request["bid_id"]),
            )
            outcome = await runtime.submit(auction_id, command)
            rejection = outcome.rejection
            return {
                "ok": True,
                "bid_id": command.bid_id,
                "accepted": rejection is None,
                "duplicate": outcome.duplicate,
                "code": "" if rejection is None else str(rejection.code),
            }
        if op == "state":
            auction_id = request["auction"]
            auction = runtime.auction(auction_id)
            return {
                "ok": True,
                "state_hash": auction.state_hash(),
                "seq": auction.state.seq,
                "durable_seq": runtime.durable_seq(auction_id),
            }
        if op == "create":
            spec = await runtime.create(request["spec"])
            return {"ok": True, "auction": spec.id}
        if op == "hosted":
            return {"ok": True, "auctions": runtime.hosted()}
        if op == "log":
            return {
                "ok": True,
                "acquired": self.journal.acquired,
                "appended": self.journal.appended,
            }
        raise ValueError(f"unknown op {op!r}")


async def run(args: argparse.Namespace) -> None:
    journal = RecordingJournal(
        open_journal(
            args.journal,
            timeout_s=args.timeout_s,
            min_replicas=args.min_replicas,
            replica_timeout_ms=args.replica_timeout_ms,
        )
    )
    runtime = Runtime(
        journal,  # type: ignore[arg-type]
        SystemClock(),
        node_id=args.node,
        lease_ms=args.lease_ms,
        snapshot_every=args.snapshot_every,
        retry_ms=args.retry_ms,
    )
    await runtime.start()
    worker = Worker(runtime, journal)
    server = await asyncio.start_server(worker.serve, "127.0.0.1", args.port, limit=MAX_LINE)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"READY {port}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        await runtime.stop()
        with contextlib.suppress(JournalUnavailable):
            await journal.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--journal", required=True, help="redis://127.0.0.1:PORT/0, sqlite:PATH...")
    parser.add_argument("--node", required=True, help="this node's name as a lease owner")
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 (0: any)")
    parser.add_argument("--lease-ms", type=int, default=5_000)
    parser.add_argument("--snapshot-every", type=int, default=1_000)
    parser.add_argument("--retry-ms", type=int, default=50)
    parser.add_argument("--timeout-s", type=float, default=2.0)
    parser.add_argument("--min-replicas", type=int, default=0)
    parser.add_argument("--replica-timeout-ms", type=int, default=1_000)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format=f"[{args.node}] %(levelname)s %(name)s: %(message)s",
    )
    uvloop.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
