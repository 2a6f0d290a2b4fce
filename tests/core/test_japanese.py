"""Japanese reverse auction: descending rounds, confirm or drop out for good."""

from __future__ import annotations

from typing import Any

import pytest

from auction.core import (
    AcceptPrice,
    Auction,
    CancelBid,
    Code,
    Disqualify,
    Outcome,
    PlaceBid,
    auction_view,
    result,
)
from auction.core.events import (
    BidderDropped,
    ClockRoundStarted,
    CommandRejected,
    Event,
    LotEnded,
    LotStarted,
    PriceAccepted,
)
from auction.core.formats.japanese import JapaneseState
from tests.factories import SEC, START, build, japanese_spec

ROUND = 30 * SEC
"""Round length of the default japanese spec."""


def live(n: int = 3, **kw: Any) -> Auction:
    auction = build(japanese_spec(n, **kw))
    auction.advance(START)
    return auction


def state(auction: Auction) -> JapaneseState:
    st = auction.lot_states["1"]
    assert isinstance(st, JapaneseState)
    return st


def accept(auction: Auction, bidder: str, at: int, **kw: Any) -> Outcome:
    return auction.handle(AcceptPrice(bidder=bidder, **kw), at)


def withdraw(auction: Auction, bidder: str, at: int, **kw: Any) -> Outcome:
    return auction.handle(CancelBid(bidder=bidder, **kw), at)


def only(events: list[Event], kind: type[Event]) -> list[Any]:
    return [ev for ev in events if isinstance(ev, kind)]


def ended(events: list[Event]) -> LotEnded:
    (end,) = only(events, LotEnded)
    return end


def confirm_all(auction: Auction, bidders: list[str], at: int) -> list[Event]:
    """Everyone in ``bidders`` confirms at ``at``, ``at + 1``, ...; the events."""
    events: list[Event] = []
    for i, bidder in enumerate(bidders):
        out = accept(auction, bidder, at + i)
        assert out.accepted, out.rejection
        events.extend(out.events)
    return events


def round_prices(auction: Auction, rounds: int, n: int = 3) -> list[int]:
    """Everyone confirms each round at once; the prices of the rounds seen."""
    prices = [state(auction).price]
    at = START
    bidders = [f"b{i + 1}" for i in range(n)]
    for _ in range(rounds):
        at += SEC
        events = confirm_all(auction, bidders, at)
        prices.extend(ev.price for ev in only(events, ClockRoundStarted))
        at += n
    return prices


# ------------------------------------------------------------------- start
def test_start_opens_round_one_at_start_value() -> None:
    auction = build(japanese_spec())
    events = auction.advance(START)
    assert events == [
        LotStarted(at=START, lot="1", labels=["b1", "b2", "b3"]),
        ClockRoundStarted(at=START, lot="1", round=1, price=10_000, deadline=START + ROUND),
    ]
    st = state(auction)
    assert (st.status, st.stage, st.round, st.price) == ("live", "round", 1, 10_000)
    assert st.active == ["b1", "b2", "b3"]
    assert auction.next_deadline() == START + ROUND


def test_confirm_before_start_is_rejected() -> None:
    auction = build(japanese_spec())
    out = accept(auction, "b1", START - 1)
    assert out.rejection is not None
    assert out.rejection.code == Code.AUCTION_NOT_STARTED


def test_confirm_at_start_instant_is_in_round_one() -> None:
    auction = build(japanese_spec())
    out = accept(auction, "b1", START)
    assert out.accepted
    (acc,) = only(out.events, PriceAccepted)
    assert (acc.at, acc.price) == (START, 10_000)


def test_single_bidder_gives_insufficient_bidders() -> None:
    auction = build(japanese_spec(1))
    events = auction.advance(START)
    assert events == [
        LotEnded(at=START, lot="1", outcome="insufficient_bidders", winner=None, amount=None)
    ]


