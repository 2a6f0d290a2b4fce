"""``underbid swarm``: many connections from one process, in two modes.

    underbid swarm --url http://127.0.0.1:8000 --watchers 1000 --bidders 10 \\
        --rate 100 --duration 30 [--auction ID] [--json PATH]
    underbid swarm --url http://127.0.0.1:8000 --profile prozorro-day --compression 60 \\
        --slo "ack_p99<=50ms,deliver_p99<=100ms,errors=0" --report results/day

**The classic mode** (no ``--profile``) loads one open auction: N watchers
(lean WebSocket connections, no task or queue each: :mod:`client.load.watchers`)
and M bidders (:class:`~client.load.nodeclient.NodeClient`), all in one
asyncio loop (uvloop when installed).

- **Open loop.** Bid ``i`` is due at ``t0 + i / rate`` whatever happened to the
  others, and every latency is measured **from that scheduled time**, so a
  slow server cannot hide its latency by slowing the sender down (the
  coordinated-omission trap). Bids go round robin over the bidders.
- **Latencies** (p50 / p99 / p99.9 / max, from a log histogram of 1 % buckets):
  ``ack`` (scheduled time to the ``ack`` or ``rejected``), ``delivery``
  (scheduled time to each watcher's read of the bid's ``bid_placed`` event,
  matched by amount) and ``bid -> last watcher`` (to the read that completed the
  bid's delivery to every watcher connected).
- **The auction.** Created through the HTTP API with the operator token
  (``--token`` or ``UNDERBID_OPERATOR_TOKEN``): an ``open`` auction, live now,
  ``against = "own"`` and a decrement of 1, so that bids on different bidder
  connections never overtake each other into a rejection. ``--auction ID``
  joins an existing open auction (absolute decrement) instead, bidding down
  from the lowest amount its bidders may bid.

**The planned mode** (``--profile``, :mod:`client.load.swarmplan`) replays a
procurement day of mixed formats, as the Locust file's procurement day does.

Both modes take several nodes (``--url A,B,C``: connections spread over
them and resume on the next one after a drop), check every watcher's
sequence numbers against an official reference stream, can kill nodes
(``--chaos``), and end with the same report (:mod:`client.load.report`) and
the same verdicts (``--slo``), which set the exit status. Progress goes to
stderr once a second; the summary to stdout at the end; ``--json PATH``
(``-`` for stdout) writes the figures for programs and ``--report DIR`` the
report with its plots.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import sys
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from auction.core.errors import UnderbidError
from client.load.chaos import ChaosSpec, owner_counts, parse_chaos, restart_node, strike
from client.load.figures import Histogram
from client.load.nodeclient import NodeClient, account
from client.load.nodes import Nodes, parse_nodes
from client.load.players import FAILING_CODES
from client.load.profile import load_profile
from client.load.report import RunFigures, html_section, plots, standalone, summary_lines
from client.load.slo import Threshold, Verdict, evaluate, parse_slo
from client.load.streams import Reference, SeqTracker
from client.load.watchers import Item, LeanWatcher, reconnect, resume, target
from client.session import AuctionClient, BidResult, ConnectError

START_VALUE = 10**12
"""Start value of the auctions the swarm creates (minor units): room for any run."""
DEFAULT_RATE_LIMIT = 20
"""The server's default ``limits.messages_per_second`` per connection."""
LATE_WARNING_MS = 10.0
"""The summary warns when the sender fell this far behind its timetable."""


class SwarmError(UnderbidError):
    """The swarm cannot run as asked (no token, the server refused, bad options)."""


