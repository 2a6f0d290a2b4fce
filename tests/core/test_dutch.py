"""Dutch clock auction: the price moves step by step until the first accept."""

from __future__ import annotations

from typing import Any

import pytest

from auction.core import (
    AcceptPrice,
    Auction,
    CancelBid,
    Code,
    Disqualify,
    Extend,
    Outcome,
    Pause,
    PlaceBid,
    Resume,
    auction_view,
    result,
)
from auction.core.events import (
    CommandRejected,
    Event,
    LotEnded,
    LotStarted,
    PriceAccepted,
    PriceChanged,
)
from auction.core.formats.dutch import DutchState
from tests.factories import SEC, START, build, dutch_spec

INTERVAL = 10 * SEC
"""Interval of the default dutch spec (rising 5000 -> 10000 by 1000)."""


def live(n: int = 3, **kw: Any) -> Auction:
    auction = build(dutch_spec(n, **kw))
    auction.advance(START)
    return auction


def state(auction: Auction) -> DutchState:
    st = auction.lot_states["1"]
    assert isinstance(st, DutchState)
    return st


def accept(auction: Auction, bidder: str, at: int, **kw: Any) -> Outcome:
    return auction.handle(AcceptPrice(bidder=bidder, **kw), at)


def prices(events: list[Event]) -> list[tuple[int, int, int]]:
    """(at, step, price) of every clock move."""
    return [(ev.at, ev.step, ev.price) for ev in events if isinstance(ev, PriceChanged)]


def code(out: Outcome) -> Code:
    assert out.rejection is not None
    return out.rejection.code


# ------------------------------------------------------------------ clock
def test_clock_starts_at_start_price() -> None:
    auction = build(dutch_spec())
    events = auction.advance(START)
    assert events == [
        LotStarted(at=START, lot="1", labels=["b1", "b2", "b3"]),
        PriceChanged(at=START, lot="1", step=0, price=5_000, deadline=START + INTERVAL),
    ]
    assert (state(auction).status, state(auction).stage) == ("live", "clock")


def test_rising_clock_price_at_each_step() -> None:
    auction = live()
    events = auction.advance(START + 5 * INTERVAL)
    assert prices(events) == [(START + k * INTERVAL, k, 5_000 + k * 1_000) for k in range(1, 6)]
    assert state(auction).price == 10_000


def test_falling_clock_price_at_each_step() -> None:
    auction = live(
        dutch={"direction": "falling", "start_price": 9_000, "limit_price": 6_000, "step": 1_000}
    )
    assert state(auction).price == 9_000
    events = auction.advance(START + 3 * INTERVAL)
    assert prices(events) == [
        (START + INTERVAL, 1, 8_000),
        (START + 2 * INTERVAL, 2, 7_000),
        (START + 3 * INTERVAL, 3, 6_000),
    ]


def test_price_holds_between_steps() -> None:
    auction = live()
    assert auction.advance(START + INTERVAL - 1) == []
    assert state(auction).price == 5_000
    assert auction.next_deadline() == START + INTERVAL


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"step": 1_500}, [6_500, 8_000, 9_500, 10_000]),
        (
            {"direction": "falling", "start_price": 9_000, "limit_price": 5_000, "step": 1_500},
            [7_500, 6_000, 5_000],
        ),
    ],
)
def test_clock_is_clamped_at_the_limit(settings: dict[str, Any], expected: list[int]) -> None:
    auction = live(dutch=settings)
    events = auction.advance(START + len(expected) * INTERVAL)
    assert [price for _, _, price in prices(events)] == expected
    assert not any(isinstance(ev, LotEnded) for ev in events)


def test_no_winner_after_a_full_interval_at_the_limit() -> None:
    auction = live()
    at_limit = START + 5 * INTERVAL
    auction.advance(at_limit)
    assert state(auction).price == 10_000
    assert auction.advance(at_limit + INTERVAL - 1) == []
    events = auction.advance(at_limit + INTERVAL)
    assert events == [
        LotEnded(at=at_limit + INTERVAL, lot="1", outcome="no_winner", winner=None, amount=None)
    ]
    assert auction.finished
    assert auction.next_deadline() is None


