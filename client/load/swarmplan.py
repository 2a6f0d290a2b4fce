"""``underbid swarm --profile``: a planned day of mixed formats from one asyncio process.

The swarm builds the plan (:func:`client.load.plan.build_plan`), creates
its auctions through their nodes, and follows the day: each bidder seat
connects at its join time (:class:`~client.load.nodeclient.NodeClient`, a
bidder token from the HTTP API) and plays its lots with the format's
player (:mod:`client.load.players`); each watcher window opens a lean
watcher (:mod:`client.load.watchers`) at its join time and closes it at its
leave time; each auction is followed by one official reference stream
(:mod:`client.load.streams`) so that the watchers' and bidders' sequence
numbers can be checked. With a chaos spec, nodes are killed on schedule
(:mod:`client.load.chaos`). Everything measured goes into a
:class:`~client.load.report.RunFigures`: the same series, counters and
report as the Locust file's.

A command's latency is measured from its send to its answer: a bot's
command is due when the event that prompted it arrives (a turn, a round, a
price), so there is no timetable to fall behind. How late the bots sent
against what they planned is reported as ``sender late at worst``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx

from auction.core.errors import UnderbidError
from auction.runtime.loop import wait_set
from client.load.chaos import ChaosSpec, owner_counts, restart_node, strike
from client.load.nodeclient import NodeClient, account
from client.load.nodes import Nodes
from client.load.plan import BidderSeat, LoadPlan, PlannedAuction, WatchWindow, build_plan
from client.load.players import Command, SeatPlayer
from client.load.profile import Profile
from client.load.report import RunFigures
from client.load.streams import Reference, SeqTracker
from client.load.watchers import Item, LeanWatcher, clock_offset, reconnect, resume
from client.session import BidResult

SETUP_S = 2.0
SETUP_PER_AUCTION_S = 0.02
CREATE_CONCURRENCY = 8
HOLD_AFTER_S = 30.0
RETRY_UNAVAILABLE_S = 0.1
START_GRACE_S = 2.0
"""Watchers and seats that could not start within this of their join time count as unserved."""


class PlanError(UnderbidError):
    """The planned swarm cannot run (no token, the server refused the auctions)."""


@dataclass
class PlanConfig:
    nodes: Nodes
    token: str
    profile: Profile
    compression: float | None = None
    scale: float = 1.0
    seed: int | None = None
    chaos: ChaosSpec | None = None
    reconnect_s: float = 30.0
    timeout_s: float = 10.0
    progress: bool = True


@dataclass
class PlanStats:
    seats_up: int = 0
    seats_done: int = 0
    seats_failed: int = 0
    watchers_up: int = 0
    windows_done: int = 0
    windows_failed: int = 0
    unserved: int = 0
    late_ms: float = 0.0
    connect_errors: Counter[str] = field(default_factory=Counter)


class PlanSwarm:
    """One planned run (see the module docstring)."""

    def __init__(self, config: PlanConfig, out: TextIO | None = None) -> None:
        self.config = config
        self.out = out
        self.figures = RunFigures()
        self.stats = PlanStats()
        self.plan: LoadPlan | None = None
        self.references: dict[str, Reference] = {}
        self.reference_clients: list[NodeClient] = []
        self.formats: dict[tuple[str, str], str] = {}
        self.offsets: dict[str, float] = {}
        """Per node: server clock minus ours (ms), from a ping of a reference stream."""
        self.closing = asyncio.Event()
        self.http: dict[str, httpx.AsyncClient] = {}
        """One HTTP client per node for the run (a client costs a TLS context to make)."""
        self.tasks: set[asyncio.Task[Any]] = set()
        self.watchers: set[LeanWatcher] = set()
        self.leaving: dict[int, float] = {}
        """Window index -> when its watcher leaves (wall s)."""

    # ------------------------------------------------------------------ plan
    def make_plan(self, now_ms: int | None = None) -> LoadPlan:
        c = self.config
        now = int(time.time() * 1000) if now_ms is None else now_ms
        run_id = f"swarm-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        probe = build_plan(
            c.profile,
            t0_ms=now,
            run_id=run_id,
            compression=c.compression,
            scale=c.scale,
            seed=c.seed,
        )
        margin = SETUP_S + SETUP_PER_AUCTION_S * len(probe.auctions)
        return build_plan(
            c.profile,
            t0_ms=now + int(margin * 1000),
            run_id=run_id,
            compression=c.compression,
            scale=c.scale,
            seed=c.seed,
        )

    def now_s(self) -> float:
        return (time.time() * 1000 - self.figures.t0_ms) / 1000

    def _http(self, node: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=node,
            headers={"Authorization": f"Bearer {self.config.token}"},
            timeout=30,
            trust_env=False,
        )

    async def create(self, plan: LoadPlan) -> None:
        gate = asyncio.Semaphore(CREATE_CONCURRENCY)
        failures: list[str] = []
        clients = self.http

        async def one(auction: PlannedAuction) -> None:
            node = self.config.nodes.home(auction.index)
            async with gate:
                try:
                    answer = await clients[node].post("/api/auctions", json=auction.spec)
                except httpx.HTTPError as exc:
                    failures.append(f"{auction.id} at {node}: {exc}")
                    return
            if answer.status_code >= 400:
                failures.append(
                    f"{auction.id} at {node}: HTTP {answer.status_code} {answer.text[:300]}"
                )

        await asyncio.gather(*(one(a) for a in plan.auctions))
        if failures:
            raise PlanError(f"could not create {len(failures)} auctions, first: {failures[0]}")

    # ------------------------------------------------------------ reference
    async def reference(self, auction: PlannedAuction) -> Reference:
        ref = self.references.get(auction.id)
        if ref is not None:
            return ref
        ref = self.references[auction.id] = Reference()
        ref.start(0)
        route = self.config.nodes.route(auction.index, 0)

        def seen(seq: int, event: dict[str, Any]) -> None:
            if event.get("type") == "resync":
                ref.resync(seq)
                ref.tracker.resync(seq)
                return
            verdict = ref.tracker.see(seq)
            if verdict == "gap":
                self.figures.count("gaps")
                self.figures.count("errors")
            if verdict != "duplicate":
                ref.note(seq, str(event.get("type", "")))
                at = event.get("at")
                fmt = self.formats.get((auction.id, str(event.get("lot"))))
                if isinstance(at, int) and fmt:
                    self.figures.late(auction.id, fmt, at, client.server_now_ms())

        client = NodeClient(
            route,
            auction.id,
            token=self.config.token,
            reconnect_s=self.config.reconnect_s,
            buffer_events=False,
            on_event=seen,
            max_backoff_s=1.0,
        )
        client.last_seq = 0  # the whole stream, from the first event
        client.offsets = self.offsets
        try:
            await client.connect_any()
        except Exception as exc:
            self.stats.connect_errors[f"official: {type(exc).__name__}: {exc}"[:120]] += 1
            return ref
        self.reference_clients.append(client)
        return ref

    async def measure_clocks(self, plan: LoadPlan) -> None:
        """Each node's clock offset, with pings on one of its auctions."""
        for url in self.config.nodes.urls:
            auction = next(
                (a for a in plan.auctions if url in self.config.nodes.route(a.index, 0)), None
            )
            if auction is None:
                continue
            try:
                self.offsets[url] = await clock_offset(url, auction.id)
            except Exception as exc:
                self.stats.connect_errors[f"clock: {url}: {type(exc).__name__}: {exc}"[:120]] += 1

    # --------------------------------------------------------------- bidders
    async def token(self, route: tuple[str, ...], auction: str, bidder: str) -> str | None:
        """A bidder token from the first node of the route that answers."""
        for node in route:
            try:
                answer = await self.http[node].post(
                    f"/api/auctions/{auction}/tokens", json={"role": "bidder", "bidder": bidder}
                )
            except httpx.HTTPError as exc:
                self.stats.connect_errors[f"token: {type(exc).__name__}"] += 1
                continue
            if answer.status_code >= 400:
                self.stats.connect_errors[f"token: HTTP {answer.status_code}"] += 1
                continue
            issued: str = answer.json()["token"]
            return issued
        return None

    async def seat(self, seat: BidderSeat) -> None:
        assert self.plan is not None
        auction = self.plan.auction(seat.auction)
        route = self.config.nodes.route(auction.index, seat.index)
        ref = await self.reference(auction)
        token = await self.token(route, seat.auction, seat.bidder)
        if token is None:
            self.stats.seats_failed += 1
            return
        player = SeatPlayer.planned(seat.tactics, seat.seed)
        wake = asyncio.Event()
        tracker = SeqTracker(ref)
        client: NodeClient

        def on_event(seq: int, event: dict[str, Any]) -> None:
            if event.get("type") == "resync":
                tracker.resync(seq)
                player.on_view(event.get("view") or {}, client.server_now_ms())
            else:
                self.figures.judge(tracker, seq)
                player.on_event(event, client.server_now_ms())
            wake.set()

        client = NodeClient(
            route,
            seat.auction,
            token=token,
            reconnect_s=self.config.reconnect_s,
            buffer_events=False,
            on_event=on_event,
            max_backoff_s=1.0,
        )
        client.offsets = self.offsets
        started = time.perf_counter()
        try:
            await client.connect_any()
        except Exception as exc:
            self.stats.seats_failed += 1
            self.figures.count("connect_failures")
            self.figures.count("errors")
            self.stats.connect_errors[f"bidder: {type(exc).__name__}: {exc}"[:120]] += 1
            return
        self.figures.sample("connect", time.time() * 1000, (time.perf_counter() - started) * 1000)
        tracker.start(client.last_seq or 0)
        player.on_view(client.view or {}, client.server_now_ms())
        self.stats.seats_up += 1
        hold_until = self.figures.t0_ms / 1000 + seat.leave_s + HOLD_AFTER_S
        try:
            while not player.done and time.time() < hold_until and not self.closing.is_set():
                if not client.running:
                    break
                self._notes(player)
                now = client.server_now_ms()
                cmd = player.take(now)
                if cmd is not None:
                    self.stats.late_ms = max(self.stats.late_ms, float(now - cmd.due))
                    await self.send(client, player, auction, cmd)
                    continue
                nxt = player.next_at()
                wait = 1.0 if nxt is None else min(1.0, max(0.0, (nxt - now) / 1000))
                wake.clear()
                await wait_set(wake, wait)
            self._notes(player)
            self.stats.seats_done += 1
        finally:
            self.stats.seats_up -= 1
            account(client, self.figures)
            tracker.settle(final=True)
            self.figures.count("unverified", tracker.unverified)
            await client.close()

    def _notes(self, player: SeatPlayer) -> None:
        for fmt, _ in player.notes():
            self.figures.count(f"{fmt}.missed")
            self.figures.count("errors")
            self.figures.count("requests")

    async def _send_once(
        self, client: NodeClient, cmd: Command, bid_id: str, timeout: float
    ) -> BidResult:
        if cmd.kind == "bid":
            assert cmd.amount is not None
            return await client.bid(cmd.amount, lot=cmd.lot, bid_id=bid_id, timeout=timeout)
        if cmd.kind == "cancel":
            return await client.cancel(lot=cmd.lot, bid_id=bid_id, timeout=timeout)
        return await client.accept(lot=cmd.lot, bid_id=bid_id, timeout=timeout)

    async def send(
        self, client: NodeClient, player: SeatPlayer, auction: PlannedAuction, cmd: Command
    ) -> None:
        f = self.figures
        fmt = cmd.format
        sent_at = client.server_now_ms()
        started = time.perf_counter()
        deadline = started + self.config.timeout_s
        bid_id = uuid.uuid4().hex
        drops = client.drops
        # sent while its connection is down: the kill holds it up from the start
        failed_at: int | None = None if client.connected else client.dropped_at_ms
        f.count(f"{fmt}.commands")
        f.count("requests")
        while True:
            remaining = deadline - time.perf_counter()
            result = await self._send_once(client, cmd, bid_id, max(0.001, remaining))
            if client.drops != drops and failed_at is None:
                failed_at = client.dropped_at_ms
            if result.code == "unavailable" and time.perf_counter() < deadline:
                failed_at = failed_at or int(time.time() * 1000)
                f.count(f"{fmt}.failed.unavailable")
                f.count("errors")
                await asyncio.sleep(RETRY_UNAVAILABLE_S)
                continue
            break
        if result.code in ("timeout", "closed"):
            f.count(f"{fmt}.failed.{result.code}")
            f.count("errors")
            return
        latency = (time.perf_counter() - started) * 1000
        outcome = player.on_answer(cmd, result.ok, result.code, sent_at)
        f.sample(f"{fmt}.ack", time.time() * 1000, latency)
        if result.ok:
            f.count(f"{fmt}.acks")
        elif "late: server slow" in outcome.name:
            f.count(f"{fmt}.late")
            f.count("errors")
        elif outcome.failure:
            f.count(f"{fmt}.failed.{outcome.code}")
            f.count("errors")
        else:
            f.count(f"{fmt}.rejected.{outcome.code}")
        if failed_at is not None:
            f.recovered(auction.id, fmt, failed_at, int(time.time() * 1000))

    # -------------------------------------------------------------- watchers
    def welcomed(self, watcher: LeanWatcher, resumed: bool, seq: int, server_time: int) -> None:
        self.stats.watchers_up += 1
        if resumed:
            self.figures.count("resumed")

    def events(self, watcher: LeanWatcher, items: Sequence[Item], now: float) -> None:
        f = self.figures
        offset = self.offsets.get(watcher.route[watcher.node], 0.0)
        arrived = time.time() * 1000 - (time.perf_counter() - now) * 1000 + offset
        for item in items:
            if not self.figures.judge(watcher.tracker, item.seq):
                continue
            f.count("deliveries")
            if item.seq <= watcher.replay_until:
                f.count("replayed")
                continue
            fmt = self.formats.get((watcher.auction, item.event.lot), "")
            if fmt and item.event.at:
                f.sample(f"{fmt}.deliver", arrived - offset, max(0.0, arrived - item.event.at))

    def dropped(self, watcher: LeanWatcher, code: int | None) -> None:
        self.stats.watchers_up -= 1
        if not self.closing.is_set() and watcher in self.watchers:
            self.watchers.discard(watcher)
            self._spawn(self._resume(watcher))

    async def _resume(self, old: LeanWatcher) -> None:
        new = await resume(old, self.figures, self.config.reconnect_s, self.closing)
        if new is None:
            return
        if self.closing.is_set() or time.time() >= self.leaving.get(new.index, 0.0):
            new.abort()
            return
        self.watchers.add(new)

    async def window(self, window: WatchWindow) -> None:
        assert self.plan is not None
        auction = self.plan.auction(window.auction)
        ref = await self.reference(auction)
        route = self.config.nodes.route(auction.index, window.index)
        first = LeanWatcher(self, route, auction.id, index=window.index, tracker=SeqTracker(ref))
        leave = self.leaving[window.index] = self.figures.t0_ms / 1000 + window.leave_s
        started = time.perf_counter()
        budget = min(self.config.reconnect_s, max(0.1, leave - time.time()))
        watcher, _, error = await reconnect(first, budget, closing=self.closing, first=True)
        if watcher is None:
            self.stats.windows_failed += 1
            self.figures.count("connect_failures")
            self.figures.count("errors")
            self.stats.connect_errors[f"watcher: {error}"[:120]] += 1
            return
        self.figures.sample("connect", time.time() * 1000, (time.perf_counter() - started) * 1000)
        self.watchers.add(watcher)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(max(0.0, leave - time.time()))
        self.stats.windows_done += 1
        for w in [w for w in self.watchers if w.index == window.index]:
            self.watchers.discard(w)
            w.tracker.settle(final=True)
            self.figures.count("unverified", w.tracker.unverified)
            w.abort()

    # ------------------------------------------------------------------ run
    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._guard(coro))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guard(self, coro: Any) -> None:
        """A bug of ours in one seat or window is counted and shown, never silent."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.figures.count("errors")
            self.stats.connect_errors[f"swarm bug: {type(exc).__name__}: {exc}"[:160]] += 1
            if self.stats.connect_errors.total() == 1 and self.out is not None:
                import traceback

                traceback.print_exc(file=self.out)

    async def _follow(self, plan: LoadPlan) -> None:
        """Start every seat and window at its join time."""
        agenda: list[tuple[float, int, BidderSeat | WatchWindow]] = [
            (s.join_s, 0, s) for s in plan.seats
        ] + [(w.join_s, 1, w) for w in plan.windows]
        agenda.sort(key=lambda a: (a[0], a[1]))
        for join_s, _, item in agenda:
            delay = join_s - self.now_s()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.now_s() > item.leave_s:
                self.stats.unserved += 1
                continue
            if isinstance(item, BidderSeat):
                self._spawn(self.seat(item))
            else:
                self._spawn(self.window(item))
        end = plan.duration_s + 1.0
        while self.now_s() < end and self.tasks:
            await asyncio.sleep(0.1)

    async def _chaos(self, plan: LoadPlan, spec: ChaosSpec) -> None:
        rng = random.Random(f"chaos:{plan.seed}")
        urls = self.config.nodes.urls
        for at in spec.times(plan.duration_s):
            await asyncio.sleep(max(0.0, at - self.now_s()))
            owners = None
            if spec.owner:
                ids = {a.id for a in plan.auctions}
                owners = await asyncio.to_thread(owner_counts, urls, self.config.token, ids)
            kill = await asyncio.to_thread(strike, spec, urls, rng, self.figures.t0_ms, owners)
            self.figures.ledger.kills.append(kill)
            what = "killed" if kill.ok else "could not kill"
            self._say(f"swarm: {what} {kill.node} at {kill.test_s:.1f} s: {kill.how}")
            if kill.ok and spec.restart:
                await asyncio.sleep(spec.restart_after)
                await asyncio.to_thread(restart_node, spec, kill.node)

    async def _progress(self) -> None:
        previous = 0
        while self.out is not None:
            await asyncio.sleep(1.0)
            c, s = self.figures.counts, self.stats
            ack = self.figures.timeline.combined(
                f"{f}.ack" for f in ("rounds", "open", "japanese", "dutch")
            )
            self._say(
                f"[{self.now_s():6.1f} s] bidders {s.seats_up} up, watchers {s.watchers_up} up; "
                f"commands {sum(n for k, n in c.items() if k.endswith('.commands')):,}, errors "
                f"{c['errors']}; events {c['deliveries']:,} (+{c['deliveries'] - previous:,}/s); "
                f"ack p99 {ack.percentile(99):.2f} ms"
            )
            previous = c["deliveries"]

    def _say(self, line: str) -> None:
        if self.out is not None:
            print(line, file=self.out, flush=True)

    async def run(self) -> RunFigures:
        plan = self.plan = self.make_plan()
        self.figures.t0_ms = plan.t0_ms
        self.figures.chaos = self.config.chaos is not None
        for auction in plan.auctions:
            for lot in auction.lots:
                self.formats[(auction.id, lot.id)] = lot.format
        for line in plan.summary():
            self._say(line)
        self.http = {url: self._http(url) for url in self.config.nodes.urls}
        await self.create(plan)
        await self.measure_clocks(plan)
        progress = asyncio.get_running_loop().create_task(self._progress())
        chaos = None
        if self.config.chaos is not None:
            chaos = asyncio.get_running_loop().create_task(self._chaos(plan, self.config.chaos))
        try:
            await self._follow(plan)
        finally:
            self.closing.set()
            for task in (progress, chaos):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            for watcher in list(self.watchers):
                watcher.abort()
            for client in self.reference_clients:
                account(client, self.figures, resumed=False)
                await client.close()
            for http in self.http.values():
                await http.aclose()
        return self.figures

    def coverage(self) -> str:
        assert self.plan is not None
        s = self.stats
        return (
            f"plan {self.plan.run_id}: {len(self.plan.auctions)} auctions; bidder seats "
            f"{s.seats_done} done, {s.seats_failed} failed of {len(self.plan.seats)}; watcher "
            f"windows {s.windows_done} done, {s.windows_failed} failed of "
            f"{len(self.plan.windows)}; {s.unserved} started too late; bots sent at worst "
            f"{s.late_ms:.0f} ms after plan"
        )


__all__ = ["PlanConfig", "PlanError", "PlanSwarm"]
