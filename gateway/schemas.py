"""The HTTP API's request bodies: closed msgspec structs whose fields carry their bounds.

Every body is converted into one of these (:func:`gateway.bodies.typed`) before
anything reads it, so an unknown field (a typo), a value of the wrong type or
one past its bound is a 422 naming the field, never a stack trace and never a
silent default. ``/openapi.json`` is generated from the same structs
(:mod:`gateway.openapi`), so the published schema is the one that is enforced.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, ClassVar, Final, Literal

import msgspec
from msgspec import Meta

from auction.core.limits import (
    MAX_EXTENSION_MS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_REASON_CHARS,
    text_problem,
)
from auction.core.money import parse_fraction
from gateway.bodies import BodyError

MAX_INT64: Final = 2**63 - 1

Id = Annotated[str, Meta(max_length=MAX_ID_CHARS)]
Name = Annotated[str, Meta(max_length=MAX_NAME_CHARS)]
Reason = Annotated[str, Meta(max_length=MAX_REASON_CHARS)]
BidId = Annotated[str, Meta(max_length=64)]
_DAY = MAX_EXTENSION_MS // 1000
Seconds = Annotated[int, Meta(ge=-_DAY, le=_DAY)] | Annotated[float, Meta(ge=-_DAY, le=_DAY)]
"""Bounded here; the engine refuses a non-positive extension (``invalid_extension``)."""


class _Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of request bodies: closed (an unknown field is refused)."""

    code: ClassVar[str] = "invalid_field"
    """The problem code of a refused body of this kind."""

    def check_text(self) -> None:
        """The text policy (auction/core/limits.py) on ids and names: NFC, nothing invisible."""
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if not isinstance(value, str) or name == "reason":
                continue
            is_id = name in ("lot", "bidder", "bid_id")
            limit = MAX_ID_CHARS if is_id else MAX_NAME_CHARS
            problem = text_problem(value, max_chars=limit, is_id=is_id and bool(value))
            if problem is not None:
                raise BodyError(422, self.code, problem, name)
        reason = getattr(self, "reason", "")
        problem = text_problem(reason, max_chars=MAX_REASON_CHARS, is_id=False)
        if problem is not None:
            raise BodyError(422, self.code, problem, "reason")


class _Control(_Body, frozen=True, kw_only=True):
    code: ClassVar[str] = "invalid_control"

    lot: Id = ""
    """The lot; empty for the auction's only lot (or every lot, where that applies)."""
    official: Name = ""
    """Who acts, as the record shows it; empty: ``official``."""


class PauseBody(_Control, frozen=True, kw_only=True):
    reason: Reason = ""


class ResumeBody(_Control, frozen=True, kw_only=True):
    pass


class ExtendBody(_Control, frozen=True, kw_only=True):
    seconds: Seconds
    """How much later the lot's current deadline moves (whole milliseconds, at most a day)."""

    def ms(self) -> int:
        exact: Fraction = parse_fraction(self.seconds) * 1000
        if exact.denominator != 1:
            raise BodyError(422, "invalid_control", "whole milliseconds only", "seconds")
        return int(exact)


class CancelBody(_Control, frozen=True, kw_only=True):
    reason: Reason = ""


class DisqualifyBody(_Control, frozen=True, kw_only=True):
    bidder: Id
    reason: Reason = ""


class SurrogateBidBody(_Control, frozen=True, kw_only=True):
    bidder: Id
    amount: Annotated[int, Meta(ge=-MAX_INT64 - 1, le=MAX_INT64)]
    """Minor units; the engine judges it like the bidder's own bid."""
    bid_id: BidId = ""


class RescheduleBody(_Control, frozen=True, kw_only=True):
    start_at: Annotated[str, Meta(max_length=64)] | Annotated[int, Meta(ge=0, le=MAX_INT64)]
    """The lot's new start: ISO-8601 with a zone, or ms since the epoch (a lot that
    has not started; the engine refuses a start not in the future)."""

    def start_ms(self) -> int:
        from auction.core.errors import SpecError
        from auction.core.spec import parse_time_ms

        try:
            return parse_time_ms(self.start_at, "start_at")
        except SpecError as exc:
            raise BodyError(422, "invalid_control", exc.message, "start_at") from None


CONTROL_BODIES: Final[dict[str, type[_Control]]] = {
    "pause": PauseBody,
    "resume": ResumeBody,
    "extend": ExtendBody,
    "cancel": CancelBody,
    "disqualify": DisqualifyBody,
    "surrogate_bid": SurrogateBidBody,
    "reschedule": RescheduleBody,
}
"""The body of each official control, by the action in the path."""


class TokenRequest(_Body, frozen=True, kw_only=True):
    role: Literal["bidder", "observer", "official"] = "bidder"
    bidder: Id | None = None
    """The admitted bidder a bidder token is for (bidder tokens only)."""
