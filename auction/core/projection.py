"""Events as each role may see them: the live stream behind every view.

``project(auction, event, role)`` returns the JSON-ready mapping of an event
for ``official``, ``bidder`` or ``public``, or None when the role must not
see it at all. A gateway encodes each result once per role and sends the same
bytes to every connection of that role, so nothing here may depend on which
bidder is watching: what concerns one bidder alone (its own pending post,
its rejections) reaches it as the answer to its own command.

**Safe by construction.** Officials see every event as it is. For bidders and
the public, each event type has its own projector in :data:`_PROJECTORS`
that builds the shown mapping field by field; an event type without a
projector, an event of a lot the auction does not have, and an event naming
no lot that is not one of the auction-wide controls are never shown. A new
event type is therefore hidden until someone decides what it may show (a
test checks that every event type has been decided).

**The same on every node.** A projection depends on the event, the spec and
the lot's label list, which is fixed once the lot started (``LotStarted``) and
empty before. Nothing else of the live state is read, so the owner (whose
state may be a few events ahead when it fans out) and a follower (which folds
event by event) send the very same bytes for the same ``seq``.

The rules are the views' rules (docs/engine.md), applied to events:

- bidder ids become anonymous labels (``Bidder #N``) until the lot ended; the
  ``lot_ended`` event itself reveals the winner (the announcement); a bidder
  disqualified before the start has no label yet and is shown without one;
- a ``rounds`` post (``bid_placed``) shows that the turn's bidder posted, never
  the amount, until ``turn_ended`` makes the counted amount public;
- under ``features`` scoring only the adjusted score of an amount is shown;
  with ``visibility = "rank"`` (open) no amount of another bidder is shown;
- in ``japanese`` lots who confirmed or dropped out stays hidden (only that
  someone did);
- client bid ids and the officials who entered surrogate bids are never shown;
- rejections are private to the sender and the officials.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
    DeadlineExtended,
    Event,
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
    event_to_dict,
)
from auction.core.formats.base import FormatRules, LotState
from auction.core.money import score_to_str

if TYPE_CHECKING:
    from auction.core.engine import Auction

ROLES = ("official", "bidder", "public")

_AUCTION_WIDE: frozenset[type[Event]] = frozenset({AuctionPaused, AuctionResumed, AuctionCancelled})
"""Events without a lot that bidders and the public see (the officials' controls)."""


class _Lot:
    """What a projector may read: the lot's static rules and its label list
    (and, for the lot's last event, its final state)."""

    __slots__ = ("labels", "rules", "st")

    def __init__(self, rules: FormatRules[Any], st: LotState) -> None:
        self.rules = rules
        self.st = st
        self.labels = st.labels

    def label(self, bidder: str) -> str | None:
        """The bidder's label once the lot started; None before (or if not admitted)."""
        if not self.labels:
            return None
        return self.rules.started_labels(self.labels).get(bidder)

    def score(self, bidder: str, amount: int) -> str:
        return score_to_str(self.rules.scorer.adjusted(bidder, amount))


Projector = Callable[[Any, Any], dict[str, Any]]
"""(the lot as :class:`_Lot`, or None for auction-wide events; the event) -> shown."""


def _common(event: Event) -> dict[str, Any]:
    return {"type": event.__struct_config__.tag, "at": event.at, "lot": event.lot}


def _copy(*names: str) -> Projector:
    """A projector that shows exactly ``names`` (fields that name no bidder)."""

    def show(lot: _Lot | None, event: Any) -> dict[str, Any]:
        out = _common(event)
        for name in names:
            out[name] = getattr(event, name)
        return out

    return show


def _lot_started(lot: _Lot, ev: LotStarted) -> dict[str, Any]:
    return {**_common(ev), "labels": [f"Bidder #{i + 1}" for i in range(len(ev.labels))]}


def _lot_ended(lot: _Lot, ev: LotEnded) -> dict[str, Any]:
    # The announcement: identities are revealed with it.
    out = {**_common(ev), "outcome": ev.outcome, "winner": ev.winner, "amount": ev.amount}
    if ev.winner is not None:
        spec = lot.rules.lot.bidder(ev.winner)
        out["winner_name"] = spec.name if spec else ev.winner
        # The lot's last event: its state no longer changes, whenever this runs.
        out["winner_label"] = lot.rules.label_of(lot.st, ev.winner)
        if ev.amount is not None and lot.rules.lot.scoring != "price":
            out["score"] = lot.score(ev.winner, ev.amount)
    return out


def _round_started(lot: _Lot, ev: RoundStarted) -> dict[str, Any]:
    return {**_common(ev), "round": ev.round, "order": [lot.label(b) for b in ev.order]}


def _turn_started(lot: _Lot, ev: TurnStarted) -> dict[str, Any]:
    return {
        **_common(ev),
        "round": ev.round,
        "bidder": lot.label(ev.bidder),
        "deadline": ev.deadline,
    }


def _turn_ended(lot: _Lot, ev: TurnEnded) -> dict[str, Any]:
    out = {
        **_common(ev),
        "round": ev.round,
        "bidder": lot.label(ev.bidder),
        "amount": ev.amount,
        "changed": ev.changed,
    }
    if lot.rules.lot.scoring != "price":
        out["amount"] = None
        out["score"] = lot.score(ev.bidder, ev.amount)
    return out


def _bid_placed(lot: _Lot, ev: BidPlaced) -> dict[str, Any]:
    rules = lot.rules
    out = {
        **_common(ev),
        "bidder": lot.label(ev.bidder),
        "amount": ev.amount,
        "bid_id": "",
        "surrogate_by": "",
    }
    if rules.lot.format == "rounds" or not rules.prices_visible():
        out["amount"] = None
    elif rules.lot.scoring != "price":
        out["amount"] = None
        out["score"] = lot.score(ev.bidder, ev.amount)
    return out


def _bid_cancelled(lot: _Lot, ev: BidCancelled) -> dict[str, Any]:
    return {**_common(ev), "bidder": lot.label(ev.bidder), "bid_id": "", "surrogate_by": ""}


def _price_accepted(lot: _Lot, ev: PriceAccepted) -> dict[str, Any]:
    # japanese: a confirmation says only that someone confirmed; dutch: the
    # winning accept, which the lot_ended that follows announces anyway.
    bidder = None if lot.rules.lot.format == "japanese" else lot.label(ev.bidder)
    return {**_common(ev), "bidder": bidder, "price": ev.price, "bid_id": "", "surrogate_by": ""}


def _bidder_dropped(lot: _Lot, ev: BidderDropped) -> dict[str, Any]:
    return {**_common(ev), "bidder": None, "reason": ev.reason, "bid_id": ""}


def _disqualified(lot: _Lot, ev: BidderDisqualified) -> dict[str, Any]:
    return {
        **_common(ev),
        "bidder": lot.label(ev.bidder),
        "official": ev.official,
        "reason": ev.reason,
    }


_PROJECTORS: dict[type[Event], Projector] = {
    LotStarted: _lot_started,
    LotEnded: _lot_ended,
    BidPlaced: _bid_placed,
    BidCancelled: _bid_cancelled,
    PriceAccepted: _price_accepted,
    BidderDisqualified: _disqualified,
    BidderDropped: _bidder_dropped,
    DeadlineExtended: _copy("official", "ms"),
    StartMoved: _copy("official", "start_at"),  # the new start is public, like the old one
    PauseStarted: _copy("before_round", "deadline"),
    RoundStarted: _round_started,
    TurnStarted: _turn_started,
    TurnEnded: _turn_ended,
    BiddingOpened: _copy("close_at", "phase_ends"),
    PhaseStarted: _copy("phase"),
    CloseExtended: _copy("close_at"),
    ClockRoundStarted: _copy("round", "price", "deadline"),
    PriceChanged: _copy("step", "price", "deadline"),
}
"""What bidders and the public see of each event of a lot. ``CommandRejected``
is deliberately absent: rejections go only to their sender and the officials."""

_CONTROLS: dict[type[Event], Projector] = {
    AuctionPaused: _copy("official", "reason"),
    AuctionResumed: _copy("official", "shift"),
    AuctionCancelled: _copy("official", "reason"),
}
"""What bidders and the public see of the auction-wide controls."""

DECIDED: frozenset[type[Event]] = frozenset(_PROJECTORS) | frozenset(_CONTROLS)
"""Event types whose projection has been written (the rest are never shown)."""


def project(auction: Auction, event: Event, role: str) -> dict[str, Any] | None:
    """The event as ``role`` may see it, or None if it must not see it."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if role == "official":
        data = event_to_dict(event)
        if isinstance(event, BidPlaced | TurnEnded) and event.lot in auction.rules:
            # Officials see raw amounts; the adjusted one beside it ranks (charts, logs).
            scorer = auction.rules[event.lot].scorer
            if auction.rules[event.lot].lot.scoring != "price":
                data["score"] = score_to_str(scorer.adjusted(event.bidder, event.amount))
        return data
    kind = type(event)
    if not event.lot:
        control = _CONTROLS.get(kind)
        return control(None, event) if control is not None else None
    rules = auction.rules.get(event.lot)
    projector = _PROJECTORS.get(kind)
    if rules is None or projector is None:
        return None
    return projector(_Lot(rules, auction.lot_states[event.lot]), event)
