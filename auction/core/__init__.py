"""The pure auction engine: no I/O, no wall clock, no hidden randomness.

Public API::

    spec = parse_spec(mapping)            # SpecError names the bad field
    auction = Auction(spec)
    outcome = auction.handle(PlaceBid(bidder="b1", amount=100, bid_id="x"), now_ms)
    auction.advance(now_ms)               # fire deadlines up to now
    auction.next_deadline()               # when to wake the engine next
    auction_view(auction, "bidder", "b1") # what a role may see
    result(auction); audit_record(auction, journal)
"""

from auction.core.commands import (
    AcceptPrice,
    AnyCommand,
    CancelAuction,
    CancelBid,
    Command,
    Disqualify,
    Extend,
    Pause,
    PlaceBid,
    Reschedule,
    Resume,
)
from auction.core.engine import Auction, AuctionState, Outcome
from auction.core.errors import (
    BidRejected,
    Code,
    EngineBug,
    RecordError,
    SpecError,
    UnderbidError,
)
from auction.core.events import AnyEvent, Event, decode_event, encode_event, event_to_dict
from auction.core.record import audit_record, events_from_record, result
from auction.core.spec import AuctionSpec, LotSpec, parse_spec
from auction.core.views import auction_view

__all__ = [
    "AcceptPrice",
    "AnyCommand",
    "AnyEvent",
    "Auction",
    "AuctionSpec",
    "AuctionState",
    "BidRejected",
    "CancelAuction",
    "CancelBid",
    "Code",
    "Command",
    "Disqualify",
    "EngineBug",
    "Event",
    "Extend",
    "LotSpec",
    "Outcome",
    "Pause",
    "PlaceBid",
    "RecordError",
    "Reschedule",
    "Resume",
    "SpecError",
    "UnderbidError",
    "auction_view",
    "audit_record",
    "decode_event",
    "encode_event",
    "event_to_dict",
    "events_from_record",
    "parse_spec",
    "result",
]