def test_clamped_limit_still_waits_a_full_interval() -> None:
    auction = live(dutch={"step": 1_500})
    at_limit = START + 4 * INTERVAL
    auction.advance(at_limit + INTERVAL - 1)
    assert state(auction).status == "live"
    out = accept(auction, "b1", at_limit + INTERVAL - 1)
    assert out.events[-1] == LotEnded(
        at=at_limit + INTERVAL - 1, lot="1", outcome="completed", winner="b1", amount=10_000
    )


# ----------------------------------------------------------------- accept
def test_first_accept_wins_at_the_current_price_and_ends_the_lot() -> None:
    auction = live()
    at = START + 2 * INTERVAL + 500
    out = accept(auction, "b2", at, bid_id="a1")
    assert out.accepted
    assert prices(out.events) == [(START + INTERVAL, 1, 6_000), (START + 2 * INTERVAL, 2, 7_000)]
    assert out.events[-2:] == [
        PriceAccepted(at=at, lot="1", bidder="b2", price=7_000, bid_id="a1", surrogate_by=""),
        LotEnded(at=at, lot="1", outcome="completed", winner="b2", amount=7_000),
    ]
    st = state(auction)
    assert (st.status, st.winner, st.winning_amount, st.ended_at) == ("ended", "b2", 7_000, at)
    assert auction.finished
    assert auction.next_deadline() is None
    assert auction.advance(START + 100 * INTERVAL) == []


def test_accept_at_the_start_instant_takes_the_start_price() -> None:
    auction = build(dutch_spec())
    out = accept(auction, "b3", START)
    assert out.events[-1] == LotEnded(
        at=START, lot="1", outcome="completed", winner="b3", amount=5_000
    )


def test_accept_at_exactly_the_step_instant_takes_the_new_price() -> None:
    auction = live()
    out = accept(auction, "b1", START + INTERVAL)
    assert [type(ev) for ev in out.events] == [PriceChanged, PriceAccepted, LotEnded]
    assert out.events[-1].amount == 6_000  # type: ignore[attr-defined]


def test_accept_one_ms_before_the_step_takes_the_old_price() -> None:
    auction = live()
    out = accept(auction, "b1", START + INTERVAL - 1)
    assert [type(ev) for ev in out.events] == [PriceAccepted, LotEnded]
    assert out.events[-1].amount == 5_000  # type: ignore[attr-defined]


def test_second_accept_is_too_late() -> None:
    auction = live()
    accept(auction, "b1", START + SEC)
    out = accept(auction, "b2", START + SEC)
    assert code(out) == Code.AUCTION_CLOSED
    (rej,) = out.events
    assert isinstance(rej, CommandRejected)
    assert (rej.actor, rej.command, rej.code) == ("b2", "accept_price", "auction_closed")
    assert state(auction).winner == "b1"


def test_accept_after_no_winner_is_closed() -> None:
    auction = live()
    out = accept(auction, "b1", START + 6 * INTERVAL)
    assert code(out) == Code.AUCTION_CLOSED
    assert [type(ev) for ev in out.events][-2:] == [LotEnded, CommandRejected]
    assert state(auction).outcome == "no_winner"


def test_accept_before_the_start_is_not_started() -> None:
    auction = build(dutch_spec())
    out = accept(auction, "b1", START - 1)
    assert code(out) == Code.AUCTION_NOT_STARTED
    assert state(auction).status == "scheduled"


def test_surrogate_accept_is_recorded() -> None:
    auction = live()
    out = accept(auction, "b1", START + 1, surrogate_by="official-7")
    (acc,) = [ev for ev in out.events if isinstance(ev, PriceAccepted)]
    assert acc.surrogate_by == "official-7"


def test_retried_accept_after_winning_is_a_duplicate_not_closed() -> None:
    auction = live()
    accept(auction, "b1", START + 1, bid_id="x")
    again = accept(auction, "b1", START + 2, bid_id="x")
    assert (again.accepted, again.duplicate, again.events) == (True, True, [])


@pytest.mark.parametrize(
    "command",
    [
        PlaceBid(bidder="b1", amount=6_000),
        CancelBid(bidder="b1"),
    ],
)
def test_bids_and_cancel_are_not_supported(command: Any) -> None:
    auction = live()
    out = auction.handle(command, START + SEC)
    assert code(out) == Code.NOT_SUPPORTED
    assert state(auction).status == "live"


