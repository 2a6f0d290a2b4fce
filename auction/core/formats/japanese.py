"""Japanese reverse auction (``japanese``): descending price rounds.

Round 1 offers ``start_value``; each later round offers the previous price
less the step (absolute, or a percentage of the previous price rounded up to
a minor unit). Every bidder still in must confirm (``accept_price``) within
the round's time or it drops out for good; a bidder may also leave at once
(``cancel_bid``). A round ends at its deadline, or as soon as every bidder
still in has confirmed.

At the end of a round, with ``n`` bidders having confirmed its price:

- ``n >= 2``: the next round starts at the lower price. If that price would
  fall below ``floor``, the lot ends instead and the earliest confirmer of
  this round wins at this round's price.
- ``n == 1``: the last one standing wins at this round's price.
- ``n == 0`` (everyone left dropped in the same round): the earliest
  confirmer of the previous round wins at the previous round's price; in
  round 1 nobody accepted any price and the lot ends with ``no_winner``.

Bidders and the public see the price, how many are still in and how many
confirmed, never who: until the lot ends their ladder lists every bidder in
label order without ranks (:meth:`JapaneseRules.ranking_visible`), and event
projections leave out who confirmed or dropped out.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from auction.core.commands import AcceptPrice, CancelBid
from auction.core.errors import BidRejected, Code
from auction.core.events import (
    BidderDropped,
    ClockRoundStarted,
    Event,
    LotEnded,
    PriceAccepted,
)
from auction.core.formats.base import LIVE, FormatRules, LotState
from auction.core.money import Score, ceil_fraction
from auction.core.spec import AuctionSpec, JapaneseSpec, LotSpec

ROUND = "round"


class JapaneseState(LotState, kw_only=True):
    round: int = 0
    price: int = 0
    """This round's price."""
    active: list[str] = []
    """Bidders still in, in label order."""
    confirmed: list[str] = []
    """Who confirmed this round's price, in order of confirmation."""
    previous: list[str] = []
    """Who confirmed the previous round's price, in order."""
    previous_price: int | None = None
    last_price: dict[str, int] = {}
    """The last price each bidder confirmed."""
    last_at: dict[str, int] = {}
    dropped: list[str] = []


