"""OCDS / ProZorro tender import, checked against ProZorro's own worker test tenders."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from auction.core import Auction, UnderbidError, parse_spec, result
from auction.core.spec import parse_time_ms
from auction.importers import OcdsImportError, tender_to_spec

DATA = Path(__file__).resolve().parents[1] / "data" / "prozorro"
"""Copies of the shared test tenders, so the suite stands on its own."""
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "prozorro"
"""Where the copies came from (outside the repository; may be absent)."""

FILES = (
    "worker_tender_simple.json",
    "worker_features_tender_data.json",
    "worker_tender_multilot.json",
)
BID_A = "d3ba84c66c9e4f34bfb33cc3c686f137"
BID_B = "5675acc9232942e8940a034994ad883e"
LOT = "aee0feec3eda4c85bad28eddd78dc3e6"
YEARS = "OCDS-123454-YEARS"


def load(name: str, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"), **kw)
    return data


def simple() -> dict[str, Any]:
    return load("worker_tender_simple.json")


def features() -> dict[str, Any]:
    return load("worker_features_tender_data.json")


def multilot() -> dict[str, Any]:
    return load("worker_tender_multilot.json")


def run_to_end(spec: dict[str, Any]) -> Auction:
    """Run an auction with no bids posted: fire every deadline until it ends."""
    auction = Auction(parse_spec(spec))
    while not auction.finished:
        deadline = auction.next_deadline()
        assert deadline is not None
        auction.advance(deadline)
    return auction


def import_error(tender: dict[str, Any], **kw: Any) -> OcdsImportError:
    with pytest.raises(OcdsImportError) as info:
        tender_to_spec(tender, **kw)
    return info.value


# ------------------------------------------------------------- test data
@pytest.mark.parametrize("name", FILES)
def test_copies_match_the_shared_tenders(name: str) -> None:
    if not (SHARED / name).exists():
        pytest.skip("the shared data folder is not present")
    assert (DATA / name).read_bytes() == (SHARED / name).read_bytes()


# -------------------------------------------------------------- features
def test_features_tender_ranks_480000_first_at_408000() -> None:
    auction = run_to_end(tender_to_spec(features()))
    lot = auction.spec.lots[0]
    ranking = auction.rules[lot.id].ranking(auction.lot_states[lot.id])
    (first, first_raw, first_score), (second, second_raw, second_score) = ranking
    assert (first, first_raw) == (BID_B, 48_000_000)
    assert isinstance(first_score, int | Fraction)
    assert first_score == 40_800_000
    assert Fraction(first_score) == Fraction(40_800_000)
    assert (second, second_raw) == (BID_A, 47_500_000)
    assert second_score == 42_500_000
    assert result(auction)["lots"][0]["winner"]["bidder"] == BID_B


def test_feature_values_are_exact_fractions() -> None:
    spec = tender_to_spec(features())
    assert spec["scoring"] == "features"
    assert spec["features"] == [
        {"code": YEARS, "title": "Років на ринку", "values": ["0.05", "0.1", "0.15"]}
    ]
    lot = parse_spec(spec).lots[0]
    assert lot.features[0].values == (Fraction(1, 20), Fraction(1, 10), Fraction(3, 20))
    chosen = {b.id: b.features for b in lot.bidders}
    assert chosen == {BID_A: {YEARS: Fraction(1, 10)}, BID_B: {YEARS: Fraction(3, 20)}}


def test_decimal_parsed_json_gives_the_same_spec() -> None:
    as_decimal = load("worker_features_tender_data.json", parse_float=Decimal)
    assert tender_to_spec(as_decimal) == tender_to_spec(features())


# ---------------------------------------------------------------- simple
def test_simple_tender_two_bidders_value_and_step() -> None:
    spec = tender_to_spec(simple())
    assert spec["id"] == "UA-11111"
    assert spec["title"] == "Tender Title"
    assert spec["format"] == "rounds"
    assert spec["currency"] == "UAH"
    assert spec["currency_exponent"] == 2
    assert spec["start_value"] == 50_000_000
    assert spec["minimal_step"] == 3_500_000
    assert spec["scoring"] == "price"
    assert "features" not in spec
    assert spec["start_at"] == "2017-06-28T10:32:19.233669+03:00"
    assert [(b["id"], b["amount"]) for b in spec["bidders"]] == [
        (BID_A, 47_500_000),
        (BID_B, 48_000_000),
    ]
    assert spec["bidders"][0]["submitted_at"] == "2014-11-19T08:22:21.726234+00:00"
    parsed = parse_spec(spec)
    lot = parsed.lots[0]
    assert len(lot.bidders) == 2
    assert lot.start_value == 50_000_000
    assert lot.minimal_step == 3_500_000
    assert parsed.start_at == parse_time_ms("2017-06-28T07:32:19.233Z", "t")


def test_simple_tender_runs_to_the_lower_bid() -> None:
    auction = run_to_end(tender_to_spec(simple()))
    assert result(auction)["lots"][0]["winner"]["bidder"] == BID_A


def test_without_the_data_wrapper() -> None:
    tender = simple()["data"]
    assert tender_to_spec(tender) == tender_to_spec(simple())
    del tender["value"]["amount"]
    assert import_error(tender).path == "value.amount"


def test_spec_survives_a_json_round_trip() -> None:
    for name in FILES:
        spec = tender_to_spec(load(name))
        again = json.loads(json.dumps(spec))
        assert parse_spec(again) == parse_spec(spec)


def test_bidder_name_from_tenderer_or_legal_name_else_bid_id() -> None:
    tender = simple()
    bids = tender["data"]["bids"]
    bids[0]["tenderers"] = [{"name": "Supplier One LLC", "identifier": {"legalName": "Legal One"}}]
    bids[1]["tenderers"] = [{"identifier": {"legalName": "Legal Two"}}]
    names = [b["name"] for b in tender_to_spec(tender)["bidders"]]
    assert names == ["Supplier One LLC", "Legal Two"]
    assert [b["name"] for b in tender_to_spec(simple())["bidders"]] == [BID_A, BID_B]


def test_inactive_bids_and_bids_without_value_are_left_out() -> None:
    tender = simple()
    bids = tender["data"]["bids"]
    extra = [dict(bids[0], id=f"x{i}") for i in range(4)]
    extra[0]["status"] = "invalid"
    extra[1]["status"] = "deleted"
    extra[2]["status"] = "active"
    del extra[3]["value"]
    bids.extend(extra)
    assert [b["id"] for b in tender_to_spec(tender)["bidders"]] == [BID_A, BID_B, "x2"]


def test_options_id_rounds_and_start() -> None:
    spec = tender_to_spec(simple(), auction_id="run-7", rounds=2, start_at=1_700_000_000_000)
    assert spec["id"] == "run-7"
    assert spec["start_at"] == 1_700_000_000_000
    parsed = parse_spec(spec)
    rounds = parsed.lots[0].rounds
    assert rounds is not None and rounds.rounds == 2
    assert parsed.start_at == 1_700_000_000_000


def test_start_at_needed_when_the_tender_has_none() -> None:
    tender = simple()
    del tender["data"]["auctionPeriod"]
    err = import_error(tender)
    assert err.path == "data.auctionPeriod.startDate"
    assert "start_at" in err.message
    spec = tender_to_spec(tender, start_at="2030-01-01T10:00:00+02:00")
    assert spec["start_at"] == "2030-01-01T10:00:00+02:00"
    assert import_error(tender, start_at="2030-01-01T10:00:00").path == "start_at"


# -------------------------------------------------------------- multilot
def test_multilot_lot_import_takes_lot_value_step_and_lot_values() -> None:
    spec = tender_to_spec(multilot(), lot_id=LOT)
    assert spec["id"] == f"UA-12345_{LOT}"
    assert spec["start_value"] == 1_617_500_000
    assert spec["minimal_step"] == 8_080_000
    assert spec["start_at"] == "2017-06-28T13:19:40.465234+03:00"
    assert spec["title"].startswith("Капітально відремонтований комбайн")
    assert [(b["id"], b["amount"], b["submitted_at"]) for b in spec["bidders"]] == [
        (BID_A, 47_400_000, "2015-11-01T12:43:12.482645+02:00"),
        (BID_B, 47_300_000, "2015-11-02T12:43:13.482645+02:00"),
    ]
    auction = run_to_end(spec)
    assert result(auction)["lots"][0]["winner"]["bidder"] == BID_B


def test_multilot_without_lot_id_is_one_event() -> None:
    spec = tender_to_spec(multilot())
    assert spec["id"] == "UA-12345"
    assert spec["closing"] == "together"
    assert "start_value" not in spec
    (lot,) = spec["lots"]
    assert lot["id"] == LOT
    assert lot["start_value"] == 1_617_500_000
    assert lot["minimal_step"] == 8_080_000
    parsed = parse_spec(spec)
    lot_spec = parsed.lot(LOT)
    assert lot_spec is not None
    assert [b.amount for b in lot_spec.bidders] == [47_400_000, 47_300_000]


def two_lot_tender() -> dict[str, Any]:
    """The multilot tender with a second lot, lot features and per-lot bids."""
    tender = multilot()
    data = tender["data"]
    second = dict(data["lots"][0], id="lot2", title="Lot two")
    second["value"] = {"currency": "UAH", "amount": 1000.5}
    second["minimalStep"] = {"currency": "UAH", "amount": 10}
    second["auctionPeriod"] = {"startDate": "2017-06-28T12:00:00+03:00"}
    data["lots"].append(second)
    data["items"].append({"id": "item2", "relatedLot": "lot2", "description": "x"})
    data["features"] = [
        {"code": "ALL", "featureOf": "tenderer", "enum": [{"value": 0}, {"value": 0.05}]},
        {"code": "L1", "featureOf": "lot", "relatedItem": LOT, "enum": [{"value": 0.1}]},
        {"code": "I2", "featureOf": "item", "relatedItem": "item2", "enum": [{"value": 0.2}]},
    ]
    bid_a, bid_b = data["bids"]
    bid_a["parameters"] = [{"code": "ALL", "value": 0.05}, {"code": "L1", "value": 0.1}]
    bid_b["parameters"] = [
        {"code": "ALL", "value": 0},
        {"code": "L1", "value": 0.1},
        {"code": "I2", "value": 0.2},
    ]
    bid_b["lotValues"].append(
        {"relatedLot": "lot2", "date": "2015-11-03T00:00:00Z", "value": {"amount": 999.99}}
    )
    return tender


def test_lot_features_and_lot_bids() -> None:
    first = tender_to_spec(two_lot_tender(), lot_id=LOT)
    assert [f["code"] for f in first["features"]] == ["ALL", "L1"]
    assert [b["features"] for b in first["bidders"]] == [
        {"ALL": "0.05", "L1": "0.1"},
        {"ALL": "0", "L1": "0.1"},
    ]
    second = tender_to_spec(two_lot_tender(), lot_id="lot2")
    assert second["start_value"] == 100_050
    assert [f["code"] for f in second["features"]] == ["ALL", "I2"]
    assert [(b["id"], b["amount"]) for b in second["bidders"]] == [(BID_B, 99_999)]
    assert second["bidders"][0]["features"] == {"ALL": "0", "I2": "0.2"}
    parse_spec(first)
    parse_spec(second)


def test_event_of_two_lots_starts_at_the_earliest_lot() -> None:
    spec = tender_to_spec(two_lot_tender())
    assert [lot["id"] for lot in spec["lots"]] == [LOT, "lot2"]
    assert spec["start_at"] == "2017-06-28T12:00:00+03:00"
    parsed = parse_spec(spec)
    assert [len(lot.bidders) for lot in parsed.lots] == [2, 1]


def test_inactive_lots_and_lot_values_are_left_out() -> None:
    tender = two_lot_tender()
    tender["data"]["lots"][1]["status"] = "cancelled"
    spec = tender_to_spec(tender)
    assert [lot["id"] for lot in spec["lots"]] == [LOT]
    err = import_error(tender, lot_id="lot2")
    assert err.path == "data.lots[1].status"
    tender = two_lot_tender()
    tender["data"]["bids"][0]["lotValues"][0]["status"] = "unsuccessful"
    assert [b["id"] for b in tender_to_spec(tender, lot_id=LOT)["bidders"]] == [BID_B]


def test_unknown_lot_lists_the_lots() -> None:
    err = import_error(two_lot_tender(), lot_id="nope")
    assert err.path == "data.lots"
    assert "'nope'" in err.message
    assert LOT in err.message and "lot2" in err.message
    err = import_error(simple(), lot_id=LOT)
    assert err.path == "data.lots"
    assert "no lots" in err.message


# ---------------------------------------------------------------- errors
def test_error_type() -> None:
    err = import_error(simple(), lot_id="x")
    assert isinstance(err, UnderbidError)
    assert str(err) == f"{err.path}: {err.message}"
    assert import_error([]).path == ""  # type: ignore[arg-type]


def break_and_import(tender: dict[str, Any], **kw: Any) -> str:
    return import_error(tender, **kw).path


def test_errors_name_their_path() -> None:
    t = simple()
    del t["data"]["value"]["amount"]
    assert break_and_import(t) == "data.value.amount"

    t = simple()
    del t["data"]["minimalStep"]
    assert break_and_import(t) == "data.minimalStep.amount"

    t = simple()
    t["data"]["minimalStep"]["amount"] = "lots"
    assert break_and_import(t) == "data.minimalStep.amount"

    t = simple()
    t["data"]["value"]["amount"] = 0
    assert break_and_import(t) == "data.value.amount"

    t = simple()
    t["data"]["bids"][1]["value"]["amount"] = 0.1 + 0.2  # 0.30000000000000004
    err = import_error(t)
    assert err.path == "data.bids[1].value.amount"
    assert "decimal places" in err.message

    t = simple()
    t["data"]["bids"][1]["value"]["amount"] = 600000
    assert break_and_import(t) == "data.bids[1].value.amount"

    t = simple()
    t["data"]["bids"][0]["value"]["amount"] = True
    assert break_and_import(t) == "data.bids[0].value.amount"

    t = simple()
    t["data"]["bids"][0]["value"]["currency"] = "USD"
    assert break_and_import(t) == "data.bids[0].value.currency"

    t = simple()
    del t["data"]["bids"][0]["id"]
    assert break_and_import(t) == "data.bids[0].id"

    t = simple()
    t["data"]["bids"][0]["date"] = "2014-11-19T08:22:21"
    assert break_and_import(t) == "data.bids[0].date"

    t = simple()
    t["data"]["auctionPeriod"]["startDate"] = "tomorrow"
    assert break_and_import(t) == "data.auctionPeriod.startDate"

    t = simple()
    del t["data"]["value"]["currency"]
    assert break_and_import(t) == "data.value.currency"

    t = simple()
    t["data"]["bids"] = {"not": "a list"}
    assert break_and_import(t) == "data.bids"

    t = simple()
    del t["data"]["tenderID"]
    assert break_and_import(t) == "data.tenderID"


def test_feature_errors_name_their_path() -> None:
    t = features()
    t["data"]["bids"][0]["parameters"][0]["value"] = 0.2
    err = import_error(t)
    assert err.path == "data.bids[0].parameters[0].value"
    assert "0.05, 0.1, 0.15" in err.message

    t = features()
    del t["data"]["bids"][1]["parameters"]
    assert break_and_import(t) == "data.bids[1].parameters"

    t = features()
    t["data"]["bids"][1]["parameters"][0]["code"] = "OTHER"
    assert break_and_import(t) == "data.bids[1].parameters[0].code"

    t = features()
    t["data"]["features"][0]["enum"][2]["value"] = "lots"
    assert break_and_import(t) == "data.features[0].enum[2].value"

    t = features()
    t["data"]["features"][0]["enum"] = []
    assert break_and_import(t) == "data.features[0].enum"

    t = features()
    t["data"]["features"][0]["featureOf"] = "lot"
    assert break_and_import(t) == "data.features[0].relatedItem"


def test_lot_errors_name_their_path() -> None:
    t = multilot()
    del t["data"]["lots"][0]["minimalStep"]["amount"]
    assert break_and_import(t, lot_id=LOT) == "data.lots[0].minimalStep.amount"

    t = multilot()
    del t["data"]["bids"][1]["lotValues"][0]["value"]["amount"]
    assert break_and_import(t, lot_id=LOT) == "data.bids[1].lotValues[0].value.amount"

    t = two_lot_tender()
    t["data"]["lots"][1]["value"]["currency"] = "EUR"
    assert break_and_import(t) == "data.lots[1].value.currency"


# ------------------------------------------------------- life-cycle cost
LCC_USE = "CRITERION.OTHER.LIFE_CYCLE_COST.COST_OF_USE"


def lifecycle(costs: tuple[Any, Any] = (20000.5, 3000)) -> dict[str, Any]:
    """The simple tender scored by life-cycle cost (ProZorro's ``lifeCycleCost``):
    one cost-of-use criterion; each bid answers its requirement with a cost."""
    tender = simple()
    data = tender["data"]
    data["awardCriteria"] = "lifeCycleCost"
    data["criteria"] = [
        {
            "id": "c" * 32,
            "classification": {"scheme": "ESPD211", "id": LCC_USE},
            "relatesTo": "tender",
            "requirementGroups": [{"id": "g" * 32, "requirements": [{"id": "r" * 32}]}],
        },
        {  # not a life-cycle cost: its responses do not count
            "id": "d" * 32,
            "classification": {"id": "CRITERION.OTHER.BID.LANGUAGE"},
            "requirementGroups": [{"requirements": [{"id": "q" * 32}]}],
        },
    ]
    for bid, cost in zip(data["bids"], costs, strict=True):
        bid["requirementResponses"] = [
            {"requirement": {"id": "r" * 32}, "value": cost},
            {"requirement": {"id": "q" * 32}, "value": 999999},
        ]
    return tender


def test_a_life_cycle_cost_tender_scores_amount_plus_cost() -> None:
    spec = tender_to_spec(lifecycle())
    assert spec["scoring"] == "lifecycle"
    costs = {b["id"]: b["non_price_cost"] for b in spec["bidders"]}
    assert costs == {BID_A: 2_000_050, BID_B: 300_000}
    # A: 475000 + 20000.50 = 495000.50; B: 480000 + 3000 = 483000: B leads
    auction = run_to_end(spec)
    (lot,) = result(auction)["lots"]
    assert lot["winner"]["bidder"] == BID_B
    assert [r["score"] for r in lot["ranking"]] == ["48300000", "49500050"]


def test_a_lot_counts_only_its_own_life_cycle_criteria() -> None:
    tender = multilot()
    data = tender["data"]
    data["awardCriteria"] = "lifeCycleCost"
    data["criteria"] = [
        {
            "classification": {"id": LCC_USE},
            "relatesTo": "lot",
            "relatedItem": "another-lot",
            "requirementGroups": [{"requirements": [{"id": "x1"}]}],
        },
        {
            "classification": {"id": LCC_USE},
            "relatesTo": "lot",
            "relatedItem": LOT,
            "requirementGroups": [{"requirements": [{"id": "x2"}]}],
        },
    ]
    for bid in data["bids"]:
        bid["requirementResponses"] = [
            {"requirement": {"id": "x1"}, "value": 5},
            {"requirement": {"id": "x2"}, "value": 7},
        ]
    spec = tender_to_spec(tender, lot_id=LOT)
    assert spec["scoring"] == "lifecycle"
    assert {b["non_price_cost"] for b in spec["bidders"]} == {700}


def test_life_cycle_cost_without_its_criteria_is_price_only() -> None:
    tender = simple()
    tender["data"]["awardCriteria"] = "lifeCycleCost"
    assert tender_to_spec(tender)["scoring"] == "price"


@pytest.mark.parametrize(
    "change, path",
    [
        (lambda d: d["bids"][0]["requirementResponses"][0].update(value=-1), "value"),
        (lambda d: d["bids"][0]["requirementResponses"][0].update(value=0.001), "value"),
        (lambda d: d["bids"][0]["requirementResponses"][0].update(value="lots"), "value"),
        (lambda d: d["criteria"][0]["requirementGroups"][0]["requirements"][0].pop("id"), "id"),
        (lambda d: d.update(features=features()["data"]["features"]), "data.features"),
    ],
)
def test_bad_life_cycle_data_names_the_field(change: Any, path: str) -> None:
    tender = lifecycle()
    change(tender["data"])
    error = import_error(tender)
    assert error.path.endswith(path), error.path
