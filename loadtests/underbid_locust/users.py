"""Locust users: bidders of every format and public watchers.

With ``--ub-profile`` each user takes a piece of the plan from its process's
:class:`~client.load.book.SeatBook` (``BidderUser`` bidder seats,
``WatcherUser`` watcher windows, the procurement day's ``DayUser`` either,
bidders first), plays it to its end, and takes the next. Without a profile
they play the one open auction as the classic test always did: a
``BidderUser`` bids at ``--ub-bid-rate`` (``--ub-strategy``) and a
``WatcherUser`` watches.

The entries (docs/loadtesting.md, "What the users report"):

- type = the lot's format (``rounds``, ``open``, ``japanese``, ``dutch``),
  name = the answer: ``bid ack``, ``cancel ack``, ``accept ack``,
  ``<command> rejected <code>`` (an auction outcome; a failure only with
  ``--ub-rejections-fail``), ``<command> late: server slow`` and ``turn
  missed: server slow`` (failures: the server's slowness, never the
  bidder's own logic), ``<command> timeout``, ``<command> closed``,
  ``<command> unavailable``...;
- ``event`` / ``delivery <format>``: how late each event reached a watcher
  (its arrival on the server's clock, measured with a ``ping``, minus its
  ``at``); ``gap``, ``duplicate`` (failures), ``resync``;
- ``connect``, ``reconnect``, ``chaos``, ``command`` / ``unavailable``,
  ``http``: handshakes, resumes after a drop, kills, retried commands, API
  calls.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import quote

import gevent
from gevent.event import Event
from locust import User, constant, task

from client.load.plan import BidderSeat, PlannedAuction, WatchWindow
from client.load.players import Command, SeatPlayer
from underbid_locust.link import Link
from underbid_locust.options import opt
from underbid_locust.run import HttpError, RunState, classic_bidders, post_json, state

log = logging.getLogger("underbid.locust")

HOLD_AFTER_S = 30.0
"""A bidder whose lots have not all ended leaves this long after its seat's planned end."""
IDLE_S = 1.0
"""Longest sleep of a user with nothing to do (it looks for work again after it)."""


