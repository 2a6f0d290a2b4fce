"""Built-in bidding bots for simulations and demos.

A bot plays one bidder. It sees only that bidder's view (never more than a
real supplier would) and has a private ``reserve``: the lowest amount it will
bid, or in a clock auction the worst price it will still take. Strategies:

- ``eager``: bids as low as the rules allow, down to its reserve, as soon
  as it may (a few seconds of thinking).
- ``steady``: bids the most it may (the minimum improvement, one step); in
  ``open`` lots only when not leading.
- ``sniper``: in ``open`` lots waits for the last seconds before the close;
  elsewhere behaves like ``steady``.
- ``passive``: never bids (shows what silence does to a bidder).

Bots draw think times and reserves from a ``random.Random`` seeded by the
caller, so a simulation is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auction.core.commands import AcceptPrice, AnyCommand, PlaceBid
from auction.core.engine import Auction
from auction.core.spec import AuctionSpec
from auction.core.views import auction_view

STRATEGIES = ("eager", "steady", "sniper", "passive")


@dataclass
class Bot:
    bidder: str
    strategy: str
    reserve: dict[str, int]
    """Per lot: the lowest amount it bids (or the worst price it takes)."""
    rng: random.Random
    wake_at: int | None = None
    pace: float = 1.0
    """Time runs this many times faster (a sped-up live demo): think faster too."""
    margin_ms: int = 1
    """Act at least this long before a deadline (a live bot allows for the network)."""
    _counter: int = 0
    _plan: dict[str, Any] = field(default_factory=dict)

    def replan(self, auction: Auction, now: int) -> None:
        """Look at the view after a change and decide when to act next."""
        self.plan(auction_view(auction, "bidder", self.bidder), now)

    def act(self, auction: Auction, now: int) -> list[AnyCommand]:
        """The commands it sends when it wakes."""
        return self.commands(auction_view(auction, "bidder", self.bidder), now)

    def plan(self, view: Mapping[str, Any], now: int) -> None:
        """Decide when to act next from the bidder's ``view`` (engine- or wire-built)."""
        self.wake_at = None
        if self.strategy == "passive" or view["paused"]:
            return  # while paused bids would be rejected; the resume replans
        for lot in view["lots"]:
            at = self._when(lot, now)
            if at is not None and (self.wake_at is None or at < self.wake_at):
                self.wake_at = at

    def commands(self, view: Mapping[str, Any], now: int) -> list[AnyCommand]:
        """What to send now, judged from the bidder's ``view``."""
        self.wake_at = None
        commands: list[AnyCommand] = []
        for lot in view["lots"]:
            command = self._command(lot, now)
            if command is not None:
                commands.append(command)
        return commands

    # ---------------------------------------------------------- internals
    def _think(self, now: int, deadline: int | None, low: int = 1500, high: int = 9000) -> int:
        delay = int(self.rng.randint(low, high) / self.pace)
        if deadline is not None:
            delay = min(delay, max(0, deadline - now - self.margin_ms))
        return now + delay

    def _when(self, lot: Mapping[str, Any], now: int) -> int | None:
        if lot["status"] != "live" or lot["you"].get("disqualified"):
            return None
        fmt = lot["format"]
        deadline = lot["deadline"]
        key = (lot["id"], lot["stage"], lot.get("round"), lot.get("turn"), lot.get("price"))
        if self._plan.get(lot["id"]) == key:
            return None
        if fmt == "rounds":
            if lot["your_turn"] and lot.get("your_pending") is None and lot["max_bid"]:
                return self._think(now, deadline)
            return None
        if fmt == "open":
            you = lot["you"]
            leading = you.get("rank") == 1
            if leading or not lot["max_bid"] or lot["max_bid"] < self.reserve[lot["id"]]:
                return None
            if self.strategy == "sniper" and lot["close_at"] is not None:
                ahead = int(self.rng.randint(1000, 4000) / self.pace) + self.margin_ms
                target: int = lot["close_at"] - ahead
                return max(now, target)
            return self._think(now, deadline)
        if fmt == "japanese":
            if lot["you_confirmed"] or lot["you_dropped"]:
                return None
            if lot["price"] is None or lot["price"] < self.reserve[lot["id"]]:
                return None
            return self._think(now, deadline, 500, 5000)
        if fmt == "dutch":
            price = lot["price"]
            if price is None:
                return None
            rising = lot["direction"] == "rising"
            fine = price >= self.reserve[lot["id"]] if rising else price <= self.reserve[lot["id"]]
            return self._think(now, deadline, 200, 3000) if fine else None
        return None

    def _command(self, lot: Mapping[str, Any], now: int) -> AnyCommand | None:
        if lot["status"] != "live" or self._when(lot, now) is None:
            return None
        fmt = lot["format"]
        lot_id = lot["id"]
        self._counter += 1
        bid_id = f"{self.bidder}-{self._counter}"
        if fmt in ("japanese", "dutch"):
            self._plan[lot_id] = (lot_id, lot["stage"], lot.get("round"), None, lot.get("price"))
            return AcceptPrice(lot=lot_id, bidder=self.bidder, bid_id=bid_id)
        max_bid: int = lot["max_bid"]
        reserve = self.reserve[lot_id]
        if max_bid < reserve:
            return None
        if self.strategy == "eager":
            steps = self.rng.randint(0, 3)
            step = lot.get("minimal_step") or lot.get("decrement") or 1
            amount = max(reserve, max_bid - steps * step)
        else:
            amount = max_bid
        if fmt == "rounds":
            self._plan[lot_id] = (lot_id, lot["stage"], lot.get("round"), lot.get("turn"), None)
        return PlaceBid(lot=lot_id, bidder=self.bidder, amount=amount, bid_id=bid_id)


def make_bots(
    spec: AuctionSpec,
    assignment: Mapping[str, str] | None = None,
    *,
    seed: int = 1,
    reserves: Mapping[str, float] | None = None,
    pace: float = 1.0,
    margin_ms: int = 1,
) -> list[Bot]:
    """Bots for the bidders named in ``assignment`` (bidder -> strategy).

    With no assignment every bidder gets a bot, strategies taken in turn.
    ``reserves`` maps a bidder to its reserve as a fraction of each lot's
    start value; by default it is drawn between 0.55 and 0.9.
    """
    rng = random.Random(seed)
    ids: list[str] = []
    for lot in spec.lots:
        ids.extend(b.id for b in lot.bidders if b.id not in ids)
    if assignment is None:
        assignment = {b: STRATEGIES[i % 3] for i, b in enumerate(ids)}
    bots: list[Bot] = []
    for bidder, strategy in assignment.items():
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
        if bidder not in ids:
            raise ValueError(f"no bidder {bidder!r} in the spec")
        share = reserves.get(bidder) if reserves else None
        if share is None:
            share = rng.uniform(0.55, 0.9)
        reserve: dict[str, int] = {}
        for lot in spec.lots:
            if lot.dutch is not None:
                s = lot.dutch
                low, high = sorted((s.start_price, s.limit_price))
                reserve[lot.id] = low + int((high - low) * rng.uniform(0.2, 0.9))
            else:
                reserve[lot.id] = int(lot.start_value * share)
        bot = Bot(bidder, strategy, reserve, random.Random(rng.random()))
        bot.pace, bot.margin_ms = pace, margin_ms
        bots.append(bot)
    return bots