# ------------------------------------------------------------ price steps
def test_rounds_descend_by_absolute_step() -> None:
    auction = live()
    assert round_prices(auction, 4) == [10_000, 9_000, 8_000, 7_000, 6_000]
    assert state(auction).round == 5


def test_step_falls_back_to_minimal_step() -> None:
    auction = live(minimal_step=250, japanese={"step": None})
    assert auction.rules["1"].lot.japanese.step == 250  # type: ignore[union-attr]
    assert round_prices(auction, 2) == [10_000, 9_750, 9_500]


@pytest.mark.parametrize(
    ("percent", "expected"),
    [
        # 15 % of 10000 = 1500; of 8500 = 1275; of 7225 = 1083.75 -> 1084 (rounded up)
        (15, [10_000, 8_500, 7_225, 6_141]),
        ("2.5", [10_000, 9_750, 9_506, 9_268]),  # 243.75 -> 244; 237.65 -> 238
        ("0.001", [10_000, 9_999, 9_998, 9_997]),  # 0.1 rounds up to one minor unit
    ],
)
def test_percent_step_rounds_the_step_up(percent: Any, expected: list[int]) -> None:
    auction = live(japanese={"step": None, "step_percent": percent, "floor": 1})
    assert round_prices(auction, 3) == expected


def test_each_round_gets_a_full_round_time_from_its_start() -> None:
    auction = live()
    events = confirm_all(auction, ["b1", "b2", "b3"], START + 5 * SEC)
    (started,) = only(events, ClockRoundStarted)
    assert started == ClockRoundStarted(
        at=START + 5 * SEC + 2, lot="1", round=2, price=9_000, deadline=START + 5 * SEC + 2 + ROUND
    )


# -------------------------------------------------------- confirm or drop
def test_confirmation_records_the_round_price() -> None:
    auction = live()
    out = accept(auction, "b2", START + 7, bid_id="c1", surrogate_by="official-1")
    assert out.events == [
        PriceAccepted(
            at=START + 7,
            lot="1",
            bidder="b2",
            price=10_000,
            bid_id="c1",
            surrogate_by="official-1",
        )
    ]
    assert state(auction).confirmed == ["b2"]


def test_round_waits_for_every_remaining_bidder() -> None:
    auction = live()
    confirm_all(auction, ["b1", "b2"], START + SEC)
    assert state(auction).round == 1
    assert auction.next_deadline() == START + ROUND


def test_round_ends_early_when_all_remaining_confirm() -> None:
    auction = live()
    confirm_all(auction, ["b1", "b2"], START + SEC)
    out = accept(auction, "b3", START + 2 * SEC)
    assert [type(ev) for ev in out.events] == [PriceAccepted, ClockRoundStarted]
    assert out.events[1].at == START + 2 * SEC
    assert auction.next_deadline() == START + 2 * SEC + ROUND


def test_unconfirmed_bidders_drop_out_at_the_deadline() -> None:
    auction = live()
    confirm_all(auction, ["b2", "b3"], START + SEC)
    events = auction.advance(START + ROUND)
    assert events == [
        BidderDropped(at=START + ROUND, lot="1", bidder="b1", reason="no_confirmation"),
        ClockRoundStarted(
            at=START + ROUND, lot="1", round=2, price=9_000, deadline=START + 2 * ROUND
        ),
    ]
    st = state(auction)
    assert st.active == ["b2", "b3"]
    assert st.dropped == ["b1"]


def test_a_dropped_bidder_is_out_for_good() -> None:
    auction = live()
    confirm_all(auction, ["b2", "b3"], START + SEC)
    auction.advance(START + ROUND)
    for at in (START + ROUND, START + ROUND + SEC):
        for command in (AcceptPrice(bidder="b1"), CancelBid(bidder="b1")):
            out = auction.handle(command, at)
            assert out.rejection is not None
            assert out.rejection.code == Code.BIDDER_DROPPED
            (rej,) = out.events
            assert isinstance(rej, CommandRejected)
            assert (rej.actor, rej.code) == ("b1", "bidder_dropped")
    # still out in a later round
    confirm_all(auction, ["b2", "b3"], START + ROUND + 2 * SEC)
    assert state(auction).round == 3
    assert accept(auction, "b1", START + ROUND + 3 * SEC).rejection.code == Code.BIDDER_DROPPED  # type: ignore[union-attr]


