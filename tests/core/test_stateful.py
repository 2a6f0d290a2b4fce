"""Stateful property tests: random command streams against every format.

One Hypothesis state machine per format, and one for a multi-lot event that
mixes formats. Each drives a live :class:`Auction` with a fake clock that jumps
by random amounts (exactly to the next deadline, one ms before it, one after,
not at all), random bids, cancels and accepts from admitted and unknown bidders
(amounts around the values the rules care about, repeated bid ids, stale
timestamps), official controls, bare ``advance`` calls and takeovers (the live
engine replaced by one restored from its snapshot or rebuilt from its journal).

After every step:

- ``Auction.replay(spec, journal).state_hash() == live.state_hash()``, and a
  snapshot restores to the same bytes;
- the winner of every completed lot heads the engine's own ranking;

and after every call:

- the journal holds exactly the events the calls returned, and every deadline
  up to the call's time has fired (``next_deadline()`` is later, or None);
- ``advance`` twice at the same time adds nothing the second time;
- a resent (bidder, bid_id) is reported as a duplicate with its original
  outcome and adds no event beyond the deadlines that were due anyway;
- the journal obeys the rules, checked by :class:`JournalChecker`, an
  independent fold of the events (see its docstring for the list).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from auction.core import (
    AcceptPrice,
    AnyCommand,
    Auction,
    AuctionSpec,
    CancelAuction,
    CancelBid,
    Disqualify,
    Event,
    Extend,
    LotSpec,
    Outcome,
    Pause,
    PlaceBid,
    Reschedule,
    Resume,
    parse_spec,
)
from auction.core.events import (
    AuctionCancelled,
    AuctionPaused,
    AuctionResumed,
    BidCancelled,
    BidderDisqualified,
    BidderDropped,
    BiddingOpened,
    BidPlaced,
    ClockRoundStarted,
    CloseExtended,
    CommandRejected,
    DeadlineExtended,
    LotEnded,
    LotStarted,
    PauseStarted,
    PhaseStarted,
    PriceAccepted,
    PriceChanged,
    RoundStarted,
    StartMoved,
    TurnEnded,
    TurnStarted,
)
from auction.core.formats.base import ENDED, FormatRules
from auction.core.formats.japanese import JapaneseState
from auction.core.formats.rounds import RoundsState
from tests.factories import (
    START,
    bidders,
    dutch_spec,
    japanese_spec,
    lot_of,
    multi_lot_spec,
    open_spec,
    rounds_spec,
)

SETTINGS = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

BIDDER_COMMANDS = (PlaceBid, CancelBid, AcceptPrice)
GHOSTS = ("ghost", "")
"""Bidders no lot admits."""


# ====================================================================== model
@dataclass
class LotModel:
    """What the checker knows of one lot, folded from the journal alone."""

    spec: LotSpec
    rules: FormatRules[Any]
    status: str = "scheduled"
    start_at: int = 0
    labels: list[str] = field(default_factory=list)
    disqualified: set[str] = field(default_factory=set)
    winner: str | None = None
    # rounds
    turn_bidder: str | None = None
    turn_deadline: int = 0
    round: int = 0
    order: list[str] = field(default_factory=list)
    turns_taken: list[str] = field(default_factory=list)
    committed: dict[str, int] = field(default_factory=dict)
    committed_at: dict[str, int] = field(default_factory=dict)
    pending: int | None = None
    pending_at: int | None = None
    # open
    close_at: int = 0
    cap_at: int | None = None
    quiet_at: int | None = None
    best: dict[str, int] = field(default_factory=dict)
    best_at: dict[str, int] = field(default_factory=dict)
    # japanese
    price: int | None = None
    round_deadline: int = 0
    active: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)
    previous: list[str] = field(default_factory=list)
    previous_price: int | None = None
    round_over: bool = False
    # dutch
    step: int = -1
    step_deadline: int = 0
    accepted: PriceAccepted | None = None

    @property
    def fmt(self) -> str:
        return self.spec.format

    def remaining(self) -> list[str]:
        return [b for b in self.labels if b not in self.disqualified]

    def score(self, bidder: str, amount: int) -> Any:
        return self.rules.scorer.adjusted(bidder, amount)

    def index(self, bidder: str) -> int:
        return [b.id for b in self.spec.bidders].index(bidder)

    def move(self, ms: int) -> None:
        """Every time in force moves by ``ms`` (resume shift or an extension)."""
        if self.status == "scheduled":
            self.start_at += ms
            return
        self.turn_deadline += ms
        self.round_deadline += ms
        self.step_deadline += ms
        self.close_at += ms
        if self.cap_at is not None:
            self.cap_at += ms
        if self.quiet_at is not None:
            self.quiet_at += ms


class JournalChecker:
    """An independent fold of the journal that fails on any broken rule.

    Checked on every event as it arrives:

    - times never go back, and no event is dated after the call that caused it;
    - a lot starts exactly at its (shifted, extended) start; it ends once, and
      no event but a rejection concerns it afterwards;
    - no bid, cancel or accept is accepted while paused, outside a live lot,
      from a bidder the lot does not admit or that was disqualified, above the
      ceiling, or at/after the deadline in force (turn, close, quiet close,
      round, price step); ``rounds`` and ``open`` take no bids once fewer than
      two bidders remain (such a lot ends at once);
    - ``rounds``: turn order is worst first (later amount first on ties), only
      the turn's bidder posts or cancels (a cancel with nothing posted changes
      nothing), every post is ``0 < amount <= own - step``,
      a turn ends exactly at its deadline and counts its last post; with two
      bidders left the lot ends only after the last turn of the last round;
    - ``open``: every bid beats the reference (best, or own) by the decrement;
      dynamic close never passes the cap; the close is exact;
    - ``japanese``: round prices fall by exactly the step and never below the
      floor; a dropped bidder never confirms again; nothing is confirmed or
      withdrawn once every bidder still in has confirmed; the winner and its
      price follow the module's rule (earliest confirmer of the last round with
      confirmations);
    - ``dutch``: the price moves strictly toward the limit, one step per
      interval, at the exact deadline; the winner pays the clock price at its
      accept;
    - the winner of a completed lot is the best of an independent ranking
      (``rounds``, ``open``: lowest adjusted amount, earlier on ties).
    """

    def __init__(self, spec: AuctionSpec) -> None:
        self.spec = spec
        reference = Auction(spec)
        self.lots = {
            lot.id: LotModel(spec=lot, rules=reference.rules[lot.id], start_at=lot.start_at)
            for lot in spec.lots
        }
        self.last_at: int | None = None
        self.paused_at: int | None = None
        self.cancelled = False

    # ------------------------------------------------------------ entry
    def feed(self, events: list[Event], latest: int) -> None:
        """Check ``events`` of one call; none may be dated after ``latest``."""
        for ev in events:
            assert self.last_at is None or ev.at >= self.last_at, f"time went back: {ev}"
            assert ev.at <= latest, f"{ev} is dated after its call at {latest}"
            self.last_at = ev.at
            if not ev.lot:
                self._auction_wide(ev)
            else:
                self._lot_event(self.lots[ev.lot], ev)

    def _auction_wide(self, ev: Event) -> None:
        if isinstance(ev, AuctionPaused):
            assert self.paused_at is None, "paused twice"
            self.paused_at = ev.at
        elif isinstance(ev, AuctionResumed):
            assert self.paused_at is not None, "resumed while running"
            assert ev.shift == ev.at - self.paused_at
            self.paused_at = None
            for lm in self.lots.values():
                if lm.status != ENDED:
                    lm.move(ev.shift)
        elif isinstance(ev, AuctionCancelled):
            assert not self.cancelled
            self.cancelled = True
            self.paused_at = None
            for lm in self.lots.values():
                if lm.status != ENDED:
                    lm.status = ENDED
        else:
            assert isinstance(ev, CommandRejected), f"auction-wide {ev}"

    # -------------------------------------------------------------- lots
    def _lot_event(self, lm: LotModel, ev: Event) -> None:
        if isinstance(ev, CommandRejected):
            return
        assert lm.status != ENDED, f"{ev} after lot {lm.spec.id} ended"
        if isinstance(ev, BidPlaced | BidCancelled | PriceAccepted) or (
            isinstance(ev, BidderDropped) and ev.reason == "withdrew"
        ):
            self._bidder_action(lm, ev)
        if isinstance(ev, LotStarted):
            assert lm.status == "scheduled"
            assert ev.at == lm.start_at, f"lot started at {ev.at}, due at {lm.start_at}"
            assert len(ev.labels) >= 2
            assert not set(ev.labels) & lm.disqualified
            lm.status = "live"
            lm.labels = list(ev.labels)
            return
        if isinstance(ev, LotEnded):
            self._ended(lm, ev)
            return
        if isinstance(ev, BidderDisqualified):
            self._disqualified(lm, ev)
            return
        if isinstance(ev, DeadlineExtended):
            assert ev.ms > 0
            lm.move(ev.ms)
            return
        if isinstance(ev, StartMoved):
            assert lm.status == "scheduled", f"{ev}: a lot that started moved"
            assert self.paused_at is None, f"{ev} while paused"
            assert ev.start_at > ev.at, f"{ev}: a start not in the future"
            lm.start_at = ev.start_at
            return
        assert lm.status == "live", f"{ev} in a lot that is not live"
        handler = getattr(self, f"_{lm.fmt}")
        handler(lm, ev)

    def _bidder_action(self, lm: LotModel, ev: Any) -> None:
        assert self.paused_at is None, f"{ev} accepted while paused"
        assert lm.status == "live", f"{ev} accepted in a lot that is not live"
        assert ev.bidder in lm.labels, f"{ev}: bidder not admitted"
        assert ev.bidder not in lm.disqualified, f"{ev}: bidder disqualified"
        if lm.fmt in ("rounds", "open"):
            assert len(lm.remaining()) >= 2, f"{ev} accepted with fewer than two bidders left"

    def _disqualified(self, lm: LotModel, ev: BidderDisqualified) -> None:
        assert ev.bidder in lm.rules.bidder_ids
        assert ev.bidder not in lm.disqualified
        lm.disqualified.add(ev.bidder)
        lm.best.pop(ev.bidder, None)
        if lm.turn_bidder == ev.bidder:
            lm.turn_bidder = None
            lm.pending = None
        if ev.bidder in lm.active:
            lm.active.remove(ev.bidder)
        if ev.bidder in lm.confirmed:
            lm.confirmed.remove(ev.bidder)
        if lm.fmt == "japanese" and lm.status == "live":
            lm.round_over = all(b in lm.confirmed for b in lm.active)

    def _ended(self, lm: LotModel, ev: LotEnded) -> None:
        lm.status = ENDED
        lm.winner = ev.winner
        if ev.outcome == "insufficient_bidders":
            assert ev.at == lm.start_at
            admitted = [b.id for b in lm.spec.bidders if b.id not in lm.disqualified]
            assert len(admitted) < 2
            if ev.winner is not None:
                assert admitted == [ev.winner]
                assert ev.amount == lm.spec.bidder(ev.winner).amount  # type: ignore[union-attr]
            return
        assert lm.labels, f"{ev} ends a lot that never started"
        if ev.outcome == "completed":
            assert ev.winner is not None and ev.amount is not None
            assert ev.winner in lm.labels and ev.winner not in lm.disqualified
            assert 0 < ev.amount <= lm.spec.start_value, f"winning amount {ev.amount}"
        else:
            assert ev.outcome == "no_winner", ev
            assert ev.winner is None and ev.amount is None
        getattr(self, f"_{lm.fmt}_ended")(lm, ev)

    # ------------------------------------------------------------ rounds
    def _rounds_key(self, lm: LotModel, bidder: str) -> tuple[Any, int, int]:
        return lm.score(bidder, lm.committed[bidder]), lm.committed_at[bidder], lm.index(bidder)

    def _rounds(self, lm: LotModel, ev: Event) -> None:
        step = lm.spec.minimal_step
        assert step is not None
        if isinstance(ev, PauseStarted):
            if not lm.committed:
                for b in lm.spec.bidders:
                    assert b.amount is not None
                    lm.committed[b.id] = b.amount
                    lm.committed_at[b.id] = b.submitted_at
            assert ev.before_round == lm.round + 1
            assert lm.turn_bidder is None
        elif isinstance(ev, RoundStarted):
            assert ev.round == lm.round + 1
            rounds = lm.spec.rounds
            assert rounds is not None and ev.round <= rounds.rounds
            expected = sorted(lm.remaining(), key=lambda b: self._rounds_key(lm, b), reverse=True)
            assert ev.order == expected, f"turn order {ev.order}, expected {expected}"
            lm.round = ev.round
            lm.order = list(ev.order)
            lm.turns_taken = []
        elif isinstance(ev, TurnStarted):
            assert lm.turn_bidder is None
            assert ev.round == lm.round
            left = [b for b in lm.order if b not in lm.turns_taken and b not in lm.disqualified]
            assert left and ev.bidder == left[0], f"turn of {ev.bidder}, expected {left[:1]}"
            lm.turns_taken.append(ev.bidder)
            lm.turn_bidder = ev.bidder
            lm.turn_deadline = ev.deadline
            lm.pending = lm.pending_at = None
        elif isinstance(ev, BidPlaced):
            assert ev.bidder == lm.turn_bidder, f"{ev.bidder} posted in {lm.turn_bidder}'s turn"
            assert ev.at < lm.turn_deadline, f"post at {ev.at}, turn over at {lm.turn_deadline}"
            limit = lm.committed[ev.bidder] - step
            assert 0 < ev.amount <= limit, f"post {ev.amount} breaks the step rule ({limit})"
            lm.pending, lm.pending_at = ev.amount, ev.at
        elif isinstance(ev, BidCancelled):  # with nothing posted: a no-op (as in ProZorro)
            assert ev.bidder == lm.turn_bidder
            assert ev.at < lm.turn_deadline
            lm.pending = lm.pending_at = None
        elif isinstance(ev, TurnEnded):
            assert ev.bidder == lm.turn_bidder
            assert ev.at == lm.turn_deadline, f"turn ended at {ev.at}, due {lm.turn_deadline}"
            assert ev.changed == (lm.pending is not None)
            if lm.pending is not None:
                assert lm.pending_at is not None
                assert ev.amount == lm.pending
                lm.committed[ev.bidder] = lm.pending
                lm.committed_at[ev.bidder] = lm.pending_at
            else:
                assert ev.amount == lm.committed[ev.bidder]
            lm.turn_bidder = None
            lm.pending = lm.pending_at = None
        else:
            raise AssertionError(f"rounds lot got {ev}")

    def _rounds_ended(self, lm: LotModel, ev: LotEnded) -> None:
        remaining = lm.remaining()
        rounds = lm.spec.rounds
        assert rounds is not None
        if len(remaining) >= 2:
            assert lm.round == rounds.rounds, "ended before the last round"
            assert set(lm.turns_taken) >= set(remaining), "ended before every turn"
        if not remaining:
            assert ev.outcome == "no_winner"
            return
        assert ev.outcome == "completed"
        best = min(remaining, key=lambda b: self._rounds_key(lm, b))
        assert ev.winner == best, f"winner {ev.winner}, best is {best}"
        assert ev.amount == lm.committed[best]

    # -------------------------------------------------------------- open
    def _open_rank(self, lm: LotModel) -> list[str]:
        return sorted(lm.best, key=lambda b: (lm.score(b, lm.best[b]), lm.best_at[b], lm.index(b)))

    def _open(self, lm: LotModel, ev: Event) -> None:
        settings = lm.spec.open
        assert settings is not None
        if isinstance(ev, BiddingOpened):
            lm.close_at = ev.close_at
            assert ev.close_at == ev.at + settings.duration_ms
            if settings.dynamic_close_cap_ms is not None:
                lm.cap_at = ev.close_at + settings.dynamic_close_cap_ms
            if settings.quiet_close_ms is not None:
                lm.quiet_at = ev.at + settings.quiet_close_ms
            for b in lm.spec.bidders:
                if b.amount is not None and b.id in lm.labels:
                    lm.best[b.id] = b.amount
                    lm.best_at[b.id] = b.submitted_at
        elif isinstance(ev, BidPlaced):
            assert ev.at < lm.close_at, f"bid at {ev.at}, close at {lm.close_at}"
            if lm.quiet_at is not None:
                assert ev.at < lm.quiet_at, f"bid at {ev.at}, quiet close at {lm.quiet_at}"
            assert 0 < ev.amount <= lm.spec.start_value, f"bid {ev.amount} above the ceiling"
            if settings.against == "own":
                ref = lm.score(ev.bidder, lm.best[ev.bidder]) if ev.bidder in lm.best else None
            else:
                ranked = self._open_rank(lm)
                ref = lm.score(ranked[0], lm.best[ranked[0]]) if ranked else None
            if ref is not None:
                if settings.decrement is not None:
                    dec = settings.decrement
                else:
                    assert settings.decrement_percent is not None
                    dec = math.ceil(Fraction(ref) * settings.decrement_percent / 100)
                score = lm.score(ev.bidder, ev.amount)
                assert score <= ref - dec, f"bid {ev.amount} does not beat {ref} by {dec}"
            lm.best[ev.bidder] = ev.amount
            lm.best_at[ev.bidder] = ev.at
            if settings.quiet_close_ms is not None:
                lm.quiet_at = ev.at + settings.quiet_close_ms
        elif isinstance(ev, CloseExtended):
            assert ev.close_at > lm.close_at
            assert settings.dynamic_close_ms > 0
            assert ev.close_at <= ev.at + settings.dynamic_close_ms
            if lm.cap_at is not None:
                assert ev.close_at <= lm.cap_at, "dynamic close passed its cap"
            lm.close_at = ev.close_at
        elif isinstance(ev, PhaseStarted):
            assert ev.phase <= settings.phases
        else:
            raise AssertionError(f"open lot got {ev}")

    def _open_ended(self, lm: LotModel, ev: LotEnded) -> None:
        due = lm.close_at if lm.quiet_at is None else min(lm.close_at, lm.quiet_at)
        if len(lm.remaining()) >= 2:
            assert ev.at == due, f"lot closed at {ev.at}, due {due}"
        else:
            assert ev.at <= due
        ranked = self._open_rank(lm)
        if not ranked:
            assert ev.outcome == "no_winner"
            return
        assert ev.winner == ranked[0], f"winner {ev.winner}, best {ranked[0]}"
        assert ev.amount == lm.best[ranked[0]]

    # ---------------------------------------------------------- japanese
    def _japanese(self, lm: LotModel, ev: Event) -> None:
        settings = lm.spec.japanese
        assert settings is not None
        if isinstance(ev, ClockRoundStarted):
            if lm.price is None:
                assert ev.round == 1 and ev.price == lm.spec.start_value
                lm.active = lm.remaining()
            else:
                self._round_end_time(lm, ev)
                assert len(lm.confirmed) >= 2
                step = self._japanese_step(lm)
                assert ev.round == lm.round + 1
                assert ev.price == lm.price - step < lm.price, "the price must fall by the step"
            assert settings.floor <= ev.price <= lm.spec.start_value
            lm.previous, lm.previous_price = lm.confirmed, lm.price
            lm.round = ev.round
            lm.price = ev.price
            lm.round_deadline = ev.deadline
            lm.confirmed = []
            lm.round_over = not lm.active
        elif isinstance(ev, PriceAccepted):
            assert ev.bidder not in lm.dropped, f"{ev.bidder} confirmed after dropping out"
            assert ev.bidder in lm.active
            assert ev.bidder not in lm.confirmed, "confirmed twice in a round"
            assert not lm.round_over, "confirmed after the round was over"
            assert ev.at < lm.round_deadline, f"confirm at {ev.at}, round over {lm.round_deadline}"
            assert ev.price == lm.price
            lm.confirmed.append(ev.bidder)
            lm.round_over = all(b in lm.confirmed for b in lm.active)
        elif isinstance(ev, BidderDropped):
            assert ev.bidder not in lm.dropped, f"{ev.bidder} dropped out twice"
            assert ev.bidder in lm.active, f"{ev.bidder} dropped out but was not in"
            if ev.reason == "withdrew":
                assert ev.at < lm.round_deadline
                assert not lm.round_over, "withdrew after the round was over"
            else:
                assert ev.reason == "no_confirmation"
                assert ev.bidder not in lm.confirmed
                self._round_end_time(lm, ev)
            lm.active.remove(ev.bidder)
            if ev.bidder in lm.confirmed:
                lm.confirmed.remove(ev.bidder)
            lm.dropped.add(ev.bidder)
            if ev.reason == "withdrew":
                lm.round_over = all(b in lm.confirmed for b in lm.active)
        else:
            raise AssertionError(f"japanese lot got {ev}")

    def _round_end_time(self, lm: LotModel, ev: Event) -> None:
        if lm.round_over:
            assert ev.at <= lm.round_deadline
        else:
            assert ev.at == lm.round_deadline, f"round ended {ev.at}, due {lm.round_deadline}"

    def _japanese_ended(self, lm: LotModel, ev: LotEnded) -> None:
        """The rule of the module docstring: with confirmations, the earliest
        confirmer wins at this round's price (the last one standing, or the
        floor stops the clock); with none, the earliest confirmer of the
        previous round wins at its price; in round 1, nobody."""
        self._round_end_time(lm, ev)
        if lm.confirmed:
            if len(lm.confirmed) >= 2:
                settings = lm.spec.japanese
                assert settings is not None and lm.price is not None
                assert lm.price - self._japanese_step(lm) < settings.floor, "ended too early"
            expected = (lm.confirmed[0], lm.price)
        else:
            previous = [b for b in lm.previous if b not in lm.disqualified]
            expected = (previous[0], lm.previous_price) if previous else (None, None)
        assert (ev.winner, ev.amount) == expected, f"{ev}, expected winner {expected}"

    def _japanese_step(self, lm: LotModel) -> int:
        settings = lm.spec.japanese
        assert settings is not None and lm.price is not None
        if settings.step is not None:
            return settings.step
        assert settings.step_percent is not None
        return math.ceil(Fraction(lm.price) * settings.step_percent / 100)

    # ------------------------------------------------------------- dutch
    def _dutch(self, lm: LotModel, ev: Event) -> None:
        settings = lm.spec.dutch
        assert settings is not None
        rising = settings.direction == "rising"
        if isinstance(ev, PriceChanged):
            assert lm.accepted is None
            assert ev.step == lm.step + 1
            if lm.price is None:
                assert ev.price == settings.start_price
            else:
                assert ev.at == lm.step_deadline, f"price moved {ev.at}, due {lm.step_deadline}"
                if rising:
                    assert lm.price < ev.price <= settings.limit_price
                else:
                    assert lm.price > ev.price >= settings.limit_price
                assert abs(ev.price - lm.price) <= settings.step
            assert ev.deadline == ev.at + settings.interval_ms
            assert ev.price <= lm.spec.start_value
            lm.step = ev.step
            lm.price = ev.price
            lm.step_deadline = ev.deadline
        elif isinstance(ev, PriceAccepted):
            assert lm.accepted is None
            assert ev.at < lm.step_deadline
            assert ev.price == lm.price, f"accepted {ev.price}, clock shows {lm.price}"
            lm.accepted = ev
        else:
            raise AssertionError(f"dutch lot got {ev}")

    def _dutch_ended(self, lm: LotModel, ev: LotEnded) -> None:
        settings = lm.spec.dutch
        assert settings is not None
        if lm.accepted is not None:
            assert ev.outcome == "completed"
            assert ev.at == lm.accepted.at
            assert (ev.winner, ev.amount) == (lm.accepted.bidder, lm.accepted.price)
        else:
            assert ev.outcome == "no_winner"
            assert lm.price == settings.limit_price
            assert ev.at == lm.step_deadline


# ===================================================================== specs
SCORING = st.sampled_from(["price", "price", "lifecycle", "features"])
FEATURES = [{"code": "q", "values": [0, "0.05", "0.1", "0.15"]}]


def with_scoring(spec: dict[str, Any], scoring: str, choices: list[int]) -> dict[str, Any]:
    """Turn a price-only spec into a lifecycle or features one."""
    if scoring == "price":
        return spec
    spec["scoring"] = scoring
    if scoring == "features":
        spec["features"] = FEATURES
    for b, choice in zip(spec["bidders"], choices, strict=False):
        if scoring == "features":
            b["features"] = {"q": FEATURES[0]["values"][choice % 4]}
        else:
            b["non_price_cost"] = 500 * choice
    return spec


@st.composite
def rounds_specs(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(2, 4))
    amounts = draw(
        st.lists(st.sampled_from([50_000, 60_000, 61_000, 99_000]), min_size=n, max_size=n)
    )
    spec = rounds_spec(
        n,
        amounts=amounts,
        minimal_step=draw(st.sampled_from([1, 1_000, 5_000])),
        rounds={
            "rounds": draw(st.integers(1, 3)),
            "first_pause_s": draw(st.sampled_from([0, 1, 300])),
            "pause_s": draw(st.sampled_from([0, 2, 120])),
            "turn_s": draw(st.sampled_from([1, 120, 120])),
        },
    )
    choices = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    return with_scoring(spec, draw(SCORING), choices)


@st.composite
def open_specs(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(2, 3))
    settings: dict[str, Any] = {
        "duration_s": draw(st.sampled_from([60, 600])),
        "against": draw(st.sampled_from(["best", "own"])),
        "dynamic_close_s": draw(st.sampled_from([0, 1, 30])),
        "phases": draw(st.sampled_from([1, 2, 3])),
    }
    percent = draw(st.sampled_from([None, None, "0.5", 1, 10]))
    if percent is None:
        settings["decrement"] = draw(st.sampled_from([1, 100, 5_000]))
    cap = draw(st.sampled_from([None, 0, 60]))
    if cap is not None:
        settings["dynamic_close_cap_s"] = cap
    quiet = draw(st.sampled_from([None, 5, 60]))
    if quiet is not None:
        settings["quiet_close_s"] = quiet
    sealed = draw(st.booleans())
    amounts = draw(st.lists(st.sampled_from([40_000, 60_000, 100_000]), min_size=n, max_size=n))
    spec = open_spec(n, open=settings, bidders=bidders(n, amounts=amounts if sealed else None))
    if percent is not None:
        del spec["open"]["decrement"]
        spec["open"]["decrement_percent"] = percent
    choices = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    return with_scoring(spec, draw(SCORING), choices)


@st.composite
def japanese_specs(draw: st.DrawFn) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "round_s": draw(st.sampled_from([1, 30])),
        "floor": draw(st.sampled_from([1, 1_000, 6_000])),
    }
    percent = draw(st.sampled_from([None, 10, "33.3"]))
    if percent is None:
        settings["step"] = draw(st.sampled_from([1_000, 3_000]))
    spec = japanese_spec(draw(st.integers(2, 4)), japanese=settings)
    if percent is not None:
        del spec["japanese"]["step"]
        spec["japanese"]["step_percent"] = percent
    return spec


@st.composite
def dutch_specs(draw: st.DrawFn) -> dict[str, Any]:
    step = draw(st.sampled_from([1_000, 3_000, 7_000]))
    interval = draw(st.sampled_from([1, 10]))
    if draw(st.booleans()):
        settings = {"start_price": 5_000, "limit_price": 10_000, "direction": "rising"}
    else:
        settings = {"start_price": 10_000, "limit_price": 5_000, "direction": "falling"}
    settings.update(step=step, interval_s=interval)
    return dutch_spec(draw(st.integers(2, 3)), dutch=settings)


LOT_SPECS = {
    "rounds": rounds_specs(),
    "open": open_specs(),
    "japanese": japanese_specs(),
    "dutch": dutch_specs(),
}


@st.composite
def multi_lot_specs(draw: st.DrawFn) -> dict[str, Any]:
    formats = draw(st.lists(st.sampled_from(sorted(LOT_SPECS)), min_size=2, max_size=4))
    lots = []
    for i, fmt in enumerate(formats):
        lot = lot_of(draw(LOT_SPECS[fmt]), f"L{i + 1}")
        if draw(st.booleans()) and len(lot["bidders"]) > 2:
            lot["bidders"] = lot["bidders"][1:]
        lots.append(lot)
    closing = draw(st.sampled_from(["together", "staggered"]))
    return multi_lot_spec(*lots, closing=closing, stagger_s=draw(st.sampled_from([0, 5, 60])))


# =================================================================== machine
BID_IDS = st.one_of(st.sampled_from(["", "a", "b", "c"]), st.none())
"""A small pool (so ids repeat), the empty id, or None for a fresh one."""
AMOUNT_KINDS = st.sampled_from(
    ["own-step", "own-step", "own-step", "best-step", "max", "ceiling", "zero", "negative", "half"]
)
DELTAS = st.sampled_from([0, 0, 0, 1, 1, -1, -1, 2, -2, -100, 100])
SKEWS = st.sampled_from([0, 0, 0, 0, -1, -5_000])
"""Command timestamps a little stale: the engine must not go back in time."""
INDEX = st.sampled_from(range(60))
"""Picks from a weighted list (uniform, unlike ``st.integers``, which favours the ends)."""
LEADS = st.sampled_from([0, 0, 0, 0, 0, 1, 60_000])
"""How long before the start the fake clock begins."""
CLOCK_MOVES = st.sampled_from(
    ["at", "at", "before", "before", "after", "0", "1", "999", "5000", "30000"]
)


class AuctionMachine(RuleBasedStateMachine):
    """Shared rules; a subclass provides the ``@initialize`` with its specs."""

    actions: list[str] = ["auto"] * 5 + ["place", "cancel", "accept"]
    """Bidder commands to draw from, repeated for weight; ``auto`` is the command
    the lot's format expects (a bid, or an accept)."""

    spec: AuctionSpec
    live: Auction
    journal: list[Event]
    checker: JournalChecker
    now: int
    seen: dict[tuple[str, str], str]
    fresh: int

    def start(self, raw: dict[str, Any], lead: int) -> None:
        self.spec = parse_spec(raw)
        self.live = Auction(self.spec)
        self.journal = []
        self.checker = JournalChecker(self.spec)
        self.now = START - lead
        self.seen = {}
        self.fresh = 0

    # ------------------------------------------------------------ helpers
    def bidder_ids(self, lot: str = "") -> list[str]:
        """Every bidder of the event and two unknown ones, weighted toward those
        who may act in ``lot`` now (the turn's bidder, bidders still in)."""
        ids = sorted({b.id for spec in self.spec.lots for b in spec.bidders})
        likely: list[str] = []
        lot_id = lot or self.spec.lots[0].id
        state: Any = self.live.lot_states.get(lot_id)
        if state is not None and state.status == "live":
            if isinstance(state, RoundsState) and state.stage == "turn":
                likely = [state.order[state.turn]] * 8
            elif isinstance(state, JapaneseState):
                likely = [b for b in state.active if b not in state.confirmed] * 4
        return [*likely, *ids, *ids, *GHOSTS]

    def lot_ids(self) -> list[str]:
        ids = [lot.id for lot in self.spec.lots]
        if len(ids) > 1:
            return [*ids, *ids, *ids, *ids, "", "nope"]
        return ["", "", "", ids[0], ids[0], ids[0], ids[0], "", ids[0], "nope"]

    def pick(self, options: list[str], index: int) -> str:
        return options[index % len(options)]

    def bid_id(self, choice: str | None) -> str:
        if choice is None:
            self.fresh += 1
            return f"fresh-{self.fresh}"
        return choice

    def record(self, events: list[Event], latest: int) -> None:
        self.checker.feed(events, latest)
        self.journal.extend(events)
        assert self.live.state.seq == len(self.journal), "events applied but not returned"
        deadline = self.live.next_deadline()
        assert deadline is None or deadline > latest, "a due deadline did not fire"

    def send(self, command: AnyCommand, skew: int = 0) -> Outcome:
        at = self.now + skew
        latest = max(at, self.journal[-1].at) if self.journal else at
        key = None
        if isinstance(command, BIDDER_COMMANDS) and command.bid_id:
            key = (command.bidder, command.bid_id)
        expected: list[Event] | None = None
        if key in self.seen:
            probe = Auction.restore(self.spec, self.live.snapshot())
            expected = probe.advance(latest)
        outcome = self.live.handle(command, at)
        self.record(outcome.events, latest)
        code = outcome.rejection.code.value if outcome.rejection else ""
        if key is not None:
            if expected is not None:
                assert outcome.duplicate, f"{key} resent but not seen as a duplicate"
                assert outcome.events == expected, "a duplicate added events"
                assert code == self.seen[key], "a duplicate got another outcome"
            else:
                assert not outcome.duplicate
                self.seen[key] = code
        return outcome

    def amount_for(self, lot_id: str, bidder: str, kind: str) -> int:
        lot = self.spec.lot(lot_id) if lot_id else self.spec.lots[0]
        if lot is None:
            return 1_000
        ceiling = lot.start_value
        rules = self.live.rules[lot.id]
        state: Any = self.live.lot_states[lot.id]
        own: int | None = None
        best: int | None = None
        step = 1
        max_bid: int | None = None
        if lot.format == "rounds":
            own = state.amounts.get(bidder)
            best = min(state.amounts.values(), default=None)
            step = rules.step  # type: ignore[attr-defined]
            max_bid = rules.max_bid(state, bidder)  # type: ignore[attr-defined]
        elif lot.format == "open":
            own = state.best.get(bidder)
            best = min(state.best.values(), default=None)
            step = rules.decrement_for(best or ceiling)  # type: ignore[attr-defined]
            max_bid = rules.max_bid(state, bidder)  # type: ignore[attr-defined]
        else:
            best = own = state.price or ceiling
        values = {
            "own-step": (own if own is not None else ceiling) - step,
            "best-step": (best if best is not None else ceiling) - step,
            "max": max_bid if max_bid is not None else ceiling,
            "ceiling": ceiling,
            "zero": 0,
            "negative": -ceiling // 10,
            "half": ceiling // 2,
        }
        return values[kind]

    # -------------------------------------------------------------- clock
    def move_clock(self, kind: str) -> None:
        """Move the fake clock: to the next deadline, 1 ms either side, or by ``kind`` ms."""
        deadline = self.live.next_deadline()
        if kind in ("at", "before", "after"):
            if deadline is not None:
                target = deadline + {"at": 0, "before": -1, "after": 1}[kind]
                self.now = max(self.now, target)
        else:
            self.now += int(kind)

    @rule(kind=CLOCK_MOVES)
    def clock(self, kind: str) -> None:
        self.move_clock(kind)

    @rule(kind=CLOCK_MOVES)
    def clock_then_advance(self, kind: str) -> None:
        self.move_clock(kind)
        latest = max(self.now, self.journal[-1].at) if self.journal else self.now
        self.record(self.live.advance(self.now), latest)
        assert self.live.advance(self.now) == [], "advance is not idempotent"

    # ---------------------------------------------------------- bidders
    def bidder_acts(
        self,
        action: int,
        who: int,
        where: int,
        kind: str,
        delta: int,
        bid: str | None,
        skew: int,
        look: bool,
    ) -> None:
        if look:  # the runtime's timer fired first: choose the bidder knowing the new turn
            self.clock_then_advance("0")
        lot = self.pick(self.lot_ids(), where)
        bidder = self.pick(self.bidder_ids(lot), who)
        bid_id = self.bid_id(bid)
        what = self.pick(self.actions, action)
        if what == "auto":  # what the lot's format expects
            spec = self.spec.lot(lot) or self.spec.lots[0]
            what = "place" if spec.format in ("rounds", "open") else "accept"
        command: AnyCommand
        if what == "place":
            amount = self.amount_for(lot, bidder, kind) + delta
            command = PlaceBid(bidder=bidder, amount=amount, bid_id=bid_id, lot=lot)
        elif what == "cancel":
            command = CancelBid(bidder=bidder, bid_id=bid_id, lot=lot)
        else:
            command = AcceptPrice(bidder=bidder, bid_id=bid_id, lot=lot)
        self.send(command, skew)

    @rule(
        action=INDEX,
        who=INDEX,
        where=INDEX,
        kind=AMOUNT_KINDS,
        delta=DELTAS,
        bid=BID_IDS,
        skew=SKEWS,
        look=st.booleans(),
    )
    def bidder(
        self,
        action: int,
        who: int,
        where: int,
        kind: str,
        delta: int,
        bid: str | None,
        skew: int,
        look: bool,
    ) -> None:
        self.bidder_acts(action, who, where, kind, delta, bid, skew, look)

    @rule(
        action=INDEX,
        who=INDEX,
        where=INDEX,
        kind=AMOUNT_KINDS,
        delta=DELTAS,
        bid=BID_IDS,
        skew=SKEWS,
        look=st.booleans(),
    )
    def another_bidder(
        self,
        action: int,
        who: int,
        where: int,
        kind: str,
        delta: int,
        bid: str | None,
        skew: int,
        look: bool,
    ) -> None:
        """The same as :meth:`bidder`: makes bidder commands twice as frequent."""
        self.bidder_acts(action, who, where, kind, delta, bid, skew, look)

    # --------------------------------------------------------- officials
    @rule(
        kind=st.sampled_from(
            [
                "toggle",
                "toggle",
                "wrong",
                "extend",
                "extend",
                "disqualify",
                "disqualify",
                "cancel",
                "reschedule",
            ]
        ),
        who=INDEX,
        where=INDEX,
        ms=st.sampled_from([1, 1_000, 60_000, 0, -1]),
        go=st.integers(0, 5),
    )
    def official(self, kind: str, who: int, where: int, ms: int, go: int) -> None:
        """Pause (rarely) and resume, sometimes the wrong one; extend; disqualify,
        rarely while running, often during a pause (which an official may call
        for the purpose); cancel (very rarely)."""
        paused = self.live.state.paused_at is not None
        lot = self.pick(self.lot_ids(), where)
        command: AnyCommand
        if kind in ("toggle", "wrong"):
            if kind == "toggle" and not paused and go > 1:
                return
            pause = (not paused) == (kind == "toggle")
            command = Pause(official="o1") if pause else Resume(official="o1")
        elif kind == "extend":
            command = Extend(official="o1", ms=ms, lot=lot)
        elif kind == "disqualify" and (paused or go != 2):
            if not paused and go > 2:
                self.send(Pause(official="o1", reason="to lock a bidder out"))
            command = Disqualify(official="o1", bidder=self.pick(self.bidder_ids(), who), lot=lot)
        elif kind == "cancel" and go == 0:
            command = CancelAuction(official="o1", reason="test")
        elif kind == "reschedule":
            # later, earlier, now or past (refused), or the same start (no event)
            command = Reschedule(official="o1", start_at=self.now + ms * go, lot=lot)
        else:
            return
        self.send(command)

    @rule(how=st.sampled_from(["snapshot", "replay"]))
    def takeover(self, how: str) -> None:
        """Another node takes over: the rest must not notice."""
        if how == "snapshot":
            self.live = Auction.restore(self.spec, self.live.snapshot())
        else:
            self.live = Auction.replay(self.spec, self.journal)

    # -------------------------------------------------------- invariants
    @invariant()
    def replay_matches_live(self) -> None:
        replayed = Auction.replay(self.spec, self.journal)
        assert replayed.state_hash() == self.live.state_hash(), "replay differs from live"
        snapshot = self.live.snapshot()
        assert Auction.restore(self.spec, snapshot).snapshot() == snapshot

    @invariant()
    def winner_is_best_of_ranking(self) -> None:
        for lot_id, state in self.live.lot_states.items():
            if state.status == ENDED and state.outcome == "completed":
                ranking = self.live.rules[lot_id].ranking(state)
                assert ranking, f"lot {lot_id} has a winner but no ranking"
                assert ranking[0][:2] == (state.winner, state.winning_amount)
            if state.status != ENDED:
                assert state.winner is None


