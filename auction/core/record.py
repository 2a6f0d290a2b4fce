"""The final result and the full audit record of an auction.

Both are plain JSON-ready mappings, documented in docs/record.md:

- :func:`result` — per lot: the outcome, the winner and the final ranking with
  names (revealed: the result is published after the announcement), and the
  savings against the starting value.
- :func:`audit_record` — the spec as given, the result, and every event in
  journal order with its sequence number and time: every stage, every post,
  every rejection with its code.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from auction.core.events import CommandRejected, Event, event_to_dict
from auction.core.formats.base import ENDED
from auction.core.money import score_to_str

if TYPE_CHECKING:
    from auction.core.engine import Auction

RECORD_VERSION = 1


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