class UnderbidUser(User):
    """Takes bidder seats and watcher windows (``kinds``) and plays them."""

    abstract = True
    kinds: ClassVar[tuple[str, ...]] = ("bidder", "watcher")
    wait_time = constant(0)
    _numbers = itertools.count()

    def on_start(self) -> None:
        self.number = next(self._numbers)
        self.item: BidderSeat | WatchWindow | None = None
        self.link: Link | None = None
        self.classic_player: SeatPlayer | None = None
        self.wake = Event()

    def on_stop(self) -> None:
        self._let_go(finished=False)

    def _let_go(self, finished: bool) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
        st = state(self.environment)
        if self.item is not None and st.book is not None:
            st.book.give_back(self.item, finished)
        self.item = None

    # ------------------------------------------------------------------ work
    @task
    def work(self) -> None:
        st = state(self.environment)
        if not st.prepared or st.nodes is None:
            gevent.sleep(0.2)  # the test is starting
            return
        if st.plan is None:
            self.classic(st)
            return
        if st.book is None:
            gevent.sleep(IDLE_S)
            return
        now = st.now_s()
        bidders, watchers = "bidder" in self.kinds, "watcher" in self.kinds
        item: BidderSeat | WatchWindow | None = None
        if bidders:
            item = st.book.take_seat(now)
        if item is None and watchers:
            item = st.book.take_window(now)
        if item is None:
            after = st.book.next_join(bidders, watchers)
            gevent.sleep(IDLE_S if after is None else min(IDLE_S, max(0.02, after - now)))
            return
        self.item = item
        finished = False
        try:
            if isinstance(item, BidderSeat):
                finished = self.play_seat(st, item)
            else:
                finished = self.watch_window(st, item)
        finally:
            if self.item is item:
                if self.link is not None:
                    self.link.close()
                    self.link = None
                if st.book is not None:
                    st.book.give_back(item, finished)
                self.item = None

    # ---------------------------------------------------------------- bidders
    def token(self, st: RunState, route: tuple[str, ...], auction: str, bidder: str) -> str | None:
        """A bidder token from the first node of the route that gives one."""
        path = f"/api/auctions/{quote(auction, safe='')}/tokens"
        started = time.perf_counter()
        error: HttpError | None = None
        for node in route:
            try:
                answer = post_json(
                    node,
                    path,
                    {"role": "bidder", "bidder": bidder},
                    opt(self.environment, "ub_token"),
                )
            except HttpError as exc:
                error = exc
                continue
            st.recorder.fire("http", "POST /api/auctions/{id}/tokens", started)
            issued: str = answer["token"]
            return issued
        st.recorder.fire("http", "POST /api/auctions/{id}/tokens", started, failure=error)
        gevent.sleep(IDLE_S)  # do not spin on a refusal
        return None

    def play_seat(self, st: RunState, seat: BidderSeat) -> bool:
        """Bid in the seat's lots until they ended; True when it is done for good."""
        assert st.plan is not None
        auction = st.plan.auction(seat.auction)
        route = st.route(auction.index, seat.index)
        token = self.token(st, route, seat.auction, seat.bidder)
        if token is None:
            return False
        planned = SeatPlayer.planned(seat.tactics, seat.seed)
        opened = self._open_bidder(st, route, seat.auction, token, lambda view: planned)
        if opened is None:
            return False
        link, player = opened
        hold_until = st.t0_ms / 1000 + seat.leave_s + HOLD_AFTER_S
        return self._bid(st, link, player, auction.id, lambda: time.time() > hold_until)

    def _open_bidder(
        self,
        st: RunState,
        route: tuple[str, ...],
        auction: str,
        token: str,
        make: Callable[[dict[str, Any]], SeatPlayer],
    ) -> tuple[Link, SeatPlayer] | None:
        """A bidder's connection, its events and views fed to the player ``make``
        returns from the first view (the welcome's)."""
        wake = self.wake
        players: list[SeatPlayer] = []

        def on_view(view: dict[str, Any]) -> None:
            if not players:
                players.append(make(view))
            players[0].on_view(view, link.server_now())
            wake.set()

        def on_event(seq: int, event: dict[str, Any], replayed: bool) -> None:
            if players:
                players[0].on_event(event, link.server_now())
            wake.set()

        link = Link(
            st.recorder,
            "bidder",
            route,
            auction,
            token,
            on_view=on_view,
            on_event=on_event,
            reconnect_s=opt(self.environment, "ub_reconnect_timeout"),
            reference=st.reference(auction, route),
        )
        self.link = link
        if not link.open() or not players:
            link.close()
            self.link = None
            gevent.sleep(IDLE_S)
            return None
        link.ping()  # the bidder's clock: its turns and rounds are in the server's time
        return link, players[0]

    def _bid(self, st: RunState, link: Link, player: SeatPlayer, auction: str, over: Any) -> bool:
        """Send what the player plans, when it plans it; True once its lots are over."""
        while not player.done and not over():
            self._notes(st, player)
            if link.dead:
                return False
            now = link.server_now()
            cmd = player.take(now)
            if cmd is not None:
                self.send(st, link, player, auction, cmd)
                continue
            nxt = player.next_at()
            wait = IDLE_S if nxt is None else min(IDLE_S, max(0.0, (nxt - now) / 1000))
            self.wake.clear()
            self.wake.wait(wait)
        self._notes(st, player)
        return True

    def _notes(self, st: RunState, player: SeatPlayer) -> None:
        for fmt, note in player.notes():
            st.recorder.fire(
                fmt,
                note,
                0.0,
                failure=RuntimeError(f"{note}: its window had passed when the event arrived"),
                response_time=0.0,
                counts=(f"{fmt}.missed",),
            )

    def send(
        self, st: RunState, link: Link, player: SeatPlayer, auction: str, cmd: Command
    ) -> None:
        sent_at = link.server_now()
        started = time.perf_counter()
        answer = link.command(cmd.kind, cmd.lot, cmd.amount, opt(self.environment, "ub_timeout"))
        fmt = cmd.format
        st.recorder.count(f"{fmt}.commands")
        if answer.code in ("timeout", "closed"):
            st.recorder.fire(
                fmt,
                f"{cmd.kind} {answer.code}",
                started,
                failure=RuntimeError(f"{cmd.kind}: {answer.code}, no answer"),
                counts=(f"{fmt}.failed.{answer.code}",),
            )
            return
        outcome = player.on_answer(cmd, answer.ok, answer.code, sent_at)
        failure: Exception | None = RuntimeError(outcome.failure) if outcome.failure else None
        if failure is None and outcome.code and opt(self.environment, "ub_rejections_fail"):
            failure = RuntimeError(f"rejected: {outcome.code}")
        if answer.ok:
            counts: tuple[str, ...] = (f"{fmt}.acks",)
        elif "late: server slow" in outcome.name:
            counts = (f"{fmt}.late",)
        elif outcome.failure:
            counts = (f"{fmt}.failed.{outcome.code}",)
        else:
            counts = (f"{fmt}.rejected.{outcome.code}",)
        st.recorder.fire(
            fmt,
            outcome.name,
            started,
            failure=failure,
            response_time=answer.latency_ms,
            series=f"{fmt}.ack" if answer.latency_ms is not None else None,
            counts=counts,
        )
        if answer.failed_at_ms is not None and answer.latency_ms is not None:
            now = int(time.time() * 1000)
            st.figures.recovered(auction, fmt, answer.failed_at_ms, now)
            st.recorder.fire(
                "chaos", f"{fmt} recovery", 0.0, response_time=now - answer.failed_at_ms
            )

    # --------------------------------------------------------------- watchers
    def watch_window(self, st: RunState, window: WatchWindow) -> bool:
        assert st.plan is not None
        auction: PlannedAuction = st.plan.auction(window.auction)
        link = self._open_watcher(st, st.route(auction.index, window.index), auction.id)
        if link is None:
            return False
        until = st.t0_ms / 1000 + window.leave_s
        while time.time() < until and not link.dead:
            gevent.sleep(min(IDLE_S, max(0.0, until - time.time())))
        return not link.dead

    def _open_watcher(self, st: RunState, route: tuple[str, ...], auction: str) -> Link | None:
        recorder = st.recorder

        def on_view(view: dict[str, Any]) -> None:
            for lot in view.get("lots") or []:
                st.formats.setdefault((auction, str(lot.get("id"))), str(lot.get("format")))

        def on_event(seq: int, event: dict[str, Any], replayed: bool) -> None:
            recorder.count("deliveries")
            if replayed:
                return
            arrived = time.time() * 1000 + link.offset_ms
            fmt = st.formats.get((auction, str(event.get("lot"))), "")
            late = max(0.0, arrived - float(event.get("at", arrived)))
            if fmt:
                recorder.fire(
                    "event", f"delivery {fmt}", 0.0, response_time=late, series=f"{fmt}.deliver"
                )
            else:  # an auction-wide event (pause, cancel): no format
                recorder.fire("event", "delivery", 0.0, response_time=late)

        link = Link(
            recorder,
            "watcher",
            route,
            auction,
            "",
            on_view=on_view,
            on_event=on_event,
            reconnect_s=opt(self.environment, "ub_reconnect_timeout"),
            reference=st.reference(auction, route),
        )
        self.link = link
        if not link.open():
            self.link = None
            gevent.sleep(IDLE_S)  # refused or unreachable: do not spin
            return None
        link.ping()
        return link

    # ---------------------------------------------------------------- classic
    def classic(self, st: RunState) -> None:
        """The one open auction (``--ub-auction``, or the one created)."""
        raise NotImplementedError

    def classic_auction(self) -> str | None:
        auction: str = opt(self.environment, "ub_auction")
        if not auction:
            gevent.sleep(0.2)  # the master has not created it yet
            return None
        return auction

    def hold(self, link: Link) -> None:
        """Keep reading on ``link`` until it is lost for good (or Locust stops the user)."""
        try:
            while not link.dead:
                gevent.sleep(IDLE_S)
        finally:
            link.close()
            self.link = None