def test_withdraw_drops_out_at_once() -> None:
    auction = live()
    out = withdraw(auction, "b2", START + SEC)
    assert out.events == [BidderDropped(at=START + SEC, lot="1", bidder="b2", reason="withdrew")]
    assert state(auction).active == ["b1", "b3"]
    assert accept(auction, "b2", START + 2 * SEC).rejection.code == Code.BIDDER_DROPPED  # type: ignore[union-attr]


def test_withdraw_after_confirming_takes_the_confirmation_back() -> None:
    auction = live()
    confirm_all(auction, ["b1", "b2"], START + SEC)
    withdraw(auction, "b1", START + 2 * SEC)
    assert state(auction).confirmed == ["b2"]
    # b3 confirms: everyone left has confirmed, the round ends early
    out = accept(auction, "b3", START + 3 * SEC)
    (started,) = only(out.events, ClockRoundStarted)
    assert (started.round, started.price) == (2, 9_000)
    assert state(auction).active == ["b2", "b3"]


def test_withdraw_of_the_last_unconfirmed_bidder_ends_the_round_early() -> None:
    auction = live()
    confirm_all(auction, ["b1", "b2"], START + SEC)
    out = withdraw(auction, "b3", START + 2 * SEC)
    assert [type(ev) for ev in out.events] == [BidderDropped, ClockRoundStarted]
    assert out.events[1].at == START + 2 * SEC


def test_already_accepted_within_a_round() -> None:
    auction = live()
    accept(auction, "b1", START + SEC)
    out = accept(auction, "b1", START + 2 * SEC)
    assert out.rejection is not None
    assert out.rejection.code == Code.ALREADY_ACCEPTED
    assert state(auction).confirmed == ["b1"]
    assert state(auction).rejections == 1
    # a new round takes a new confirmation
    confirm_all(auction, ["b2", "b3"], START + 3 * SEC)
    assert state(auction).round == 2
    assert accept(auction, "b1", START + 4 * SEC).accepted


def test_place_bid_is_not_supported() -> None:
    auction = live()
    out = auction.handle(PlaceBid(bidder="b1", amount=9_000), START + SEC)
    assert out.rejection is not None
    assert out.rejection.code == Code.NOT_SUPPORTED
    (rej,) = out.events
    assert isinstance(rej, CommandRejected)
    assert (rej.command, rej.amount) == ("place_bid", 9_000)


def test_unknown_bidder_is_rejected() -> None:
    auction = live()
    for command in (AcceptPrice(bidder="zz"), CancelBid(bidder="zz")):
        out = auction.handle(command, START + SEC)
        assert out.rejection is not None
        assert out.rejection.code == Code.UNKNOWN_BIDDER


# ------------------------------------------------------------------ winner
def test_last_one_standing_wins_at_the_price_it_confirmed() -> None:
    auction = live()
    confirm_all(auction, ["b1", "b2", "b3"], START + SEC)  # round 2 at 9000
    accept(auction, "b3", START + 2 * SEC)
    withdraw(auction, "b1", START + 3 * SEC)
    out = withdraw(auction, "b2", START + 4 * SEC)
    assert ended(out.events) == LotEnded(
        at=START + 4 * SEC, lot="1", outcome="completed", winner="b3", amount=9_000
    )
    st = state(auction)
    assert (st.status, st.winner, st.winning_amount) == ("ended", "b3", 9_000)
    assert auction.finished
    assert auction.next_deadline() is None