class RoundsMachine(AuctionMachine):
    actions = ["auto"] * 6 + ["cancel"] * 2 + ["accept"]

    @initialize(raw=rounds_specs(), lead=LEADS)
    def setup(self, raw: dict[str, Any], lead: int) -> None:
        self.start(raw, lead)


class OpenMachine(AuctionMachine):
    actions = ["auto"] * 8 + ["cancel", "accept"]

    @initialize(raw=open_specs(), lead=LEADS)
    def setup(self, raw: dict[str, Any], lead: int) -> None:
        self.start(raw, lead)


class JapaneseMachine(AuctionMachine):
    actions = ["auto"] * 6 + ["cancel"] * 2 + ["place"]

    @initialize(raw=japanese_specs(), lead=LEADS)
    def setup(self, raw: dict[str, Any], lead: int) -> None:
        self.start(raw, lead)


class DutchMachine(AuctionMachine):
    actions = ["auto", "place", "cancel"]

    @initialize(raw=dutch_specs(), lead=LEADS)
    def setup(self, raw: dict[str, Any], lead: int) -> None:
        self.start(raw, lead)


class MultiLotMachine(AuctionMachine):
    @initialize(raw=multi_lot_specs(), lead=LEADS)
    def setup(self, raw: dict[str, Any], lead: int) -> None:
        self.start(raw, lead)


