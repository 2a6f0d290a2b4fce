"""The exception tree of the engine.

::

    UnderbidError
    ├── SpecError          the auction spec is invalid (names the field)
    ├── BidRejected        a participant's command breaks a rule (peer's fault);
    │                      carries a stable code from :class:`Code`
    ├── RecordError        an audit record's event cannot be read back (names the field)
    └── EngineBug          an invariant of our own broke (our fault)

A :class:`BidRejected` never escapes :meth:`Auction.handle`: it is turned into
a journaled ``CommandRejected`` event and returned as the command's outcome.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """Stable, machine-readable rejection codes. Never renamed; only added."""

    UNKNOWN_BIDDER = "unknown_bidder"
    """The bidder is not admitted to this lot."""
    BIDDER_DISQUALIFIED = "bidder_disqualified"
    """An official disqualified the bidder."""
    BIDDER_DROPPED = "bidder_dropped"
    """The bidder left a clock auction and cannot come back."""
    UNKNOWN_LOT = "unknown_lot"
    """The command names a lot the auction does not have."""
    LOT_REQUIRED = "lot_required"
    """The auction has several lots and the command names none."""
    AUCTION_NOT_STARTED = "auction_not_started"
    """The lot has not started yet."""
    AUCTION_CLOSED = "auction_closed"
    """The lot has ended (or its bidding window has closed)."""
    AUCTION_PAUSED = "auction_paused"
    """An official paused the auction."""
    NOT_YOUR_TURN = "not_your_turn"
    """In the rounds format only the bidder whose turn it is may post."""
    STEP_TOO_SMALL = "step_too_small"
    """The amount does not improve enough on the reference amount."""
    AMOUNT_NOT_POSITIVE = "amount_not_positive"
    """An amount must be greater than zero."""
    ABOVE_CEILING = "above_ceiling"
    """The amount is above the lot's ceiling (starting) price."""
    NOTHING_TO_CANCEL = "nothing_to_cancel"
    """No longer sent: a ``rounds`` cancel with nothing posted is a no-op, as in
    ProZorro. Kept because journals and records written before hold it, and a
    resent bid id of theirs is answered with its original code."""
    ALREADY_ACCEPTED = "already_accepted"
    """The bidder already confirmed this round's price."""
    NOT_SUPPORTED = "not_supported"
    """The command has no meaning in this lot's format."""
    NOT_PAUSED = "not_paused"
    """Resume was sent while the auction runs."""
    ALREADY_PAUSED = "already_paused"
    """Pause was sent while the auction is paused."""
    INVALID_EXTENSION = "invalid_extension"
    """An extension must be a positive number of milliseconds, of a deadline still ahead."""
    ALREADY_STARTED = "already_started"
    """A lot that has started (or ended) cannot be rescheduled."""
    INVALID_START = "invalid_start"
    """A new start must lie in the future, within :data:`~auction.core.engine.MAX_RESCHEDULE_MS`."""


class UnderbidError(Exception):
    """Base of every error the engine raises on purpose."""


class SpecError(UnderbidError):
    """The auction spec is invalid. ``field`` is a path such as ``lots[0].bidders[1].amount``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class BidRejected(UnderbidError):
    """A participant's command breaks a rule. Blamed on the peer, never a bug."""

    def __init__(self, code: Code, message: str, *, limit: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.limit = limit
        """The largest amount allowed (``step_too_small``, ``above_ceiling``), so a
        client can say it in its own language; None for other codes."""


class RecordError(UnderbidError):
    """An audit record's event is not an event. ``field`` is a path such as ``events[3].amount``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class EngineBug(UnderbidError):
    """An invariant of the engine itself broke: a bug of ours, never the peer's."""
