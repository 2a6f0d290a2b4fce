"""Commands: what participants and officials ask the engine to do.

A closed, tagged union of small frozen structs. ``lot`` may be left empty when
the auction has a single lot. ``bid_id`` is chosen by the client: a command
repeated with the same (bidder, bid_id) returns its original outcome and
never creates a second event (exactly-once bids across retries).
"""

from __future__ import annotations

import msgspec


class Command(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """Base of every command."""

    lot: str = ""
    """The lot the command is for; empty means the auction's only lot."""


class PlaceBid(Command, frozen=True, tag="place_bid"):
    """A bid (``open``) or a post in one's turn (``rounds``)."""

    bidder: str
    amount: int
    """Minor units. Validated against the format's step rule."""
    bid_id: str = ""
    surrogate_by: str = ""
    """Set when an official enters the bid on the bidder's behalf."""


class CancelBid(Command, frozen=True, tag="cancel_bid"):
    """``rounds``: revert this turn's posts. ``japanese``: leave the auction for good."""

    bidder: str
    bid_id: str = ""
    surrogate_by: str = ""


class AcceptPrice(Command, frozen=True, tag="accept_price"):
    """``japanese``: confirm this round's price. ``dutch``: take the current price."""

    bidder: str
    bid_id: str = ""
    surrogate_by: str = ""


class Pause(Command, frozen=True, tag="pause"):
    """Official: freeze every clock of the auction."""

    official: str
    reason: str = ""


class Resume(Command, frozen=True, tag="resume"):
    """Official: restart the clocks; every deadline moves by the paused time."""

    official: str


class Extend(Command, frozen=True, tag="extend"):
    """Official: move the lot's current deadline later by ``ms``.

    In ``open`` lots this is the close (with the dynamic-close cap and the
    quiet close); phase boundaries stay.
    """

    official: str
    ms: int


class CancelAuction(Command, frozen=True, tag="cancel_auction"):
    """Official: end every lot at once with outcome ``cancelled``."""

    official: str
    reason: str = ""


class Disqualify(Command, frozen=True, tag="disqualify"):
    """Official: lock a bidder out (of ``lot``, or of every lot when empty)."""

    official: str
    bidder: str
    reason: str = ""


class Reschedule(Command, frozen=True, tag="reschedule"):
    """Official (or the procurement system's bridge): move a lot that has not
    started to start at ``start_at`` (ms since epoch), earlier or later."""

    official: str
    start_at: int


BidderCommand = PlaceBid | CancelBid | AcceptPrice
OfficialCommand = Pause | Resume | Extend | CancelAuction | Disqualify | Reschedule
AnyCommand = BidderCommand | OfficialCommand