TestRounds = RoundsMachine.TestCase
TestRounds.settings = SETTINGS
TestOpen = OpenMachine.TestCase
TestOpen.settings = SETTINGS
TestJapanese = JapaneseMachine.TestCase
TestJapanese.settings = SETTINGS
TestDutch = DutchMachine.TestCase
TestDutch.settings = SETTINGS
TestMultiLot = MultiLotMachine.TestCase
TestMultiLot.settings = SETTINGS


# ============================================================ found bugs
@pytest.mark.parametrize("fmt", ["open", "rounds", "japanese"])
def test_an_extension_during_a_pause_cannot_reopen_what_a_disqualification_closed(
    fmt: str,
) -> None:
    """Found by :class:`OpenMachine`: paused, an official disqualified one of
    two bidders (the lot must end as soon as the auction resumes), extended
    the lot by 1 ms, resumed; the remaining bidder's bid was then accepted in
    a lot with one bidder. Rounds (a post in the remaining bidder's turn) and
    japanese (a withdrawal after every bidder still in had confirmed) had the
    same hole. The extension is now rejected."""
    machine = {"open": OpenMachine, "rounds": RoundsMachine, "japanese": JapaneseMachine}[fmt]()
    raw = {"open": open_spec, "rounds": rounds_spec, "japanese": japanese_spec}[fmt](3)
    if fmt == "rounds":
        raw["rounds"] = {"first_pause_s": 0}
    machine.start(raw, 0)
    machine.clock_then_advance("0")
    if fmt == "japanese":
        machine.send(AcceptPrice(bidder="b1", bid_id="1"))
        machine.send(AcceptPrice(bidder="b2", bid_id="2"))
    state: Any = machine.live.lot_states["1"]
    keep = state.order[0] if fmt == "rounds" else "b1"
    machine.send(Pause(official="o1"))
    for bidder in ("b1", "b2", "b3"):
        if bidder != keep and (fmt != "japanese" or bidder == "b3"):
            machine.send(Disqualify(official="o1", bidder=bidder))
    outcome = machine.send(Extend(official="o1", ms=1))
    assert outcome.rejection is not None and outcome.rejection.code == "invalid_extension"
    machine.send(Resume(official="o1"))
    if fmt == "japanese":
        machine.send(CancelBid(bidder=keep, bid_id="leave"))
    else:
        machine.send(PlaceBid(bidder=keep, amount=1_000, bid_id="alone"))
    machine.replay_matches_live()
    machine.winner_is_best_of_ranking()
