"""Tenders for the CDB double, from ProZorro's own test tenders (tests/data/prozorro).

Each function returns a tender as the CDB holds it in ``active.auction``: the
real document plus what the files leave out (an ``id``, bid statuses, names),
with its auction start set to ``start`` (ISO-8601).
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "prozorro"
LOT = "aee0feec3eda4c85bad28eddd78dc3e6"
LOT_2 = "bf11a2bbd3c94e3a9a1e3a6a8d6c2f01"
BID_A = "d3ba84c66c9e4f34bfb33cc3c686f137"
BID_B = "5675acc9232942e8940a034994ad883e"
BID_C = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1"
BID_D = "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))["data"]
    data["id"] = uuid.uuid4().hex
    data["status"] = "active.auction"
    data.setdefault("procurementMethodType", "belowThreshold")
    for n, bid in enumerate(data.get("bids", []), start=1):
        bid.setdefault("status", "active")
        bid.setdefault("tenderers", [{"name": f"Supplier {n} LLC", "identifier": {"id": str(n)}}])
    return data


def simple(start: str) -> dict[str, Any]:
    data = _load("worker_tender_simple.json")
    data["auctionPeriod"] = {"startDate": start}
    return data


def features(start: str) -> dict[str, Any]:
    data = _load("worker_features_tender_data.json")
    data["auctionPeriod"] = {"startDate": start}
    return data


def lifecycle(start: str) -> dict[str, Any]:
    """The simple tender scored by life-cycle cost: one cost-of-use criterion."""
    data = simple(start)
    data["awardCriteria"] = "lifeCycleCost"
    data["criteria"] = [
        {
            "id": uuid.uuid4().hex,
            "classification": {
                "scheme": "ESPD211",
                "id": "CRITERION.OTHER.LIFE_CYCLE_COST.COST_OF_USE",
            },
            "relatesTo": "tender",
            "requirementGroups": [{"id": "g1", "requirements": [{"id": "req-use"}]}],
        }
    ]
    for bid, cost in zip(data["bids"], (20000, 3000), strict=True):
        bid["requirementResponses"] = [{"requirement": {"id": "req-use"}, "value": cost}]
    return data


def multilot(start: str, start_2: str | None = None) -> dict[str, Any]:
    """The multi-lot tender with a second lot, so that the arrays have room for
    ``{}``: bid A bids on both lots, B on the first only, C on the second only,
    and D is not admitted (``status: invalid``)."""
    data = _load("worker_tender_multilot.json")
    first = data["lots"][0]
    first["auctionPeriod"] = {"startDate": start}
    second = copy.deepcopy(first)
    second.update(
        id=LOT_2, title="Second lot: spare parts", auctionPeriod={"startDate": start_2 or start}
    )
    second["value"] = {"currency": "UAH", "amount": 1000000, "valueAddedTaxIncluded": False}
    second["minimalStep"] = {"currency": "UAH", "amount": 10000, "valueAddedTaxIncluded": False}
    first.pop("auctionUrl", None)
    data["lots"].append(second)
    bid_a = data["bids"][0]
    bid_a["lotValues"].append(
        {
            "relatedLot": LOT_2,
            "date": "2015-11-01T12:43:12+02:00",
            "value": {"currency": "UAH", "amount": 990000},
        }
    )
    data["bids"].append(
        {
            "id": BID_C,
            "status": "active",
            "date": "2015-11-03T10:00:00+02:00",
            "tenderers": [{"name": "Third Supplier PE"}],
            "lotValues": [
                {
                    "relatedLot": LOT_2,
                    "date": "2015-11-03T10:00:00+02:00",
                    "value": {"currency": "UAH", "amount": 980000},
                }
            ],
        }
    )
    data["bids"].append(
        {
            "id": BID_D,
            "status": "invalid",
            "date": "2015-11-04T10:00:00+02:00",
            "tenderers": [{"name": "Late Supplier"}],
            "lotValues": [
                {
                    "relatedLot": LOT,
                    "date": "2015-11-04T10:00:00+02:00",
                    "value": {"currency": "UAH", "amount": 400000},
                }
            ],
        }
    )
    return data