def test_last_one_standing_after_others_time_out() -> None:
    auction = live()
    round2 = START + SEC + 2
    confirm_all(auction, ["b1", "b2", "b3"], START + SEC)
    accept(auction, "b2", round2 + SEC)
    events = auction.advance(round2 + ROUND)
    assert [type(ev) for ev in events] == [BidderDropped, BidderDropped, LotEnded]
    assert {ev.bidder for ev in only(events, BidderDropped)} == {"b1", "b3"}
    assert ended(events) == LotEnded(
        at=round2 + ROUND, lot="1", outcome="completed", winner="b2", amount=9_000
    )


def test_last_one_standing_in_round_one_wins_at_start_value() -> None:
    auction = live(2)
    withdraw(auction, "b1", START + SEC)
    assert state(auction).status == "live"  # b2 must still confirm
    out = accept(auction, "b2", START + 2 * SEC)
    assert ended(out.events).winner == "b2"
    assert ended(out.events).amount == 10_000


def test_all_remaining_drop_in_the_same_round_earliest_previous_confirmer_wins() -> None:
    auction = live()
    confirm_all(auction, ["b3", "b1", "b2"], START + SEC)  # b3 confirmed round 1 first
    round2 = START + SEC + 2
    assert state(auction).price == 9_000
    events = auction.advance(round2 + ROUND)
    assert [type(ev) for ev in events] == [BidderDropped] * 3 + [LotEnded]
    assert ended(events) == LotEnded(
        at=round2 + ROUND, lot="1", outcome="completed", winner="b3", amount=10_000
    )


def test_all_remaining_withdraw_in_the_same_round_earliest_previous_confirmer_wins() -> None:
    auction = live()
    confirm_all(auction, ["b1", "b2", "b3"], START + SEC)  # round 2
    confirm_all(auction, ["b2", "b3", "b1"], START + 2 * SEC)  # round 3 at 8000
    assert state(auction).price == 8_000
    withdraw(auction, "b1", START + 3 * SEC)
    withdraw(auction, "b2", START + 3 * SEC + 1)
    out = withdraw(auction, "b3", START + 3 * SEC + 2)
    assert ended(out.events) == LotEnded(
        at=START + 3 * SEC + 2, lot="1", outcome="completed", winner="b2", amount=9_000
    )


def test_previous_round_rule_skips_a_disqualified_confirmer() -> None:
    auction = live()
    confirm_all(auction, ["b3", "b1", "b2"], START + SEC)
    auction.handle(Disqualify(official="o", bidder="b3"), START + 2 * SEC)
    events = auction.advance(START + SEC + 2 + ROUND)
    assert ended(events).winner == "b1"
    assert ended(events).amount == 10_000


def test_all_drop_in_round_one_is_no_winner() -> None:
    auction = live()
    accept(auction, "b1", START + SEC)
    withdraw(auction, "b1", START + 2 * SEC)  # a confirmation taken back does not count
    events = auction.advance(START + ROUND)
    assert [type(ev) for ev in events] == [BidderDropped, BidderDropped, LotEnded]
    assert ended(events) == LotEnded(
        at=START + ROUND, lot="1", outcome="no_winner", winner=None, amount=None
    )
    assert result(auction)["lots"][0]["winner"] is None


def test_all_withdraw_in_round_one_ends_at_once_with_no_winner() -> None:
    auction = live(2)
    withdraw(auction, "b1", START + SEC)
    out = withdraw(auction, "b2", START + 2 * SEC)
    assert ended(out.events).outcome == "no_winner"
    assert ended(out.events).at == START + 2 * SEC


# ------------------------------------------------------------------- floor
def test_floor_ends_the_lot_with_the_earliest_confirmer_of_the_last_round() -> None:
    auction = live(japanese={"floor": 8_000})
    confirm_all(auction, ["b1", "b2", "b3"], START + SEC)  # -> 9000
    confirm_all(auction, ["b1", "b2", "b3"], START + 2 * SEC)  # -> 8000 (== floor, allowed)
    assert state(auction).price == 8_000
    # 8000 - 1000 < floor: the round's earliest confirmer wins at 8000
    accept(auction, "b2", START + 3 * SEC)
    accept(auction, "b3", START + 3 * SEC + 1)
    events = auction.advance(START + 2 * SEC + 2 + ROUND)
    assert [type(ev) for ev in events] == [BidderDropped, LotEnded]
    assert ended(events) == LotEnded(
        at=START + 2 * SEC + 2 + ROUND, lot="1", outcome="completed", winner="b2", amount=8_000
    )


