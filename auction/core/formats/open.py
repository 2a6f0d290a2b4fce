"""Open descending auction (``open``), the English reverse auction.

Every admitted bidder may bid at any time while the lot is live. A bid must
be positive, at most the ceiling (``start_value``), and beat a reference by
the minimum decrement (absolute, or a percentage of the reference rounded up
to a minor unit):

- ``against = "best"``: the reference is the best (lowest adjusted) bid;
- ``against = "own"``: the reference is the bidder's own best bid.

A first bid (no reference yet) needs only to be at most the ceiling. Sealed
initial bids from the spec count as bids placed at the start.

Closing (EU Directive 2014/24/EU, Art. 35(8)), combinable; the lot closes at
the first that applies:

- fixed time: ``start + duration_s``, split into ``phases`` equal phases
  (the close is the end of the last announced phase);
- dynamic close: a bid at or after ``close - dynamic_close_s`` moves the
  close to ``bid time + dynamic_close_s``, never past ``close + cap`` when
  ``dynamic_close_cap_s`` is set;
- quiet close: no accepted bid within ``quiet_close_s`` of the last one (or
  of the start).

Tie rule: equal adjusted amounts rank by time, the earlier bid first.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from auction.core.commands import PlaceBid
from auction.core.errors import BidRejected, Code
from auction.core.events import (
    BiddingOpened,
    BidPlaced,
    CloseExtended,
    Event,
    PhaseStarted,
)
from auction.core.formats.base import LIVE, FormatRules, LotState
from auction.core.money import Score, ceil_fraction
from auction.core.spec import AuctionSpec, LotSpec, OpenSpec

BIDDING = "bidding"


class OpenState(LotState, kw_only=True):
    phase: int = 0
    """Current phase, 1-based once live."""
    phase_ends: list[int] = []
    """Start times of phases 2..N."""
    close_at: int = 0
    """The current close, dynamic extensions included."""
    cap_at: int | None = None
    """Dynamic close never moves the close past this time."""
    quiet_at: int | None = None
    """Closes here if no bid arrives first (quiet close rule)."""
    best: dict[str, int] = {}
    """Each bidder's best (last accepted) raw amount."""
    best_at: dict[str, int] = {}
    leader: str | None = None
    bids: int = 0


