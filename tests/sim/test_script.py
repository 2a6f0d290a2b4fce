"""Scripts: timed actions for ``underbid simulate --script`` (auction.sim.script)."""

from __future__ import annotations

from typing import Any

import pytest

from auction.core.commands import (
    AcceptPrice,
    AnyCommand,
    CancelAuction,
    CancelBid,
    Disqualify,
    Extend,
    Pause,
    PlaceBid,
    Resume,
)
from auction.core.errors import UnderbidError
from auction.core.spec import parse_time_ms
from auction.documents import load_document
from auction.sim.script import ACTION_TYPES, ScriptAction, ScriptError, parse_script
from tests.factories import EXAMPLES, SEC, START


def one(action: dict[str, Any], start: int = START) -> ScriptAction:
    actions = parse_script({"actions": [action]}, start)
    assert len(actions) == 1
    return actions[0]


def error(data: Any, start: int = START) -> ScriptError:
    with pytest.raises(ScriptError) as info:
        parse_script(data, start)
    return info.value


# --------------------------------------------------------------- commands
@pytest.mark.parametrize(
    ("action", "command"),
    [
        (
            {"type": "bid", "bidder": "b1", "amount": 900},
            PlaceBid(bidder="b1", amount=900, bid_id="script-0"),
        ),
        (
            {
                "type": "bid",
                "bidder": "b1",
                "amount": 900,
                "lot": "gloves",
                "bid_id": "mine",
                "surrogate_by": "clerk",
            },
            PlaceBid(lot="gloves", bidder="b1", amount=900, bid_id="mine", surrogate_by="clerk"),
        ),
        ({"type": "cancel", "bidder": "b2"}, CancelBid(bidder="b2", bid_id="script-0")),
        (
            {"type": "cancel", "bidder": "b2", "bid_id": "c", "surrogate_by": "clerk"},
            CancelBid(bidder="b2", bid_id="c", surrogate_by="clerk"),
        ),
        ({"type": "accept", "bidder": "b3"}, AcceptPrice(bidder="b3", bid_id="script-0")),
        (
            {"type": "accept", "bidder": "b3", "lot": "2", "bid_id": "a"},
            AcceptPrice(lot="2", bidder="b3", bid_id="a"),
        ),
        ({"type": "pause"}, Pause(official="official")),
        (
            {"type": "pause", "official": "chair", "reason": "network"},
            Pause(official="chair", reason="network"),
        ),
        ({"type": "resume"}, Resume(official="official")),
        ({"type": "resume", "official": "chair"}, Resume(official="chair")),
        ({"type": "extend", "seconds": 30}, Extend(official="official", ms=30_000)),
        (
            {"type": "extend", "seconds": 1.5, "official": "chair", "lot": "x"},
            Extend(lot="x", official="chair", ms=1_500),
        ),
        ({"type": "cancel_auction"}, CancelAuction(official="official")),
        (
            {"type": "cancel_auction", "reason": "complaint"},
            CancelAuction(official="official", reason="complaint"),
        ),
        (
            {"type": "disqualify", "bidder": "b2"},
            Disqualify(official="official", bidder="b2"),
        ),
        (
            {"type": "disqualify", "bidder": "b2", "official": "chair", "reason": "fraud"},
            Disqualify(official="chair", bidder="b2", reason="fraud"),
        ),
    ],
)
def test_every_action_type_parses_to_its_command(
    action: dict[str, Any], command: AnyCommand
) -> None:
    parsed = one({"at": 5, **action})
    assert parsed.command == command
    assert type(parsed.command) is type(command)
    assert parsed.at == START + 5 * SEC
    assert parsed.index == 0


def test_every_action_type_is_covered() -> None:
    assert set(ACTION_TYPES) == {
        "bid",
        "cancel",
        "accept",
        "pause",
        "resume",
        "extend",
        "cancel_auction",
        "disqualify",
    }


def test_default_bid_ids_are_unique_per_action() -> None:
    actions = parse_script(
        {
            "actions": [
                {"at": 1, "type": "bid", "bidder": "b1", "amount": 10},
                {"at": 2, "type": "bid", "bidder": "b1", "amount": 9},
                {"at": 3, "type": "bid", "bidder": "b1", "amount": 8, "bid_id": ""},
            ]
        },
        START,
    )
    ids = [a.command.bid_id for a in actions]  # type: ignore[union-attr]
    assert ids == ["script-0", "script-1", "script-2"]


def test_empty_official_falls_back_to_the_default() -> None:
    assert one({"at": 0, "type": "pause", "official": ""}).command == Pause(official="official")


