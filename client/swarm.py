"""``underbid swarm``: many connections from one process, bids at a fixed rate.

    underbid swarm --url http://127.0.0.1:8000 --watchers 1000 --bidders 10 \\
        --rate 100 --duration 30 [--auction ID] [--json PATH]

For more connections than Locust users can hold on a small machine: N
watchers (lean WebSocket connections, a reader coroutine each, no queue) and M
bidders (:class:`client.AuctionClient`), all in one asyncio loop (uvloop when
installed).

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

Progress goes to stderr once a second; the summary table to stdout at the end,
and ``--json PATH`` (``-`` for stdout) writes the same figures for programs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx
import msgspec

from auction.core.errors import UnderbidError
from client.rawws import RawWebSocket, masked_frame, upgrade_request
from client.session import AuctionClient, BidResult, ConnectError

START_VALUE = 10**12
"""Start value of the auctions the swarm creates (minor units): room for any run."""
DEFAULT_RATE_LIMIT = 20
"""The server's default ``limits.messages_per_second`` per connection."""
SUBPROTOCOL = "underbid.v1.msgpack"
LATE_WARNING_MS = 10.0
"""The summary warns when the sender fell this far behind its timetable."""


class SwarmError(UnderbidError):
    """The swarm cannot run as asked (no token, the server refused, bad options)."""


# ----------------------------------------------------------------- figures
class Histogram:
    """Latencies (ms) in logarithmic buckets 1 % wide: constant memory, ~1 % error.

    Values at or below ``floor_ms`` share the first bucket; percentiles are
    nearest-rank over the buckets, reported as the bucket's upper edge (never
    under the true value by more than one bucket). ``max`` is exact.
    """

    GROWTH = 1.01
    """Each bucket is 1 % wider than the one before."""

    def __init__(self, floor_ms: float = 0.01) -> None:
        self.floor_ms = floor_ms
        self.counts: Counter[int] = Counter()
        self.count = 0
        self.max = 0.0
        self._log = math.log(self.GROWTH)

    def add(self, ms: float) -> None:
        index = 0 if ms <= self.floor_ms else 1 + int(math.log(ms / self.floor_ms) / self._log)
        self.counts[index] += 1
        self.count += 1
        if ms > self.max:
            self.max = ms

    def percentile(self, q: float) -> float:
        """The value under which ``q`` % of the samples fall (``nan`` when empty)."""
        if not self.count:
            return math.nan
        rank = max(1, math.ceil(q / 100 * self.count))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                edge = self.floor_ms * self.GROWTH**index
                return min(edge, self.max)
        return self.max

    def summary(self) -> dict[str, float | int | None]:
        """count, p50, p99, p99.9 and max in ms (``None`` when there is no sample)."""
        if not self.count:
            return {"count": 0, "p50_ms": None, "p99_ms": None, "p999_ms": None, "max_ms": None}
        return {
            "count": self.count,
            "p50_ms": self.percentile(50),
            "p99_ms": self.percentile(99),
            "p999_ms": self.percentile(99.9),
            "max_ms": self.max,
        }


@dataclass
class SwarmStats:
    """Everything the swarm counts; the summary and ``--json`` are made from it."""

    watchers_up: int = 0
    """Watcher connections open now."""
    watchers_connected: int = 0
    """Watcher connections welcomed during the run."""
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


class _Amounts(msgspec.Struct):
    type: str = ""
    amount: int | None = None


class _Item(msgspec.Struct):
    seq: int = 0
    event: _Amounts = msgspec.field(default_factory=_Amounts)


class _Frame(msgspec.Struct):
    """What a watcher reads of a server frame; everything else is skipped."""

    type: str = ""
    seq: int = 0
    event: _Amounts | None = None
    items: list[_Item] = msgspec.field(default_factory=list)


_read_frame = msgspec.msgpack.Decoder(_Frame).decode


