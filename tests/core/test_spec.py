"""Spec validation: every error names the offending field."""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

import pytest

from auction.core import SpecError, parse_spec
from tests.factories import (
    START,
    as_lot,
    dutch_spec,
    japanese_spec,
    multi_spec,
    open_spec,
    rounds_spec,
)


def error_field(spec: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    assert info.value.message
    assert str(info.value).startswith(info.value.field)
    return info.value.field


def features_spec(**kw: Any) -> dict[str, Any]:
    """The ProZorro worked example: one feature with values up to 0.15."""
    spec = rounds_spec(
        2,
        amounts=[47_500_000, 48_000_000],
        start_value=50_000_000,
        minimal_step=100_000,
        scoring="features",
        features=[{"code": "f1", "values": [0, 0.05, 0.1, 0.15]}],
    )
    spec["bidders"][0]["features"] = {"f1": 0.1}
    spec["bidders"][1]["features"] = {"f1": 0.15}
    spec.update(kw)
    return spec


# -------------------------------------------------------------- valid specs
@pytest.mark.parametrize(
    "builder", [rounds_spec, open_spec, japanese_spec, dutch_spec, features_spec]
)
def test_builders_parse(builder: Any) -> None:
    spec = parse_spec(builder())
    assert spec.start_at == START
    assert len(spec.lots) == 1
    assert spec.lots[0].id == "1"
    assert spec.lots[0].start_at == START


def test_the_time_zone_defaults_by_currency_and_is_checked_for_form() -> None:
    assert parse_spec(open_spec()).time_zone == "Europe/Kyiv"  # UAH, the default currency
    assert parse_spec(open_spec(currency="EUR")).time_zone == "UTC"
    assert (
        parse_spec(open_spec(currency="EUR", time_zone="Europe/Berlin")).time_zone
        == "Europe/Berlin"
    )
    assert parse_spec(open_spec(time_zone="America/Argentina/Buenos_Aires")).time_zone.endswith(
        "Aires"
    )
    for bad in ("Kyiv", "europe/kyiv", "../etc/passwd", "Europe/" + "x" * 40, "Europe/Kyiv "):
        with pytest.raises(SpecError) as caught:
            parse_spec(open_spec(time_zone=bad))
        assert caught.value.field == "time_zone", bad


def test_single_lot_fields_are_parsed() -> None:
    spec = parse_spec(japanese_spec(title="Diesel", currency="EUR"))
    assert (spec.id, spec.title, spec.currency, spec.currency_exponent) == (
        "j1",
        "Diesel",
        "EUR",
        2,
    )
    lot = spec.lots[0]
    assert lot.format == "japanese"
    assert lot.japanese is not None
    assert (lot.japanese.round_ms, lot.japanese.step, lot.japanese.floor) == (30_000, 1_000, 1_000)
    assert [b.id for b in lot.bidders] == ["b1", "b2", "b3"]
    assert lot.bidders[0].name == "Supplier 1 LLC"
    assert lot.bidder("b2") is lot.bidders[1]
    assert lot.bidder("zz") is None
    assert spec.lot("1") is lot


def test_spec_keeps_the_raw_mapping() -> None:
    raw = japanese_spec()
    assert parse_spec(raw).raw == raw


def test_bidder_name_defaults_to_id_and_submitted_at_to_position() -> None:
    spec = japanese_spec()
    for b in spec["bidders"]:
        del b["name"]
    lot = parse_spec(spec).lots[0]
    assert [b.name for b in lot.bidders] == ["b1", "b2", "b3"]
    assert [b.submitted_at for b in lot.bidders] == [0, 1, 2]


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2024-05-01T10:00:00Z", 1_714_557_600_000),
        ("2024-05-01T10:00:00.123Z", 1_714_557_600_123),
        ("2024-05-01T13:00:00.123+03:00", 1_714_557_600_123),
        ("2024-05-01T05:30:00.999-04:30", 1_714_557_600_999),
        ("1970-01-01T00:00:00Z", 0),
    ],
)
def test_iso_times_with_a_zone_parse_to_exact_ms(text: str, ms: int) -> None:
    assert parse_spec(japanese_spec(start_at=text)).start_at == ms


