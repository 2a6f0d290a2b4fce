"""Scripts: timed actions for ``underbid simulate --script FILE``.

A script is a TOML or JSON document with a list ``actions``; each action is a
table with ``at`` (seconds after the auction's start, a number, or an
ISO-8601 time) and a ``type``::

    [[actions]]
    at = 305            # 5 s into round 1
    type = "bid"        # bid | cancel | accept | pause | resume | extend
    bidder = "b1"       #   | cancel_auction | disqualify
    amount = 47000000   # minor units (bid)
    lot = "1"           # optional with a single lot
    bid_id = "b1-1"     # optional; defaults to a unique id per action
    surrogate_by = ""   # official entering the bid for the bidder

Official actions take ``official`` (default ``"official"``), ``reason``
(pause, cancel_auction, disqualify), ``seconds`` (extend) and ``bidder``
(disqualify). Errors name the action and field: ``actions[3].amount``.
See docs/simulate.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auction.core.commands import (
    AcceptPrice,
    AnyCommand,
    CancelAuction,
    CancelBid,
    Disqualify,
    Extend,
    Pause,
    PlaceBid,
    Resume,
)
from auction.core.errors import SpecError, UnderbidError
from auction.core.money import parse_fraction
from auction.core.spec import parse_time_ms

ACTION_TYPES = (
    "bid",
    "cancel",
    "accept",
    "pause",
    "resume",
    "extend",
    "cancel_auction",
    "disqualify",
)
_ALLOWED = {
    "bid": {"bidder", "amount", "bid_id", "surrogate_by"},
    "cancel": {"bidder", "bid_id", "surrogate_by"},
    "accept": {"bidder", "bid_id", "surrogate_by"},
    "pause": {"official", "reason"},
    "resume": {"official"},
    "extend": {"official", "seconds"},
    "cancel_auction": {"official", "reason"},
    "disqualify": {"official", "bidder", "reason"},
}
_COMMON = {"at", "type", "lot"}


class ScriptError(UnderbidError):
    """A script is invalid; ``field`` is a path such as ``actions[3].amount``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class ScriptAction:
    at: int
    """When to send it (ms since epoch)."""
    command: AnyCommand
    index: int
    """Position in the script, for messages."""


def parse_script(data: Mapping[str, Any], start_at: int) -> list[ScriptAction]:
    """Validate a script mapping; actions are returned in time order (stable)."""
    if not isinstance(data, Mapping):
        raise ScriptError("", "a script must be a table/object with an 'actions' list")
    unknown = set(data) - {"actions"}
    if unknown:
        raise ScriptError(
            sorted(unknown)[0], "unknown key (expected 'actions'; choose bots with --bots)"
        )
    raw = data.get("actions", [])
    if not isinstance(raw, list):
        raise ScriptError("actions", "must be a list of tables")
    actions = [_parse_action(item, i, start_at) for i, item in enumerate(raw)]
    actions.sort(key=lambda a: (a.at, a.index))
    return actions


def _parse_action(item: Any, i: int, start_at: int) -> ScriptAction:
    where = f"actions[{i}]"
    if not isinstance(item, Mapping):
        raise ScriptError(where, "each action must be a table/object")
    kind = item.get("type")
    if kind not in ACTION_TYPES:
        raise ScriptError(f"{where}.type", f"expected one of {', '.join(ACTION_TYPES)}")
    extra = set(item) - _COMMON - _ALLOWED[kind]
    if extra:
        raise ScriptError(f"{where}.{sorted(extra)[0]}", f"not a field of a {kind!r} action")
    if "at" not in item:
        raise ScriptError(f"{where}.at", "missing: seconds after the start, or an ISO time")
    at = _parse_at(item["at"], f"{where}.at", start_at)
    lot = _text(item, "lot", where, "")

    def need(name: str) -> str:
        value = _text(item, name, where, None)
        if not value:
            raise ScriptError(f"{where}.{name}", "missing")
        return value

    official = _text(item, "official", where, "official") or "official"
    bid_id = _text(item, "bid_id", where, f"script-{i}") or f"script-{i}"
    surrogate = _text(item, "surrogate_by", where, "")
    command: AnyCommand
    if kind == "bid":
        amount = item.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise ScriptError(f"{where}.amount", "an integer amount in minor units is required")
        command = PlaceBid(
            lot=lot, bidder=need("bidder"), amount=amount, bid_id=bid_id, surrogate_by=surrogate
        )
    elif kind == "cancel":
        command = CancelBid(lot=lot, bidder=need("bidder"), bid_id=bid_id, surrogate_by=surrogate)
    elif kind == "accept":
        command = AcceptPrice(lot=lot, bidder=need("bidder"), bid_id=bid_id, surrogate_by=surrogate)
    elif kind == "pause":
        command = Pause(lot=lot, official=official, reason=_text(item, "reason", where, ""))
    elif kind == "resume":
        command = Resume(lot=lot, official=official)
    elif kind == "extend":
        command = Extend(lot=lot, official=official, ms=_seconds_ms(item, where))
    elif kind == "cancel_auction":
        command = CancelAuction(lot=lot, official=official, reason=_text(item, "reason", where, ""))
    else:
        command = Disqualify(
            lot=lot,
            official=official,
            bidder=need("bidder"),
            reason=_text(item, "reason", where, ""),
        )
    return ScriptAction(at=at, command=command, index=i)


def _text(item: Mapping[str, Any], name: str, where: str, default: str | None) -> str:
    value = item.get(name, default)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ScriptError(f"{where}.{name}", "must be a string")
    return value


def _parse_at(value: Any, where: str, start_at: int) -> int:
    if isinstance(value, str):
        try:
            return parse_time_ms(value, where)
        except SpecError as exc:
            raise ScriptError(where, exc.message) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScriptError(where, "seconds after the start (a number) or an ISO-8601 time")
    try:
        ms = parse_fraction(value) * 1000
    except ValueError as exc:
        raise ScriptError(where, str(exc)) from None
    if ms < 0 or ms.denominator != 1:
        raise ScriptError(where, "must be a non-negative number of whole milliseconds")
    return start_at + int(ms)


def _seconds_ms(item: Mapping[str, Any], where: str) -> int:
    value = item.get("seconds")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScriptError(f"{where}.seconds", "a number of seconds is required")
    try:
        ms = parse_fraction(value) * 1000
    except ValueError as exc:
        raise ScriptError(f"{where}.seconds", str(exc)) from None
    if ms.denominator != 1:
        raise ScriptError(f"{where}.seconds", "must be whole milliseconds")
    return int(ms)