# ----------------------------------------------------------------- figures
@dataclass
class SwarmStats:
    """Everything the classic swarm counts; the summary and ``--json`` are made from it."""

    watchers_up: int = 0
    """Watcher connections open now."""
    watchers_connected: int = 0
    """Watcher connections welcomed during the run (resumes not counted)."""
    watchers_failed: int = 0
    bidders_up: int = 0
    bids_due: int = 0
    bids_sent: int = 0
    acked: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    """Refusals and failures by code (``step_too_small``, ``timeout``, ``closed``...)."""
    events: int = 0
    """Event deliveries to watchers (every event, ours or not)."""
    closes: Counter[int] = field(default_factory=Counter)
    """Watcher connections closed by the server, by close code."""
    connect_errors: Counter[str] = field(default_factory=Counter)
    ack: Histogram = field(default_factory=Histogram)
    delivery: Histogram = field(default_factory=Histogram)
    last_watcher: Histogram = field(default_factory=Histogram)
    watchers_at_end: int = 0
    """Watcher connections still open when the bidding and the drain were over."""
    incomplete: int = 0
    """Accepted bids that did not reach every watcher before the end."""
    late_ms: float = 0.0
    """How far behind its timetable the sender fell at worst (ms)."""


@dataclass
class _Bid:
    due: float
    """``time.perf_counter()`` of the bid's scheduled slot."""
    reached: int = 0
    last: float = 0.0


# ------------------------------------------------------------------- swarm
@dataclass
class SwarmConfig:
    url: str = "http://127.0.0.1:8000"
    """The server; several nodes comma-separated (``nodes`` takes precedence when given)."""
    token: str = ""
    """The operator token (or an official's of ``auction``)."""
    auction: str = ""
    """Join this auction; empty: create one."""
    watchers: int = 100
    bidders: int = 4
    rate: float = 20.0
    """Bids per second, all bidders together (open loop)."""
    duration: float = 10.0
    connect_concurrency: int = 200
    drain_s: float = 2.0
    """After the last bid: how long to wait for acks and deliveries."""
    first_amount: int = 0
    """The first bid's amount; 0: the largest the bidders may bid (from their views)."""
    progress: bool = True
    nodes: Nodes | None = None
    """The servers and the placement; default: ``url`` (its comma-separated list), spread."""
    chaos: ChaosSpec | None = None
    reconnect_s: float = 30.0
    """How long a dropped connection tries the nodes before it gives up."""

    def servers(self) -> Nodes:
        return self.nodes if self.nodes is not None else Nodes(parse_nodes(self.url))