# ---------------------------------------------------------------- watchers
class LeanWatcher(RawWebSocket):
    """One public watcher on a raw transport: no task, no queue, a few hundred bytes.

    Does the handshake (``underbid.v1.msgpack``), says ``hello`` (with the
    observer token), answers pings, and hands every event it reads to
    :meth:`Swarm.on_events` with the time of the read. Server frames are not
    fragmented (protocol v1: one message per frame); a fragment is a protocol
    error here and ends the connection.
    """

    __slots__ = ("swarm", "welcomed")

    def __init__(
        self,
        swarm: Swarm,
        host: str,
        port: int,
        path: str,
        hello: bytes,
        welcomed: asyncio.Future[None],
    ) -> None:
        super().__init__(upgrade_request(host, port, path, SUBPROTOCOL), masked_frame(hello))
        self.swarm = swarm
        self.welcomed: asyncio.Future[None] | None = welcomed

    def connection_lost(self, exc: Exception | None) -> None:
        if self.welcomed is not None:
            if not self.welcomed.done():
                self.welcomed.set_exception(ConnectionError("closed before welcome"))
        elif self.is_open:
            self.swarm.stats.watchers_up -= 1
        self.is_open = False
        self.transport = None

    def fail(self, why: str) -> None:
        if self.welcomed is not None and not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError(why))
        self.abort()

    def on_close(self, code: int) -> None:
        self.swarm.stats.closes[code] += 1
        super().on_close(code)

    def on_message(self, payload: bytes, now: float) -> None:
        frame = _read_frame(payload)
        if self.welcomed is not None:
            if frame.type == "welcome":
                self.welcomed.set_result(None)
                self.welcomed = None
                self.swarm.stats.watchers_up += 1
                self.swarm.stats.watchers_connected += 1
            elif frame.type == "error":
                self.fail("refused after hello")
            return
        if frame.items:
            self.swarm.on_events([item.event for item in frame.items], now)
        elif frame.event is not None:
            self.swarm.on_events([frame.event], now)


# ------------------------------------------------------------------- swarm
@dataclass
class SwarmConfig:
    url: str = "http://127.0.0.1:8000"
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


