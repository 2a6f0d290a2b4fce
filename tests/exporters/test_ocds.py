"""OCDS export: the outcome of every example spec and of the imported ProZorro
tenders is a release package that validates against the official OCDS 1.1.5
schema with the bids, lots and techniques extensions; the fields say exactly
what the auction decided."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auction.core import CancelAuction, Disqualify, audit_record, parse_spec
from auction.documents import load_document
from auction.exporters import OcdsExportError, encode, release_package
from auction.importers import tender_to_spec
from auction.sim.bots import make_bots
from auction.sim.runner import Simulation
from auction.sim.script import ScriptAction
from tests.factories import EXAMPLE_SPECS, START, as_lot, multi_spec, open_spec
from tests.importers.test_ocds import BID_A, BID_B, LOT, features, lifecycle, multilot, simple
from tests.ocds_schema import assert_valid, errors

URL = "https://auctions.example/watch/"
PUBLISHED = "2024-05-01T10:00:00Z"


def run(spec_data: dict[str, Any], actions: list[ScriptAction] | None = None) -> dict[str, Any]:
    """Bots bid to the end; the audit record as the API gives it."""
    spec = parse_spec(spec_data)
    sim = Simulation(spec, actions=actions or [], bots=make_bots(spec, seed=3))
    auction = sim.run()
    assert auction.finished, sim.stopped
    record: dict[str, Any] = json.loads(json.dumps(audit_record(auction, sim.journal)))
    return record


def export(record: dict[str, Any], **kw: Any) -> dict[str, Any]:
    auction_id = record.get("auction", "x") if isinstance(record, dict) else "x"
    return release_package(
        record,
        uri=f"https://auctions.example/api/auctions/{auction_id}/ocds",
        published_at=PUBLISHED,
        auction_url=URL + auction_id,
        **kw,
    )


def only_release(package: dict[str, Any]) -> dict[str, Any]:
    (release,) = package["releases"]
    return release


# ------------------------------------------------------- schema validity
@pytest.mark.parametrize("path", EXAMPLE_SPECS, ids=lambda p: p.stem)
def test_every_example_spec_exports_valid_ocds(path: Path) -> None:
    package = export(run(load_document(str(path))))
    assert_valid(package)


@pytest.mark.parametrize(
    "tender, lot",
    [
        (simple, None),
        (features, None),
        (lifecycle, None),
        (multilot, LOT),
        (multilot, None),
    ],
    ids=["simple", "features", "lifecycle", "multilot-lot", "multilot-event"],
)
def test_imported_prozorro_tenders_export_valid_ocds(tender: Any, lot: str | None) -> None:
    spec = tender_to_spec(tender(), lot_id=lot, start_at=START)
    package = export(run(spec), license="https://opendatacommons.org/licenses/odbl/1-0/")
    assert_valid(package)


def test_the_validator_catches_a_broken_package() -> None:
    package = export(run(tender_to_spec(simple(), start_at=START)))
    release = only_release(package)
    release["tender"]["lots"][0]["status"] = "won"
    release["awards"][0].pop("id")
    del package["publisher"]
    problems = errors(json.loads(encode(package)))
    assert any("publisher" in p for p in problems)
    assert any(p.startswith("releases/0/tender/lots/0/status") for p in problems)
    assert any(p.startswith("releases/0/awards/0") for p in problems)


# ------------------------------------------------------------- the fields
def test_the_release_says_what_the_auction_decided() -> None:
    record = run(tender_to_spec(features(), start_at=START))
    package = export(record, ocid_prefix="ocds-be6bcu", publisher_uri="https://auctions.example")
    release = only_release(package)
    (outcome,) = record["result"]["lots"]
    lot_id = outcome["lot"]
    winner = outcome["winner"]

    assert package["version"] == "1.1"
    assert package["publisher"] == {"name": "Underbid", "uri": "https://auctions.example"}
    assert len(package["extensions"]) == 3
    assert release["ocid"] == f"ocds-be6bcu-{record['auction']}"
    assert release["date"] == outcome["ended_at"]
    assert release["tag"] == ["tenderUpdate", "award"]

    tender = release["tender"]
    assert tender["awardCriteria"] == "ratedCriteria"
    assert tender["techniques"]["hasElectronicAuction"] is True
    assert tender["techniques"]["electronicAuction"]["url"] == URL + record["auction"]
    assert tender["numberOfTenderers"] == 2
    assert tender["lots"] == [
        {
            "id": lot_id,
            "title": "Tender Title",
            "value": {"amount": pytest.approx(500000), "currency": "UAH"},
            "status": "active",
        }
    ]

    by_bidder = {r["bidder"]: r for r in outcome["ranking"]}
    details = {d["id"]: d for d in release["bids"]["details"]}
    assert set(details) == {BID_A, BID_B}
    for bid_id, detail in details.items():
        assert detail["status"] == "valid"
        assert detail["relatedLots"] == [lot_id]
        assert detail["value"]["amount"] * 100 == by_bidder[bid_id]["amount"]
        assert detail["date"]
    stats = {s["measure"]: s["value"] for s in release["bids"]["statistics"]}
    assert stats["bids"] == stats["validBids"] == 2 and stats["disqualifiedBids"] == 0
    assert stats["lowestValidBidValue"] * 100 == min(r["amount"] for r in outcome["ranking"])

    (award,) = release["awards"]
    assert award["relatedBid"] == winner["bidder"]
    assert award["relatedLots"] == [lot_id]
    assert award["status"] == "pending"
    assert award["value"]["amount"] * 100 == winner["amount"]
    roles = {p["id"]: p["roles"] for p in release["parties"]}
    assert roles[winner["bidder"]] == ["tenderer", "supplier"]
    assert sum(r == ["tenderer"] for r in roles.values()) == 1


def test_amounts_are_exact_decimals_in_the_json() -> None:
    record = run(tender_to_spec(simple(), start_at=START))
    text = encode(export(record)).decode()
    assert '"amount":500000.00,' in text
    winner_amount = record["result"]["lots"][0]["winner"]["amount"]
    assert f'"amount":{winner_amount // 100}.{winner_amount % 100:02d}' in text


def test_a_multi_lot_event_has_one_bid_per_lot_and_bidder() -> None:
    spec = multi_spec(as_lot(open_spec(2), "L1"), as_lot(open_spec(3), "L2"))
    package = export(run(spec))
    release = only_release(package)
    ids = [d["id"] for d in release["bids"]["details"]]
    assert ids == ["L1/b1", "L1/b2", "L2/b1", "L2/b2", "L2/b3"]
    assert {a["relatedBid"] for a in release["awards"]} <= set(ids)
    assert [a["relatedLots"] for a in release["awards"]] == [["L1"], ["L2"]]
    assert len(release["parties"]) == 3
    assert release["tender"]["value"]["amount"] == 2 * open_spec()["start_value"] / 100
    assert_valid(package)


def test_a_disqualified_bidder_is_a_disqualified_bid() -> None:
    spec = open_spec(3, start_at=START)
    kick = ScriptAction(at=START + 1, command=Disqualify(official="o", bidder="b2"), index=0)
    release = only_release(export(run(spec, [kick])))
    details = {d["id"]: d for d in release["bids"]["details"]}
    assert details["b2"]["status"] == "disqualified"
    stats = {s["measure"]: s["value"] for s in release["bids"]["statistics"]}
    assert (stats["validBids"], stats["disqualifiedBids"]) == (2, 1)
    assert_valid(export(run(spec, [kick])))


def test_a_cancelled_auction_is_a_tender_cancellation() -> None:
    spec = open_spec(2, start_at=START)
    stop = ScriptAction(
        at=START + 1_000, command=CancelAuction(official="o", reason="appeal"), index=0
    )
    package = export(run(spec, [stop]))
    release = only_release(package)
    assert release["tag"] == ["tenderCancellation"]
    assert release["tender"]["status"] == "cancelled"
    assert release["tender"]["lots"][0]["status"] == "cancelled"
    assert "awards" not in release
    assert_valid(package)


def test_an_unfinished_auction_or_a_foreign_document_is_refused() -> None:
    record = run(tender_to_spec(simple(), start_at=START))
    record["result"]["finished"] = False
    with pytest.raises(OcdsExportError, match="not finished"):
        export(record)
    for bad in ({}, {"spec": {}, "result": {}}, [], {"spec": record["spec"], "result": []}):
        with pytest.raises(OcdsExportError):
            export(bad)  # type: ignore[arg-type]
