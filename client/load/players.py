"""Bidder bots for every format, sans I/O: they read views and events, and say what to send.

Both load tools drive the same players: Locust's users from gevent, the swarm
from asyncio. A driver feeds a player the lot's view (from ``welcome`` or a
``resync``), every event of the lot and the answer to each command it sent,
always with the server's time as the driver estimates it (``now``, ms);
the player keeps a timetable of the commands it means to send
(:meth:`LotPlayer.next_at`, :meth:`LotPlayer.take`). A player never reads a
clock, draws every choice from the random generator it was given (seeded
from the plan: the same seat makes the same choices in every run) and never
sends a command the rules refuse from what it knows:

- ``rounds``: posts only in its own turn (a ``turn_started`` naming its
  label), a few seconds into it (2 to 10 % of the turn), an amount within the
  step rule (at most its own amount less the minimal step, never under its
  reserve); sometimes posts twice, sometimes cancels (and posts again),
  sometimes keeps its amount. Every command is planned before 70 % of the
  turn has passed.
- ``open``: ``steady`` bidders bid the most the rules allow, now and then,
  while they do not lead; ``sniper`` bidders wait for the last part of the
  close (the dynamic-close window), bid there, and bid again near each
  extended close while they are outbid. Nobody bids under its reserve.
- ``japanese``: confirms each round's price while it is at or above its
  reserve, then leaves (cancels at once, or lets the round lapse).
- ``dutch``: takes the price once the clock reaches its reserve.
- :class:`RatePlayer` is the classic open-auction bidder of
  ``--ub-bid-rate``: it bids at a fixed pace whatever it leads.

**Late because of the server.** A command a player sent in time that the
server refused because its window had closed (``not_your_turn`` for a turn
that should still have been running, ``auction_closed`` before the close,
``bidder_dropped`` before the round's deadline) is named
``<command> late: server slow`` and counted as a failure; a window that was
already too far gone when its event arrived is a note
``turn missed: server slow`` (rounds), ``round missed: server slow``
(japanese) or ``bid missed: server slow`` (open). Neither can come from the
player's own logic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from client.load.plan import Tactics

CommandKind = Literal["bid", "cancel", "accept"]
FAILING_CODES = frozenset(
    {"unavailable", "forbidden", "rate_limited", "timeout", "closed", "auction_halted"}
)
"""Answers that mean the server did not do its job, never an auction outcome."""
SEND_BEFORE = 0.90
"""A planned command still goes out until this share of its window has passed."""


@dataclass(frozen=True)
class Command:
    """What a player wants sent."""

    kind: CommandKind
    lot: str
    amount: int | None
    due: int
    """When it was planned for (server ms)."""
    window_end: int | None
    """The deadline it must beat (a turn, a round, the close), or None."""
    cutoff: int | None
    """After this (server ms) it is no longer sent: a note says the window was missed."""
    format: str


@dataclass(frozen=True)
class Outcome:
    """An answer, named as the load tools report it."""

    name: str
    """``bid ack``, ``accept rejected auction_closed``, ``bid late: server slow``..."""
    code: str
    """``""`` for an ack, else the server's code."""
    failure: str | None
    """Why this counts as a failure, or None."""