class OpenRules(FormatRules[OpenState]):
    name = "open"
    state_type = OpenState

    def __init__(self, auction: AuctionSpec, lot: LotSpec) -> None:
        super().__init__(auction, lot)
        assert lot.open is not None
        self.settings: OpenSpec = lot.open
        self.index = {b.id: i for i, b in enumerate(lot.bidders)}
        self.price_only = lot.scoring == "price"

    def appliers(self) -> dict[type[Event], Callable[[Any, Any], None]]:
        return {
            BiddingOpened: self._apply_opened,
            BidPlaced: self._apply_bid,
            PhaseStarted: self._apply_phase,
            CloseExtended: self._apply_close_extended,
        }

    def prices_visible(self) -> bool:
        return self.settings.visibility == "prices"

    # -------------------------------------------------------------- helpers
    def decrement_for(self, reference: Score) -> int:
        if self.settings.decrement is not None:
            return self.settings.decrement
        assert self.settings.decrement_percent is not None
        return ceil_fraction(Fraction(reference) * self.settings.decrement_percent / 100)

    def _score(self, st: OpenState, bidder: str) -> Score:
        return self.scorer.adjusted(bidder, st.best[bidder])

    def reference(self, st: OpenState, bidder: str) -> Score | None:
        if self.settings.against == "own":
            return self._score(st, bidder) if bidder in st.best else None
        return self._score(st, st.leader) if st.leader is not None else None

    def max_bid(self, st: OpenState, bidder: str) -> int | None:
        """The largest amount ``bidder`` may bid right now, or None."""
        if st.status != LIVE or bidder in st.disqualified or bidder not in self.bidder_ids:
            return None
        ref = self.reference(st, bidder)
        limit = self.lot.start_value
        if ref is not None:
            limit = min(limit, self.scorer.max_raw_for(bidder, ref - self.decrement_for(ref)))
        return limit if limit > 0 else None

    def _next_deadline(self, st: OpenState) -> int:
        deadline = st.close_at
        if st.quiet_at is not None and st.quiet_at < deadline:
            deadline = st.quiet_at
        if st.phase - 1 < len(st.phase_ends):
            deadline = min(deadline, st.phase_ends[st.phase - 1])
        return deadline

    def _find_leader(self, st: OpenState) -> str | None:
        ranked = self.ranking(st)
        return ranked[0][0] if ranked and ranked[0][1] is not None else None

    # --------------------------------------------------------------- decide
    def open_lot(self, st: OpenState, at: int) -> list[Event]:
        phase_ms = self.settings.duration_ms // self.settings.phases
        ends = [at + phase_ms * k for k in range(1, self.settings.phases)]
        return [
            BiddingOpened(
                at=at, lot=self.lot.id, close_at=at + self.settings.duration_ms, phase_ends=ends
            )
        ]

    def deadline_reached(self, st: OpenState, at: int) -> list[Event]:
        if at >= st.close_at or (st.quiet_at is not None and at >= st.quiet_at):
            return [self.end_lot(st, at)]
        return [PhaseStarted(at=at, lot=self.lot.id, phase=st.phase + 1)]

    def place_bid(self, st: OpenState, cmd: PlaceBid, at: int) -> list[Event]:
        bidder = cmd.bidder
        self.check_bidder(st, bidder)
        amount = cmd.amount
        if amount <= 0:
            raise BidRejected(Code.AMOUNT_NOT_POSITIVE, "the amount must be greater than zero")
        if amount > self.lot.start_value:
            raise BidRejected(
                Code.ABOVE_CEILING,
                f"bid at most the ceiling of {self.money(self.lot.start_value)}",
                limit=self.lot.start_value,
            )
        ref = self.reference(st, bidder)
        if ref is not None:
            target = ref - self.decrement_for(ref)
            score = amount if self.price_only else self.scorer.adjusted(bidder, amount)
            if score > target:
                what = "your best bid" if self.settings.against == "own" else "the best bid"
                most = self.scorer.max_raw_for(bidder, target)
                raise BidRejected(
                    Code.STEP_TOO_SMALL,
                    f"bid at most {self.money(most)}: {what} less the minimum decrement",
                    limit=most if most > 0 else None,
                )
        events: list[Event] = [
            BidPlaced(
                at=at,
                lot=self.lot.id,
                bidder=bidder,
                amount=amount,
                bid_id=cmd.bid_id,
                surrogate_by=cmd.surrogate_by,
            )
        ]
        window = self.settings.dynamic_close_ms
        if window and at >= st.close_at - window:
            new_close = at + window
            if st.cap_at is not None and new_close > st.cap_at:
                new_close = st.cap_at
            if new_close > st.close_at:
                events.append(CloseExtended(at=at, lot=self.lot.id, close_at=new_close))
        return events

    # ---------------------------------------------------------------- apply
    def _apply_opened(self, st: OpenState, ev: BiddingOpened) -> None:
        st.status = LIVE
        st.stage = BIDDING
        st.phase = 1
        st.phase_ends = list(ev.phase_ends)
        st.close_at = ev.close_at
        cap = self.settings.dynamic_close_cap_ms
        st.cap_at = ev.close_at + cap if cap is not None else None
        quiet = self.settings.quiet_close_ms
        st.quiet_at = ev.at + quiet if quiet is not None else None
        admitted = set(st.labels)
        for b in self.lot.bidders:
            if b.amount is not None and b.id in admitted:
                st.best[b.id] = b.amount
                st.best_at[b.id] = b.submitted_at
        st.leader = self._find_leader(st)
        st.deadline = self._next_deadline(st)

    def _apply_bid(self, st: OpenState, ev: BidPlaced) -> None:
        bidder = ev.bidder
        st.best[bidder] = ev.amount
        st.best_at[bidder] = ev.at
        st.bids += 1
        leader = st.leader
        if leader is None or leader == bidder:
            st.leader = bidder
        elif self.price_only:
            if ev.amount < st.best[leader]:
                st.leader = bidder
        elif self.scorer.adjusted(bidder, ev.amount) < self._score(st, leader):
            st.leader = bidder
        quiet = self.settings.quiet_close_ms
        if quiet is not None:
            st.quiet_at = ev.at + quiet
            st.deadline = self._next_deadline(st)

    def _apply_phase(self, st: OpenState, ev: PhaseStarted) -> None:
        st.phase = ev.phase
        st.deadline = self._next_deadline(st)

    def _apply_close_extended(self, st: OpenState, ev: CloseExtended) -> None:
        st.close_at = ev.close_at
        st.deadline = self._next_deadline(st)

    def shift(self, st: OpenState, ms: int) -> None:
        st.close_at += ms
        st.phase_ends = [t + ms for t in st.phase_ends]
        if st.cap_at is not None:
            st.cap_at += ms
        if st.quiet_at is not None:
            st.quiet_at += ms
        if st.deadline is not None:
            st.deadline += ms

    def extend(self, st: OpenState, ms: int) -> None:
        if st.status != LIVE:
            super().extend(st, ms)
            return
        st.close_at += ms
        if st.cap_at is not None:
            st.cap_at += ms
        if st.quiet_at is not None:
            st.quiet_at += ms
        st.deadline = self._next_deadline(st)

    def disqualify(self, st: OpenState, bidder: str, at: int) -> None:
        st.best.pop(bidder, None)
        st.best_at.pop(bidder, None)
        if st.leader == bidder:
            st.leader = self._find_leader(st)
        super().disqualify(st, bidder, at)

    # ----------------------------------------------------------------- view
    def ranking(self, st: OpenState) -> list[tuple[str, int | None, Score | None]]:
        out_ = set(st.disqualified)
        bid = [b for b in st.best if b not in out_]
        bid.sort(key=lambda b: (self._score(st, b), st.best_at[b], self.index[b]))
        out: list[tuple[str, int | None, Score | None]] = [
            (b, st.best[b], self._score(st, b)) for b in bid
        ]
        out.extend((b, None, None) for b in st.labels if b not in st.best and b not in out_)
        return out

    def lot_view(self, st: OpenState, role: str, bidder: str | None) -> dict[str, Any]:
        view: dict[str, Any] = {
            "phase": st.phase,
            "phases": self.settings.phases,
            "close_at": st.close_at if st.status == LIVE else None,
            "quiet_close_at": st.quiet_at,
            "against": self.settings.against,
            "bids": st.bids,
        }
        if self.settings.decrement is not None:
            view["decrement"] = self.settings.decrement
        else:
            view["decrement_percent"] = str(self.settings.decrement_percent)
        if bidder is not None:
            view["max_bid"] = self.max_bid(st, bidder)
        return view