class Swarm:
    """One classic run: create or join the auction, connect, bid on a timetable, report."""

    def __init__(self, config: SwarmConfig, out: TextIO | None = sys.stderr) -> None:
        self.config = config
        self.out = out
        self.nodes = config.servers()
        self.stats = SwarmStats()
        self.run_figures = RunFigures()
        """The figures the verdict and the report read (``open.ack``, ``open.deliver``...)."""
        self.auction_id = config.auction
        self.bids: dict[int, _Bid] = {}
        """Amount of each bid sent -> its timetable slot and deliveries."""
        self.watchers: set[LeanWatcher] = set()
        self.bidders: list[AuctionClient] = []
        self.first_amount = START_VALUE - 1
        self.step = 1
        self.started = time.perf_counter()
        self.reference = Reference()
        self.referee: NodeClient | None = None
        self.offset_ms = 0.0
        self.closing = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    # ----------------------------------------------------------- set up
    def _http(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.config.token}"} if self.config.token else {}
        return httpx.AsyncClient(
            base_url=self.nodes.home(0), headers=headers, timeout=30, trust_env=False
        )

    async def prepare(self) -> list[str]:
        """Create (or look up) the auction; return one bidder token per bidder connection."""
        try:
            return await self._prepare()
        except httpx.HTTPError as exc:
            raise SwarmError(f"cannot reach {self.nodes.home(0)}: {exc}") from None

    async def _prepare(self) -> list[str]:
        config = self.config
        if not config.token:
            raise SwarmError(
                "the swarm needs the operator token: --token or UNDERBID_OPERATOR_TOKEN"
            )
        bidder_ids = [f"b{i}" for i in range(config.bidders)]
        async with self._http() as http:
            if not self.auction_id:
                self.auction_id = f"swarm-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
                now = int(time.time() * 1000)
                spec = swarm_spec(self.auction_id, max(2, config.bidders), now)
                response = await http.post("/api/auctions", json=spec)
                _raise_for(response, "create the auction")
            else:
                response = await http.get(f"/api/auctions/{self._quoted()}")
                _raise_for(response, f"read auction {self.auction_id}")
                bidder_ids = _bidders_of(response.json(), config.bidders)
            tokens = []
            for bidder in bidder_ids:
                response = await http.post(
                    f"/api/auctions/{self._quoted()}/tokens",
                    json={"role": "bidder", "bidder": bidder},
                )
                _raise_for(response, f"issue a token for {bidder}")
                tokens.append(response.json()["token"])
            response = await http.post(
                f"/api/auctions/{self._quoted()}/tokens", json={"role": "observer"}
            )
            _raise_for(response, "issue an observer token")
            self.observer_token: str = response.json()["token"]
        return tokens

    def _quoted(self) -> str:
        return urllib.parse.quote(self.auction_id, safe="")

    async def follow(self) -> None:
        """The official reference stream that tells the watchers' gaps from hidden events."""

        def seen(seq: int, event: dict[str, Any]) -> None:
            if event.get("type") == "resync":
                self.reference.resync(seq)
                self.reference.tracker.resync(seq)
            elif self.reference.tracker.see(seq) != "duplicate":
                self.reference.note(seq, str(event.get("type", "")))
                at = event.get("at")
                if isinstance(at, int):
                    self.run_figures.late(self.auction_id, "open", at, client.server_now_ms())

        self.reference.start(0)
        client = NodeClient(
            self.nodes.route(0, 0),
            self.auction_id,
            token=self.config.token,
            reconnect_s=self.config.reconnect_s,
            buffer_events=False,
            on_event=seen,
            max_backoff_s=1.0,
        )
        client.last_seq = 0
        try:
            await client.connect_any()
            for _ in range(3):
                await client.ping(timeout=5)
        except Exception as exc:
            self.stats.connect_errors[f"official: {type(exc).__name__}: {exc}"[:120]] += 1
            return
        self.referee = client
        self.offset_ms = client.server_offset_ms

    async def connect_bidders(self, tokens: Sequence[str]) -> None:
        clients = [
            NodeClient(
                self.nodes.route(0, i),
                self.auction_id,
                token=t,
                buffer_events=False,
                reconnect_s=self.config.reconnect_s,
                max_backoff_s=1.0,
            )
            for i, t in enumerate(tokens)
        ]
        results = await asyncio.gather(*(c.connect_any() for c in clients), return_exceptions=True)
        limits: list[int] = []
        for client, result in zip(clients, results, strict=True):
            if isinstance(result, BaseException):
                code = result.code if isinstance(result, ConnectError) else type(result).__name__
                self.stats.connect_errors[f"bidder: {code}"] += 1
                self.run_figures.count("connect_failures")
                self.run_figures.count("errors")
                continue
            self.bidders.append(client)
            lot = (client.view or {}).get("lots", [{}])[0]
            if lot.get("max_bid") is not None:
                limits.append(int(lot["max_bid"]))
            if lot.get("decrement"):
                self.step = int(lot["decrement"])
        self.stats.bidders_up = len(self.bidders)
        if self.config.first_amount > 0:
            self.first_amount = self.config.first_amount
        elif limits:
            self.first_amount = min(limits)

    async def connect_watchers(self) -> None:
        """Open the watchers, ``connect_concurrency`` handshakes at a time, over the nodes."""
        for url in self.nodes.urls:
            try:
                target(url, self.auction_id)
            except ValueError:
                raise SwarmError("watchers speak plain ws:// (http://) only, not TLS") from None
        gate = asyncio.Semaphore(max(1, self.config.connect_concurrency))

        async def one(i: int) -> None:
            async with gate:
                first = LeanWatcher(
                    self,
                    self.nodes.route(0, i),
                    self.auction_id,
                    self.observer_token,
                    index=i,
                    tracker=SeqTracker(self.reference),
                )
                started = time.perf_counter()
                watcher, _, error = await reconnect(first, self.config.reconnect_s, first=True)
                if watcher is None:
                    self.stats.watchers_failed += 1
                    self.run_figures.count("connect_failures")
                    self.run_figures.count("errors")
                    self.stats.connect_errors[f"watcher: {error}"[:120]] += 1
                    return
                elapsed = (time.perf_counter() - started) * 1000
                self.run_figures.sample("connect", time.time() * 1000, elapsed)
                self.watchers.add(watcher)

        await asyncio.gather(*(one(i) for i in range(self.config.watchers)))

    # ------------------------------------------------------- watcher sink
    def welcomed(self, watcher: LeanWatcher, resumed: bool, seq: int, server_time: int) -> None:
        self.stats.watchers_up += 1
        if resumed:
            self.run_figures.count("resumed")
        else:
            self.stats.watchers_connected += 1

    def events(self, watcher: LeanWatcher, items: Sequence[Item], now: float) -> None:
        """A watcher read these events at ``now`` (``time.perf_counter()``)."""
        stats = self.stats
        bids = self.bids
        figures = self.run_figures
        for item in items:
            if not figures.judge(watcher.tracker, item.seq):
                continue
            stats.events += 1
            figures.count("deliveries")
            if item.seq <= watcher.replay_until:
                figures.count("replayed")
            event = item.event
            if event.type != "bid_placed" or event.amount is None:
                continue
            bid = bids.get(event.amount)
            if bid is None:
                continue
            late = (now - bid.due) * 1000
            stats.delivery.add(late)
            figures.sample("open.deliver", time.time() * 1000, late)
            bid.reached += 1
            bid.last = now

    def dropped(self, watcher: LeanWatcher, code: int | None) -> None:
        self.stats.watchers_up -= 1
        if code is not None:
            self.stats.closes[code] += 1
        if not self.closing.is_set() and watcher in self.watchers:
            self.watchers.discard(watcher)
            self._spawn(self._resume(watcher))

    async def _resume(self, old: LeanWatcher) -> None:
        new = await resume(old, self.run_figures, self.config.reconnect_s, self.closing)
        if new is None:
            return
        if self.closing.is_set():
            new.abort()
        else:
            self.watchers.add(new)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---------------------------------------------------------- running
    async def _bid(self, client: AuctionClient, amount: int, due: float) -> None:
        figures = self.run_figures
        figures.count("open.commands")
        figures.count("requests")
        drops = getattr(client, "drops", 0)
        failed_at = None
        if isinstance(client, NodeClient) and not client.connected:
            failed_at = client.dropped_at_ms  # sent while its connection is down
        result: BidResult = await client.bid(amount, timeout=10)
        if isinstance(client, NodeClient) and client.drops != drops and failed_at is None:
            failed_at = client.dropped_at_ms
        while result.code == "unavailable" and time.perf_counter() - due < 10:
            failed_at = failed_at or int(time.time() * 1000)
            figures.count("open.failed.unavailable")
            figures.count("errors")
            await asyncio.sleep(0.1)
            result = await client.bid(amount, bid_id=result.bid_id, timeout=10)
        late = (time.perf_counter() - due) * 1000
        if result.ok:
            self.stats.acked += 1
            figures.count("open.acks")
        else:
            self.stats.rejected[result.code] += 1
            self.bids.pop(amount, None)
            if result.code in FAILING_CODES:
                figures.count(f"open.failed.{result.code}")
                figures.count("errors")
            else:
                figures.count(f"open.rejected.{result.code}")
        self.stats.ack.add(late)
        if result.code not in ("timeout", "closed"):
            figures.sample("open.ack", time.time() * 1000, late)
        if failed_at is not None and result.code not in ("timeout", "closed"):
            figures.recovered(self.auction_id, "open", failed_at, int(time.time() * 1000))

    async def bid_on_timetable(self) -> None:
        """Open loop: bid ``i`` at ``t0 + i / rate``; never early, never skipped."""
        config = self.config
        if not self.bidders or config.rate <= 0:
            return
        total = max(1, round(config.rate * config.duration))
        t0 = time.perf_counter() + 0.01
        for i in range(total):
            due = t0 + i / config.rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self.stats.late_ms = max(self.stats.late_ms, (time.perf_counter() - due) * 1000)
            self.stats.bids_due += 1
            amount = self.first_amount - i * self.step
            if amount <= 0:
                break
            self.bids[amount] = _Bid(due)
            self.stats.bids_sent += 1  # counted now: drain() waits for every answer
            self._spawn(self._bid(self.bidders[i % len(self.bidders)], amount, due))

    async def chaos(self, spec: ChaosSpec) -> None:
        """Kill nodes on the chaos spec's schedule, within the bidding."""
        rng = random.Random("chaos:swarm")
        t0 = self.run_figures.t0_ms
        for at in spec.times(self.config.duration):
            await asyncio.sleep(max(0.0, at - (time.time() * 1000 - t0) / 1000))
            owners = None
            if spec.owner:
                urls, token, ids = self.nodes.urls, self.config.token, {self.auction_id}
                owners = await asyncio.to_thread(owner_counts, urls, token, ids)
            kill = await asyncio.to_thread(strike, spec, self.nodes.urls, rng, t0, owners)
            self.run_figures.ledger.kills.append(kill)
            what = "killed" if kill.ok else "could not kill"
            self._say(f"swarm: {what} {kill.node}: {kill.how}")
            if kill.ok and spec.restart:
                await asyncio.sleep(spec.restart_after)
                await asyncio.to_thread(restart_node, spec, kill.node)

    async def report_progress(self) -> None:
        """A line a second: connections up, bids sent/acked/rejected, events received."""
        previous = 0
        while self.out is not None:
            await asyncio.sleep(1.0)
            s = self.stats
            print(
                f"[{time.perf_counter() - self.started:5.0f} s] watchers {s.watchers_up}"
                f"/{self.config.watchers} up, bidders {s.bidders_up}; bids sent {s.bids_sent} "
                f"acked {s.acked} rejected {sum(s.rejected.values())}; events {s.events:,} "
                f"(+{s.events - previous:,}/s); ack p99 {_ms(s.ack.percentile(99))} ms, "
                f"delivery p99 {_ms(s.delivery.percentile(99))} ms",
                file=self.out,
                flush=True,
            )
            previous = s.events

    async def drain(self) -> None:
        """Wait for the answers and deliveries in flight, at most ``drain_s``."""
        deadline = time.perf_counter() + self.config.drain_s
        while time.perf_counter() < deadline:
            done = self.stats.acked + sum(self.stats.rejected.values()) >= self.stats.bids_sent
            if done and all(b.reached >= self.stats.watchers_up for b in self.bids.values()):
                return
            await asyncio.sleep(0.05)

    def settle(self) -> None:
        """Bid -> last watcher for each accepted bid that reached every watcher."""
        watchers = self.stats.watchers_at_end = self.stats.watchers_up
        for bid in self.bids.values():
            if watchers and bid.reached >= watchers:
                self.stats.last_watcher.add((bid.last - bid.due) * 1000)
            elif watchers:
                self.stats.incomplete += 1
        for watcher in self.watchers:
            watcher.tracker.settle(final=True)
            self.run_figures.count("unverified", watcher.tracker.unverified)

    async def close(self) -> None:
        self.closing.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in self.bidders:
            account(client, self.run_figures)
        await asyncio.gather(*(c.close() for c in self.bidders), return_exceptions=True)
        if self.referee is not None:
            account(self.referee, self.run_figures, resumed=False)
            await self.referee.close()
        for watcher in list(self.watchers):
            watcher.abort()

    async def run(self) -> SwarmStats:
        config = self.config
        self.run_figures.t0_ms = int(time.time() * 1000)
        self.run_figures.chaos = config.chaos is not None
        tokens = await self.prepare()
        self._say(
            f"swarm: auction {self.auction_id} at {', '.join(self.nodes.urls)}: "
            f"{config.watchers} watchers, {config.bidders} bidders, {config.rate:g} bids/s "
            f"for {config.duration:g} s"
        )
        per_connection = config.rate / max(1, config.bidders)
        if per_connection > DEFAULT_RATE_LIMIT:
            self._say(
                f"swarm: warning: {per_connection:.0f} bids/s per bidder connection is over the "
                f"default limit of {DEFAULT_RATE_LIMIT}/s: add bidders or raise the server's "
                "UNDERBID_LIMITS_MESSAGES_PER_SECOND and UNDERBID_LIMITS_BURST"
            )
        progress = asyncio.get_running_loop().create_task(self.report_progress())
        try:
            await self.follow()
            await self.connect_bidders(tokens)
            await self.connect_watchers()
            if config.chaos is not None:
                self._spawn(self.chaos(config.chaos))
            await self.bid_on_timetable()
            await self.drain()
            self.settle()
        finally:
            progress.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await progress
            await self.close()
        return self.stats

    def _say(self, line: str) -> None:
        if self.out is not None:
            print(line, file=self.out, flush=True)

    def figures(self) -> dict[str, Any]:
        s = self.stats
        c = self.run_figures.counts
        return {
            "auction": self.auction_id,
            "url": ",".join(self.nodes.urls),
            "watchers": self.config.watchers,
            "watchers_connected": s.watchers_connected,
            "watchers_open_at_end": s.watchers_at_end,
            "watchers_failed": s.watchers_failed,
            "bidders": self.config.bidders,
            "bidders_connected": s.bidders_up,
            "rate": self.config.rate,
            "duration_s": self.config.duration,
            "bids_due": s.bids_due,
            "bids_sent": s.bids_sent,
            "acked": s.acked,
            "rejected": dict(s.rejected),
            "events": s.events,
            "closes": {str(k): v for k, v in s.closes.items()},
            "connect_errors": dict(s.connect_errors),
            "protocol_errors": dict(
                Counter(error.code for client in self.bidders for error in client.errors)
            ),
            "incomplete": s.incomplete,
            "sender_late_max_ms": s.late_ms,
            "gaps": c["gaps"],
            "duplicates": c["duplicates"],
            "resyncs": c["resyncs"],
            "reconnects": c["reconnects"],
            "kills": len(self.run_figures.kills()),
            "ack": s.ack.summary(),
            "delivery": s.delivery.summary(),
            "bid_to_last_watcher": s.last_watcher.summary(),
        }


