"""Events: the single source of truth of an auction.

Every state is a fold of these, in journal order. Events are small frozen
structs, tagged for decoding, and encoded as arrays (compact MessagePack).
``at`` is the time the event takes effect, in ms since epoch: a deadline's
events carry the deadline itself, never the moment somebody noticed it.
"""

from __future__ import annotations

import msgspec


class Event(msgspec.Struct, frozen=True, tag=True, array_like=True):
    """Base of every event."""

    at: int
    """When it took effect (ms since epoch)."""
    lot: str
    """The lot it concerns; empty for auction-wide events."""


# ------------------------------------------------------------------ generic
class LotStarted(Event, frozen=True, tag="lot_started"):
    labels: list[str]
    """Admitted bidder ids; the i-th is shown as ``Bidder #i+1``."""


class LotEnded(Event, frozen=True, tag="lot_ended"):
    outcome: str
    """``completed``, ``no_winner``, ``insufficient_bidders`` or ``cancelled``."""
    winner: str | None
    amount: int | None


class BidPlaced(Event, frozen=True, tag="bid_placed"):
    """A bid (``open``) or a post in one's turn (``rounds``) was accepted."""

    bidder: str
    amount: int
    bid_id: str
    surrogate_by: str


class BidCancelled(Event, frozen=True, tag="bid_cancelled"):
    """``rounds``: the posts of this turn were reverted (a no-op when there were none)."""

    bidder: str
    bid_id: str
    surrogate_by: str


class PriceAccepted(Event, frozen=True, tag="price_accepted"):
    """``japanese``: a confirmation; ``dutch``: the winning accept."""

    bidder: str
    price: int
    bid_id: str
    surrogate_by: str


class CommandRejected(Event, frozen=True, tag="command_rejected"):
    """A command broke a rule. Journaled so the audit record shows every rejection."""

    actor: str
    """The bidder (or official) who sent it."""
    command: str
    code: str
    message: str
    bid_id: str
    amount: int | None
    surrogate_by: str


# ------------------------------------------------------- official controls
class AuctionPaused(Event, frozen=True, tag="auction_paused"):
    official: str
    reason: str


class AuctionResumed(Event, frozen=True, tag="auction_resumed"):
    official: str
    shift: int
    """How long the auction was paused (ms); every deadline moved by it."""


class AuctionCancelled(Event, frozen=True, tag="auction_cancelled"):
    official: str
    reason: str


class BidderDisqualified(Event, frozen=True, tag="bidder_disqualified"):
    bidder: str
    official: str
    reason: str


class DeadlineExtended(Event, frozen=True, tag="deadline_extended"):
    official: str
    ms: int


class StartMoved(Event, frozen=True, tag="start_moved"):
    """A lot that had not started now starts at ``start_at`` (re-planned)."""

    official: str
    start_at: int


# ------------------------------------------------------------------- rounds
class PauseStarted(Event, frozen=True, tag="pause_started"):
    before_round: int
    deadline: int


class RoundStarted(Event, frozen=True, tag="round_started"):
    round: int
    order: list[str]
    """Turn order of the round: worst (highest) first, the leader last."""


class TurnStarted(Event, frozen=True, tag="turn_started"):
    round: int
    bidder: str
    deadline: int


class TurnEnded(Event, frozen=True, tag="turn_ended"):
    """The counted amount of the turn becomes public."""

    round: int
    bidder: str
    amount: int
    changed: bool


# --------------------------------------------------------------------- open
class BiddingOpened(Event, frozen=True, tag="bidding_opened"):
    close_at: int
    phase_ends: list[int]


class PhaseStarted(Event, frozen=True, tag="phase_started"):
    phase: int


class CloseExtended(Event, frozen=True, tag="close_extended"):
    """Dynamic close: a late bid moved the close."""

    close_at: int


# ------------------------------------------------------------ clock formats
class ClockRoundStarted(Event, frozen=True, tag="clock_round_started"):
    """``japanese``: a new price to confirm before ``deadline``."""

    round: int
    price: int
    deadline: int


class BidderDropped(Event, frozen=True, tag="bidder_dropped"):
    bidder: str
    reason: str
    """``no_confirmation`` or ``withdrew``."""
    bid_id: str = ""
    """The withdrawing command's bid id, so that a retry is recognised."""


class PriceChanged(Event, frozen=True, tag="price_changed"):
    """``dutch``: the clock moved to ``price`` until ``deadline``."""

    step: int
    price: int
    deadline: int


AnyEvent = (
    LotStarted
    | LotEnded
    | BidPlaced
    | BidCancelled
    | PriceAccepted
    | CommandRejected
    | AuctionPaused
    | AuctionResumed
    | AuctionCancelled
    | BidderDisqualified
    | DeadlineExtended
    | StartMoved
    | PauseStarted
    | RoundStarted
    | TurnStarted
    | TurnEnded
    | BiddingOpened
    | PhaseStarted
    | CloseExtended
    | ClockRoundStarted
    | BidderDropped
    | PriceChanged
)

EVENT_TYPES: tuple[type[Event], ...] = AnyEvent.__args__

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(AnyEvent)
_list_decoder = msgspec.msgpack.Decoder(list[AnyEvent])


def encode_event(event: Event) -> bytes:
    """MessagePack bytes of one event (what the journal stores)."""
    return _encoder.encode(event)


def decode_event(data: bytes) -> Event:
    """Inverse of :func:`encode_event`; raises ``msgspec.DecodeError`` on garbage."""
    event: Event = _decoder.decode(data)
    return event


def encode_events(events: list[Event]) -> bytes:
    return _encoder.encode(events)


def decode_events(data: bytes) -> list[Event]:
    return list(_list_decoder.decode(data))


def event_to_dict(event: Event) -> dict[str, object]:
    """A JSON-friendly mapping with a ``type`` key, for records and logs."""
    out: dict[str, object] = {"type": event.__struct_config__.tag}
    for name in event.__struct_fields__:
        out[name] = getattr(event, name)
    return out
