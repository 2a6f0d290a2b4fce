"""The final result and the full audit record of an auction.

Both are plain JSON-ready mappings, documented in docs/record.md:

- :func:`result` — per lot: the outcome, the winner and the final ranking with
  names (revealed: the result is published after the announcement), and the
  savings against the starting value.
- :func:`audit_record` — the spec as given, the result, and every event in
  journal order with its sequence number and time: every stage, every post,
  every rejection with its code.
- :func:`events_from_record` — a record's ``events`` back as engine events, so
  that ``Auction.replay(parse_spec(record["spec"]), events_from_record(record["events"]))``
  rebuilds the auction (its ``state_hash()`` is the record's).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import msgspec

from auction.core.errors import RecordError
from auction.core.events import EVENT_TYPES, CommandRejected, Event, event_to_dict
from auction.core.formats.base import ENDED
from auction.core.money import score_to_str

if TYPE_CHECKING:
    from auction.core.engine import Auction

RECORD_VERSION = 1

RECORD_KEYS = frozenset({"seq", "time", "leaf", "salt"})
"""Keys of a record's event that are about its place in the record, not the event."""
_SHAPES: dict[str, tuple[type[Event], tuple[str, ...], frozenset[str], int]] = {
    str(t.__struct_config__.tag): (
        t,
        t.__struct_fields__,
        frozenset(t.__struct_fields__) | RECORD_KEYS | {"type"},
        len(t.__struct_fields__) - len(t.__struct_defaults__),
    )
    for t in EVENT_TYPES
}
"""Per event type: its class, fields in order, the keys allowed, how many are required."""


def iso(ms: int) -> str:
    """ms since epoch as an ISO-8601 UTC time with milliseconds."""
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC).replace(microsecond=(ms % 1000) * 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def result(auction: Auction) -> dict[str, Any]:
    """The result of every lot (final once :attr:`Auction.finished`)."""
    lots: list[dict[str, Any]] = []
    for lot in auction.spec.lots:
        rules = auction.rules[lot.id]
        st = auction.lot_states[lot.id]
        ranking = []
        for rank, (bidder_id, amount, score) in enumerate(rules.ranking(st), start=1):
            spec = lot.bidder(bidder_id)
            ranking.append(
                {
                    "rank": rank,
                    "bidder": bidder_id,
                    "name": spec.name if spec else bidder_id,
                    "label": rules.label_of(st, bidder_id),
                    "amount": amount,
                    "score": score_to_str(score) if score is not None else None,
                    "initial_amount": spec.amount if spec else None,
                }
            )
        entry: dict[str, Any] = {
            "lot": lot.id,
            "title": lot.title,
            "format": lot.format,
            "scoring": lot.scoring,
            "status": st.status,
            "outcome": st.outcome if st.status == ENDED else None,
            "ended_at": iso(st.ended_at) if st.ended_at is not None else None,
            "start_value": lot.start_value,
            "winner": None,
            "savings": None,
            "savings_percent": None,
            "disqualified": list(st.disqualified),
            "ranking": ranking,
        }
        if st.winner is not None:
            spec = lot.bidder(st.winner)
            entry["winner"] = {
                "bidder": st.winner,
                "name": spec.name if spec else st.winner,
                "label": rules.label_of(st, st.winner),
                "amount": st.winning_amount,
            }
            if st.winning_amount is not None:
                saved = lot.start_value - st.winning_amount
                entry["savings"] = saved
                entry["savings_percent"] = score_to_str(
                    round(Fraction(saved * 100, lot.start_value), 2)
                )
        lots.append(entry)
    return {
        "auction": auction.spec.id,
        "title": auction.spec.title,
        "currency": auction.spec.currency,
        "currency_exponent": auction.spec.currency_exponent,
        "finished": auction.finished,
        "cancelled": auction.state.cancelled,
        "lots": lots,
    }


def audit_record(auction: Auction, events: list[Event]) -> dict[str, Any]:
    """The full record: spec, result and every event (the journal) in order."""
    timeline = []
    for seq, event in enumerate(events, start=1):
        item = event_to_dict(event)
        item["seq"] = seq
        item["time"] = iso(event.at)
        timeline.append(item)
    rejections = Counter(ev.code for ev in events if isinstance(ev, CommandRejected))
    return {
        "record_version": RECORD_VERSION,
        "auction": auction.spec.id,
        "spec": auction.spec.raw,
        "result": result(auction),
        "state_hash": auction.state_hash(),
        "events": timeline,
        "summary": {
            "events": len(events),
            "by_type": dict(sorted(Counter(str(e["type"]) for e in timeline).items())),
            "rejections_by_code": dict(sorted(rejections.items())),
        },
    }


def event_from_record(item: Mapping[str, Any], where: str = "event") -> Event:
    """One item of a record's ``events`` as the engine event it records.

    Strict: every field of the event type must be there with its type (an
    integer stays an integer), and no other key may be there besides
    :data:`RECORD_KEYS`. Raises :class:`RecordError` naming the field.
    """
    if not isinstance(item, Mapping):
        raise RecordError(where, "an event is an object")
    kind = item.get("type")
    shape = _SHAPES.get(kind) if isinstance(kind, str) else None
    if shape is None:
        raise RecordError(f"{where}.type", f"{kind!r} is not an event type")
    cls, fields, allowed, required = shape
    if not allowed.issuperset(item):
        extra = sorted(set(item) - allowed)[0]
        raise RecordError(f"{where}.{extra}", f"a {kind} event has no such field")
    values: list[Any] = [kind]
    for i, name in enumerate(fields):
        if name in item:
            values.append(item[name])
        elif i < required:
            raise RecordError(f"{where}.{name}", f"a {kind} event needs this field")
        else:
            break  # trailing fields with defaults may be left out of an array
    try:
        event: Event = msgspec.convert(values, cls, strict=True)
    except msgspec.ValidationError as exc:
        text = str(exc)
        field = where
        if " - at `$[" in text:
            index = int(text.rsplit("`$[", 1)[1].split("]", 1)[0])
            field = f"{where}.{(['type', *fields])[index]}" if index <= len(fields) else where
            text = text.split(" - at ", 1)[0]
        raise RecordError(field, text) from None
    return event


def events_from_record(items: Iterable[Mapping[str, Any]]) -> list[Event]:
    """A record's ``events`` back as engine events, in order (see :func:`event_from_record`)."""
    return [event_from_record(item, f"events[{i}]") for i, item in enumerate(items)]
