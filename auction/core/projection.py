"""Events as each role may see them: the live stream behind every view.

``project(auction, event, role)`` returns the JSON-ready mapping of an event
for ``official``, ``bidder`` or ``public``, or None when the role must not
see it at all. A gateway encodes each result once per role and sends the same
bytes to every connection of that role, so nothing here may depend on which
bidder is watching: what concerns one bidder alone (its own pending post,
its rejections) reaches it as the answer to its own command.

The rules are the views' rules (docs/engine.md), applied to events:

- bidder ids become anonymous labels (``Bidder #N``) until the lot ended; the
  ``lot_ended`` event itself reveals the winner (the announcement);
- a ``rounds`` post (``bid_placed``) shows that the turn's bidder posted, never
  the amount, until ``turn_ended`` makes the counted amount public;
- under ``features`` scoring only the adjusted score of an amount is shown;
  with ``visibility = "rank"`` (open) no amount of another bidder is shown;
- in ``japanese`` lots who confirmed or dropped out stays hidden (only that
  someone did);
- rejections are private to the sender and the officials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auction.core.events import (
    BidCancelled,
    BidderDisqualified,
    BidderDropped,
    BidPlaced,
    CommandRejected,
    Event,
    LotEnded,
    LotStarted,
    PriceAccepted,
    RoundStarted,
    TurnEnded,
    TurnStarted,
    event_to_dict,
)
from auction.core.formats.base import ENDED
from auction.core.money import score_to_str

if TYPE_CHECKING:
    from auction.core.engine import Auction

ROLES = ("official", "bidder", "public")


def project(auction: Auction, event: Event, role: str) -> dict[str, Any] | None:
    """The event as ``role`` may see it, or None if it must not see it."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    data = event_to_dict(event)
    if role == "official" or not event.lot:
        return data
    if isinstance(event, CommandRejected):
        return None
    rules = auction.rules[event.lot]
    st = auction.lot_states[event.lot]
    lot = rules.lot
    label = rules.label_of

    if isinstance(event, LotStarted):
        data["labels"] = [f"Bidder #{i + 1}" for i in range(len(event.labels))]
        return data
    if isinstance(event, RoundStarted):
        data["order"] = [label(st, b) for b in event.order]
        return data
    if isinstance(event, TurnStarted | BidderDisqualified):
        data["bidder"] = label(st, event.bidder)
        return data
    if isinstance(event, LotEnded):
        if event.winner is not None:
            spec = lot.bidder(event.winner)
            data["winner_name"] = spec.name if spec else event.winner
            data["winner_label"] = label(st, event.winner)
            if event.amount is not None and lot.scoring != "price":
                data["score"] = score_to_str(rules.scorer.adjusted(event.winner, event.amount))
        return data
    if isinstance(event, BidderDropped):
        data["bidder"] = None
        data["bid_id"] = ""
        return data
    if isinstance(event, PriceAccepted):
        data["bid_id"] = ""
        data["surrogate_by"] = ""
        if lot.format == "japanese" and st.status != ENDED:
            data["bidder"] = None
        else:
            data["bidder"] = label(st, event.bidder)
        return data
    if isinstance(event, BidPlaced | BidCancelled):
        data["bidder"] = label(st, event.bidder)
        data["bid_id"] = ""
        data["surrogate_by"] = ""
        if isinstance(event, BidPlaced):
            if lot.format == "rounds" or not rules.prices_visible():
                data["amount"] = None
            elif lot.scoring != "price":
                data["amount"] = None
                data["score"] = score_to_str(rules.scorer.adjusted(event.bidder, event.amount))
        return data
    if isinstance(event, TurnEnded):
        data["bidder"] = label(st, event.bidder)
        if lot.scoring != "price":
            data["amount"] = None
            data["score"] = score_to_str(rules.scorer.adjusted(event.bidder, event.amount))
        return data
    return data
