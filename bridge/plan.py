"""What the bridge does with a tender, decided without I/O.

- :func:`lot_plans`: a tender's auction view (``GET /tenders/{id}/auction``)
  -> one :class:`LotPlan` per lot (or one for a tender without lots): the
  Underbid auction id (``{tender}_{lot}`` or ``{tender}``), whether it is to be
  auctioned now, and its spec, built by the OCDS importer
  (:func:`auction.importers.tender_to_spec`: features and life-cycle cost
  included) with the deployment's round timings;
- :func:`links_patch`: the body of ``PATCH /tenders/{id}/auction[/{lot}]`` with
  the auction's URL and each bidder's participation URL, in the CDB's
  position-aligned arrays: one entry per tender lot and per tender bid, in the
  tender's order, ``{}`` for the others;
- :func:`results_post`: the body of ``POST /tenders/{id}/auction[/{lot}]`` with
  each participating bid's final ``value.amount`` and ``date``, aligned the same way.

Amounts are exact :class:`~decimal.Decimal` major units, written as JSON
numbers by :func:`encode`.

Errors (the exception tree)::

    UnderbidError
    └── PlanError    the tender cannot be auctioned as it is (the message says why)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

import msgspec

from auction.core.errors import SpecError, UnderbidError
from auction.core.spec import parse_spec, parse_time_ms
from auction.importers.ocds import OcdsImportError, tender_to_spec

_encoder: Final = msgspec.json.Encoder(decimal_format="number")
_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""What the bridge accepts as a tender or lot id (the CDB's are 32 hex digits)."""

Action = Literal["plan", "cancel", "wait"]


class PlanError(UnderbidError):
    """The tender (or a lot of it) cannot be auctioned as it is."""


@dataclass(frozen=True, slots=True)
class Timings:
    """The deployment's rounds (``[bridge]`` settings)."""

    rounds: int = 3
    first_pause_ms: int = 300_000
    pause_ms: int = 120_000
    turn_ms: int = 120_000


@dataclass(frozen=True, slots=True)
class LotPlan:
    """What to do about one lot of a tender."""

    auction_id: str
    tender_id: str
    lot_id: str
    """Empty for a tender without lots."""
    action: Action
    """``plan``: auction it at ``start_at``; ``cancel``: the lot (or tender) is
    cancelled; ``wait``: nothing to do yet (no start date, or not enough bids)."""
    start_at: int = 0
    """ms since the epoch (``plan`` only)."""
    spec: Mapping[str, Any] | None = None
    """The Underbid spec (``plan`` only)."""
    reason: str = ""


def encode(body: Mapping[str, Any]) -> bytes:
    return _encoder.encode(body)


def auction_id_of(tender_id: str, lot_id: str) -> str:
    return f"{tender_id}_{lot_id}" if lot_id else tender_id


def _unwrap(tender: Mapping[str, Any]) -> Mapping[str, Any]:
    data = tender.get("data", tender)
    if not isinstance(data, Mapping):
        raise PlanError("the tender is not a JSON object")
    return data


def _check_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise PlanError(f"{what} {value!r} is not an id the bridge accepts")
    return value


def lot_plans(tender: Mapping[str, Any], timings: Timings) -> list[LotPlan]:
    """One plan per lot (see the module docstring). Raises :class:`PlanError`
    only for a tender that cannot be read at all; a lot that cannot be imported
    is a ``wait`` plan carrying the importer's message."""
    data = _unwrap(tender)
    tender_id = _check_id(data.get("id"), "tender id")
    status = data.get("status")
    lots = data.get("lots") or []
    if not isinstance(lots, list):
        raise PlanError("lots is not a list")
    if status in ("cancelled", "unsuccessful"):
        ids = [_check_id(lot.get("id"), "lot id") for lot in lots if isinstance(lot, Mapping)]
        return [
            LotPlan(
                auction_id_of(tender_id, lot), tender_id, lot, "cancel", reason=f"tender {status}"
            )
            for lot in (ids or [""])
        ]
    if not lots:
        return [_plan(data, tender_id, "", data, timings)]
    out = []
    for lot in lots:
        if not isinstance(lot, Mapping):
            raise PlanError("a lot is not an object")
        lot_id = _check_id(lot.get("id"), "lot id")
        lot_status = lot.get("status", "active")
        if lot_status != "active":
            out.append(
                LotPlan(
                    auction_id_of(tender_id, lot_id),
                    tender_id,
                    lot_id,
                    "cancel",
                    reason=f"lot {lot_status}",
                )
            )
            continue
        out.append(_plan(data, tender_id, lot_id, lot, timings))
    return out


def _plan(
    data: Mapping[str, Any],
    tender_id: str,
    lot_id: str,
    holder: Mapping[str, Any],
    timings: Timings,
) -> LotPlan:
    auction_id = auction_id_of(tender_id, lot_id)
    period = holder.get("auctionPeriod") or {}
    start = period.get("startDate") if isinstance(period, Mapping) else None
    if data.get("status") != "active.auction":
        return LotPlan(
            auction_id, tender_id, lot_id, "wait", reason=f"tender is {data.get('status')}"
        )
    if not start:
        return LotPlan(auction_id, tender_id, lot_id, "wait", reason="no auctionPeriod.startDate")
    try:
        start_at = parse_time_ms(start, "auctionPeriod.startDate")
        spec = tender_to_spec(data, lot_id=lot_id or None, auction_id=auction_id, start_at=start_at)
        spec["rounds"] = {
            "rounds": timings.rounds,
            "first_pause_s": _seconds(timings.first_pause_ms),
            "pause_s": _seconds(timings.pause_ms),
            "turn_s": _seconds(timings.turn_ms),
        }
        parse_spec(spec)
    except (OcdsImportError, SpecError) as exc:
        return LotPlan(auction_id, tender_id, lot_id, "wait", reason=f"cannot import: {exc}")
    if len(spec["bidders"]) < 2:
        return LotPlan(auction_id, tender_id, lot_id, "wait", reason="fewer than two bids")
    return LotPlan(auction_id, tender_id, lot_id, "plan", start_at=start_at, spec=spec)