def test_unknown_and_disqualified_bidders_cannot_accept() -> None:
    auction = live()
    assert code(accept(auction, "nobody", START + 1)) == Code.UNKNOWN_BIDDER
    auction.handle(Disqualify(official="o", bidder="b2"), START + 2)
    assert code(accept(auction, "b2", START + 3)) == Code.BIDDER_DISQUALIFIED
    assert state(auction).status == "live"


def test_disqualification_down_to_one_bidder_keeps_the_clock_running() -> None:
    auction = live(2)
    auction.handle(Disqualify(official="o", bidder="b2"), START + 1)
    assert state(auction).status == "live"
    assert accept(auction, "b1", START + INTERVAL).events[-1].amount == 6_000  # type: ignore[attr-defined]


def test_single_bidder_gives_insufficient_bidders() -> None:
    auction = build(dutch_spec(1))
    assert auction.advance(START) == [
        LotEnded(at=START, lot="1", outcome="insufficient_bidders", winner=None, amount=None)
    ]


# ------------------------------------------------------ official controls
def test_pause_freezes_the_clock_and_resume_shifts_it() -> None:
    auction = live()
    auction.handle(Pause(official="o"), START + 4 * SEC)
    assert auction.advance(START + 10 * INTERVAL) == []
    assert code(accept(auction, "b1", START + 10 * INTERVAL)) == Code.AUCTION_PAUSED
    assert state(auction).price == 5_000
    paused_for = 10 * INTERVAL - 4 * SEC
    auction.handle(Resume(official="o"), START + 10 * INTERVAL)
    assert auction.next_deadline() == START + INTERVAL + paused_for
    events = auction.advance(START + INTERVAL + paused_for)
    assert prices(events) == [(START + INTERVAL + paused_for, 1, 6_000)]


def test_extend_holds_the_current_price_longer() -> None:
    auction = live()
    auction.handle(Extend(official="o", ms=3 * SEC), START + SEC)
    assert auction.next_deadline() == START + INTERVAL + 3 * SEC
    assert auction.advance(START + INTERVAL) == []
    # the next interval counts from the delayed step
    auction.advance(START + INTERVAL + 3 * SEC)
    assert auction.next_deadline() == START + 2 * INTERVAL + 3 * SEC


# ------------------------------------------------------------ view/result
def test_view_shows_price_and_next_price() -> None:
    auction = live()
    view = auction_view(auction, "public")["lots"][0]
    assert (view["price"], view["next_price"]) == (5_000, 6_000)
    assert (view["limit_price"], view["direction"], view["step"]) == (10_000, "rising", 1_000)
    auction.advance(START + 5 * INTERVAL)
    view = auction_view(auction, "public")["lots"][0]
    assert (view["price"], view["next_price"]) == (10_000, 10_000)
    accept(auction, "b1", START + 5 * INTERVAL + 1)
    view = auction_view(auction, "public")["lots"][0]
    assert (view["price"], view["next_price"]) == (None, None)
    assert view["winner"]["bidder"] == "b1"


def test_result_of_a_rising_clock() -> None:
    auction = live()
    accept(auction, "b3", START + 3 * INTERVAL)
    lot = result(auction)["lots"][0]
    assert lot["outcome"] == "completed"
    assert lot["winner"]["amount"] == 8_000
    assert lot["savings"] == 2_000
    assert lot["savings_percent"] == "20"
    assert [entry["bidder"] for entry in lot["ranking"]] == ["b3"]


def test_replay_rebuilds_the_same_state() -> None:
    auction = build(dutch_spec())
    journal = auction.advance(START)
    journal += auction.handle(PlaceBid(bidder="b1", amount=1), START + 1).events
    journal += auction.handle(Pause(official="o"), START + 2).events
    journal += auction.handle(Resume(official="o"), START + 5 * SEC).events
    journal += auction.handle(AcceptPrice(bidder="b2", bid_id="z"), START + 3 * INTERVAL).events
    replayed = Auction.replay(auction.spec, journal)
    assert replayed.state_hash() == auction.state_hash()
    assert replayed.lot_states["1"].winning_amount == 7_000