class LotPlayer:
    """One bidder on one lot (see the module docstring for the rules it keeps)."""

    format: ClassVar[str] = ""
    window_codes: ClassVar[frozenset[str]] = frozenset()
    """Codes that mean "too late" when the command was sent inside its window."""
    miss_note: ClassVar[str] = "turn missed: server slow"

    def __init__(self, tactics: Tactics, rng: random.Random) -> None:
        self.tactics = tactics
        self.lot = tactics.lot
        self.rng = rng
        self.label: str | None = None
        """How the others see this bidder (``Bidder #2``), from the view."""
        self.queue: list[Command] = []
        self.notes: list[str] = []
        """Windows missed because of the server (drained by the driver)."""
        self.done = False
        """The lot ended (or this bidder is out): nothing more to send."""
        self.sent = 0

    # ------------------------------------------------------------- feeding
    def on_view(self, view: Mapping[str, Any], now: int) -> None:
        you = view.get("you") or {}
        if isinstance(you, Mapping) and you.get("label"):
            self.label = str(you["label"])
        if view.get("status") == "ended":
            self.finish()

    def on_event(self, event: Mapping[str, Any], now: int) -> None:
        kind = event.get("type")
        if kind in ("lot_ended", "auction_cancelled"):
            self.finish()

    def on_answer(self, cmd: Command, ok: bool, code: str, sent_at: int) -> Outcome:
        """Name the answer to ``cmd``, sent at server time ``sent_at``."""
        if ok:
            self.accepted(cmd)
            return Outcome(f"{cmd.kind} ack", "", None)
        if code in FAILING_CODES:
            return Outcome(f"{cmd.kind} {code}", code, f"{code}: the server did not decide")
        if code in self.window_codes and cmd.window_end is not None and sent_at < cmd.window_end:
            late = cmd.window_end - sent_at
            return Outcome(
                f"{cmd.kind} late: server slow",
                code,
                f"{code}, though sent {late} ms before the deadline",
            )
        self.refused(cmd, code)
        return Outcome(f"{cmd.kind} rejected {code}", code, None)

    def accepted(self, cmd: Command) -> None:
        """The server acknowledged ``cmd``."""

    def refused(self, cmd: Command, code: str) -> None:
        """The engine refused ``cmd`` (an auction outcome, not a failure)."""

    def finish(self) -> None:
        self.done = True
        self.queue.clear()

    # ------------------------------------------------------------ timetable
    def plan(self, cmd: Command) -> None:
        self.queue.append(cmd)
        self.queue.sort(key=lambda c: c.due)

    def next_at(self) -> int | None:
        return self.queue[0].due if self.queue and not self.done else None

    def take(self, now: int) -> Command | None:
        """The next command due at ``now``, or None; stale ones become notes."""
        while self.queue and not self.done and self.queue[0].due <= now:
            cmd = self.queue.pop(0)
            if cmd.cutoff is not None and now > cmd.cutoff:
                self.missed(cmd)
                continue
            self.sent += 1
            return cmd
        return None

    def missed(self, cmd: Command) -> None:
        """A planned command's window went by before it could be sent."""
        if cmd.window_end is not None and all(c.window_end != cmd.window_end for c in self.queue):
            self.notes.append(self.miss_note)

    def within(self, start: int, end: int, low: float, high: float) -> int:
        """A moment ``low..high`` of the way from ``start`` to ``end``."""
        return start + round((end - start) * self.rng.uniform(low, high))