def swarm_spec(auction_id: str, bidders: int, now_ms: int) -> dict[str, Any]:
    """The auction a swarm creates: open, live now, every bid below one's own accepted."""
    return {
        "id": auction_id,
        "title": "swarm load test",
        "start_at": now_ms - 1_000,
        "format": "open",
        "start_value": START_VALUE,
        "open": {"duration_s": 24 * 3600, "decrement": 1, "against": "own"},
        "bidders": [{"id": f"b{i}", "name": f"Swarm bidder {i}"} for i in range(bidders)],
    }


def _bidders_of(view: dict[str, Any], count: int) -> list[str]:
    """The first ``count`` bidder ids of an official's view of an auction."""
    ids: list[str] = []
    for lot in view.get("lots", []):
        for entry in lot.get("ladder", []):
            bidder = entry.get("bidder")
            if isinstance(bidder, str) and bidder not in ids:
                ids.append(bidder)
    if len(ids) < count:
        raise SwarmError(f"the auction has {len(ids)} bidders; --bidders asks for {count}")
    return ids[:count]


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.status_code >= 400:
        raise SwarmError(f"could not {what}: HTTP {response.status_code} {response.text}")


# ------------------------------------------------------------------ report
def _ms(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


def summary_table(figures: dict[str, Any]) -> str:
    """The end-of-run table (Markdown, readable as plain text)."""
    lines = [
        f"swarm summary: auction {figures['auction']}, {figures['watchers_connected']}"
        f"/{figures['watchers']} watchers, {figures['bidders_connected']}/{figures['bidders']} "
        f"bidders, {figures['rate']:g} bids/s offered for {figures['duration_s']:g} s",
        "",
        "| latency from the scheduled send (ms) | count | p50 | p99 | p99.9 | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, key in (
        ("bid -> ack or rejected", "ack"),
        ("bid -> each watcher (delivery)", "delivery"),
        ("bid -> last watcher", "bid_to_last_watcher"),
    ):
        h = figures[key]
        lines.append(
            f"| {name} | {h['count']:,} | {_ms(h['p50_ms'])} | {_ms(h['p99_ms'])} | "
            f"{_ms(h['p999_ms'])} | {_ms(h['max_ms'])} |"
        )
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(figures["rejected"].items())) or "none"
    lines += [
        "",
        f"bids: {figures['bids_due']:,} due, {figures['bids_sent']:,} sent, "
        f"{figures['acked']:,} acked; refused: {rejected}",
        f"events delivered to watchers: {figures['events']:,}; bids that missed a watcher: "
        f"{figures['incomplete']}; sender late at worst {figures['sender_late_max_ms']:.1f} ms",
    ]
    if figures["sender_late_max_ms"] > LATE_WARNING_MS:
        lines.append(
            "note: the swarm fell behind its own timetable: its CPU is part of these latencies; "
            "use fewer watchers per swarm, or several swarms on other machines"
        )
    if figures["closes"]:
        lines.append(f"watcher connections closed by the server: {figures['closes']}")
    if figures["protocol_errors"]:
        lines.append(f"protocol errors sent to the bidders: {figures['protocol_errors']}")
    if figures["connect_errors"]:
        lines.append(f"connection failures: {figures['connect_errors']}")
    return "\n".join(lines)