def test_submitted_at_parses_iso_and_ms() -> None:
    spec = rounds_spec(2)
    spec["bidders"][0]["submitted_at"] = "2024-05-01T10:00:00.5+00:00"
    spec["bidders"][1]["submitted_at"] = 1_714_557_600_400
    lot = parse_spec(spec).lots[0]
    assert [b.submitted_at for b in lot.bidders] == [1_714_557_600_500, 1_714_557_600_400]


def test_durations_accept_exact_decimal_seconds() -> None:
    lot = parse_spec(japanese_spec(japanese={"round_s": "1.5"})).lots[0]
    assert lot.japanese is not None
    assert lot.japanese.round_ms == 1_500
    lot = parse_spec(dutch_spec(dutch={"interval_s": 0.25})).lots[0]
    assert lot.dutch is not None
    assert lot.dutch.interval_ms == 250


def test_rounds_defaults_follow_prozorro() -> None:
    lot = parse_spec(rounds_spec()).lots[0]
    assert lot.rounds is not None
    assert (lot.rounds.rounds, lot.rounds.first_pause_ms, lot.rounds.pause_ms) == (
        3,
        300_000,
        120_000,
    )
    assert lot.rounds.turn_ms == 120_000


def test_features_are_exact_fractions() -> None:
    lot = parse_spec(features_spec()).lots[0]
    assert lot.features[0].values == (
        Fraction(0),
        Fraction(1, 20),
        Fraction(1, 10),
        Fraction(3, 20),
    )
    assert lot.bidders[0].features == {"f1": Fraction(1, 10)}


def test_percent_settings_are_exact() -> None:
    lot = parse_spec(japanese_spec(japanese={"step": None, "step_percent": 0.15})).lots[0]
    assert lot.japanese is not None
    assert lot.japanese.step_percent == Fraction(3, 20)
    assert lot.japanese.step is None
    lot = parse_spec(open_spec(open={"decrement": None, "decrement_percent": "0.5"})).lots[0]
    assert lot.open is not None
    assert lot.open.decrement_percent == Fraction(1, 2)


def test_open_decrement_falls_back_to_minimal_step() -> None:
    lot = parse_spec(open_spec(minimal_step=250, open={"decrement": None})).lots[0]
    assert lot.open is not None
    assert lot.open.decrement == 250


def test_multi_lot_spec_parses() -> None:
    spec = parse_spec(
        multi_spec(
            as_lot(japanese_spec(), "A"),
            as_lot(dutch_spec(), "B"),
            as_lot(open_spec(), "C"),
            closing="staggered",
            stagger_s=90,
        )
    )
    assert [lot.id for lot in spec.lots] == ["A", "B", "C"]
    assert [lot.format for lot in spec.lots] == ["japanese", "dutch", "open"]
    assert [lot.start_at for lot in spec.lots] == [START, START + 90_000, START + 180_000]
    assert spec.stagger_ms == 90_000
    assert spec.lot("B") is spec.lots[1]


def test_multi_lot_together_ignores_stagger() -> None:
    spec = parse_spec(
        multi_spec(as_lot(japanese_spec(), "A"), as_lot(dutch_spec(), "B"), stagger_s=90)
    )
    assert [lot.start_at for lot in spec.lots] == [START, START]