class JapaneseRules(FormatRules[JapaneseState]):
    name = "japanese"
    state_type = JapaneseState
    ends_when_one_left = False

    def __init__(self, auction: AuctionSpec, lot: LotSpec) -> None:
        super().__init__(auction, lot)
        assert lot.japanese is not None
        self.settings: JapaneseSpec = lot.japanese
        self.index = {b.id: i for i, b in enumerate(lot.bidders)}

    def appliers(self) -> dict[type[Event], Callable[[Any, Any], None]]:
        return {
            ClockRoundStarted: self._apply_round,
            PriceAccepted: self._apply_accept,
            BidderDropped: self._apply_dropped,
        }

    def prices_visible(self) -> bool:
        return False

    def ranking_visible(self) -> bool:
        """No: the ranking orders bidders by the last price each confirmed and
        when, so it would show who confirmed (or dropped out) this round."""
        return False

    def step_for(self, price: int) -> int:
        if self.settings.step is not None:
            return self.settings.step
        assert self.settings.step_percent is not None
        return ceil_fraction(Fraction(price) * self.settings.step_percent / 100)

    # --------------------------------------------------------------- decide
    def open_lot(self, st: JapaneseState, at: int) -> list[Event]:
        return [
            ClockRoundStarted(
                at=at,
                lot=self.lot.id,
                round=1,
                price=self.lot.start_value,
                deadline=at + self.settings.round_ms,
            )
        ]

    def deadline_reached(self, st: JapaneseState, at: int) -> list[Event]:
        lot = self.lot.id
        confirmed_set = set(st.confirmed)
        events: list[Event] = [
            BidderDropped(at=at, lot=lot, bidder=b, reason="no_confirmation")
            for b in st.active
            if b not in confirmed_set
        ]
        confirmed = st.confirmed
        if len(confirmed) >= 2:
            price = st.price - self.step_for(st.price)
            if price < self.settings.floor:
                events.append(self._won(at, confirmed[0], st.price))
            else:
                events.append(
                    ClockRoundStarted(
                        at=at,
                        lot=lot,
                        round=st.round + 1,
                        price=price,
                        deadline=at + self.settings.round_ms,
                    )
                )
        elif len(confirmed) == 1:
            events.append(self._won(at, confirmed[0], st.price))
        else:
            previous = [b for b in st.previous if b not in st.disqualified]
            if previous and st.previous_price is not None:
                events.append(self._won(at, previous[0], st.previous_price))
            else:
                events.append(
                    LotEnded(at=at, lot=lot, outcome="no_winner", winner=None, amount=None)
                )
        return events

    def _won(self, at: int, bidder: str, price: int) -> LotEnded:
        return LotEnded(at=at, lot=self.lot.id, outcome="completed", winner=bidder, amount=price)

    def _check_in(self, st: JapaneseState, bidder: str) -> None:
        self.check_bidder(st, bidder)
        if bidder in st.dropped:
            raise BidRejected(Code.BIDDER_DROPPED, "you left this auction and cannot come back")

    def accept_price(self, st: JapaneseState, cmd: AcceptPrice, at: int) -> list[Event]:
        self._check_in(st, cmd.bidder)
        if cmd.bidder in st.confirmed:
            raise BidRejected(Code.ALREADY_ACCEPTED, "you already confirmed this round's price")
        return [
            PriceAccepted(
                at=at,
                lot=self.lot.id,
                bidder=cmd.bidder,
                price=st.price,
                bid_id=cmd.bid_id,
                surrogate_by=cmd.surrogate_by,
            )
        ]

    def cancel_bid(self, st: JapaneseState, cmd: CancelBid, at: int) -> list[Event]:
        self._check_in(st, cmd.bidder)
        return [
            BidderDropped(
                at=at, lot=self.lot.id, bidder=cmd.bidder, reason="withdrew", bid_id=cmd.bid_id
            )
        ]

    # ---------------------------------------------------------------- apply
    def _apply_round(self, st: JapaneseState, ev: ClockRoundStarted) -> None:
        st.status = LIVE
        st.stage = ROUND
        if st.round == 0:
            st.active = self.active(st)
        else:
            st.previous = list(st.confirmed)
            st.previous_price = st.price
        st.round = ev.round
        st.price = ev.price
        st.confirmed = []
        st.deadline = ev.deadline

    def _round_over_early(self, st: JapaneseState, at: int) -> None:
        # Who confirmed is always among those still in (leaving and
        # disqualification remove from both), so equal counts mean all confirmed.
        if st.stage == ROUND and len(st.confirmed) == len(st.active):
            st.deadline = at if st.deadline is None else min(st.deadline, at)

    def _apply_accept(self, st: JapaneseState, ev: PriceAccepted) -> None:
        st.confirmed.append(ev.bidder)
        st.last_price[ev.bidder] = ev.price
        st.last_at[ev.bidder] = ev.at
        self._round_over_early(st, ev.at)

    def _apply_dropped(self, st: JapaneseState, ev: BidderDropped) -> None:
        self._leave(st, ev.bidder)
        st.dropped.append(ev.bidder)
        self._round_over_early(st, ev.at)

    def _leave(self, st: JapaneseState, bidder: str) -> None:
        if bidder in st.active:
            st.active.remove(bidder)
        if bidder in st.confirmed:
            st.confirmed.remove(bidder)

    def disqualify(self, st: JapaneseState, bidder: str, at: int) -> None:
        self._leave(st, bidder)
        if st.status == LIVE:
            self._round_over_early(st, at)

    # ----------------------------------------------------------------- view
    def ranking(self, st: JapaneseState) -> list[tuple[str, int | None, Score | None]]:
        if st.winner is not None and st.winning_amount is not None:
            first = [(st.winner, st.winning_amount)]
        else:
            first = []
        out_ = set(st.disqualified)
        still = set(st.active)
        rest = [b for b in st.last_price if b not in out_ and b != st.winner]
        rest.sort(key=lambda b: (b not in still, st.last_price[b], st.last_at[b], self.index[b]))
        out: list[tuple[str, int | None, Score | None]] = [(b, a, a) for b, a in first]
        out.extend((b, st.last_price[b], st.last_price[b]) for b in rest)
        out.extend(
            (b, None, None)
            for b in st.labels
            if b not in st.last_price and b not in out_ and b != st.winner
        )
        return out

    def next_price(self, st: JapaneseState) -> int | None:
        """The next round's price, or None if the lot ends instead (floor)."""
        if st.status != LIVE:
            return None
        price = st.price - self.step_for(st.price)
        return price if price >= self.settings.floor else None

    def lot_view(self, st: JapaneseState, role: str, bidder: str | None) -> dict[str, Any]:
        view: dict[str, Any] = {
            "round": st.round,
            "price": st.price if st.status == LIVE else None,
            "next_price": self.next_price(st),
            "floor": self.settings.floor,
            "in": len(st.active),
            "confirmed": len(st.confirmed),
        }
        if bidder is not None:
            view["you_confirmed"] = bidder in st.confirmed
            view["you_dropped"] = bidder in st.dropped
        if role == "official":
            view["active"] = list(st.active)
            view["confirmed_by"] = list(st.confirmed)
        return view