class RoundsPlayer(LotPlayer):
    """ProZorro's rounds: posts in its own turn only, within the step rule."""

    format = "rounds"
    window_codes = frozenset({"not_your_turn", "auction_closed"})

    KEEP = 0.2
    """Share of turns in which the bidder posts nothing (keeps its amount)."""
    SECOND = 0.3
    """Share of turns with a second, lower post."""
    CANCEL = 0.1
    """Share of turns with a cancel (half of them followed by a new post)."""

    def __init__(self, tactics: Tactics, rng: random.Random) -> None:
        super().__init__(tactics, rng)
        self.own: int | None = None
        """The amount this bidder holds (the last counted post)."""
        self.step: int | None = None
        self.turns: set[int] = set()
        """Deadlines of the turns already planned (a replay must not plan twice)."""
        self.pending: int | None = None

    def on_view(self, view: Mapping[str, Any], now: int) -> None:
        super().on_view(view, now)
        if view.get("minimal_step"):
            self.step = int(view["minimal_step"])
        you = view.get("you") or {}
        if isinstance(you, Mapping) and you.get("amount") is not None:
            self.own = int(you["amount"])
        deadline = view.get("deadline")
        if view.get("your_turn") and deadline is not None and not self.done:
            self.pending = view.get("your_pending")
            self.plan_turn(now, int(deadline), now, joined=True)

    def on_event(self, event: Mapping[str, Any], now: int) -> None:
        super().on_event(event, now)
        kind = event.get("type")
        if kind == "turn_started" and self.label and event.get("bidder") == self.label:
            self.pending = None
            self.plan_turn(int(event["at"]), int(event["deadline"]), now)
        elif kind == "turn_ended" and self.label and event.get("bidder") == self.label:
            if event.get("amount") is not None:
                self.own = int(event["amount"])
            elif event.get("changed") and self.pending is not None:
                self.own = self.pending  # features scoring shows no raw amount
            self.pending = None
            self.queue.clear()

    def accepted(self, cmd: Command) -> None:
        self.pending = cmd.amount if cmd.kind == "bid" else None

    def plan_turn(self, start: int, deadline: int, now: int, joined: bool = False) -> None:
        if deadline in self.turns or self.done or deadline <= start:
            return
        self.turns.add(deadline)
        if self.own is None or self.step is None:
            return
        rng = self.rng
        step, own, reserve = self.step, self.own, self.tactics.reserve
        limit = own - step
        first = max(reserve, own - step * rng.randint(1, 3))
        keep = rng.random() < self.KEEP
        second = rng.random() < self.SECOND
        cancel = rng.random() < self.CANCEL
        repost = rng.random() < 0.5
        if keep or first > limit or first <= 0:
            return
        cutoff = deadline - round((deadline - start) * (1 - SEND_BEFORE))
        base = max(start, now) if joined else start

        def post(kind: CommandKind, amount: int | None, low: float, high: float) -> None:
            at = self.within(base, deadline, low, high)
            self.plan(Command(kind, self.lot, amount, at, deadline, cutoff, self.format))

        post("bid", first, 0.02, 0.10)
        lower = first - step * rng.randint(1, 2)
        if second and lower >= reserve and lower > 0:
            post("bid", lower, 0.15, 0.40)
        if cancel:
            post("cancel", None, 0.45, 0.55)
            if repost:
                post("bid", first, 0.60, 0.70)