class BidderUser(UnderbidUser):
    """Bidder seats of the plan; without one, a bidder of the classic auction."""

    kinds = ("bidder",)
    weight = 1

    def classic(self, st: RunState) -> None:
        auction = self.classic_auction()
        if auction is None:
            return
        ids = classic_bidders(self.environment)
        runner = self.environment.runner
        workers = max(1, int(getattr(self.environment.parsed_options, "expect_workers", 1) or 1))
        index = getattr(runner, "worker_index", 0) if runner is not None else 0
        share = max(1, len(ids) // workers)
        first = (index % workers) * share if len(ids) >= workers else 0
        bidder = ids[first + self.number % share]
        route = st.route(0, self.number)
        token = self.token(st, route, auction, bidder)
        if token is None:
            return
        rate, strategy = opt(self.environment, "ub_bid_rate"), opt(self.environment, "ub_strategy")

        def make(view: dict[str, Any]) -> SeatPlayer:
            return SeatPlayer.joined(view.get("lots") or [], self.number, rate, strategy)

        opened = self._open_bidder(st, route, auction, token, make)
        if opened is None:
            return
        link, player = opened
        try:
            self._bid(st, link, player, auction, lambda: False)
        except BaseException:  # stopped by Locust (or worse): let the connection go
            link.close()
            self.link = None
            raise
        self.hold(link)  # the auction is over: stay, as a bidder reading its result


class WatcherUser(UnderbidUser):
    """Watcher windows of the plan; without one, a public watcher of the classic auction."""

    kinds = ("watcher",)
    weight = 1

    def classic(self, st: RunState) -> None:
        auction = self.classic_auction()
        if auction is None:
            return
        link = self._open_watcher(st, st.route(0, self.number), auction)
        if link is not None:
            self.hold(link)


class SeatUser(UnderbidUser):
    """Either: the procurement day's users (loadtests/procurement_day.py makes it concrete)."""

    abstract = True
    kinds = ("bidder", "watcher")

    def classic(self, st: RunState) -> None:
        gevent.sleep(IDLE_S)


__all__ = ["BidderUser", "SeatUser", "UnderbidUser", "WatcherUser"]