# -------------------------------------------------------------------- at
@pytest.mark.parametrize(
    ("at", "ms"),
    [(0, 0), (305, 305_000), (0.5, 500), (1.25, 1_250), (0.001, 1), (10**6, 10**9)],
)
def test_at_as_seconds_after_the_start(at: float, ms: int) -> None:
    assert one({"at": at, "type": "resume"}).at == START + ms


@pytest.mark.parametrize(
    "at",
    [
        "2026-12-01T10:05:10+02:00",
        "2026-12-01T08:05:10Z",
        "2026-12-01T08:05:10.000+00:00",
    ],
)
def test_at_as_an_iso_time_is_absolute(at: str) -> None:
    start = parse_time_ms("2026-12-01T10:00:00+02:00", "start_at")
    assert one({"at": at, "type": "resume"}, start).at == start + 310 * SEC


def test_an_iso_time_may_be_before_the_start() -> None:
    start = parse_time_ms("2026-12-01T10:00:00Z", "start_at")
    assert one({"at": "2026-12-01T09:59:00Z", "type": "resume"}, start).at == start - 60 * SEC


@pytest.mark.parametrize(
    ("at", "words"),
    [
        (-1, "non-negative"),
        (0.0001, "whole milliseconds"),
        (True, "seconds after the start"),
        (None, "seconds after the start"),
        ([1], "seconds after the start"),
        ("soon", "not an ISO-8601 time"),
        ("2026-12-01T10:00:00", "no time zone"),
        (float("inf"), "not a finite number"),
        (float("nan"), "not a finite number"),
    ],
)
def test_a_bad_at_names_the_field(at: Any, words: str) -> None:
    exc = error({"actions": [{"at": 0, "type": "resume"}, {"at": at, "type": "resume"}]})
    assert exc.field == "actions[1].at"
    assert words in exc.message
    assert str(exc).startswith("actions[1].at: ")


def test_a_missing_at_names_the_field() -> None:
    exc = error({"actions": [{"at": 1, "type": "resume"}, {"type": "resume"}]})
    assert exc.field == "actions[1].at"
    assert "missing" in exc.message


# -------------------------------------------------------------- ordering
def test_actions_come_back_in_time_order_and_ties_keep_script_order() -> None:
    raw = [
        {"at": 30, "type": "bid", "bidder": "b1", "amount": 5},
        {"at": 10, "type": "bid", "bidder": "b2", "amount": 5},
        {"at": 20, "type": "pause"},
        {"at": 10, "type": "bid", "bidder": "b3", "amount": 5},
        {"at": 10.0, "type": "resume"},
        {"at": "1970-01-01T00:16:50Z", "type": "cancel_auction"},  # START + 10 s
    ]
    actions = parse_script({"actions": raw}, START)
    assert [a.index for a in actions] == [1, 3, 4, 5, 2, 0]
    assert [a.at - START for a in actions] == [10_000] * 4 + [20_000, 30_000]


def test_an_empty_script_has_no_actions() -> None:
    assert parse_script({}, START) == []
    assert parse_script({"actions": []}, START) == []


def test_the_example_script_parses() -> None:
    spec = load_document(EXAMPLES / "rounds.toml")
    start = parse_time_ms(spec["start_at"], "start_at")
    actions = parse_script(load_document(EXAMPLES / "rounds-script.toml"), start)
    assert len(actions) == 9
    assert actions[0].at == start + 310 * SEC
    assert actions[0].command == PlaceBid(bidder="9a1f7c02", amount=47_000_000, bid_id="script-0")
    assert [type(a.command).__name__ for a in actions] == [
        "PlaceBid",
        "PlaceBid",
        "PlaceBid",
        "PlaceBid",
        "PlaceBid",
        "Pause",
        "Resume",
        "PlaceBid",
        "CancelBid",
    ]


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (None, "integer amount in minor units"),
        ("470000.00", "integer amount in minor units"),
        (4700.5, "integer amount in minor units"),
        (True, "integer amount in minor units"),
    ],
)
def test_a_bad_amount_names_the_action_and_field(amount: Any, words: str) -> None:
    bid: dict[str, Any] = {"at": 3, "type": "bid", "bidder": "b1"}
    if amount is not None:
        bid["amount"] = amount
    exc = error({"actions": [{"at": 1, "type": "pause"}, {"at": 2, "type": "resume"}, bid]})
    assert exc.field == "actions[2].amount"
    assert words in exc.message
    assert "actions[2].amount" in str(exc)