class Swarm:
    """One run: create or join the auction, connect, bid on a timetable, report."""

    def __init__(self, config: SwarmConfig, out: TextIO | None = sys.stderr) -> None:
        self.config = config
        self.out = out
        self.stats = SwarmStats()
        self.auction_id = config.auction
        self.bids: dict[int, _Bid] = {}
        """Amount of each bid sent -> its timetable slot and deliveries."""
        self.watchers: list[LeanWatcher] = []
        self.bidders: list[AuctionClient] = []
        self.first_amount = START_VALUE - 1
        self.step = 1
        self.started = time.perf_counter()
        self._tasks: set[asyncio.Task[Any]] = set()

    # ----------------------------------------------------------- set up
    def _http(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.config.token}"} if self.config.token else {}
        return httpx.AsyncClient(
            base_url=self.config.url, headers=headers, timeout=30, trust_env=False
        )

    async def prepare(self) -> list[str]:
        """Create (or look up) the auction; return one bidder token per bidder connection."""
        try:
            return await self._prepare()
        except httpx.HTTPError as exc:
            raise SwarmError(f"cannot reach {self.config.url}: {exc}") from None

    async def _prepare(self) -> list[str]:
        config = self.config
        if not config.token:
            raise SwarmError(
                "the swarm needs the operator token: --token or UNDERBID_OPERATOR_TOKEN"
            )
        bidder_ids = [f"b{i}" for i in range(config.bidders)]
        async with self._http() as http:
            if not self.auction_id:
                self.auction_id = f"swarm-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
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

    async def connect_bidders(self, tokens: Sequence[str]) -> None:
        clients = [
            AuctionClient(self.config.url, self.auction_id, token=t, buffer_events=False)
            for t in tokens
        ]
        results = await asyncio.gather(*(c.connect() for c in clients), return_exceptions=True)
        limits: list[int] = []
        for client, result in zip(clients, results, strict=True):
            if isinstance(result, BaseException):
                code = result.code if isinstance(result, ConnectError) else type(result).__name__
                self.stats.connect_errors[f"bidder: {code}"] += 1
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
        """Open the watchers, ``connect_concurrency`` handshakes at a time."""
        gate = asyncio.Semaphore(max(1, self.config.connect_concurrency))
        parts = urllib.parse.urlsplit(AuctionClient(self.config.url, self.auction_id).url)
        if parts.scheme != "ws" or parts.hostname is None:
            raise SwarmError("watchers speak plain ws:// (http://) only, not TLS")
        host, port = parts.hostname, parts.port or 80
        hello = msgspec.msgpack.encode({"type": "hello", "token": self.observer_token})
        loop = asyncio.get_running_loop()

        async def one() -> None:
            async with gate:
                welcomed: asyncio.Future[None] = loop.create_future()
                watcher = LeanWatcher(self, host, port, parts.path, hello, welcomed)
                try:
                    await asyncio.wait_for(loop.create_connection(lambda: watcher, host, port), 30)
                    await asyncio.wait_for(welcomed, 30)
                except Exception as exc:
                    watcher.abort()
                    self.stats.watchers_failed += 1
                    self.stats.connect_errors[f"watcher: {type(exc).__name__}: {exc}"[:120]] += 1
                    return
                self.watchers.append(watcher)

        await asyncio.gather(*(one() for _ in range(self.config.watchers)))

    def on_events(self, events: Sequence[_Amounts], now: float) -> None:
        """A watcher read these events at ``now`` (``time.perf_counter()``)."""
        stats = self.stats
        bids = self.bids
        for event in events:
            stats.events += 1
            if event.type != "bid_placed" or event.amount is None:
                continue
            bid = bids.get(event.amount)
            if bid is None:
                continue
            stats.delivery.add((now - bid.due) * 1000)
            bid.reached += 1
            bid.last = now

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---------------------------------------------------------- running
    async def _bid(self, client: AuctionClient, amount: int, due: float) -> None:
        result: BidResult = await client.bid(amount, timeout=10)
        if result.ok:
            self.stats.acked += 1
        else:
            self.stats.rejected[result.code] += 1
            self.bids.pop(amount, None)
        self.stats.ack.add((time.perf_counter() - due) * 1000)

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

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in self.bidders), return_exceptions=True)
        for watcher in self.watchers:
            watcher.abort()

    async def run(self) -> SwarmStats:
        config = self.config
        tokens = await self.prepare()
        self._say(
            f"swarm: auction {self.auction_id} at {config.url}: {config.watchers} watchers, "
            f"{config.bidders} bidders, {config.rate:g} bids/s for {config.duration:g} s"
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
            await self.connect_bidders(tokens)
            await self.connect_watchers()
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
        return {
            "auction": self.auction_id,
            "url": self.config.url,
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


def run(args: argparse.Namespace) -> int:
    """``underbid swarm``: run, print the summary, write ``--json``."""
    config = SwarmConfig(
        url=args.url,
        token=args.token or os.environ.get("UNDERBID_OPERATOR_TOKEN", ""),
        auction=args.auction,
        watchers=args.watchers,
        bidders=args.bidders,
        rate=args.rate,
        duration=args.duration,
        connect_concurrency=args.connect_concurrency,
        drain_s=args.drain,
        first_amount=args.first_amount,
        progress=not args.quiet,
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
    figures = swarm.figures()
    text = summary_table(figures)
    if args.json == "-":
        json.dump(figures, sys.stdout, indent=2)
        sys.stdout.write("\n")
        print(text, file=sys.stderr)
    else:
        print(text)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(figures, fh, indent=2)
                fh.write("\n")
    return 0 if swarm.stats.bids_sent or config.rate == 0 else 1


__all__ = [
    "Histogram",
    "Swarm",
    "SwarmConfig",
    "SwarmError",
    "SwarmStats",
    "run",
    "summary_table",
]
