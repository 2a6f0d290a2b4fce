"""ProZorro's turn-based reverse auction (``rounds``).

Stages: a pause before round 1, then N rounds separated by pauses. In each
round every bidder gets one turn, in an order recomputed at the start of the
round: the highest (worst) adjusted amount first, the later-submitted amount
first on ties, so the leader bids last. In its own turn a bidder may post
amounts ``0 < amount <= own - minimal_step``; the last post counts, a cancel
reverts to the amount held before the turn (with nothing posted it changes
nothing and is still accepted, as in ProZorro), and nothing posted keeps it. A
post becomes public only when the turn ends. The lowest adjusted amount wins;
ties go to the earlier amount.

Stage machine (``stage`` field)::

    scheduled -> pause -> round -> turn -> turn_over -> turn ... -> pause -> ... -> ended
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auction.core.commands import CancelBid, PlaceBid
from auction.core.errors import BidRejected, Code
from auction.core.events import (
    BidCancelled,
    BidPlaced,
    Event,
    LotStarted,
    PauseStarted,
    RoundStarted,
    TurnEnded,
    TurnStarted,
)
from auction.core.formats.base import ENDED, LIVE, FormatRules, LotState
from auction.core.money import Score, score_to_str
from auction.core.spec import AuctionSpec, LotSpec, RoundsSpec

PAUSE = "pause"
ROUND = "round"
TURN = "turn"
TURN_OVER = "turn_over"


class RoundsState(LotState, kw_only=True):
    round: int = 0
    """Current round, 0 before round 1."""
    order: list[str] = []
    """This round's turn order."""
    turn: int = -1
    """Index in ``order`` of the current (or last) turn."""
    amounts: dict[str, int] = {}
    """Committed (public) raw amount per bidder."""
    amount_at: dict[str, int] = {}
    """When each committed amount was posted (sealed bid time at first)."""
    pending: int | None = None
    """The counted post of the turn in progress, hidden until the turn ends."""
    pending_at: int | None = None
    history: dict[str, list[int]] = {}
    """Per bidder, its amount at the end of each of its turns (ProZorro's round table)."""