def _raise_open_files(wanted: int) -> None:
    try:
        import resource
    except ImportError:  # not on Unix
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _write_report(
    folder: str,
    figures: RunFigures,
    verdict: Verdict | None,
    title: str,
    lines: list[str],
    data: dict[str, Any],
) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    images = plots(figures)
    (out / "report.html").write_text(
        standalone(html_section(figures, verdict, title, images), title), encoding="utf-8"
    )
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "figures.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    for fmt, png in images.items():
        (out / f"latency-{fmt}.png").write_bytes(png)


def _metrics(figures: RunFigures) -> dict[str, float]:
    return {k: v for k, v in figures.metrics().items() if not math.isnan(v)}


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if args.json == "-":
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        print(text, file=sys.stderr)
    else:
        print(text)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
                fh.write("\n")


def run(args: argparse.Namespace) -> int:
    """``underbid swarm``: run, print the summary, write ``--json`` and ``--report``."""
    nodes = Nodes(parse_nodes(args.url), args.placement)
    thresholds: tuple[Threshold, ...] = parse_slo(args.slo) if args.slo else ()
    chaos = parse_chaos(args.chaos, len(nodes.urls)) if args.chaos else None
    token = args.token or os.environ.get("UNDERBID_OPERATOR_TOKEN", "")
    if args.reconnect_timeout <= 0 or args.timeout <= 0:
        raise SwarmError("need --reconnect-timeout > 0 and --timeout > 0")
    if args.profile or args.plan_only:
        return _run_plan(args, nodes, thresholds, chaos, token)
    config = SwarmConfig(
        url=args.url,
        token=token,
        auction=args.auction,
        watchers=args.watchers,
        bidders=args.bidders,
        rate=args.rate,
        duration=args.duration,
        connect_concurrency=args.connect_concurrency,
        drain_s=args.drain,
        first_amount=args.first_amount,
        progress=not args.quiet,
        nodes=nodes,
        chaos=chaos,
        reconnect_s=args.reconnect_timeout,
    )
    no_bidders = config.bidders < 1 and config.rate > 0  # --rate 0: watchers only
    if (
        config.watchers < 0
        or config.bidders < 0
        or no_bidders
        or config.rate < 0
        or config.duration <= 0
    ):
        raise SwarmError(
            "need --watchers >= 0, --bidders >= 1 (0 with --rate 0), --rate >= 0, --duration > 0"
        )
    _raise_open_files(config.watchers + config.bidders + 64)
    swarm = Swarm(config, sys.stderr if config.progress else None)
    from auction.runtime.loop import run as run_loop

    run_loop(swarm.run())
    verdict = evaluate(thresholds, swarm.run_figures.metrics()) if thresholds else None
    figures = swarm.figures()
    figures["metrics"] = _metrics(swarm.run_figures)
    lines = [summary_table(figures), ""]
    lines += summary_lines(swarm.run_figures, verdict, "")[2:]
    text = "\n".join(lines)
    _emit(args, figures, text)
    if args.report:
        _write_report(
            args.report,
            swarm.run_figures,
            verdict,
            f"underbid swarm: {swarm.auction_id}",
            lines,
            figures,
        )
    if verdict is not None:
        return verdict.exit_code
    return 0 if swarm.stats.bids_sent or config.rate == 0 else 1


