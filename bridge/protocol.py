"""ProZorro's audit protocol (``audit_{auction id}.yaml``) from an Underbid record.

The CDB's auction module attaches one such document to every tender it
auctioned; bidders, buyers and monitors read it. :func:`audit_yaml` writes the
same document from Underbid's audit record of a ``rounds`` lot (beside which
the bridge also attaches the record itself, as JSON)::

    id: {auction id}
    tenderId: {tender's tenderID}
    tender_id: {tender id}
    lot_id: {lot id}                      # lot auctions only
    timeline:
      auction_start:
        time: ...                         # when the lot started
        initial_bids:                     # the sealed bids, in label order
        - bidder: ...
          date: ...                       # when the sealed bid was made
          amount: 475000.00
          label: {en: 'Bidder #1', uk: 'Учасник #1', ru: 'Участник #1'}
      round_1:
        turn_1:
          bidder: ...
          amount: 470000.00               # the amount that counted after the turn
          time: ...                       # when the turn ended (the amount was published)
          bid_time: ...                   # when it was bid (only if it changed)
      ...
      results:
        time: ...                         # when the lot ended
        bids:                             # every bid, in the tender's order
        - {bidder: ..., amount: ..., time: ...}

Under features scoring every turn, initial bid and result also has
``amount_features`` (the adjusted amount) and ``coeficient`` (sic, ProZorro's
key), both exact fractions as text; under life-cycle cost ``amount_weighted``
and ``non_price_cost``. Amounts are major units written digit for digit
(``475000.00``), never through a float. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

import yaml

from auction.core.record import iso
from auction.core.scoring import Scorer
from auction.core.spec import AuctionSpec, LotSpec, parse_spec
from bridge.plan import final_bids


class _Amount(Decimal):
    """An exact amount: written as a plain YAML number."""


class _Dumper(yaml.SafeDumper):
    pass


def _represent_amount(dumper: yaml.SafeDumper, value: _Amount) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:float", format(value, "f"))


_Dumper.add_representer(_Amount, _represent_amount)


def _fraction(value: Fraction) -> str:
    return (
        str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    )


def _label(n: int) -> dict[str, str]:
    return {"en": f"Bidder #{n}", "uk": f"Учасник #{n}", "ru": f"Участник #{n}"}


def audit_document(
    record: Mapping[str, Any], *, tender_id: str, tender_code: str, lot_id: str, lot: str = ""
) -> dict[str, Any]:
    """The protocol as a mapping (:func:`audit_yaml` writes it). ``tender_code`` is
    the tender's ``tenderID``; ``lot_id`` the CDB lot (``""`` without lots); ``lot``
    the Underbid lot of the record (``""``: its only lot)."""
    spec = parse_spec(record["spec"])
    lot_spec = spec.lot(lot) if lot else spec.lots[0]
    assert lot_spec is not None
    money = _Money(spec)
    scorer = Scorer(lot_spec)
    events = [e for e in record.get("events", []) if e.get("lot") == lot_spec.id]
    outcome = next(x for x in record["result"]["lots"] if x["lot"] == lot_spec.id)
    labels: list[str] = next((e["labels"] for e in events if e["type"] == "lot_started"), [])
    if not labels:
        labels = [b.id for b in sorted(lot_spec.bidders, key=lambda b: b.submitted_at)]
    start = next((e["time"] for e in events if e["type"] == "lot_started"), iso(lot_spec.start_at))
    extra = _Extra(lot_spec, scorer, money)

    initial = []
    for n, bidder_id in enumerate(labels, start=1):
        bidder = lot_spec.bidder(bidder_id)
        if bidder is None or bidder.amount is None:
            continue
        entry: dict[str, Any] = {
            "bidder": bidder_id,
            "date": iso(bidder.submitted_at),
            "amount": money.amount(bidder.amount),
            "label": _label(n),
        }
        entry.update(extra.of(bidder_id, bidder.amount))
        initial.append(entry)
    timeline: dict[str, Any] = {"auction_start": {"time": start, "initial_bids": initial}}

    bid_time: dict[tuple[int, str], str] = {}
    turn_of: dict[tuple[int, str], int] = {}
    last_round = 0
    for event in events:
        kind = event["type"]
        if kind == "round_started":
            last_round = event["round"]
            for i, bidder_id in enumerate(event["order"], start=1):
                turn_of[(last_round, bidder_id)] = i
        elif kind == "bid_placed":
            bid_time[(last_round, event["bidder"])] = event["time"]
        elif kind == "bid_cancelled":
            bid_time.pop((last_round, event["bidder"]), None)
        elif kind == "turn_ended":
            key = (event["round"], event["bidder"])
            turn: dict[str, Any] = {
                "amount": money.amount(event["amount"]),
                "bidder": event["bidder"],
                "time": event["time"],
            }
            if event["changed"] and key in bid_time:
                turn["bid_time"] = bid_time[key]
            turn.update(extra.of(event["bidder"], event["amount"]))
            rounds = timeline.setdefault(f"round_{event['round']}", {})
            rounds[f"turn_{turn_of.get(key, len(rounds) + 1)}"] = turn

    finals = final_bids(record, lot_spec.id)
    result_bids = []
    for bidder in lot_spec.bidders:
        final = finals.get(bidder.id)
        if final is None and bidder.amount is None:
            continue
        amount = final.amount if final is not None else bidder.amount
        assert amount is not None
        entry = {
            "bidder": bidder.id,
            "time": final.date if final is not None and final.date else iso(bidder.submitted_at),
            "amount": money.amount(amount),
        }
        entry.update(extra.of(bidder.id, amount))
        result_bids.append(entry)
    timeline["results"] = {"time": outcome.get("ended_at") or start, "bids": result_bids}

    document: dict[str, Any] = {"id": spec.id, "tenderId": tender_code, "tender_id": tender_id}
    if lot_id:
        document["lot_id"] = lot_id
    document["timeline"] = timeline
    return document


def audit_yaml(record: Mapping[str, Any], **kw: Any) -> bytes:
    """:func:`audit_document` as UTF-8 YAML (block style, Ukrainian as is)."""
    text = yaml.dump(
        audit_document(record, **kw),
        Dumper=_Dumper,
        default_flow_style=False,
        allow_unicode=True,
        sort_keys=False,
    )
    return text.encode("utf-8")


def file_name(auction_id: str, extension: str = "yaml") -> str:
    return f"audit_{auction_id}.{extension}"


class _Money:
    def __init__(self, spec: AuctionSpec) -> None:
        self.exponent = spec.currency_exponent

    def amount(self, minor: int) -> _Amount:
        return _Amount(Decimal(minor).scaleb(-self.exponent))

    def fraction(self, minor: Fraction | int) -> Fraction:
        return Fraction(minor) / Fraction(10**self.exponent)


class _Extra:
    """The scoring fields ProZorro adds beside an amount."""

    def __init__(self, lot: LotSpec, scorer: Scorer, money: _Money) -> None:
        self.lot = lot
        self.scorer = scorer
        self.money = money

    def of(self, bidder_id: str, amount: int) -> dict[str, Any]:
        if self.lot.scoring == "features":
            adjusted = Fraction(self.scorer.adjusted(bidder_id, amount))
            return {
                "amount_features": _fraction(self.money.fraction(adjusted)),
                "coeficient": _fraction(self.scorer.coefficient(bidder_id)),
            }
        if self.lot.scoring == "lifecycle":
            bidder = self.lot.bidder(bidder_id)
            cost = bidder.non_price_cost if bidder is not None else 0
            return {
                "amount_weighted": self.money.amount(amount + cost),
                "non_price_cost": self.money.amount(cost),
            }
        return {}