class RoundsRules(FormatRules[RoundsState]):
    name = "rounds"
    state_type = RoundsState

    def __init__(self, auction: AuctionSpec, lot: LotSpec) -> None:
        super().__init__(auction, lot)
        assert lot.rounds is not None and lot.minimal_step is not None
        self.settings: RoundsSpec = lot.rounds
        self.step: int = lot.minimal_step
        self.index = {b.id: i for i, b in enumerate(lot.bidders)}

    def appliers(self) -> dict[type[Event], Callable[[Any, Any], None]]:
        return {
            LotStarted: self._apply_started,
            PauseStarted: self._apply_pause,
            RoundStarted: self._apply_round,
            TurnStarted: self._apply_turn,
            BidPlaced: self._apply_post,
            BidCancelled: self._apply_cancel,
            TurnEnded: self._apply_turn_ended,
        }

    # ------------------------------------------------------------ ordering
    def _key(self, st: RoundsState | None, bidder: str) -> tuple[Score, int, int]:
        if st is None or bidder not in st.amounts:
            spec = self.lot.bidders[self.index[bidder]]
            assert spec.amount is not None
            amount, at = spec.amount, spec.submitted_at
        else:
            amount, at = st.amounts[bidder], st.amount_at[bidder]
        return self.scorer.adjusted(bidder, amount), at, self.index[bidder]

    def turn_order(self, st: RoundsState | None, bidders: list[str]) -> list[str]:
        """Highest adjusted first; on ties the later-submitted amount first."""
        return sorted(bidders, key=lambda b: self._key(st, b), reverse=True)

    def start_order(self) -> list[str]:
        return self.turn_order(None, [b.id for b in self.lot.bidders])

    def ranking(self, st: RoundsState) -> list[tuple[str, int | None, Score | None]]:
        keyed = sorted((self._key(st, b), b) for b in self.active(st))
        return [(b, st.amounts[b], key[0]) for key, b in keyed]

    # --------------------------------------------------------------- decide
    def open_lot(self, st: RoundsState, at: int) -> list[Event]:
        return [
            PauseStarted(
                at=at, lot=self.lot.id, before_round=1, deadline=at + self.settings.first_pause_ms
            )
        ]

    def deadline_reached(self, st: RoundsState, at: int) -> list[Event]:
        active = self.active(st)
        lot = self.lot.id
        if st.stage == PAUSE:
            number = st.round + 1
            order = self.turn_order(st, active)
            return [
                RoundStarted(at=at, lot=lot, round=number, order=order),
                TurnStarted(
                    at=at,
                    lot=lot,
                    round=number,
                    bidder=order[0],
                    deadline=at + self.settings.turn_ms,
                ),
            ]
        if st.stage == TURN:
            bidder = st.order[st.turn]
            changed = st.pending is not None
            amount = st.pending if st.pending is not None else st.amounts[bidder]
            return [
                TurnEnded(
                    at=at, lot=lot, round=st.round, bidder=bidder, amount=amount, changed=changed
                )
            ]
        # TURN_OVER: the next turn, the next pause, or the end.
        for bidder in st.order[st.turn + 1 :]:
            if bidder not in st.disqualified:
                return [
                    TurnStarted(
                        at=at,
                        lot=lot,
                        round=st.round,
                        bidder=bidder,
                        deadline=at + self.settings.turn_ms,
                    )
                ]
        if st.round < self.settings.rounds:
            return [
                PauseStarted(
                    at=at,
                    lot=lot,
                    before_round=st.round + 1,
                    deadline=at + self.settings.pause_ms,
                )
            ]
        return [self.end_lot(st, at)]

    def _check_turn(self, st: RoundsState, bidder: str) -> None:
        self.check_bidder(st, bidder)
        if st.stage != TURN or st.order[st.turn] != bidder:
            if st.stage == PAUSE:
                raise BidRejected(
                    Code.NOT_YOUR_TURN, "the round has not started: wait for your turn"
                )
            raise BidRejected(Code.NOT_YOUR_TURN, "only the bidder whose turn it is may post")

    def place_bid(self, st: RoundsState, cmd: PlaceBid, at: int) -> list[Event]:
        self._check_turn(st, cmd.bidder)
        if cmd.amount <= 0:
            raise BidRejected(Code.AMOUNT_NOT_POSITIVE, "the amount must be greater than zero")
        limit = st.amounts[cmd.bidder] - self.step
        if cmd.amount > limit:
            raise BidRejected(
                Code.STEP_TOO_SMALL,
                f"bid at most {self.money(limit)}: your amount less the minimal step "
                f"of {self.money(self.step)}",
                limit=limit if limit > 0 else None,
            )
        return [
            BidPlaced(
                at=at,
                lot=self.lot.id,
                bidder=cmd.bidder,
                amount=cmd.amount,
                bid_id=cmd.bid_id,
                surrogate_by=cmd.surrogate_by,
            )
        ]

    def cancel_bid(self, st: RoundsState, cmd: CancelBid, at: int) -> list[Event]:
        """Revert this turn's posts; with nothing posted, a harmless no-op.

        ProZorro answers a cancel (``-1``) with nothing posted as a success, so a
        defensive cancel (a retry after a reconnect, a button pressed twice)
        must not be an error here either. It is journaled like any accepted
        cancel, because exactly-once is a fold of events: an id that left no
        event would be decided again after a restart.
        """
        self._check_turn(st, cmd.bidder)
        return [
            BidCancelled(
                at=at,
                lot=self.lot.id,
                bidder=cmd.bidder,
                bid_id=cmd.bid_id,
                surrogate_by=cmd.surrogate_by,
            )
        ]

    def max_bid(self, st: RoundsState, bidder: str) -> int | None:
        """The largest amount ``bidder`` may post right now, or None."""
        if st.stage != TURN or st.order[st.turn] != bidder or bidder in st.disqualified:
            return None
        limit = st.amounts[bidder] - self.step
        return limit if limit > 0 else None

    # ---------------------------------------------------------------- apply
    def _apply_started(self, st: RoundsState, ev: LotStarted) -> None:
        self._apply_lot_started(st, ev)
        for b in self.lot.bidders:
            assert b.amount is not None
            st.amounts[b.id] = b.amount
            st.amount_at[b.id] = b.submitted_at

    def _apply_pause(self, st: RoundsState, ev: PauseStarted) -> None:
        st.status = LIVE
        st.stage = PAUSE
        st.deadline = ev.deadline

    def _apply_round(self, st: RoundsState, ev: RoundStarted) -> None:
        st.stage = ROUND
        st.round = ev.round
        st.order = list(ev.order)
        st.turn = -1

    def _apply_turn(self, st: RoundsState, ev: TurnStarted) -> None:
        st.stage = TURN
        st.turn = st.order.index(ev.bidder, st.turn + 1)
        st.deadline = ev.deadline
        st.pending = None
        st.pending_at = None

    def _apply_post(self, st: RoundsState, ev: BidPlaced) -> None:
        st.pending = ev.amount
        st.pending_at = ev.at

    def _apply_cancel(self, st: RoundsState, ev: BidCancelled) -> None:
        st.pending = None
        st.pending_at = None

    def _apply_turn_ended(self, st: RoundsState, ev: TurnEnded) -> None:
        if ev.changed:
            st.amounts[ev.bidder] = ev.amount
            st.amount_at[ev.bidder] = st.pending_at if st.pending_at is not None else ev.at
        st.history.setdefault(ev.bidder, []).append(ev.amount)
        st.pending = None
        st.pending_at = None
        st.stage = TURN_OVER
        st.deadline = ev.at

    def disqualify(self, st: RoundsState, bidder: str, at: int) -> None:
        current = st.stage == TURN and st.order[st.turn] == bidder
        if current:
            st.pending = None
            st.pending_at = None
            st.stage = TURN_OVER
            st.deadline = at
        super().disqualify(st, bidder, at)

    # ----------------------------------------------------------------- view
    def _table(self, st: RoundsState, role: str, bidder: str | None) -> list[dict[str, Any]]:
        """ProZorro's round table: per bidder (label order) its sealed bid and its
        amount after each turn, shown as the ladder shows amounts (views.py): raw
        to officials, to the bidder itself and after the end, else only the
        adjusted score under ``features`` scoring."""
        if not st.labels:
            return []
        revealed = role == "official" or st.status == ENDED
        features = self.lot.scoring == "features"
        labels = self.labels_of(st)
        rows = []
        for b in st.labels:
            spec = self.lot.bidders[self.index[b]]
            raw = revealed or b == bidder or not features
            amounts = [spec.amount, *st.history.get(b, [])]

            def cell(amount: int | None, b: str = b, raw: bool = raw) -> dict[str, Any]:
                shown: dict[str, Any] = {"amount": amount if raw else None}
                if self.lot.scoring != "price" and amount is not None:
                    shown["score"] = score_to_str(self.scorer.adjusted(b, amount))
                return shown

            row: dict[str, Any] = {
                "label": labels.get(b, "Bidder"),
                "cells": [cell(a) for a in amounts],
                "disqualified": b in st.disqualified,
            }
            if b == bidder:
                row["you"] = True
            if revealed:
                row["bidder"] = b
                row["name"] = spec.name
            rows.append(row)
        return rows

    def lot_view(self, st: RoundsState, role: str, bidder: str | None) -> dict[str, Any]:
        turn_of = st.order[st.turn] if st.stage == TURN else None
        labels = self.labels_of(st)
        view: dict[str, Any] = {
            "round": st.round,
            "rounds": self.settings.rounds,
            "minimal_step": self.step,
            "turn": self.label_of(st, turn_of) if turn_of else None,
            "your_turn": bidder is not None and turn_of == bidder,
            "order": [labels.get(b, "Bidder") for b in st.order],
            "turn_ms": self.settings.turn_ms,
            "pause_ms": self.settings.pause_ms,
            "table": self._table(st, role, bidder),
        }
        if st.stage == PAUSE and st.status == LIVE:
            # The next round's order is already decided by the amounts standing now.
            view["next_order"] = [
                self.label_of(st, b) for b in self.turn_order(st, self.active(st))
            ]
        if bidder is not None:
            view["max_bid"] = self.max_bid(st, bidder)
            if turn_of == bidder:
                view["your_pending"] = st.pending
        if role == "official":
            view["pending"] = st.pending
        return view