def _run_plan(
    args: argparse.Namespace,
    nodes: Nodes,
    thresholds: tuple[Threshold, ...],
    chaos: ChaosSpec | None,
    token: str,
) -> int:
    from auction.runtime.loop import run as run_loop
    from client.load.swarmplan import PlanConfig, PlanSwarm

    if not args.profile:
        raise SwarmError("--plan-only prints a profile's plan: give --profile NAME or FILE")
    if args.auction:
        raise SwarmError("--auction joins one auction, --profile plans its own: give one of them")
    config = PlanConfig(
        nodes=nodes,
        token=token,
        profile=load_profile(args.profile),
        compression=args.compression or None,
        scale=args.scale,
        seed=None if args.seed < 0 else args.seed,
        chaos=chaos,
        reconnect_s=args.reconnect_timeout,
        timeout_s=args.timeout,
        progress=not args.quiet,
    )
    swarm = PlanSwarm(config, sys.stderr if config.progress else None)
    if args.plan_only:
        print("\n".join(swarm.make_plan().summary()))
        return 0
    if not token:
        raise SwarmError("the swarm needs the operator token: --token or UNDERBID_OPERATOR_TOKEN")
    plan = swarm.make_plan()
    _raise_open_files(len(plan.seats) + len(plan.windows) + len(plan.auctions) + 64)
    figures = run_loop(swarm.run())
    verdict = evaluate(thresholds, figures.metrics()) if thresholds else None
    assert swarm.plan is not None
    title = f"underbid swarm: {swarm.plan.run_id}"
    lines = [*summary_lines(figures, verdict, title), swarm.coverage()]
    data = {
        "plan": swarm.plan.run_id,
        "profile": swarm.plan.profile.name,
        "compression": swarm.plan.clock.compression,
        "auctions": len(swarm.plan.auctions),
        "metrics": _metrics(figures),
        "counts": dict(figures.counts),
        "kills": [vars(k) for k in figures.kills()],
        "coverage": swarm.coverage(),
        "connect_errors": dict(swarm.stats.connect_errors),
    }
    _emit(args, data, "\n".join(lines))
    if args.report:
        _write_report(args.report, figures, verdict, title, lines, data)
    if verdict is not None:
        return verdict.exit_code
    return 0 if swarm.stats.seats_done or not swarm.plan.seats else 1


__all__ = [
    "Histogram",
    "Swarm",
    "SwarmConfig",
    "SwarmError",
    "SwarmStats",
    "run",
    "summary_table",
]
