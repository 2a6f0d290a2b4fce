"""Bounds and the text policy (auction/core/limits.py), and the property that
makes them worth having: whatever a spec or a command says, the only outcomes
are a typed refusal (``SpecError``, a rejection) or an auction whose every
event encodes, decodes and projects."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction.core import (
    AcceptPrice,
    Auction,
    CancelAuction,
    CancelBid,
    Disqualify,
    Extend,
    Pause,
    PlaceBid,
    Resume,
    SpecError,
    parse_spec,
)
from auction.core.events import decode_event, encode_event
from auction.core.limits import (
    MAX_AMOUNT,
    MAX_BIDDERS_PER_LOT,
    MAX_DURATION_MS,
    MAX_EXTENSION_MS,
    MAX_TIME_MS,
    text_problem,
)
from auction.core.projection import ROLES, project
from auction.core.views import auction_view
from tests.factories import (
    START,
    as_lot,
    dutch_spec,
    japanese_spec,
    multi_spec,
    open_spec,
    rounds_spec,
)

FORMAT_SPECS = (rounds_spec, open_spec, japanese_spec, dutch_spec)


# ------------------------------------------------------------- text policy
@pytest.mark.parametrize(
    ("text", "is_id", "fine"),
    [
        ("b1", True, True),
        ("ТОВ «Будівельник»", False, True),
        ("Supplier 1 LLC", False, True),
        ("Supplier 1 LLC", True, False),  # spaces in an id
        ("b\u200b1", True, False),  # zero-width space
        ("b\u200d1", False, False),  # zero-width joiner
        ("evil\u202eexe.txt", False, False),  # right-to-left override
        ("line\nbreak", False, False),
        ("nul\x00", False, False),
        ("E\u0308", False, False),  # decomposed: not NFC
        ("\u00cb", False, True),  # the same letter, composed
        ("b\u00a01", True, False),  # a no-break space in an id
        ("", True, False),
        ("", False, True),
        ("x" * 129, True, False),
    ],
)
def test_the_text_policy(text: str, is_id: bool, fine: bool) -> None:
    problem = text_problem(text, max_chars=128, is_id=is_id)
    assert (problem is None) == fine, problem


# ------------------------------------------------------------ spec bounds
def _error_field(spec: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    return info.value.field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start_value": MAX_AMOUNT + 1}, "start_value"),
        ({"start_value": 10**400}, "start_value"),
        ({"start_at": MAX_TIME_MS + 1}, "start_at"),
        ({"start_at": "0001-01-01T00:00:00Z"}, "start_at"),
        ({"start_at": "9999-12-31T23:59:59-14:00"}, "start_at"),
        ({"currency": "hryvnia"}, "currency"),
        ({"title": "a\x07b"}, "title"),
        ({"open": {"duration_s": MAX_DURATION_MS // 1000 + 1, "decrement": 1}}, "open.duration_s"),
        ({"open": {"duration_s": "1e400", "decrement": 1}}, "open.duration_s"),
        ({"open": {"duration_s": math.inf, "decrement": 1}}, "open.duration_s"),
        ({"open": {"duration_s": math.nan, "decrement": 1}}, "open.duration_s"),
        (
            {"open": {"duration_s": 600, "decrement_percent": "1/" + "7" * 30}},
            "open.decrement_percent",
        ),
    ],
)
def test_values_past_their_bounds_are_refused_with_the_field(
    change: dict[str, Any], field: str
) -> None:
    assert _error_field({**open_spec(2), **change}) == field


def test_bidders_per_lot_and_turns_per_lot_are_bounded() -> None:
    too_many = open_spec(2)
    too_many["bidders"] = [{"id": f"b{i}"} for i in range(MAX_BIDDERS_PER_LOT + 1)]
    assert _error_field(too_many) == "bidders"
    turns = rounds_spec(2_000, amounts=[90_000 - i for i in range(2_000)], rounds={"rounds": 6})
    assert _error_field(turns) == "rounds.rounds"
    dutch = dutch_spec(
        start_value=100_000, dutch={"start_price": 1, "limit_price": 100_000, "step": 1}
    )
    assert _error_field(dutch) == "dutch.step"
    japanese = japanese_spec(
        start_value=MAX_AMOUNT, japanese={"step": None, "step_percent": "0.0001"}
    )
    assert _error_field(japanese) == "japanese.step_percent"


def test_extensions_are_bounded_by_the_engine() -> None:
    auction = Auction(parse_spec(open_spec(2)))
    auction.advance(START)
    out = auction.handle(Extend(official="o", ms=MAX_EXTENSION_MS + 1), START + 1)
    assert out.rejection is not None and out.rejection.code.value == "invalid_extension"
    assert auction.handle(Extend(official="o", ms=MAX_EXTENSION_MS), START + 2).accepted


# -------------------------------------------------- the property: no crash
EXTREME_INTS = st.sampled_from(
    [0, 1, -1, 2**31, 2**53, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**400, MAX_AMOUNT]
)
EXTREMES: st.SearchStrategy[Any] = st.one_of(
    EXTREME_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "0", "-1", "1e400", "nan", "9" * 5_000, "\u200b", "\x00", "Е\u0308"]),
    st.text(max_size=50),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.recursive(st.none(), lambda inner: st.lists(inner, max_size=1), max_leaves=200),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


def _put(spec: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        spec = spec[step]
    spec[path[-1]] = value


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), build=st.sampled_from(FORMAT_SPECS), extreme=EXTREMES)
def test_a_spec_with_any_value_anywhere_is_refused_or_runs(
    data: st.DataObject, build: Any, extreme: Any
) -> None:
    spec = copy.deepcopy(build(3))
    path = data.draw(st.sampled_from(_paths(spec)))
    _put(spec, path, extreme)
    try:
        parsed = parse_spec(spec)
    except SpecError as exc:
        assert exc.message
        return
    _run_every_event_through_the_wire(Auction(parsed), data)


COMMAND_AMOUNTS = st.one_of(EXTREME_INTS, st.integers(min_value=-10, max_value=200_000))
LOTS = st.sampled_from(["", "1", "A", "B", "nope", "Ä" * 128, "\u200b"])
BIDDERS = st.sampled_from(["b1", "b2", "b3", "nobody", "", "b\u200b1"])


def _commands() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(
            PlaceBid, lot=LOTS, bidder=BIDDERS, amount=COMMAND_AMOUNTS, bid_id=st.text(max_size=8)
        ),
        st.builds(CancelBid, lot=LOTS, bidder=BIDDERS, bid_id=st.text(max_size=8)),
        st.builds(AcceptPrice, lot=LOTS, bidder=BIDDERS, bid_id=st.text(max_size=8)),
        st.builds(Pause, lot=LOTS, official=st.just("o"), reason=st.text(max_size=8)),
        st.builds(Resume, lot=LOTS, official=st.just("o")),
        st.builds(Extend, lot=LOTS, official=st.just("o"), ms=COMMAND_AMOUNTS),
        st.builds(Disqualify, lot=LOTS, official=st.just("o"), bidder=BIDDERS),
        st.builds(CancelAuction, lot=LOTS, official=st.just("o")),
    )


def _run_every_event_through_the_wire(auction: Auction, data: st.DataObject) -> None:
    """Random commands and clock jumps; every event must encode, decode to
    itself and project for every role, and every view must build."""
    now = auction.spec.start_at
    for _ in range(data.draw(st.integers(min_value=1, max_value=12))):
        now += data.draw(st.sampled_from([0, 1, 1_000, 60_000, 10**6, 10**9]))
        command = data.draw(_commands())
        out = auction.handle(command, now)
        for event in out.events:
            assert decode_event(encode_event(event)) == event
            for role in ROLES:
                project(auction, event, role)
    for role in ROLES:
        auction_view(auction, role, "b1" if role == "bidder" else None)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_command_on_any_format_gives_encodable_events(data: st.DataObject) -> None:
    lots = [as_lot(build(3), lot_id) for build, lot_id in zip(FORMAT_SPECS, "ABCD", strict=False)]
    chosen = data.draw(st.sampled_from([[lot] for lot in lots] + [lots[:2], lots[1:]]))
    spec = multi_spec(*chosen)
    _run_every_event_through_the_wire(Auction(parse_spec(spec)), data)
