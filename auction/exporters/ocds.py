"""An auction's outcome as an OCDS 1.1 release package (open data).

:func:`release_package` takes an auction's audit record (what ``GET
/api/auctions/{id}/record`` and ``underbid simulate --json`` give, see
docs/record.md) and returns one Open Contracting Data Standard 1.1 release
package with one release, using the ``bids``, ``lots`` and ``techniques``
extensions. The output validates against the official release-package and
release schemas with those extensions merged in (the tests check it).

What the release holds::

    ocid                  {ocid_prefix}-{auction id}
    id                    {auction id}-auction
    date                  when the last lot ended
    tag                   tenderUpdate + award (a winner), tenderCancellation (cancelled)
    parties[]             every bidder: roles tenderer (+ supplier if it won a lot)
    tender                id, title, status, value (the sum of the lots' start
                          values), awardCriteria (priceOnly, ratedCriteria under
                          features, costOnly under life-cycle cost),
                          numberOfTenderers, tenderers, techniques
                          (hasElectronicAuction, electronicAuction.url), lots[]
                          (id, title, value, status)
    bids.statistics[]     per lot: bids, validBids, disqualifiedBids, electronicBids,
                          lowestValidBidValue, highestValidBidValue
    bids.details[]        per lot and bidder: id, date (of its final amount),
                          status (valid | disqualified), tenderers, value,
                          relatedLots
    awards[]              per lot with a winner: id, status pending (the buyer
                          still qualifies the winner), date, value, suppliers,
                          relatedBid, relatedLots

Amounts are exact :class:`~decimal.Decimal` major units (``47500000`` kopiyky
with exponent 2 is ``Decimal("475000.00")``); :func:`encode` writes them as JSON
numbers, digit for digit. A bid's id is its bidder id when the auction has one
lot (ProZorro's bid ids), else ``{lot}/{bidder}``.

Pure: no I/O, no clock (the caller passes ``published_at``).

Errors (the exception tree)::

    UnderbidError
    └── OcdsExportError   the record cannot be exported (not finished, not a record)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import msgspec

from auction.core.errors import SpecError, UnderbidError
from auction.core.record import iso
from auction.core.spec import AuctionSpec, LotSpec, parse_spec

OCDS_VERSION: Final = "1.1"
EXTENSIONS: Final = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/v1.1.5/extension.json",
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_lots_extension/v1.1.5/extension.json",
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_techniques_extension/master/extension.json",
)
"""The extensions the package declares: bids, lots, techniques."""

AWARD_CRITERIA: Final = {"price": "priceOnly", "features": "ratedCriteria", "lifecycle": "costOnly"}

_encoder: Final = msgspec.json.Encoder(decimal_format="number")


class OcdsExportError(UnderbidError):
    """The record cannot be exported; the message says why."""


def encode(package: Mapping[str, Any]) -> bytes:
    """JSON with exact decimal amounts (never through a float)."""
    return _encoder.encode(package)


def release_package(
    record: Mapping[str, Any],
    *,
    uri: str,
    published_at: str,
    auction_url: str = "",
    ocid_prefix: str = "ocds-underbid",
    publisher_name: str = "Underbid",
    publisher_uri: str = "",
    license: str = "",
) -> dict[str, Any]:
    """The OCDS release package of a finished auction's ``record``.

    ``uri`` identifies the package (where it can be read again);
    ``auction_url`` is the auction's public page (``electronicAuction.url``).
    Raises :class:`OcdsExportError` for a record that is not a finished
    auction's.
    """
    spec, result, events = _read(record)
    publisher: dict[str, Any] = {"name": publisher_name}
    if publisher_uri:
        publisher["uri"] = publisher_uri
    package: dict[str, Any] = {
        "uri": uri,
        "version": OCDS_VERSION,
        "extensions": list(EXTENSIONS),
        "publishedDate": published_at,
        "publisher": publisher,
        "releases": [_release(spec, result, events, ocid_prefix, auction_url)],
    }
    if license:
        package["license"] = license
    return package


# ----------------------------------------------------------------- input
def _read(
    record: Mapping[str, Any],
) -> tuple[AuctionSpec, Mapping[str, Any], Sequence[Mapping[str, Any]]]:
    if not isinstance(record, Mapping) or "spec" not in record or "result" not in record:
        raise OcdsExportError("not an audit record: it needs 'spec', 'result' and 'events'")
    try:
        spec = parse_spec(record["spec"])
    except SpecError as exc:
        raise OcdsExportError(f"the record's spec is invalid: {exc}") from None
    result = record["result"]
    events = record.get("events") or []
    if not isinstance(result, Mapping) or not isinstance(events, list):
        raise OcdsExportError("not an audit record: 'result' is an object, 'events' a list")
    if not result.get("finished"):
        raise OcdsExportError(f"auction {spec.id!r} has not finished: its outcome is not known yet")
    return spec, result, events


# --------------------------------------------------------------- release
def _release(
    spec: AuctionSpec,
    result: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    ocid_prefix: str,
    auction_url: str,
) -> dict[str, Any]:
    single = len(spec.lots) == 1
    outcomes = {lot["lot"]: lot for lot in result.get("lots", [])}
    money = _Money(spec)
    bid_dates = _bid_dates(events)
    lots: list[dict[str, Any]] = []
    statistics: list[dict[str, Any]] = []
    details: list[dict[str, Any]] = []
    awards: list[dict[str, Any]] = []
    winners: set[str] = set()
    ended: list[str] = []
    for lot in spec.lots:
        outcome = outcomes.get(lot.id) or {}
        if outcome.get("ended_at"):
            ended.append(outcome["ended_at"])
        ranked = {r["bidder"]: r for r in outcome.get("ranking", [])}
        disqualified = set(outcome.get("disqualified", []))
        lots.append(
            {
                "id": lot.id,
                "title": lot.title or spec.title or lot.id,
                "value": money.value(lot.start_value),
                "status": _lot_status(outcome),
            }
        )
        valid: list[int] = []
        for bidder in lot.bidders:
            bid_id = bidder.id if single else f"{lot.id}/{bidder.id}"
            entry = ranked.get(bidder.id)
            amount = entry["amount"] if entry is not None else None
            if amount is None and bidder.id not in disqualified:
                amount = bidder.amount
            detail: dict[str, Any] = {
                "id": bid_id,
                "status": "disqualified" if bidder.id in disqualified else "valid",
                "tenderers": [{"id": bidder.id, "name": bidder.name}],
                "relatedLots": [lot.id],
            }
            date = (amount is not None and bid_dates.get((lot.id, bidder.id, amount))) or (
                _sealed_date(spec, lot, bidder.id)
            )
            if date:
                detail["date"] = date
            if amount is not None:
                detail["value"] = money.value(amount)
                if bidder.id not in disqualified:
                    valid.append(amount)
            details.append(detail)
        statistics.extend(_statistics(lot, len(valid), len(disqualified), valid, money))
        winner = outcome.get("winner")
        if winner and winner.get("amount") is not None:
            winners.add(winner["bidder"])
            awards.append(
                {
                    "id": f"{lot.id}-award",
                    "title": f"Auction winner of {lot.title or lot.id}",
                    "status": "pending",
                    "date": outcome.get("ended_at"),
                    "value": money.value(winner["amount"]),
                    "suppliers": [{"id": winner["bidder"], "name": winner["name"]}],
                    "relatedBid": winner["bidder"] if single else f"{lot.id}/{winner['bidder']}",
                    "relatedLots": [lot.id],
                }
            )
    tenderers = _tenderers(spec)
    cancelled = bool(result.get("cancelled"))
    release: dict[str, Any] = {
        "ocid": f"{ocid_prefix}-{spec.id}",
        "id": f"{spec.id}-auction",
        "date": max(ended) if ended else iso(spec.start_at),
        "tag": ["tenderCancellation"]
        if cancelled
        else ["tenderUpdate", "award"]
        if awards
        else ["tenderUpdate"],
        "initiationType": "tender",
        "parties": [
            {
                "id": bidder_id,
                "name": name,
                "roles": ["tenderer", "supplier"] if bidder_id in winners else ["tenderer"],
            }
            for bidder_id, name in tenderers
        ],
        "tender": {
            "id": spec.id,
            "title": spec.title or spec.id,
            "status": "cancelled" if cancelled else "active" if awards else "unsuccessful",
            "value": money.value(sum(lot.start_value for lot in spec.lots)),
            "awardCriteria": _award_criteria(spec),
            "numberOfTenderers": len(tenderers),
            "tenderers": [{"id": b, "name": n} for b, n in tenderers],
            "techniques": _techniques(spec, auction_url),
            "lots": lots,
        },
        "bids": {"statistics": statistics, "details": details},
    }
    if awards:
        release["awards"] = awards
    return release


def _tag(cancelled: bool, awarded: bool) -> list[str]:
    if cancelled:
        return ["tenderCancellation"]
    return ["tenderUpdate", "award"] if awarded else ["tenderUpdate"]


def _lot_status(outcome: Mapping[str, Any]) -> str:
    if outcome.get("outcome") == "cancelled":
        return "cancelled"
    if outcome.get("winner"):
        return "active"
    return "unsuccessful"


def _award_criteria(spec: AuctionSpec) -> str:
    kinds = {AWARD_CRITERIA[lot.scoring] for lot in spec.lots}
    return kinds.pop() if len(kinds) == 1 else "ratedCriteria"


def _techniques(spec: AuctionSpec, auction_url: str) -> dict[str, Any]:
    formats = ", ".join(sorted({lot.format for lot in spec.lots}))
    auction: dict[str, Any] = {"description": f"Underbid reverse auction ({formats})"}
    if auction_url:
        auction["url"] = auction_url
    return {"hasElectronicAuction": True, "electronicAuction": auction}


def _tenderers(spec: AuctionSpec) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for lot in spec.lots:
        for bidder in lot.bidders:
            seen.setdefault(bidder.id, bidder.name)
    return list(seen.items())


def _statistics(
    lot: LotSpec, n_valid: int, n_disqualified: int, valid: list[int], money: _Money
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "id": f"{lot.id}-bids",
            "measure": "bids",
            "value": len(lot.bidders),
            "relatedLot": lot.id,
        },
        {
            "id": f"{lot.id}-validBids",
            "measure": "validBids",
            "value": n_valid,
            "relatedLot": lot.id,
        },
        {
            "id": f"{lot.id}-disqualifiedBids",
            "measure": "disqualifiedBids",
            "value": n_disqualified,
            "relatedLot": lot.id,
        },
        {
            "id": f"{lot.id}-electronicBids",
            "measure": "electronicBids",
            "value": len(lot.bidders),
            "relatedLot": lot.id,
        },
    ]
    for measure, amount in (
        ("lowestValidBidValue", min(valid, default=None)),
        ("highestValidBidValue", max(valid, default=None)),
    ):
        if amount is not None:
            out.append(
                {
                    "id": f"{lot.id}-{measure}",
                    "measure": measure,
                    "value": money.decimal(amount),
                    "currency": money.currency,
                    "relatedLot": lot.id,
                }
            )
    return out


def _bid_dates(events: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, int], str]:
    """(lot, bidder, amount) -> the time of the latest accepted bid of that amount."""
    dates: dict[tuple[str, str, int], str] = {}
    for event in events:
        kind = event.get("type")
        if kind == "bid_placed":
            amount = event.get("amount")
        elif kind == "price_accepted":
            amount = event.get("price")
        else:
            continue
        if isinstance(amount, int) and isinstance(event.get("time"), str):
            dates[(str(event.get("lot")), str(event.get("bidder")), amount)] = event["time"]
    return dates


def _sealed_date(spec: AuctionSpec, lot: LotSpec, bidder_id: str) -> str | None:
    """The sealed bid's submission time, if the spec gave one."""
    raw_lots = spec.raw.get("lots") or [spec.raw]
    for raw_lot in raw_lots:
        if len(raw_lots) > 1 and raw_lot.get("id", "1") != lot.id:
            continue
        for raw in raw_lot.get("bidders", []):
            if raw.get("id") == bidder_id and raw.get("submitted_at") is not None:
                bidder = lot.bidder(bidder_id)
                return iso(bidder.submitted_at) if bidder is not None else None
    return None


class _Money:
    def __init__(self, spec: AuctionSpec) -> None:
        self.currency = spec.currency
        self.exponent = spec.currency_exponent

    def decimal(self, minor: int) -> Decimal:
        return Decimal(minor).scaleb(-self.exponent)

    def value(self, minor: int) -> dict[str, Any]:
        return {"amount": self.decimal(minor), "currency": self.currency}


__all__ = ["EXTENSIONS", "OCDS_VERSION", "OcdsExportError", "encode", "release_package"]