@pytest.mark.parametrize("kind", ["bid", "cancel", "accept", "disqualify"])
@pytest.mark.parametrize("bidder", [None, ""])
def test_a_missing_bidder_names_the_field(kind: str, bidder: str | None) -> None:
    action: dict[str, Any] = {"at": 1, "type": kind, "amount": 5}
    if kind != "bid":
        del action["amount"]
    if bidder is not None:
        action["bidder"] = bidder
    exc = error({"actions": [action]})
    assert exc.field == "actions[0].bidder"
    assert exc.message == "missing"


@pytest.mark.parametrize(
    ("action", "field"),
    [
        ({"at": 1, "type": "bid", "bidder": "b1", "amount": 5, "colour": "red"}, "colour"),
        ({"at": 1, "type": "bid", "bidder": "b1", "amount": 5, "seconds": 3}, "seconds"),
        ({"at": 1, "type": "pause", "bidder": "b1"}, "bidder"),
        ({"at": 1, "type": "resume", "reason": "why"}, "reason"),
        ({"at": 1, "type": "cancel", "bidder": "b1", "amount": 5}, "amount"),
        ({"at": 1, "type": "extend", "seconds": 5, "amount": 5}, "amount"),
        ({"at": 1, "type": "accept", "bidder": "b1", "official": "x"}, "official"),
    ],
)
def test_a_field_that_the_action_type_does_not_have_is_an_error(
    action: dict[str, Any], field: str
) -> None:
    exc = error({"actions": [action]})
    assert exc.field == f"actions[0].{field}"
    assert f"not a field of a {action['type']!r} action" in exc.message


def test_unknown_top_level_keys_are_errors() -> None:
    exc = error({"actions": [], "action": []})
    assert exc.field == "action"
    assert "unknown key" in exc.message


def test_a_bots_table_is_not_silently_ignored() -> None:
    exc = error({"actions": [], "bots": {"b1": "eager"}})
    assert exc.field == "bots"
    assert "--bots" in exc.message


@pytest.mark.parametrize("kind", [None, "", "bids", "Bid", 3])
def test_an_unknown_or_missing_type_names_the_field(kind: Any) -> None:
    action: dict[str, Any] = {"at": 1}
    if kind is not None:
        action["type"] = kind
    exc = error({"actions": [action]})
    assert exc.field == "actions[0].type"
    assert "bid, cancel, accept" in exc.message


@pytest.mark.parametrize(
    ("action", "field", "words"),
    [
        ({"type": "bid", "bidder": 7, "amount": 5}, "bidder", "must be a string"),
        ({"type": "bid", "bidder": "b1", "amount": 5, "lot": 1}, "lot", "must be a string"),
        ({"type": "bid", "bidder": "b1", "amount": 5, "bid_id": 1}, "bid_id", "must be a string"),
        (
            {"type": "bid", "bidder": "b1", "amount": 5, "surrogate_by": False},
            "surrogate_by",
            "must be a string",
        ),
        ({"type": "pause", "official": ["x"]}, "official", "must be a string"),
        ({"type": "pause", "reason": 1}, "reason", "must be a string"),
        ({"type": "extend"}, "seconds", "a number of seconds is required"),
        ({"type": "extend", "seconds": "30"}, "seconds", "a number of seconds is required"),
        ({"type": "extend", "seconds": True}, "seconds", "a number of seconds is required"),
        ({"type": "extend", "seconds": 0.0001}, "seconds", "whole milliseconds"),
        ({"type": "extend", "seconds": float("inf")}, "seconds", "not a finite number"),
    ],
)
def test_wrong_types_name_the_field(action: dict[str, Any], field: str, words: str) -> None:
    exc = error({"actions": [{"at": 1, "type": "resume"}, {"at": 1, **action}]})
    assert exc.field == f"actions[1].{field}"
    assert words in exc.message


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"actions": {"at": 1, "type": "pause"}}, "actions"),
        ({"actions": "pause at 1"}, "actions"),
        ({"actions": [["at", 1]]}, "actions[0]"),
        ({"actions": [{"at": 1, "type": "pause"}, 5]}, "actions[1]"),
        ([{"at": 1, "type": "pause"}], ""),
    ],
)
def test_a_badly_shaped_script_is_an_error(data: Any, field: str) -> None:
    assert error(data).field == field


def test_a_script_error_is_an_underbid_error() -> None:
    assert issubclass(ScriptError, UnderbidError)
    exc = ScriptError("", "whole message")
    assert str(exc) == "whole message"
