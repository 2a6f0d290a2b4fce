"""Runtime nodes in their own processes, and the client the tests drive them
with (test scaffolding for test_crash.py and test_failover.py).

A :class:`Node` is ``python -m tests.runtime.worker`` on a journal URL (Redis,
Sentinel, Cluster or a SQLite file); :class:`Nodes` starts them and kills every
one at the end. :class:`Client` pipelines requests on one connection and
matches the replies by id. Every wait polls a condition with a bound
(:data:`BOUND_S`) that only turns a hang into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from auction.core import Auction, parse_spec
from auction.core.events import BidPlaced, CommandRejected, Event, decode_event
from auction.runtime.journal import JournalUnavailable, open_journal

ROOT = Path(__file__).resolve().parents[2]
START_VALUE = 10**9
BOUND_S = 20.0
"""Upper bound on any single wait: a hang becomes a failure, never a stuck run."""
POLL_S = 0.02
"""Pause between two polls of a condition."""


class Node:
    """One worker process (``python -m tests.runtime.worker``)."""

    def __init__(
        self,
        journal_url: str,
        name: str,
        log: Path,
        *,
        lease_ms: int,
        snapshot_every: int,
        extra: Sequence[str] = (),
    ) -> None:
        self.name = name
        """The node's lease-owner name."""
        self.log = log
        """Its stderr (the runtime's log), printed at teardown: shown if the test fails."""
        with log.open("ab") as stderr:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.runtime.worker",
                    "--journal",
                    journal_url,
                    "--node",
                    name,
                    "--port",
                    "0",
                    "--lease-ms",
                    str(lease_ms),
                    "--snapshot-every",
                    str(snapshot_every),
                    *extra,
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                stderr=stderr,
            )
        """The worker process."""
        self.port = 0
        """Where it listens, once :meth:`ready`."""

    async def ready(self) -> Node:
        """Wait for its ``READY <port>`` line."""
        assert self.process.stdout is not None
        readline = self.process.stdout.readline
        try:
            line = await asyncio.wait_for(asyncio.to_thread(readline), BOUND_S)
        except TimeoutError:
            self.kill()  # unblocks the reading thread with EOF
            raise
        words = line.split()
        assert words[:1] == [b"READY"], f"worker {self.name} did not start: {line!r}"
        self.port = int(words[1])
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL and reap (a stopped process dies of SIGKILL too)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=BOUND_S)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Nodes:
    """Starts workers on one journal and kills every one of them at the end."""

    def __init__(self, journal_url: str, log_dir: Path) -> None:
        self.journal_url = journal_url
        self.log_dir = log_dir
        self.started: list[Node] = []

    async def start(
        self,
        name: str,
        *,
        lease_ms: int = 400,
        snapshot_every: int = 200,
        extra: Sequence[str] = (),
    ) -> Node:
        log = self.log_dir / f"{name}.log"
        node = Node(
            self.journal_url,
            name,
            log,
            lease_ms=lease_ms,
            snapshot_every=snapshot_every,
            extra=extra,
        )
        self.started.append(node)
        return await node.ready()

    def close(self) -> None:
        for node in self.started:
            with contextlib.suppress(Exception):
                node.kill()
        for node in self.started:  # captured: pytest shows it only for a failed test
            print(f"--- {node.name} (exit {node.process.returncode}) ---")
            print(node.log.read_text(errors="replace")[-4_000:], end="")


# -------------------------------------------------------------------- client
class Client:
    """One connection to a worker; requests are pipelined and matched by id."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count()
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reading = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def _read(self) -> None:
        try:
            while line := await self._reader.readline():
                reply = json.loads(line)
                future = self._waiting.pop(reply["id"], None)
                if future is not None and not future.done():
                    future.set_result(reply)
        except ConnectionError:
            pass
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionResetError("the worker hung up"))
            self._waiting.clear()

    def send(self, **request: Any) -> asyncio.Future[dict[str, Any]]:
        """Write one request now; the future resolves with its reply (or
        ConnectionError if the connection drops first)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if self._reading.done() or self._writer.is_closing():
            future.set_exception(ConnectionResetError("the connection is closed"))
            return future
        request_id = next(self._ids)
        self._waiting[request_id] = future
        self._writer.write(json.dumps({**request, "id": request_id}).encode() + b"\n")
        return future

    async def request(self, **request: Any) -> dict[str, Any]:
        return await asyncio.wait_for(self.send(**request), BOUND_S)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
        self._reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reading


async def ask(port: int, **request: Any) -> dict[str, Any]:
    """One request on its own connection."""
    client = await Client.connect(port)
    try:
        return await client.request(**request)
    finally:
        await client.close()


async def poll(what: str, probe: Callable[[], Awaitable[Any]]) -> Any:
    """Call ``await probe()`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + BOUND_S
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(POLL_S)


async def hosting(node: Node, auction_id: str) -> dict[str, Any]:
    """Wait until ``node`` hosts the auction; returns its ``state`` reply."""

    async def probe() -> dict[str, Any] | None:
        reply = await ask(node.port, op="state", auction=auction_id)
        return reply if reply["ok"] else None

    result: dict[str, Any] = await poll(f"{node.name} to host {auction_id}", probe)
    return result


# ------------------------------------------------------------------- journal
def open_spec(auction_id: str, *, bidders: int = 8, duration_s: int = 3600) -> dict[str, Any]:
    """A live open auction: decrement 1 against one's own best, so each bidder's
    strictly falling amounts are all accepted whatever the interleaving."""
    return {
        "id": auction_id,
        "start_at": int(time.time() * 1000) - 100,
        "format": "open",
        "start_value": START_VALUE,
        "open": {"duration_s": duration_s, "decrement": 1, "against": "own"},
        "bidders": [{"id": f"b{i}"} for i in range(bidders)],
    }


async def journal_events(journal_url: str, auction_id: str) -> list[Event]:
    """The auction's events as the journal holds them now. A SQLite file is
    read directly, read-only (the worker holds the journal's lock)."""
    if journal_url.startswith("sqlite:"):
        path = journal_url.removeprefix("sqlite:")
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            rows = db.execute(
                "SELECT e.data FROM events e JOIN auctions a ON a.n = e.auction"
                " WHERE a.id = ? ORDER BY e.seq",
                (auction_id,),
            ).fetchall()
        return [decode_event(bytes(row[0])) for row in rows]
    journal = open_journal(journal_url, timeout_s=BOUND_S)
    try:
        return [decode_event(data) for _, data in await journal.read(auction_id)]
    finally:
        with contextlib.suppress(JournalUnavailable):
            await journal.close()


def bid_ids(events: Iterable[Event]) -> Counter[str]:
    """How many events carry each client bid id."""
    return Counter(
        e.bid_id for e in events if isinstance(e, BidPlaced | CommandRejected) and e.bid_id
    )


def outcomes(events: Iterable[Event]) -> dict[str, bool]:
    """bid_id -> accepted (BidPlaced) or not (CommandRejected)."""
    return {
        e.bid_id: isinstance(e, BidPlaced)
        for e in events
        if isinstance(e, BidPlaced | CommandRejected) and e.bid_id
    }


async def check_state(journal_url: str, node: Node, spec: dict[str, Any]) -> list[Event]:
    """The node's live state equals a fresh replay of the stream; returns the events."""
    state = await hosting(node, spec["id"])
    events = await journal_events(journal_url, spec["id"])
    assert state["seq"] == state["durable_seq"] == len(events)
    replayed = Auction.replay(parse_spec(spec), events)
    assert replayed.state_hash() == state["state_hash"]
    return events