def _seconds(ms: int) -> int | str:
    """ms as seconds: an int when whole, else exact decimal text (the spec takes both)."""
    if ms % 1000 == 0:
        return ms // 1000
    return str(Decimal(ms) / 1000)


# ------------------------------------------------------------------ links
def links_patch(
    tender: Mapping[str, Any],
    lot_id: str,
    *,
    auction_url: str,
    participation_urls: Mapping[str, str],
) -> dict[str, Any]:
    """The links PATCH body: ``participation_urls`` maps a bid id to its URL."""
    data = _unwrap(tender)
    bids = _list(data, "bids")
    if not lot_id:
        return {
            "data": {
                "auctionUrl": auction_url,
                "bids": [
                    {"id": bid["id"], "participationUrl": participation_urls[bid["id"]]}
                    if bid.get("id") in participation_urls
                    else {}
                    for bid in bids
                ],
            }
        }
    lots = _list(data, "lots")
    patch_bids: list[dict[str, Any]] = []
    for bid in bids:
        url = participation_urls.get(bid.get("id", ""))
        values = _list(bid, "lotValues")
        if url is None or not any(v.get("relatedLot") == lot_id for v in values):
            patch_bids.append({})
            continue
        patch_bids.append(
            {
                "id": bid["id"],
                "lotValues": [
                    {"relatedLot": lot_id, "participationUrl": url}
                    if v.get("relatedLot") == lot_id
                    else {}
                    for v in values
                ],
            }
        )
    return {
        "data": {
            "lots": [
                {"id": lot_id, "auctionUrl": auction_url} if lot.get("id") == lot_id else {}
                for lot in lots
            ],
            "bids": patch_bids,
        }
    }


# ---------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class FinalBid:
    """One bidder's outcome, to report."""

    amount: int
    """Minor units."""
    date: str
    """When that amount was bid (its sealed bid's date if it never changed)."""
    weighted: int | None = None
    """The amount plus the non-price cost, under life-cycle cost scoring."""


def results_post(
    tender: Mapping[str, Any],
    lot_id: str,
    finals: Mapping[str, FinalBid],
    *,
    exponent: int = 2,
) -> dict[str, Any]:
    """The results POST body: ``finals`` maps a bid id to its outcome; the other
    bids get ``{}`` (their values in the CDB stay as they are)."""
    data = _unwrap(tender)

    def fields(final: FinalBid) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": {"amount": Decimal(final.amount).scaleb(-exponent)},
            "date": final.date,
        }
        if final.weighted is not None:
            out["weightedValue"] = {"amount": Decimal(final.weighted).scaleb(-exponent)}
        return out

    bids = _list(data, "bids")
    out_bids: list[dict[str, Any]] = []
    for bid in bids:
        final = finals.get(bid.get("id", ""))
        if final is None:
            out_bids.append({})
        elif not lot_id:
            out_bids.append({"id": bid["id"], **fields(final)})
        else:
            out_bids.append(
                {
                    "id": bid["id"],
                    "lotValues": [
                        {"relatedLot": lot_id, **fields(final)}
                        if v.get("relatedLot") == lot_id
                        else {}
                        for v in _list(bid, "lotValues")
                    ],
                }
            )
    return {"data": {"bids": out_bids}}


def final_bids(record: Mapping[str, Any], lot_id: str) -> dict[str, FinalBid]:
    """Each ranked bidder's final amount and its date, from an Underbid audit
    record (``lot_id``: the Underbid lot; ``""`` for the only one). Disqualified
    bidders are left out: the CDB keeps their sealed bids."""
    lot = next(x for x in record["result"]["lots"] if not lot_id or x["lot"] == lot_id)
    raw_lots = record["spec"].get("lots") or [record["spec"]]
    raw = next((r for r in raw_lots if r.get("id", "1") == lot["lot"]), raw_lots[0])
    sealed = {b["id"]: b for b in raw.get("bidders", [])}
    dates: dict[tuple[str, int], str] = {}
    for event in record.get("events", []):
        if event.get("type") == "bid_placed" and event.get("lot") == lot["lot"]:
            dates[(event["bidder"], event["amount"])] = event["time"]
    out: dict[str, FinalBid] = {}
    for entry in lot["ranking"]:
        bidder, amount = entry["bidder"], entry["amount"]
        if amount is None:
            continue
        if entry["initial_amount"] == amount and (bidder, amount) not in dates:
            date = _iso(sealed.get(bidder, {}).get("submitted_at"))
        else:
            date = dates.get((bidder, amount)) or _iso(sealed.get(bidder, {}).get("submitted_at"))
        weighted = None
        if lot.get("scoring") == "lifecycle":
            weighted = amount + int(sealed.get(bidder, {}).get("non_price_cost", 0))
        out[bidder] = FinalBid(amount, date, weighted)
    return out


def _iso(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        from auction.core.record import iso

        return iso(value)
    return ""


def _list(obj: Mapping[str, Any], key: str) -> Sequence[Mapping[str, Any]]:
    value = obj.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise PlanError(f"{key} is not a list of objects")
    return value