# ------------------------------------------------------------------ errors
def change(spec: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``spec`` with the dotted ``path`` set (``del`` removes it)."""
    out = copy.deepcopy(spec)
    *parents, last = path.split(".")
    node: Any = out
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = int(last) if isinstance(node, list) else last
    if value is del_:
        del node[key]
    else:
        node[key] = value
    return out


del_ = object()


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        # prices and amounts
        (change(japanese_spec(), "start_value", 0), "start_value"),
        (change(japanese_spec(), "start_value", -5), "start_value"),
        (change(rounds_spec(), "bidders.1.amount", 0), "bidders[1].amount"),
        (change(rounds_spec(), "bidders.0.amount", -100), "bidders[0].amount"),
        (change(rounds_spec(), "bidders.0.amount", 100_001), "bidders[0].amount"),
        (change(rounds_spec(), "minimal_step", 0), "minimal_step"),
        (change(rounds_spec(), "minimal_step", None), "minimal_step"),
        (change(rounds_spec(), "bidders.2.amount", del_), "bidders[2].amount"),
        (change(japanese_spec(), "bidders.0.amount", 500), "bidders[0].amount"),
        (change(dutch_spec(), "bidders.1.amount", 500), "bidders[1].amount"),
        (change(japanese_spec(), "japanese.step", 0), "japanese.step"),
        (change(japanese_spec(), "japanese.step", -1), "japanese.step"),
        (change(japanese_spec(), "japanese.floor", 0), "japanese.floor"),
        (change(japanese_spec(), "japanese.floor", 10_001), "japanese.floor"),
        (change(dutch_spec(), "dutch.start_price", 0), "dutch.start_price"),
        (change(dutch_spec(), "dutch.step", -1), "dutch.step"),
        (change(open_spec(), "open.decrement", 0), "open.decrement"),
        # formats and ids
        (change(japanese_spec(), "format", "english"), "format"),
        (change(japanese_spec(), "id", " "), "id"),
        (change(japanese_spec(), "bidders.1.id", "b1"), "bidders[1].id"),
        (change(japanese_spec(), "bidders.0.id", ""), "bidders[0].id"),
        (
            change(japanese_spec(), "dutch", {"start_price": 1, "limit_price": 2, "step": 1}),
            "dutch",
        ),
        (change(dutch_spec(), "dutch", del_), "dutch"),
        (change(open_spec(), "open", del_), "open"),
        (change(japanese_spec(), "scoring", "lifecycle"), "scoring"),
        (change(dutch_spec(), "scoring", "lifecycle"), "scoring"),
        (change(japanese_spec(), "scoring", "cheapest"), "scoring"),
        (change(japanese_spec(), "currency_exponent", 5), "currency_exponent"),
        # unknown keys (typos) and missing keys
        (change(japanese_spec(), "start_vaule", 1), "start_vaule"),
        (change(japanese_spec(), "japanese.round_sec", 3), "japanese.round_sec"),
        (change(japanese_spec(), "bidders.1.nmae", "x"), "bidders[1].nmae"),
        (change(rounds_spec(), "rounds", {"turns": 3}), "rounds.turns"),
        (change(japanese_spec(), "start_value", del_), "start_value"),
        (change(japanese_spec(), "bidders.0.id", del_), "bidders[0].id"),
        (change(dutch_spec(), "dutch.step", del_), "dutch.step"),
        # types
        (change(japanese_spec(), "start_value", "10000"), "start_value"),
        (change(japanese_spec(), "start_value", 10.5), "start_value"),
        (change(japanese_spec(), "bidders", {"b1": {}}), "bidders"),
        # times
        (change(japanese_spec(), "start_at", "2024-05-01T10:00:00"), "start_at"),
        (change(japanese_spec(), "start_at", "2024-05-01 10:00"), "start_at"),
        (change(japanese_spec(), "start_at", "tomorrow"), "start_at"),
        (change(japanese_spec(), "start_at", -1), "start_at"),
        (change(japanese_spec(), "start_at", True), "start_at"),
        (
            change(rounds_spec(), "bidders.1.submitted_at", "2024-05-01T10:00"),
            "bidders[1].submitted_at",
        ),
        (change(japanese_spec(), "japanese.round_s", 0), "japanese.round_s"),
        (change(japanese_spec(), "japanese.round_s", "0.0005"), "japanese.round_s"),
        (change(japanese_spec(), "japanese.round_s", "soon"), "japanese.round_s"),
        (change(rounds_spec(), "rounds", {"pause_s": -1}), "rounds.pause_s"),
        (change(rounds_spec(), "rounds", {"rounds": 0}), "rounds.rounds"),
        (change(open_spec(), "open.duration_s", 0), "open.duration_s"),
        (change(open_spec(), "open.phases", 7), "open.phases"),
        (change(dutch_spec(), "dutch.interval_s", 0), "dutch.interval_s"),
        # step given twice
        (change(open_spec(), "open.decrement_percent", 1), "open.decrement"),
        (
            open_spec(minimal_step=5, open={"decrement": None, "decrement_percent": 1}),
            "open.decrement",
        ),
        (change(open_spec(), "open.decrement", None), "open.decrement"),
        (
            change(open_spec(), "open", {"duration_s": 60, "decrement_percent": 100}),
            "open.decrement_percent",
        ),
        (change(japanese_spec(), "japanese.step_percent", 5), "japanese.step"),
        (change(japanese_spec(), "japanese.step", None), "japanese.step"),
        (change(japanese_spec(), "japanese", {"step_percent": 0}), "japanese.step_percent"),
        # dutch limit on the wrong side
        (change(dutch_spec(), "dutch.limit_price", 5_000), "dutch.limit_price"),
        (change(dutch_spec(), "dutch.limit_price", 4_000), "dutch.limit_price"),
        (change(dutch_spec(), "dutch.direction", "falling"), "dutch.limit_price"),
        (change(dutch_spec(), "dutch.direction", "sideways"), "dutch.direction"),
        (change(dutch_spec(), "dutch.limit_price", 10_001), "dutch.limit_price"),
        (
            change(
                dutch_spec(),
                "dutch",
                {"start_price": 10_001, "limit_price": 1, "step": 1, "direction": "falling"},
            ),
            "dutch.start_price",
        ),
    ],
)
def test_spec_error_names_the_field(spec: dict[str, Any], field: str) -> None:
    assert error_field(spec) == field


# ---------------------------------------------------------------- features
def test_features_whose_maxima_sum_to_one_are_rejected() -> None:
    spec = features_spec(
        features=[
            {"code": "f1", "values": [0, 0.15]},
            {"code": "f2", "values": [0.5, 0.85]},
        ]
    )
    spec["bidders"][0]["features"] = {"f1": 0, "f2": 0.5}
    spec["bidders"][1]["features"] = {"f1": 0.15, "f2": 0.85}
    assert error_field(spec) == "features"


def test_features_whose_maxima_sum_above_one_are_rejected() -> None:
    spec = features_spec(features=[{"code": "f1", "values": [1.5]}])
    spec["bidders"][0]["features"] = {"f1": 1.5}
    spec["bidders"][1]["features"] = {"f1": 1.5}
    assert error_field(spec) == "features"


def test_features_just_below_one_are_accepted() -> None:
    spec = features_spec(
        features=[{"code": "f1", "values": [0, 0.5]}, {"code": "f2", "values": ["0.499"]}]
    )
    for b in spec["bidders"]:
        b["features"] = {"f1": 0.5, "f2": "0.499"}
    assert parse_spec(spec).lots[0].features[1].values == (Fraction(499, 1000),)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda s: s["bidders"][0]["features"].update(f1=0.2), "bidders[0].features.f1"),
        (lambda s: s["bidders"][1]["features"].update(f1="0.150"), None),  # same number: ok
        (lambda s: s["bidders"][1]["features"].update(zz=0.1), "bidders[1].features.zz"),
        (lambda s: s["bidders"][1]["features"].clear(), "bidders[1].features.f1"),
        (lambda s: s["bidders"][1]["features"].update(f1="lots"), "bidders[1].features.f1"),
        (lambda s: s["features"].append({"code": "f1", "values": [0]}), "features[1].code"),
        (lambda s: s["features"][0].update(values=[]), "features[0].values"),
        (lambda s: s["features"][0].update(values=[-0.1, 0.1]), "features[0].values"),
        (lambda s: s["features"][0].update(values=[0, "x"]), "features[0].values[1]"),
        (lambda s: s.update(features=[]), "features"),
        (lambda s: s.update(scoring="price"), "features"),
    ],
)
def test_feature_choices_are_validated(mutate: Any, field: str | None) -> None:
    spec = features_spec()
    mutate(spec)
    if field is None:
        parse_spec(spec)
    else:
        assert error_field(spec) == field


def test_features_on_a_bidder_of_a_price_lot_are_rejected() -> None:
    spec = rounds_spec()
    spec["bidders"][2]["features"] = {"f1": 0.1}
    assert error_field(spec) == "bidders[2].features"


def test_non_price_cost_needs_lifecycle_scoring() -> None:
    spec = rounds_spec()
    spec["bidders"][0]["non_price_cost"] = 100
    assert error_field(spec) == "bidders[0].non_price_cost"
    spec["scoring"] = "lifecycle"
    assert parse_spec(spec).lots[0].bidders[0].non_price_cost == 100
    spec["bidders"][0]["non_price_cost"] = -1
    assert error_field(spec) == "bidders[0].non_price_cost"


# ---------------------------------------------------------------- multi-lot
def multi(**kw: Any) -> dict[str, Any]:
    return multi_spec(as_lot(japanese_spec(), "A"), as_lot(rounds_spec(), "B"), **kw)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("lots.1.bidders.0.amount", -1, "lots[1].bidders[0].amount"),
        ("lots.1.bidders.0.amount", del_, "lots[1].bidders[0].amount"),
        ("lots.1.bidders.2.id", "b1", "lots[1].bidders[2].id"),
        ("lots.0.japanese.step", 0, "lots[0].japanese.step"),
        ("lots.0.japanese.stepp", 5, "lots[0].japanese.stepp"),
        ("lots.1.format", "dutchh", "lots[1].format"),
        ("lots.1.start_value", 0, "lots[1].start_value"),
        ("lots.1.id", "A", "lots[1].id"),
        ("lots.0.colour", "red", "lots[0].colour"),
        ("lots.0.start_value", del_, "lots[0].start_value"),
        ("lots", [], "lots"),
        ("stagger_s", -1, "stagger_s"),
        ("closing", "sometimes", "closing"),
        ("start_at", "2024-05-01T10:00:00", "start_at"),
    ],
)
def test_multi_lot_errors_name_the_lot(path: str, value: Any, field: str) -> None:
    assert error_field(change(multi(), path, value)) == field


def test_lot_fields_at_the_top_of_a_multi_lot_spec_are_rejected() -> None:
    assert error_field(multi(format="open")) == "format"


def test_a_spec_must_be_a_mapping() -> None:
    with pytest.raises(SpecError):
        parse_spec([1, 2])  # type: ignore[arg-type]


def test_spec_error_carries_field_and_message() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(change(japanese_spec(), "start_value", 0))
    assert info.value.field == "start_value"
    assert str(info.value) == f"start_value: {info.value.message}"


# ------------------------------------------------ ids and TOML date-times
@pytest.mark.parametrize("bad", ["", "a b", "a{b}", "-lead", "x" * 129, "тендер"])
def test_auction_ids_are_safe_for_journal_keys_and_urls(bad: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(rounds_spec(id=bad))
    assert err.value.field == "id"


def test_toml_native_date_times_are_accepted_and_kept_as_text() -> None:
    import tomllib

    doc = tomllib.loads(
        'id = "t1"\nstart_at = 2026-12-01T10:00:00+02:00\nformat = "rounds"\n'
        "start_value = 100\nminimal_step = 1\n"
        "[[bidders]]\nid = 'a'\namount = 90\nsubmitted_at = 2026-11-01T00:00:00Z\n"
        "[[bidders]]\nid = 'b'\namount = 95\n"
    )
    spec = parse_spec(doc)
    assert spec.start_at == 1_796_112_000_000
    assert spec.raw["start_at"] == "2026-12-01T10:00:00+02:00"
    assert spec.lots[0].bidders[0].submitted_at == 1_793_491_200_000


def test_a_toml_local_date_time_without_zone_is_refused() -> None:
    import tomllib

    doc = tomllib.loads(
        'id = "t1"\nstart_at = 2026-12-01T10:00:00\nformat = "rounds"\n'
        "start_value = 100\nminimal_step = 1\nbidders = []\n"
    )
    with pytest.raises(SpecError) as err:
        parse_spec(doc)
    assert err.value.field == "start_at"
