"""The bridge's pure part: lot plans from a tender, the links and results bodies
in the CDB's position-aligned arrays (checked by the CDB double's own
validation), and ProZorro's YAML protocol of an auction."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
import yaml

from auction.core import audit_record, parse_spec
from auction.sim.bots import make_bots
from auction.sim.runner import Simulation
from bridge.plan import (
    FinalBid,
    PlanError,
    Timings,
    encode,
    final_bids,
    links_patch,
    lot_plans,
    results_post,
)
from bridge.protocol import audit_yaml, file_name
from tests.cdb import seed
from tests.cdb.double import CdbError, _apply_links, _apply_results

START = "2031-05-04T10:00:00+03:00"
T = Timings(rounds=2, first_pause_ms=1500, pause_ms=60_000, turn_ms=750)


def test_a_single_lot_tender_is_one_auction_with_the_deployments_rounds() -> None:
    tender = seed.simple(START)
    (plan,) = lot_plans(tender, T)
    assert (plan.action, plan.auction_id, plan.lot_id) == ("plan", tender["id"], "")
    assert plan.spec is not None
    assert plan.spec["id"] == tender["id"]
    assert plan.spec["rounds"] == {
        "rounds": 2,
        "first_pause_s": "1.5",
        "pause_s": 60,
        "turn_s": "0.75",
    }
    spec = parse_spec(plan.spec)
    assert spec.start_at == plan.start_at
    assert [b.id for b in spec.lots[0].bidders] == [seed.BID_A, seed.BID_B]


def test_each_lot_is_its_own_auction_named_tender_underscore_lot() -> None:
    tender = seed.multilot(START, "2031-05-04T12:00:00+03:00")
    first, second = lot_plans(tender, T)
    assert first.auction_id == f"{tender['id']}_{seed.LOT}"
    assert second.auction_id == f"{tender['id']}_{seed.LOT_2}"
    assert second.start_at - first.start_at == 2 * 3600 * 1000
    assert first.spec is not None and second.spec is not None
    assert [b["id"] for b in first.spec["bidders"]] == [seed.BID_A, seed.BID_B]  # D is invalid
    assert [b["id"] for b in second.spec["bidders"]] == [seed.BID_A, seed.BID_C]


def test_features_and_life_cycle_cost_come_through_the_importer() -> None:
    (features,) = lot_plans(seed.features(START), T)
    (lifecycle,) = lot_plans(seed.lifecycle(START), T)
    assert features.spec is not None and features.spec["scoring"] == "features"
    assert lifecycle.spec is not None and lifecycle.spec["scoring"] == "lifecycle"
    assert [b["non_price_cost"] for b in lifecycle.spec["bidders"]] == [2_000_000, 300_000]


def test_what_waits_and_what_is_cancelled() -> None:
    tender = seed.multilot(START)
    tender["lots"][1]["status"] = "cancelled"
    del tender["lots"][0]["auctionPeriod"]
    first, second = lot_plans(tender, T)
    assert (first.action, first.reason) == ("wait", "no auctionPeriod.startDate")
    assert (second.action, second.reason) == ("cancel", "lot cancelled")
    single = seed.simple(START)
    single["bids"] = single["bids"][:1]
    assert lot_plans(single, T)[0].reason == "fewer than two bids"
    single = seed.simple(START)
    single["minimalStep"]["amount"] = 0.001
    assert lot_plans(single, T)[0].reason.startswith("cannot import: minimalStep.amount")
    gone = seed.multilot(START)
    gone["status"] = "cancelled"
    assert [p.action for p in lot_plans(gone, T)] == ["cancel", "cancel"]


@pytest.mark.parametrize("bad_id", ["", "a/b", "x" * 65, "{tag}", 7, None])
def test_ids_that_would_make_bad_auction_ids_are_refused(bad_id: Any) -> None:
    tender = seed.simple(START)
    tender["id"] = bad_id
    with pytest.raises(PlanError):
        lot_plans(tender, T)


# ------------------------------------------------------------------ links
def urls_for(*bids: str) -> dict[str, str]:
    return {b: f"https://auctions.example/bid/x#token=t-{b}" for b in bids}


def test_lot_links_are_position_aligned_and_the_cdb_takes_them() -> None:
    tender = seed.multilot(START)
    body = links_patch(
        tender,
        seed.LOT_2,
        auction_url="https://auctions.example/watch/x",
        participation_urls=urls_for(seed.BID_A, seed.BID_C),
    )
    assert body["data"]["lots"] == [
        {},
        {"id": seed.LOT_2, "auctionUrl": "https://auctions.example/watch/x"},
    ]
    bids = body["data"]["bids"]
    assert len(bids) == len(tender["bids"])
    assert bids[0] == {
        "id": seed.BID_A,
        "lotValues": [
            {},
            {"relatedLot": seed.LOT_2, "participationUrl": urls_for(seed.BID_A)[seed.BID_A]},
        ],
    }
    assert bids[1] == {} and bids[3] == {}  # B has no value for lot 2; D is not admitted
    held = copy.deepcopy(tender)
    _apply_links(held, seed.LOT_2, body["data"])
    assert held["lots"][1]["auctionUrl"] == "https://auctions.example/watch/x"
    assert "auctionUrl" not in held["lots"][0]
    assert held["bids"][2]["lotValues"][0]["participationUrl"].endswith("t-" + seed.BID_C)


def test_single_lot_links() -> None:
    tender = seed.simple(START)
    body = links_patch(
        tender, "", auction_url="https://a.example/watch/t", participation_urls=urls_for(seed.BID_B)
    )
    assert body["data"]["auctionUrl"] == "https://a.example/watch/t"
    assert body["data"]["bids"][0] == {}
    held = copy.deepcopy(tender)
    _apply_links(held, "", body["data"])
    assert held["bids"][1]["participationUrl"].endswith("t-" + seed.BID_B)


@pytest.mark.parametrize(
    "break_it, message",
    [
        (lambda d: d["bids"].pop(), "Number of auction results did not match"),
        (lambda d: d["lots"].append({}), "Number of lots did not match"),
        (lambda d: d["lots"][1].pop("auctionUrl"), "Auction url required"),
        (
            lambda d: d["bids"][0]["lotValues"][1].pop("participationUrl"),
            "participation url required",
        ),
        (lambda d: d["bids"][0].update(id=seed.BID_B), "should be identical"),
        (lambda d: d["bids"][0]["lotValues"].append({}), "Number of lots of auction results"),
        (lambda d: d["lots"][1].update(auctionUrl="ftp://x"), "Not a well formed URL"),
    ],
)
def test_the_cdb_refuses_links_that_are_not_aligned(break_it: Any, message: str) -> None:
    tender = seed.multilot(START)
    body = links_patch(
        tender,
        seed.LOT_2,
        auction_url="https://a.example/w",
        participation_urls=urls_for(seed.BID_A, seed.BID_C),
    )
    break_it(body["data"])
    with pytest.raises(CdbError) as info:
        _apply_links(copy.deepcopy(tender), seed.LOT_2, body["data"])
    assert info.value.status == 422 and message in json.dumps(info.value.errors)


# ---------------------------------------------------------------- results
def test_results_are_aligned_exact_and_taken_by_the_cdb() -> None:
    tender = seed.multilot(START)
    finals = {
        seed.BID_A: FinalBid(47_319_000, "2031-05-04T10:09:00.123Z"),
        seed.BID_B: FinalBid(47_300_001, "2031-05-04T10:11:00.456Z"),
    }
    body = results_post(tender, seed.LOT, finals)
    text = encode(body).decode()
    assert '"amount":473190.00' in text and '"amount":473000.01' in text
    bids = body["data"]["bids"]
    assert bids[2] == {} and bids[3] == {}
    assert bids[0]["lotValues"][1] == {}
    held = copy.deepcopy(tender)
    _apply_results(held, seed.LOT, json.loads(text)["data"])
    assert held["bids"][0]["lotValues"][0]["value"]["amount"] == 473190.0
    assert held["bids"][0]["lotValues"][1]["value"]["amount"] == 990000  # lot 2 untouched
    assert held["lots"][0]["auctionPeriod"]["endDate"]
    assert held["status"] == "active.auction"  # lot 2 still to go
    _apply_results(held, seed.LOT_2, results_post(held, seed.LOT_2, {})["data"])
    assert held["status"] == "active.qualification"


def test_life_cycle_results_carry_the_weighted_value() -> None:
    tender = seed.lifecycle(START)
    body = results_post(
        tender, "", {seed.BID_A: FinalBid(47_000_000, "2031-05-04T10:09:00Z", 49_000_000)}
    )
    assert body["data"]["bids"][0]["weightedValue"] == {"amount": Decimal("490000.00")}
    _apply_results(copy.deepcopy(tender), "", json.loads(encode(body))["data"])


# --------------------------------------------------------------- protocol
def simulate(tender: dict[str, Any], lot_id: str = "") -> dict[str, Any]:
    (plan, *_) = [p for p in lot_plans(tender, Timings()) if p.lot_id == lot_id]
    assert plan.spec is not None
    spec = parse_spec(plan.spec)
    sim = Simulation(spec, bots=make_bots(spec, seed=5))
    auction = sim.run()
    return json.loads(json.dumps(audit_record(auction, sim.journal)))  # type: ignore[no-any-return]


def test_the_protocol_has_prozorros_shape_and_exact_amounts() -> None:
    tender = seed.simple(START)
    record = simulate(tender)
    text = audit_yaml(record, tender_id=tender["id"], tender_code=tender["tenderID"], lot_id="")
    assert file_name(tender["id"]) == f"audit_{tender['id']}.yaml"
    document = yaml.safe_load(text)
    assert set(document) == {"id", "tenderId", "tender_id", "timeline"}
    timeline = document["timeline"]
    start = timeline["auction_start"]
    assert [b["bidder"] for b in start["initial_bids"]] == [seed.BID_B, seed.BID_A]  # highest first
    assert start["initial_bids"][0]["label"] == {
        "en": "Bidder #1",
        "uk": "Учасник #1",
        "ru": "Участник #1",
    }
    assert "amount: 480000.00" in text.decode()
    assert set(timeline) == {"auction_start", "round_1", "round_2", "round_3", "results"}
    for n in (1, 2, 3):
        assert set(timeline[f"round_{n}"]) == {"turn_1", "turn_2"}
    turned = [e for e in record["events"] if e["type"] == "turn_ended"]
    for event in turned:
        turn = next(
            t
            for t in timeline[f"round_{event['round']}"].values()
            if t["bidder"] == event["bidder"]
        )
        assert Decimal(str(turn["amount"])) * 100 == event["amount"]
        assert ("bid_time" in turn) is event["changed"]
    (outcome,) = record["result"]["lots"]
    results = {b["bidder"]: b for b in timeline["results"]["bids"]}
    assert timeline["results"]["time"] == outcome["ended_at"]
    for entry in outcome["ranking"]:
        assert Decimal(str(results[entry["bidder"]]["amount"])) * 100 == entry["amount"]
    finals = final_bids(record, "")
    assert {b: f.amount for b, f in finals.items()} == {
        r["bidder"]: r["amount"] for r in outcome["ranking"]
    }


def test_the_protocol_of_features_and_of_life_cycle_cost() -> None:
    tender = seed.features(START)
    document = yaml.safe_load(
        audit_yaml(simulate(tender), tender_id=tender["id"], tender_code="UA-11111", lot_id="")
    )
    first = document["timeline"]["auction_start"]["initial_bids"]
    by_bidder = {b["bidder"]: b for b in first}
    # ProZorro's own worked example: A 475000 at 0.10 -> 425000; B 480000 at 0.15 -> 408000
    assert by_bidder[seed.BID_A]["amount_features"] == "425000"
    assert by_bidder[seed.BID_B]["amount_features"] == "408000"
    assert Fraction(by_bidder[seed.BID_B]["coeficient"]) == 1 + Fraction(15, 85)
    assert all("amount_features" in t for t in document["timeline"]["round_1"].values())
    tender = seed.lifecycle(START)
    document = yaml.safe_load(
        audit_yaml(simulate(tender), tender_id=tender["id"], tender_code="UA-11111", lot_id="")
    )
    bid = document["timeline"]["auction_start"]["initial_bids"][0]
    assert Decimal(str(bid["amount_weighted"])) == Decimal(str(bid["amount"])) + Decimal(
        str(bid["non_price_cost"])
    )


def test_the_protocol_of_a_lot() -> None:
    tender = seed.multilot(START)
    record = simulate(tender, seed.LOT_2)
    document = yaml.safe_load(
        audit_yaml(record, tender_id=tender["id"], tender_code="UA-12345", lot_id=seed.LOT_2)
    )
    assert document["lot_id"] == seed.LOT_2
    assert {b["bidder"] for b in document["timeline"]["results"]["bids"]} == {
        seed.BID_A,
        seed.BID_C,
    }