def test_floor_when_everyone_confirms_ends_the_round_early() -> None:
    auction = live(2, japanese={"floor": 9_500})
    out = accept(auction, "b2", START + SEC)
    assert out.accepted
    out = accept(auction, "b1", START + 2 * SEC)
    assert ended(out.events) == LotEnded(
        at=START + 2 * SEC, lot="1", outcome="completed", winner="b2", amount=10_000
    )


def test_floor_with_a_percent_step() -> None:
    auction = live(2, japanese={"step": None, "step_percent": 10, "floor": 8_000})
    prices = round_prices(auction, 2, n=2)
    assert prices == [10_000, 9_000, 8_100]
    # 8100 - 810 = 7290 < 8000
    confirm_all(auction, ["b1", "b2"], START + 5 * SEC)
    assert state(auction).winner == "b1"
    assert state(auction).winning_amount == 8_100


def test_default_floor_stops_before_prices_reach_zero() -> None:
    auction = live(2, japanese={"floor": 1})
    at = START
    for _ in range(10):
        at += SEC
        confirm_all(auction, ["b1", "b2"], at)
    st = state(auction)
    assert (st.status, st.winner, st.winning_amount) == ("ended", "b1", 1_000)
    assert st.round == 10


# ------------------------------------------------------------- boundaries
def test_confirm_one_ms_before_the_deadline_counts() -> None:
    auction = live()
    confirm_all(auction, ["b1", "b2"], START + SEC)
    out = accept(auction, "b3", START + ROUND - 1)
    assert out.accepted
    assert [type(ev) for ev in out.events] == [PriceAccepted, ClockRoundStarted]
    assert out.events[0].at == START + ROUND - 1
    assert state(auction).dropped == []


def test_confirm_at_the_deadline_is_too_late() -> None:
    auction = live()
    confirm_all(auction, ["b1", "b2"], START + SEC)
    out = accept(auction, "b3", START + ROUND)
    assert out.rejection is not None
    assert out.rejection.code == Code.BIDDER_DROPPED
    # the deadline's events come first, then the rejection, all at the deadline
    assert [type(ev) for ev in out.events] == [BidderDropped, ClockRoundStarted, CommandRejected]
    assert all(ev.at == START + ROUND for ev in out.events)


def test_withdraw_at_the_deadline_is_too_late() -> None:
    auction = live()
    confirm_all(auction, ["b1", "b2"], START + SEC)
    out = withdraw(auction, "b3", START + ROUND)
    assert out.rejection is not None
    assert out.rejection.code == Code.BIDDER_DROPPED
    (dropped,) = only(out.events, BidderDropped)
    assert dropped.reason == "no_confirmation"


def test_confirm_after_the_lot_ended_is_closed() -> None:
    auction = live(2)
    withdraw(auction, "b1", START + SEC)
    accept(auction, "b2", START + 2 * SEC)
    out = accept(auction, "b2", START + 3 * SEC)
    assert out.rejection is not None
    assert out.rejection.code == Code.AUCTION_CLOSED


# ------------------------------------------------------- disqualification
def test_disqualifying_the_last_unconfirmed_bidder_ends_the_round_early() -> None:
    auction = live()
    confirm_all(auction, ["b1", "b2"], START + SEC)
    out = auction.handle(Disqualify(official="o", bidder="b3"), START + 2 * SEC)
    assert [type(ev).__name__ for ev in out.events] == ["BidderDisqualified", "ClockRoundStarted"]
    assert state(auction).active == ["b1", "b2"]
    out = accept(auction, "b3", START + 3 * SEC)
    assert out.rejection is not None
    assert out.rejection.code == Code.BIDDER_DISQUALIFIED