class OpenPlayer(LotPlayer):
    """The open descending auction: steady bidders and snipers, each down to its reserve."""

    format = "open"
    window_codes = frozenset({"auction_closed"})
    miss_note = "bid missed: server slow"

    def __init__(self, tactics: Tactics, rng: random.Random) -> None:
        super().__init__(tactics, rng)
        self.close_at: int | None = None
        self.started_at: int | None = None
        self.live = False
        self.best: int | None = None
        self.leader: str | None = None
        self.own_best: int | None = None
        self.ceiling: int | None = None
        self.decrement: int | None = None
        self.percent: float | None = None
        self.against = "best"
        self.scheduled_close: int | None = None
        """The close the current snipe was planned for."""

    def on_view(self, view: Mapping[str, Any], now: int) -> None:
        super().on_view(view, now)
        self.ceiling = int(view.get("start_value") or 0) or self.ceiling
        self.against = str(view.get("against") or "best")
        if view.get("decrement"):
            self.decrement = int(view["decrement"])
        elif view.get("decrement_percent"):
            self.percent = float(view["decrement_percent"])
        if view.get("status") == "live" and view.get("close_at"):
            self.live = True
            self.close_at = int(view["close_at"])
            self.started_at = self.started_at or now
        for entry in view.get("ladder") or []:
            amount = entry.get("amount")
            if amount is None:
                continue
            if entry.get("you"):
                self.own_best = int(amount)
            if entry.get("rank") == 1:
                self.best, self.leader = int(amount), entry.get("label")
        self.replan(now)

    def on_event(self, event: Mapping[str, Any], now: int) -> None:
        super().on_event(event, now)
        kind = event.get("type")
        if kind == "bidding_opened":
            self.live = True
            self.close_at = int(event["close_at"])
            self.started_at = int(event["at"])
            self.replan(now)
        elif kind == "close_extended":
            self.close_at = int(event["close_at"])
            self.replan(now)
        elif kind == "bid_placed" and event.get("amount") is not None:
            amount = int(event["amount"])
            if event.get("bidder") == self.label:
                self.own_best = amount
            if self.best is None or amount < self.best:
                self.best, self.leader = amount, event.get("bidder")
            self.replan(now)

    def accepted(self, cmd: Command) -> None:
        if cmd.amount is not None:
            self.own_best = cmd.amount
            if self.best is None or cmd.amount < self.best:
                self.best, self.leader = cmd.amount, self.label

    def step_below(self, reference: int) -> int:
        if self.decrement is not None:
            return self.decrement
        return max(1, math.ceil(reference * (self.percent or 0) / 100))

    def limit(self) -> int | None:
        """The most this bidder may bid now, from what it has seen."""
        reference = self.own_best if self.against == "own" else self.best
        if reference is None:
            return self.ceiling
        return reference - self.step_below(reference)

    def leading(self) -> bool:
        return self.leader is not None and self.leader == self.label

    def amount(self) -> int | None:
        limit = self.limit()
        if limit is None or limit < self.tactics.reserve or limit <= 0:
            return None
        return limit

    def replan(self, now: int) -> None:
        """(Re)plan the next bid from the latest state: one at a time."""
        if self.done or not self.live or self.close_at is None:
            return
        if self.leading() or self.amount() is None:
            self.queue.clear()
            return
        close = self.close_at
        if self.queue and self.scheduled_close == close:
            return
        self.queue.clear()
        window = max(1, self.tactics.window_ms or (close - (self.started_at or now)) // 10)
        if self.tactics.style == "sniper":
            at = max(now, close - round(window * self.rng.uniform(0.3, 0.8)))
        else:
            remaining = max(1, close - now - window)
            at = now + round(remaining * self.rng.uniform(0.05, 0.25))
        cutoff = close - max(1, round(window * (1 - SEND_BEFORE)))
        if at > cutoff:
            return
        self.scheduled_close = close
        self.plan(Command("bid", self.lot, None, at, close, cutoff, self.format))

    def take(self, now: int) -> Command | None:
        cmd = super().take(now)
        if cmd is None:
            return None
        amount = self.amount()
        if amount is None or self.leading():
            self.replan(now)
            return None
        self.scheduled_close = None
        return Command(cmd.kind, cmd.lot, amount, cmd.due, cmd.window_end, cmd.cutoff, self.format)

    def refused(self, cmd: Command, code: str) -> None:
        self.scheduled_close = None  # outbid in the meantime: the events tell by how much


class JapanesePlayer(LotPlayer):
    """Confirms each round's price while it is at or above the reserve, then leaves."""

    format = "japanese"
    window_codes = frozenset({"bidder_dropped", "auction_closed"})
    miss_note = "round missed: server slow"

    def __init__(self, tactics: Tactics, rng: random.Random) -> None:
        super().__init__(tactics, rng)
        self.rounds: set[int] = set()
        self.out = False

    def on_view(self, view: Mapping[str, Any], now: int) -> None:
        super().on_view(view, now)
        if view.get("you_dropped"):
            self.out = True
            self.finish()
            return
        price, deadline, number = view.get("price"), view.get("deadline"), view.get("round")
        if price is not None and deadline is not None and number and not view.get("you_confirmed"):
            self.plan_round(int(number), int(price), now, int(deadline), now)

    def on_event(self, event: Mapping[str, Any], now: int) -> None:
        super().on_event(event, now)
        if event.get("type") == "clock_round_started":
            if self.out:
                self.finish()  # it lapsed: out for good
                return
            at, deadline = int(event["at"]), int(event["deadline"])
            self.plan_round(int(event["round"]), int(event["price"]), at, deadline, now)

    def plan_round(self, number: int, price: int, start: int, deadline: int, now: int) -> None:
        if number in self.rounds or self.done:
            return
        self.rounds.add(number)
        cutoff = deadline - round((deadline - start) * (1 - SEND_BEFORE))
        base = max(start, min(now, cutoff))
        if price >= self.tactics.reserve:
            at = self.within(base, deadline, 0.05, 0.40)
            self.plan(Command("accept", self.lot, None, at, deadline, cutoff, self.format))
            return
        self.out = True
        if self.rng.random() < 0.5:  # leave at once; otherwise let the round lapse
            at = self.within(base, deadline, 0.05, 0.30)
            self.plan(Command("cancel", self.lot, None, at, deadline, cutoff, self.format))

    def accepted(self, cmd: Command) -> None:
        if cmd.kind == "cancel":
            self.finish()


class DutchPlayer(LotPlayer):
    """Takes the clock's price once it reaches the reserve (first accept wins)."""

    format = "dutch"

    def __init__(self, tactics: Tactics, rng: random.Random) -> None:
        super().__init__(tactics, rng)
        self.direction = "rising"
        self.taken = False

    def on_view(self, view: Mapping[str, Any], now: int) -> None:
        super().on_view(view, now)
        self.direction = str(view.get("direction") or "rising")
        price, deadline = view.get("price"), view.get("deadline")
        if price is not None and deadline is not None:
            self.consider(int(price), now, int(deadline), now)

    def on_event(self, event: Mapping[str, Any], now: int) -> None:
        super().on_event(event, now)
        if event.get("type") == "price_changed":
            self.consider(int(event["price"]), int(event["at"]), int(event["deadline"]), now)

    def consider(self, price: int, start: int, deadline: int, now: int) -> None:
        if self.taken or self.done:
            return
        reserve = self.tactics.reserve
        if (price >= reserve) if self.direction == "rising" else (price <= reserve):
            self.taken = True
            at = self.within(max(start, min(now, deadline)), deadline, 0.05, 0.50)
            self.plan(Command("accept", self.lot, None, at, None, None, self.format))


class RatePlayer(LotPlayer):
    """The classic open bidder: a bid every ``1 / rate`` s, whoever leads (``--ub-bid-rate``).

    ``undercut`` bids the most the rules allow; ``random`` 0 to 9 decrements
    below it. Losing a race to a concurrent bid (``step_too_small``) is an
    auction outcome."""

    format = "open"
    window_codes = frozenset({"auction_closed"})

    def __init__(self, tactics: Tactics, rng: random.Random, rate: float, strategy: str) -> None:
        super().__init__(tactics, rng)
        self.interval = max(1, round(1000 / max(rate, 0.001)))
        self.strategy = strategy
        self.open = OpenPlayer(tactics, rng)
        self.next: int | None = None

    def on_view(self, view: Mapping[str, Any], now: int) -> None:
        super().on_view(view, now)
        self.open.on_view(view, now)
        self.open.queue.clear()
        self.arm(now)

    def on_event(self, event: Mapping[str, Any], now: int) -> None:
        super().on_event(event, now)
        self.open.on_event(event, now)
        self.open.queue.clear()
        self.arm(now)

    def arm(self, now: int) -> None:
        if self.next is None and self.open.live and not self.done:
            self.next = now

    def next_at(self) -> int | None:
        return None if self.done or not self.open.live else self.next

    def take(self, now: int) -> Command | None:
        if self.next is None or self.done or now < self.next:
            return None
        self.next = max(self.next + self.interval, now)
        limit = self.open.limit()
        if limit is None or limit <= 0:
            return None
        amount = limit
        if self.strategy == "random":
            amount -= self.rng.randint(0, 9) * self.open.step_below(limit)
        if amount <= 0:
            return None
        self.sent += 1
        close = self.open.close_at
        return Command("bid", self.lot, amount, now, close, close, self.format)

    def accepted(self, cmd: Command) -> None:
        self.open.accepted(cmd)


PLAYERS: dict[str, type[LotPlayer]] = {
    "rounds": RoundsPlayer,
    "open": OpenPlayer,
    "japanese": JapanesePlayer,
    "dutch": DutchPlayer,
}


def default_tactics(lot: Mapping[str, Any], rng: random.Random) -> Tactics:
    """Tactics for a lot the plan did not make (``--ub-auction``, ``--auction``), from its view."""
    fmt = str(lot.get("format", "open"))
    lot_id = str(lot.get("id", ""))
    start = int(lot.get("start_value") or 1)
    if fmt == "rounds":
        own = int((lot.get("you") or {}).get("amount") or start)
        return Tactics(lot_id, fmt, round(own * rng.uniform(0.80, 0.95)))
    if fmt == "japanese":
        floor = int(lot.get("floor") or 1)
        return Tactics(lot_id, fmt, max(floor, round(start * rng.uniform(0.6, 0.95))))
    if fmt == "dutch":
        limit = int(lot.get("limit_price") or start)
        return Tactics(lot_id, fmt, round(limit * rng.uniform(0.8, 1.0)))
    return Tactics(
        lot_id, "open", round(start * rng.uniform(0.6, 0.9)), rng.choice(["steady", "sniper"])
    )


@dataclass
class SeatPlayer:
    """One bidder's connection: a player per lot it was admitted to."""

    players: dict[str, LotPlayer]
    ends: dict[str, str] = field(default_factory=dict)
    """The lots that ended, with their outcome."""

    @classmethod
    def planned(cls, tactics: Sequence[Tactics], seed: int) -> SeatPlayer:
        return cls({t.lot: PLAYERS[t.format](t, random.Random(f"{seed}:{t.lot}")) for t in tactics})

    @classmethod
    def joined(
        cls, lots: Iterable[Mapping[str, Any]], seed: int, rate: float = 0.0, strategy: str = ""
    ) -> SeatPlayer:
        """Players for the lots of a view; open lots get :class:`RatePlayer` when ``rate``."""
        players: dict[str, LotPlayer] = {}
        for lot in lots:
            rng = random.Random(f"{seed}:{lot.get('id')}")
            tactics = default_tactics(lot, rng)
            if tactics.format == "open" and rate > 0:
                players[tactics.lot] = RatePlayer(tactics, rng, rate, strategy or "undercut")
            else:
                players[tactics.lot] = PLAYERS[tactics.format](tactics, rng)
        return cls(players)

    @property
    def done(self) -> bool:
        return all(p.done for p in self.players.values())

    def on_view(self, view: Mapping[str, Any], now: int) -> None:
        for lot in view.get("lots") or []:
            player = self.players.get(str(lot.get("id")))
            if player is not None:
                player.on_view(lot, now)

    def on_event(self, event: Mapping[str, Any], now: int) -> None:
        lot = event.get("lot")
        if event.get("type") == "lot_ended" and lot in self.players:
            self.ends[str(lot)] = str(event.get("outcome", ""))
        targets = [self.players[lot]] if lot in self.players else []
        if not lot:  # auction-wide: pause, resume, cancel
            targets = list(self.players.values())
        for player in targets:
            player.on_event(event, now)

    def next_at(self) -> int | None:
        times = [t for p in self.players.values() if (t := p.next_at()) is not None]
        return min(times, default=None)

    def take(self, now: int) -> Command | None:
        for player in sorted(self.players.values(), key=lambda p: p.next_at() or 0):
            cmd = player.take(now)
            if cmd is not None:
                return cmd
        return None

    def on_answer(self, cmd: Command, ok: bool, code: str, sent_at: int) -> Outcome:
        return self.players[cmd.lot].on_answer(cmd, ok, code, sent_at)

    def notes(self) -> list[tuple[str, str]]:
        """``(format, note)`` of every window missed since the last call."""
        out: list[tuple[str, str]] = []
        for p in self.players.values():
            out.extend((p.format, n) for n in p.notes)
            p.notes.clear()
        return out


__all__ = [
    "FAILING_CODES",
    "PLAYERS",
    "Command",
    "DutchPlayer",
    "JapanesePlayer",
    "LotPlayer",
    "OpenPlayer",
    "Outcome",
    "RatePlayer",
    "RoundsPlayer",
    "SeatPlayer",
    "default_tactics",
]
