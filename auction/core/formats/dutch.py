"""Dutch clock auction (``dutch``).

The price starts at ``start_price`` and moves one ``step`` every
``interval_s`` toward ``limit_price``: rising in a reverse (procurement)
auction, where the buyer offers more until a supplier takes it, or falling
in a forward one. It never passes the limit. The first bidder to accept
(``accept_price``) wins at the price shown at that moment; an accept at the
exact instant of a step takes the new price. If the clock stays at the limit
for a whole interval with no accept, the lot ends with ``no_winner``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auction.core.commands import AcceptPrice
from auction.core.events import Event, LotEnded, PriceAccepted, PriceChanged
from auction.core.formats.base import LIVE, FormatRules, LotState
from auction.core.money import Score
from auction.core.spec import AuctionSpec, DutchSpec, LotSpec

CLOCK = "clock"


class DutchState(LotState, kw_only=True):
    step: int = 0
    """How many steps the clock has moved."""
    price: int = 0


class DutchRules(FormatRules[DutchState]):
    name = "dutch"
    state_type = DutchState
    ends_when_one_left = False

    def __init__(self, auction: AuctionSpec, lot: LotSpec) -> None:
        super().__init__(auction, lot)
        assert lot.dutch is not None
        self.settings: DutchSpec = lot.dutch
        self.sign = 1 if self.settings.direction == "rising" else -1

    def appliers(self) -> dict[type[Event], Callable[[Any, Any], None]]:
        return {PriceChanged: self._apply_price, PriceAccepted: self._apply_accept}

    def price_at_step(self, step: int) -> int:
        s = self.settings
        price = s.start_price + self.sign * step * s.step
        return min(price, s.limit_price) if self.sign > 0 else max(price, s.limit_price)

    def open_lot(self, st: DutchState, at: int) -> list[Event]:
        return [
            PriceChanged(
                at=at,
                lot=self.lot.id,
                step=0,
                price=self.settings.start_price,
                deadline=at + self.settings.interval_ms,
            )
        ]

    def deadline_reached(self, st: DutchState, at: int) -> list[Event]:
        if st.price == self.settings.limit_price:
            return [LotEnded(at=at, lot=self.lot.id, outcome="no_winner", winner=None, amount=None)]
        step = st.step + 1
        return [
            PriceChanged(
                at=at,
                lot=self.lot.id,
                step=step,
                price=self.price_at_step(step),
                deadline=at + self.settings.interval_ms,
            )
        ]

    def accept_price(self, st: DutchState, cmd: AcceptPrice, at: int) -> list[Event]:
        self.check_bidder(st, cmd.bidder)
        return [
            PriceAccepted(
                at=at,
                lot=self.lot.id,
                bidder=cmd.bidder,
                price=st.price,
                bid_id=cmd.bid_id,
                surrogate_by=cmd.surrogate_by,
            ),
            LotEnded(
                at=at, lot=self.lot.id, outcome="completed", winner=cmd.bidder, amount=st.price
            ),
        ]

    def _apply_price(self, st: DutchState, ev: PriceChanged) -> None:
        st.status = LIVE
        st.stage = CLOCK
        st.step = ev.step
        st.price = ev.price
        st.deadline = ev.deadline

    def _apply_accept(self, st: DutchState, ev: PriceAccepted) -> None:
        """An accept changes nothing by itself: the ``LotEnded`` after it does."""

    def ranking(self, st: DutchState) -> list[tuple[str, int | None, Score | None]]:
        if st.winner is None or st.winning_amount is None:
            return []
        return [(st.winner, st.winning_amount, st.winning_amount)]

    def lot_view(self, st: DutchState, role: str, bidder: str | None) -> dict[str, Any]:
        live = st.status == LIVE
        return {
            "price": st.price if live else None,
            "next_price": self.price_at_step(st.step + 1) if live else None,
            "step": self.settings.step,
            "limit_price": self.settings.limit_price,
            "direction": self.settings.direction,
        }