def test_disqualified_before_start_is_not_admitted() -> None:
    auction = build(japanese_spec())
    auction.handle(Disqualify(official="o", bidder="b2"), START - SEC)
    events = auction.advance(START)
    assert only(events, LotStarted)[0].labels == ["b1", "b3"]
    assert state(auction).active == ["b1", "b3"]


# ------------------------------------------------------------- view & misc
def test_views_show_the_round_without_identities() -> None:
    auction = live()
    accept(auction, "b1", START + SEC)
    public = auction_view(auction, "public")["lots"][0]
    assert public["round"] == 1
    assert public["price"] == 10_000
    assert public["next_price"] == 9_000
    assert (public["in"], public["confirmed"]) == (3, 1)
    assert "active" not in public
    mine = auction_view(auction, "bidder", "b1")["lots"][0]
    assert (mine["you_confirmed"], mine["you_dropped"]) == (True, False)
    official = auction_view(auction, "official")["lots"][0]
    assert official["confirmed_by"] == ["b1"]


def test_result_ranks_the_winner_first() -> None:
    auction = live()
    confirm_all(auction, ["b1", "b2", "b3"], START + SEC)
    accept(auction, "b2", START + 2 * SEC)
    withdraw(auction, "b1", START + 3 * SEC)
    withdraw(auction, "b3", START + 4 * SEC)
    lot = result(auction)["lots"][0]
    assert lot["winner"]["bidder"] == "b2"
    assert lot["winner"]["amount"] == 9_000
    assert lot["savings"] == 1_000
    # then the others by the last price they confirmed, earlier confirmation first
    assert [entry["bidder"] for entry in lot["ranking"]] == ["b2", "b1", "b3"]
    assert [entry["amount"] for entry in lot["ranking"]] == [9_000, 10_000, 10_000]


def test_replay_rebuilds_the_same_state() -> None:
    fresh = build(japanese_spec())
    journal = fresh.advance(START)
    for command, at in [
        (AcceptPrice(bidder="b1", bid_id="1"), START + SEC),
        (AcceptPrice(bidder="b1", bid_id="2"), START + SEC + 1),
        (AcceptPrice(bidder="b2"), START + 2 * SEC),
        (CancelBid(bidder="b3"), START + 3 * SEC),
        (AcceptPrice(bidder="b2"), START + 4 * SEC),
    ]:
        journal.extend(fresh.handle(command, at).events)
    journal.extend(fresh.advance(START + 10 * ROUND))
    assert fresh.finished
    replayed = Auction.replay(fresh.spec, journal)
    assert replayed.state_hash() == fresh.state_hash()


def test_a_retried_withdraw_returns_its_original_outcome() -> None:
    auction = live()
    first = withdraw(auction, "b1", START + SEC, bid_id="w1")
    assert first.accepted
    (dropped,) = first.events
    assert isinstance(dropped, BidderDropped)
    assert dropped.bid_id == "w1"
    seq = auction.state.seq
    again = withdraw(auction, "b1", START + 2 * SEC, bid_id="w1")
    assert again.accepted
    assert again.duplicate
    assert again.events == []
    assert auction.state.seq == seq
    # a fresh bid id is decided anew
    other = withdraw(auction, "b1", START + 3 * SEC, bid_id="w2")
    assert other.rejection is not None
    assert other.rejection.code == Code.BIDDER_DROPPED


def test_a_retried_confirmation_is_not_already_accepted() -> None:
    auction = live()
    assert accept(auction, "b1", START + SEC, bid_id="c1").accepted
    again = accept(auction, "b1", START + 2 * SEC, bid_id="c1")
    assert (again.accepted, again.duplicate, again.events) == (True, True, [])
    assert state(auction).confirmed == ["b1"]
