"""What every format shares: the lot state's common part and the rules' shape.

A format is a :class:`FormatRules` subclass: stateless rules over a mutable
:class:`LotState` subclass. ``decide`` methods (``place_bid``, ``on_deadline``,
...) read the state and return events, raising :class:`BidRejected` on a
broken rule; they never mutate. Only ``apply`` mutates, so that a replay of
the same events always rebuilds the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from auction.core.commands import AcceptPrice, CancelBid, PlaceBid
from auction.core.errors import BidRejected, Code, EngineBug
from auction.core.events import (
    BidderDisqualified,
    CommandRejected,
    DeadlineExtended,
    Event,
    LotEnded,
    LotStarted,
    StartMoved,
)
from auction.core.money import Score, format_amount, score_to_str
from auction.core.scoring import Scorer
from auction.core.spec import AuctionSpec, LotSpec

SCHEDULED = "scheduled"
LIVE = "live"
ENDED = "ended"


class LotState(msgspec.Struct, kw_only=True):
    """The part of a lot's state that every format has."""

    status: str = SCHEDULED
    """``scheduled`` -> ``live`` -> ``ended``."""
    stage: str = SCHEDULED
    """Format-specific stage name shown in views (``pause``, ``turn``, ...)."""
    deadline: int | None = None
    """When the engine must next be woken for this lot (ms), or None."""
    labels: list[str] = []
    """Admitted bidders in label order: ``labels[i]`` is ``Bidder #i+1``."""
    disqualified: list[str] = []
    outcome: str = ""
    winner: str | None = None
    winning_amount: int | None = None
    ended_at: int | None = None
    started_at: int | None = None
    """When the lot went live (``LotStarted``), where its charts begin."""
    rejections: int = 0


S = TypeVar("S", bound=LotState)


class FormatRules(Generic[S]):
    """Rules of one format for one lot. Subclasses fill in the format."""

    name: ClassVar[str]
    state_type: type[S]
    ends_when_one_left: ClassVar[bool] = True
    """Whether a live lot ends at once when fewer than two bidders remain."""

    def __init__(self, auction: AuctionSpec, lot: LotSpec) -> None:
        self.auction = auction
        self.lot = lot
        self.scorer = Scorer(lot)
        self.bidder_ids = frozenset(b.id for b in lot.bidders)
        self._labels: tuple[Any, dict[str, str]] | None = None
        """Cache of :meth:`labels_of`: (what it was built from, the labels)."""
        self._start: list[str] | None = None
        """Cache of :meth:`start_order` (it depends on the spec only)."""
        self._appliers: dict[type[Event], Callable[[Any, Any], None]] = {
            LotStarted: self._apply_lot_started,
            LotEnded: self._apply_lot_ended,
            CommandRejected: self._apply_rejected,
            BidderDisqualified: self._apply_noop,
            DeadlineExtended: self._apply_extended,
            StartMoved: self._apply_start_moved,
        }
        self._appliers.update(self.appliers())

    # ----------------------------------------------------------- lifecycle
    def new_state(self) -> S:
        st = self.state_type()
        st.deadline = self.lot.start_at
        return st

    def start(self, st: S, at: int) -> list[Event]:
        """The scheduled start arrived. Fewer than two bidders: no live auction."""
        admitted = [b for b in self.start_order() if b not in st.disqualified]
        if len(admitted) < 2:
            winner, amount = self.sole_bidder_result(admitted)
            return [
                LotEnded(
                    at=at,
                    lot=self.lot.id,
                    outcome="insufficient_bidders",
                    winner=winner,
                    amount=amount,
                )
            ]
        return [LotStarted(at=at, lot=self.lot.id, labels=admitted), *self.open_lot(st, at)]

    def start_order(self) -> list[str]:
        """Label order. By default sealed-bid submission time, then spec order;
        ``rounds`` numbers bidders by the round-1 turn order instead."""
        ordered = sorted(enumerate(self.lot.bidders), key=lambda p: (p[1].submitted_at, p[0]))
        return [b.id for _, b in ordered]

    def sole_bidder_result(self, admitted: list[str]) -> tuple[str | None, int | None]:
        """With one admitted bidder its sealed bid stands, if it made one."""
        if len(admitted) == 1:
            bidder = self.lot.bidder(admitted[0])
            if bidder is not None and bidder.amount is not None:
                return bidder.id, bidder.amount
        return None, None

    def on_deadline(self, st: S, at: int) -> list[Event]:
        """The lot's deadline ``at`` arrived. Must move the deadline or end the lot."""
        if st.status == SCHEDULED:
            return self.start(st, at)
        if self.ends_when_one_left and self.remaining(st) < 2:
            return [self.end_lot(st, at)]
        return self.deadline_reached(st, at)

    def remaining(self, st: S) -> int:
        """Admitted bidders not disqualified."""
        return len(self.active(st))

    def active(self, st: S) -> list[str]:
        """Admitted bidders not disqualified, in label order."""
        if not st.disqualified:
            return list(st.labels)
        out = set(st.disqualified)
        return [b for b in st.labels if b not in out]

    # ------------------------------------------------- format must provide
    def open_lot(self, st: S, at: int) -> list[Event]:
        """Events that open live bidding right after ``LotStarted``."""
        raise NotImplementedError

    def deadline_reached(self, st: S, at: int) -> list[Event]:
        raise NotImplementedError

    def appliers(self) -> dict[type[Event], Callable[[Any, Any], None]]:
        return {}

    def shift(self, st: S, ms: int) -> None:
        """Move every absolute time of the lot by ``ms`` (after a pause)."""
        if st.deadline is not None:
            st.deadline += ms

    def extend(self, st: S, ms: int) -> None:
        """An official moved the current deadline later by ``ms``."""
        if st.deadline is not None:
            st.deadline += ms

    def disqualify(self, st: S, bidder: str, at: int) -> None:
        """Mutate for a disqualification effective at ``at``.

        By default a live lot left with fewer than two bidders ends at once.
        """
        if (
            self.ends_when_one_left
            and st.status == LIVE
            and st.deadline is not None
            and self.remaining(st) < 2
        ):
            st.deadline = min(st.deadline, at)

    def place_bid(self, st: S, cmd: PlaceBid, at: int) -> list[Event]:
        raise BidRejected(Code.NOT_SUPPORTED, f"the {self.name} format takes no bids")

    def cancel_bid(self, st: S, cmd: CancelBid, at: int) -> list[Event]:
        raise BidRejected(Code.NOT_SUPPORTED, f"the {self.name} format has no cancel")

    def accept_price(self, st: S, cmd: AcceptPrice, at: int) -> list[Event]:
        raise BidRejected(Code.NOT_SUPPORTED, f"the {self.name} format has no price to accept")

    def ranking(self, st: S) -> list[tuple[str, int | None, Score | None]]:
        """(bidder, raw amount, adjusted) best first; disqualified left out."""
        raise NotImplementedError

    def prices_visible(self) -> bool:
        """Whether bidders and the public see others' amounts (else rank only)."""
        return True

    def ranking_visible(self) -> bool:
        """Whether bidders and the public see the ranking while the lot runs.

        When not, their ladder lists the bidders in label order without ranks
        until the lot ends: the order itself would tell what the format hides.
        """
        return True

    def lot_view(self, st: S, role: str, bidder: str | None) -> dict[str, Any]:
        """Format-specific fields of a view (the caller adds the common ones)."""
        return {}

    # --------------------------------------------------------------- apply
    def apply(self, st: S, event: Event) -> None:
        handler = self._appliers.get(type(event))
        if handler is None:
            raise EngineBug(f"{self.name} lot cannot apply {type(event).__name__}")
        handler(st, event)

    def _apply_lot_started(self, st: S, ev: LotStarted) -> None:
        st.status = LIVE
        st.labels = list(ev.labels)
        st.started_at = ev.at

    def _apply_lot_ended(self, st: S, ev: LotEnded) -> None:
        st.status = ENDED
        st.stage = ENDED
        st.deadline = None
        st.outcome = ev.outcome
        st.winner = ev.winner
        st.winning_amount = ev.amount
        st.ended_at = ev.at

    def _apply_rejected(self, st: S, ev: CommandRejected) -> None:
        st.rejections += 1

    def _apply_noop(self, st: S, ev: Event) -> None:
        """Handled by the engine through :meth:`disqualify`."""

    def _apply_extended(self, st: S, ev: DeadlineExtended) -> None:
        self.extend(st, ev.ms)

    def _apply_start_moved(self, st: S, ev: StartMoved) -> None:
        st.deadline = ev.start_at  # a scheduled lot's only deadline is its start

    # ------------------------------------------------------------- helpers
    def check_bidder(self, st: S, bidder: str) -> None:
        """Reject unknown, disqualified bidders and lots that are not live."""
        if bidder not in self.bidder_ids:
            raise BidRejected(Code.UNKNOWN_BIDDER, f"{bidder!r} is not admitted to this lot")
        if bidder in st.disqualified:
            raise BidRejected(Code.BIDDER_DISQUALIFIED, "you were disqualified by an official")
        if st.status == SCHEDULED:
            raise BidRejected(Code.AUCTION_NOT_STARTED, "the auction has not started yet")
        if st.status == ENDED:
            raise BidRejected(Code.AUCTION_CLOSED, "the auction is over")

    def label_of(self, st: S, bidder: str) -> str:
        """``Bidder #N``. Before the start, the label the bidder will get."""
        return self.labels_of(st).get(bidder, "Bidder")

    def labels_of(self, st: S) -> dict[str, str]:
        """Bidder -> ``Bidder #N`` for the lot as it stands (before the start: the
        labels the bidders will get). Built once per label list: views label
        every bidder of the ladder, and a search per bidder would cost n**2."""
        if st.labels:
            return self.started_labels(st.labels)
        cached = self._labels
        out = tuple(st.disqualified)
        if cached is None or cached[0] != out:
            refused = set(out)
            upcoming = [b for b in self._start_order() if b not in refused]
            cached = self._labels = (out, _numbered(upcoming))
        return cached[1]

    def started_labels(self, labels: list[str]) -> dict[str, str]:
        """Bidder -> label of a started lot (its ``LotStarted`` labels, fixed for good)."""
        cached = self._labels
        if cached is None or cached[0] is not labels:
            cached = self._labels = (labels, _numbered(labels))
        return cached[1]

    def _start_order(self) -> list[str]:
        if self._start is None:
            self._start = self.start_order()
        return self._start

    def money(self, value: Score | None) -> str | None:
        if value is None:
            return None
        return format_amount(value, self.auction.currency, self.auction.currency_exponent)

    def end_lot(self, st: S, at: int) -> LotEnded:
        """The regular end: the best of :meth:`ranking` wins."""
        ranking = self.ranking(st)
        if not ranking or ranking[0][1] is None:
            return LotEnded(at=at, lot=self.lot.id, outcome="no_winner", winner=None, amount=None)
        best = ranking[0]
        return LotEnded(at=at, lot=self.lot.id, outcome="completed", winner=best[0], amount=best[1])

    def score_text(self, value: Score | None) -> str | None:
        return None if value is None else score_to_str(value)


def _numbered(bidders: list[str]) -> dict[str, str]:
    return {b: f"Bidder #{i}" for i, b in enumerate(bidders, start=1)}
