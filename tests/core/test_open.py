"""The ``open`` format: the English reverse auction with combinable closes.

Every test drives the engine with explicit ``now`` values (a fake clock, in
ms). ``open_spec`` defaults: 3 bidders, no sealed bids, ceiling 100 000,
decrement 100 against the best bid, 600 s, one phase.
"""

from __future__ import annotations

from typing import Any

import pytest

from auction.core import (
    AcceptPrice,
    Auction,
    CancelAuction,
    CancelBid,
    Code,
    Disqualify,
    Extend,
    Pause,
    PlaceBid,
    Resume,
    SpecError,
    auction_view,
    parse_spec,
    result,
)
from auction.core.events import (
    AuctionResumed,
    BidderDisqualified,
    BiddingOpened,
    BidPlaced,
    CloseExtended,
    CommandRejected,
    DeadlineExtended,
    LotEnded,
    LotStarted,
    PhaseStarted,
)
from tests.core.harness import Run, accepted, ints, rejected
from tests.factories import SEC, START, bidders, build, open_spec

DURATION = 600 * SEC
CLOSE = START + DURATION
FAR = START + 10**9


def percent_spec(percent: Any, **kw: Any) -> dict[str, Any]:
    settings = {"decrement": None, "decrement_percent": percent, **kw.pop("open", {})}
    return open_spec(3, open=settings, **kw)


def sealed_spec(amounts: list[int], **kw: Any) -> dict[str, Any]:
    return open_spec(len(amounts), bidders=bidders(len(amounts), amounts=amounts), **kw)


# ------------------------------------------------------------------- opening
def test_opens_at_start_and_closes_at_start_plus_duration() -> None:
    run = Run(open_spec(3))
    assert run.advance(START - 1) == []
    assert run.advance(START) == [
        LotStarted(at=START, lot="1", labels=["b1", "b2", "b3"]),
        BiddingOpened(at=START, lot="1", close_at=CLOSE, phase_ends=[]),
    ]
    assert run.auction.next_deadline() == CLOSE
    lot = run.view("public")
    assert (lot["status"], lot["stage"], lot["close_at"], lot["phase"]) == (
        "live",
        "bidding",
        CLOSE,
        1,
    )
    assert run.advance(CLOSE - 1) == []
    assert run.advance(CLOSE) == [
        LotEnded(at=CLOSE, lot="1", outcome="no_winner", winner=None, amount=None)
    ]
    assert run.view("public")["close_at"] is None


def test_lowest_bid_wins_with_savings() -> None:
    run = Run(open_spec(3))
    accepted(run.bid("b1", 95_000, START + SEC))
    accepted(run.bid("b2", 94_000, START + 2 * SEC))
    accepted(run.bid("b3", 90_000, START + 3 * SEC))
    accepted(run.bid("b1", 89_900, START + 4 * SEC))
    run.advance(FAR)
    end = run.ended()
    assert (end.at, end.outcome, end.winner, end.amount) == (CLOSE, "completed", "b1", 89_900)
    lot = result(run.auction)["lots"][0]
    assert lot["savings"] == 10_100
    assert [r["bidder"] for r in lot["ranking"]] == ["b1", "b3", "b2"]


# ------------------------------------------------------- decrement: best/own
def test_against_best_boundary() -> None:
    run = Run(open_spec(3))
    above = run.bid("b2", 100_001, START)
    rejected(above, Code.ABOVE_CEILING)
    assert above.rejection is not None and above.rejection.limit == 100_000
    accepted(run.bid("b1", 100_000, START))  # the first bid only has the ceiling
    small = run.bid("b2", 99_901, START + 1)
    rejected(small, Code.STEP_TOO_SMALL)
    assert small.rejection is not None and small.rejection.limit == 99_900  # the most it may bid
    rejected(run.bid("b2", 100_000, START + 2), Code.STEP_TOO_SMALL)
    accepted(run.bid("b2", 99_900, START + 3))
    # The leader itself must also beat the best (its own) bid.
    rejected(run.bid("b2", 99_801, START + 4), Code.STEP_TOO_SMALL)
    accepted(run.bid("b2", 99_800, START + 5))
    # A bidder whose own bid is worse is measured against the best, not its own.
    rejected(run.bid("b1", 99_750, START + 6), Code.STEP_TOO_SMALL)
    accepted(run.bid("b1", 99_700, START + 7))
    assert run.st.leader == "b1"


def test_against_own_boundary_and_bidding_above_the_leader() -> None:
    run = Run(open_spec(3, open={"against": "own"}))
    accepted(run.bid("b1", 50_000, START))
    # b2's first bid needs only the ceiling, even far above the best.
    accepted(run.bid("b2", 90_000, START + 1))
    rejected(run.bid("b2", 89_901, START + 2), Code.STEP_TOO_SMALL)
    accepted(run.bid("b2", 89_900, START + 3))
    rejected(run.bid("b1", 49_901, START + 4), Code.STEP_TOO_SMALL)
    accepted(run.bid("b1", 49_900, START + 5))
    assert run.st.leader == "b1"
    assert run.view("public")["against"] == "own"


def test_step_too_small_message_names_the_limit() -> None:
    run = Run(open_spec(3))
    accepted(run.bid("b1", 50_000, START))
    out = run.bid("b2", 49_950, START + 1)
    rejected(out, Code.STEP_TOO_SMALL)
    assert out.rejection is not None
    assert "499.00" in out.rejection.message


def test_percent_decrement_rounds_up_to_a_minor_unit() -> None:
    run = Run(percent_spec("1.5"))
    accepted(run.bid("b1", 33_333, START))
    # 1.5 % of 33 333 = 499.995 -> 500
    assert run.view("bidder", "b2")["max_bid"] == 32_833
    rejected(run.bid("b2", 32_834, START + 1), Code.STEP_TOO_SMALL)
    accepted(run.bid("b2", 32_833, START + 2))
    # 1.5 % of 32 833 = 492.495 -> 493
    rejected(run.bid("b3", 32_341, START + 3), Code.STEP_TOO_SMALL)
    accepted(run.bid("b3", 32_340, START + 4))
    assert run.view("public")["decrement_percent"] == "3/2"


def test_percent_decrement_exact_and_never_below_one_minor_unit() -> None:
    run = Run(percent_spec(1))
    accepted(run.bid("b1", 100_000, START))
    rejected(run.bid("b2", 99_001, START + 1), Code.STEP_TOO_SMALL)
    accepted(run.bid("b2", 99_000, START + 2))

    run = Run(percent_spec(1))
    accepted(run.bid("b1", 50, START))  # 1 % of 50 = 0.5 -> 1
    rejected(run.bid("b2", 50, START + 1), Code.STEP_TOO_SMALL)
    accepted(run.bid("b2", 49, START + 2))


def test_percent_decrement_against_own() -> None:
    run = Run(percent_spec(10, open={"against": "own"}))
    accepted(run.bid("b1", 1_005, START))
    accepted(run.bid("b2", 2_000, START + 1))
    # 10 % of 1 005 = 100.5 -> 101
    rejected(run.bid("b1", 905, START + 2), Code.STEP_TOO_SMALL)
    accepted(run.bid("b1", 904, START + 3))
    assert run.view("bidder", "b2")["max_bid"] == 1_800


def test_spec_minimal_step_is_the_default_decrement() -> None:
    spec = open_spec(2, minimal_step=700)
    spec["open"] = {"duration_s": 600}
    run = Run(spec)
    accepted(run.bid("b1", 10_000, START))
    rejected(run.bid("b2", 9_301, START + 1), Code.STEP_TOO_SMALL)
    accepted(run.bid("b2", 9_300, START + 2))


# -------------------------------------------------------- ceiling & first bid
def test_ceiling() -> None:
    run = Run(open_spec(3))
    rejected(run.bid("b1", 100_001, START), Code.ABOVE_CEILING)
    accepted(run.bid("b1", 100_000, START))


def test_ceiling_applies_even_against_own() -> None:
    run = Run(open_spec(3, open={"against": "own"}))
    accepted(run.bid("b1", 10_000, START))
    rejected(run.bid("b2", 100_001, START + 1), Code.ABOVE_CEILING)
    accepted(run.bid("b2", 100_000, START + 2))


@pytest.mark.parametrize("amount", [0, -1])
def test_amount_not_positive(amount: int) -> None:
    run = Run(open_spec(3))
    rejected(run.bid("b1", amount, START), Code.AMOUNT_NOT_POSITIVE)


def test_first_bid_of_each_bidder_against_best() -> None:
    run = Run(open_spec(3))
    accepted(run.bid("b1", 1, START))  # any amount up to the ceiling opens the auction
    assert run.view("bidder", "b2")["max_bid"] is None  # nothing positive left to bid
    rejected(run.bid("b2", 1, START + 1), Code.STEP_TOO_SMALL)


# ------------------------------------------------------------- sealed bids
def test_sealed_initial_bids_count_at_start() -> None:
    run = Run(sealed_spec([95_000, 97_000, 95_000]))
    run.advance(START)
    assert run.st.leader == "b1"  # tie with b3: submitted earlier
    public = run.view("public")
    assert [(e["rank"], e["amount"]) for e in public["ladder"]] == [
        (1, 95_000),
        (2, 95_000),
        (3, 97_000),
    ]
    assert public["bids"] == 0
    assert [e["bidder"] for e in run.view("official")["ladder"]] == ["b1", "b3", "b2"]
    rejected(run.bid("b3", 94_901, START), Code.STEP_TOO_SMALL)
    accepted(run.bid("b3", 94_900, START))
    run.advance(FAR)
    assert (run.ended().winner, run.ended().amount) == ("b3", 94_900)


def test_sealed_bids_only_no_live_bid() -> None:
    run = Run(sealed_spec([95_000, 93_000]))
    run.advance(FAR)
    end = run.ended()
    assert (end.outcome, end.winner, end.amount) == ("completed", "b2", 93_000)


def test_sealed_bids_against_own() -> None:
    run = Run(sealed_spec([95_000, 97_000], open={"against": "own"}))
    run.advance(START)
    assert run.view("bidder", "b2")["max_bid"] == 96_900
    accepted(run.bid("b2", 96_900, START))
    assert run.st.leader == "b1"


def test_sealed_bid_of_a_bidder_disqualified_before_start_is_ignored() -> None:
    run = Run(sealed_spec([90_000, 95_000, 97_000]))
    accepted(run.handle(Disqualify(official="o", bidder="b1"), START - SEC))
    run.advance(START)
    assert run.st.leader == "b2"
    accepted(run.bid("b3", 94_900, START + 1))
    public = run.view("public")
    assert len(public["ladder"]) == 2
    assert public["bidders"] == 2


# -------------------------------------------------------------- dynamic close
W = 60 * SEC


def dyn_spec(**settings: Any) -> dict[str, Any]:
    return open_spec(3, open={"dynamic_close_s": 60, **settings})


def test_bid_before_the_window_does_not_extend() -> None:
    run = Run(dyn_spec())
    out = run.bid("b1", 90_000, CLOSE - W - 1)
    assert [type(ev) for ev in out.events[-1:]] == [BidPlaced]
    assert not run.of(CloseExtended)
    run.advance(FAR)
    assert run.ended().at == CLOSE


def test_bid_at_window_start_moves_close_to_bid_plus_window() -> None:
    run = Run(dyn_spec())
    out = run.bid("b1", 90_000, CLOSE - W)
    accepted(out)
    # close - W + W is the close itself: nothing to move.
    assert not run.of(CloseExtended)
    assert run.st.close_at == CLOSE
    run.advance(FAR)
    assert run.ended().at == CLOSE


def test_bid_inside_the_window_extends() -> None:
    run = Run(dyn_spec())
    now = CLOSE - W + 10 * SEC
    out = run.bid("b1", 90_000, now)
    assert out.events[-2:] == [
        BidPlaced(at=now, lot="1", bidder="b1", amount=90_000, bid_id="", surrogate_by=""),
        CloseExtended(at=now, lot="1", close_at=now + W),
    ]
    assert run.view("public")["close_at"] == now + W
    assert run.auction.next_deadline() == now + W
    # The old close passes without ending the lot.
    assert run.advance(CLOSE) == []
    late = now + W - 1
    out = run.bid("b2", 89_000, late)
    assert out.events[-1] == CloseExtended(at=late, lot="1", close_at=late + W)
    rejected(run.bid("b3", 80_000, late + W), Code.AUCTION_CLOSED)
    end = run.ended()
    assert (end.at, end.winner, end.amount) == (late + W, "b2", 89_000)


def test_rejected_bid_inside_the_window_does_not_extend() -> None:
    run = Run(dyn_spec())
    accepted(run.bid("b1", 90_000, START))
    rejected(run.bid("b2", 89_950, CLOSE - SEC), Code.STEP_TOO_SMALL)
    assert not run.of(CloseExtended)
    run.advance(FAR)
    assert run.ended().at == CLOSE


def test_dynamic_close_cap_is_respected() -> None:
    run = Run(dyn_spec(dynamic_close_cap_s=30))
    cap = CLOSE + 30 * SEC
    out = run.bid("b1", 90_000, CLOSE - 1)
    assert out.events[-1] == CloseExtended(at=CLOSE - 1, lot="1", close_at=cap)
    out = run.bid("b2", 89_000, cap - 1)
    accepted(out)
    assert [type(ev) for ev in out.events] == [BidPlaced]  # already at the cap
    rejected(run.bid("b3", 88_000, cap), Code.AUCTION_CLOSED)
    assert run.ended().at == cap


def test_dynamic_close_cap_partial_extension() -> None:
    run = Run(dyn_spec(dynamic_close_cap_s=100))
    first = CLOSE - 30 * SEC
    assert run.bid("b1", 90_000, first).events[-1] == CloseExtended(
        at=first, lot="1", close_at=first + W
    )
    second = first + W - SEC
    assert run.bid("b2", 89_000, second).events[-1] == CloseExtended(
        at=second, lot="1", close_at=second + W
    )
    third = second + W - SEC  # would reach close + 148 s
    assert run.bid("b3", 88_000, third).events[-1] == CloseExtended(
        at=third, lot="1", close_at=CLOSE + 100 * SEC
    )
    run.advance(FAR)
    assert run.ended().at == CLOSE + 100 * SEC


def test_dynamic_close_cap_zero_never_extends() -> None:
    run = Run(dyn_spec(dynamic_close_cap_s=0))
    accepted(run.bid("b1", 90_000, CLOSE - 1))
    assert not run.of(CloseExtended)
    run.advance(FAR)
    assert run.ended().at == CLOSE


# ---------------------------------------------------------------- quiet close
def test_quiet_close_without_bids() -> None:
    run = Run(open_spec(3, open={"quiet_close_s": 30}))
    run.advance(START)
    assert run.view("public")["quiet_close_at"] == START + 30 * SEC
    assert run.auction.next_deadline() == START + 30 * SEC
    run.advance(FAR)
    end = run.ended()
    assert (end.at, end.outcome) == (START + 30 * SEC, "no_winner")


def test_quiet_close_restarts_with_every_accepted_bid() -> None:
    run = Run(open_spec(3, open={"quiet_close_s": 30}))
    accepted(run.bid("b1", 90_000, START + 20 * SEC))
    assert run.auction.next_deadline() == START + 50 * SEC
    rejected(run.bid("b2", 89_999, START + 40 * SEC), Code.STEP_TOO_SMALL)
    assert run.auction.next_deadline() == START + 50 * SEC  # a rejection does not count
    last = START + 50 * SEC - 1
    accepted(run.bid("b2", 89_000, last))
    rejected(run.bid("b3", 80_000, last + 30 * SEC), Code.AUCTION_CLOSED)
    end = run.ended()
    assert (end.at, end.winner, end.amount) == (last + 30 * SEC, "b2", 89_000)


def test_fixed_close_comes_first_when_bids_keep_coming() -> None:
    run = Run(open_spec(3, open={"duration_s": 60, "quiet_close_s": 30}))
    for i, t in enumerate(range(20, 60, 20)):
        accepted(run.bid(f"b{i + 1}", 90_000 - 1_000 * i, START + t * SEC))
    run.advance(FAR)
    assert run.ended().at == START + 60 * SEC


# -------------------------------------------------------------------- phases
def test_phases_start_at_the_right_times_and_close_after_the_last() -> None:
    run = Run(open_spec(3, open={"phases": 3}))
    events = run.advance(FAR)
    assert events == [
        LotStarted(at=START, lot="1", labels=["b1", "b2", "b3"]),
        BiddingOpened(
            at=START, lot="1", close_at=CLOSE, phase_ends=[START + 200 * SEC, START + 400 * SEC]
        ),
        PhaseStarted(at=START + 200 * SEC, lot="1", phase=2),
        PhaseStarted(at=START + 400 * SEC, lot="1", phase=3),
        LotEnded(at=CLOSE, lot="1", outcome="no_winner", winner=None, amount=None),
    ]


def test_bids_in_every_phase_and_phase_in_view() -> None:
    run = Run(open_spec(3, open={"phases": 2}))
    accepted(run.bid("b1", 90_000, START + 300 * SEC - 1))
    assert run.view("public")["phase"] == 1
    out = run.bid("b2", 89_000, START + 300 * SEC)
    accepted(out)
    assert out.events[0] == PhaseStarted(at=START + 300 * SEC, lot="1", phase=2)
    assert run.view("public")["phase"] == 2
    assert run.view("public")["phases"] == 2
    run.advance(FAR)
    assert run.ended().winner == "b2"


def test_dynamic_close_extends_only_the_last_phase() -> None:
    run = Run(open_spec(3, open={"phases": 2, "dynamic_close_s": 60}))
    mid = START + 300 * SEC
    accepted(run.bid("b1", 90_000, mid - SEC))  # end of phase 1 is not a close
    assert not run.of(CloseExtended)
    accepted(run.bid("b2", 89_000, CLOSE - SEC))
    assert run.of(CloseExtended)[-1].close_at == CLOSE - SEC + W


# ----------------------------------------------------------------- visibility
def test_rank_visibility_against_best_is_refused_because_it_would_leak_the_best() -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(open_spec(3, open={"visibility": "rank"}))
    assert err.value.field == "open.visibility"


def test_rank_visibility_hides_other_amounts() -> None:
    run = Run(open_spec(3, open={"visibility": "rank", "against": "own"}))
    accepted(run.bid("b1", 90_000, START + 1))
    accepted(run.bid("b2", 80_000, START + 2))
    accepted(run.bid("b3", 70_000, START + 3))
    public = run.view("public")
    assert [(e["rank"], e["amount"]) for e in public["ladder"]] == [
        (1, None),
        (2, None),
        (3, None),
    ]
    assert not {70_000, 80_000, 90_000} & ints(auction_view(run.auction, "public"))
    b2 = run.view("bidder", "b2")
    assert [(e["rank"], e["amount"]) for e in b2["ladder"]] == [
        (1, None),
        (2, 80_000),
        (3, None),
    ]
    assert b2["you"] == {"rank": 2, "label": "Bidder #2", "amount": 80_000, "you": True}
    official = run.view("official")
    assert [(e["bidder"], e["amount"]) for e in official["ladder"]] == [
        ("b3", 70_000),
        ("b2", 80_000),
        ("b1", 90_000),
    ]
    run.advance(FAR)
    public = run.view("public")
    assert [(e["bidder"], e["amount"]) for e in public["ladder"]] == [
        ("b3", 70_000),
        ("b2", 80_000),
        ("b1", 90_000),
    ]


def test_rank_visibility_against_own_keeps_the_best_hidden_from_max_bid() -> None:
    run = Run(open_spec(3, open={"visibility": "rank", "against": "own"}))
    accepted(run.bid("b1", 70_000, START + 1))
    accepted(run.bid("b2", 80_000, START + 2))
    b2 = run.view("bidder", "b2")
    assert b2["max_bid"] == 79_900
    assert 70_000 not in ints(auction_view(run.auction, "bidder", "b2"))


def test_price_visibility_shows_amounts_but_not_identities() -> None:
    run = Run(open_spec(3))
    accepted(run.bid("b1", 90_000, START + 1))
    accepted(run.bid("b2", 80_000, START + 2))
    public = run.view("public")
    assert [(e["rank"], e["label"], e["amount"]) for e in public["ladder"]] == [
        (1, "Bidder #2", 80_000),
        (2, "Bidder #1", 90_000),
        (None, "Bidder #3", None),
    ]
    assert all("bidder" not in e and "name" not in e for e in public["ladder"])
    assert public["bids"] == 2


# ------------------------------------------------------------------- ties
def test_equal_amounts_rank_the_earlier_bid_first() -> None:
    run = Run(open_spec(3, open={"against": "own"}))
    accepted(run.bid("b2", 60_000, START + 5))
    accepted(run.bid("b1", 60_000, START + 6))  # later, so ranks second
    accepted(run.bid("b3", 60_000, START + 7))
    assert run.st.leader == "b2"
    assert [e["bidder"] for e in run.view("official")["ladder"]] == ["b2", "b1", "b3"]
    run.advance(FAR)
    assert (run.ended().winner, run.ended().amount) == ("b2", 60_000)


def test_equal_amount_impossible_against_best() -> None:
    run = Run(open_spec(3))
    accepted(run.bid("b1", 60_000, START))
    rejected(run.bid("b2", 60_000, START + 1), Code.STEP_TOO_SMALL)


def test_tie_broken_by_a_lower_own_bid() -> None:
    run = Run(open_spec(3, open={"against": "own"}))
    accepted(run.bid("b1", 60_000, START + 1))
    accepted(run.bid("b2", 60_000, START + 2))
    accepted(run.bid("b2", 59_900, START + 3))
    assert run.st.leader == "b2"


# -------------------------------------------------------------------- max_bid
def test_max_bid_in_bidder_view() -> None:
    run = Run(open_spec(3))
    assert run.view("bidder", "b1")["max_bid"] is None  # not started
    run.advance(START)
    assert run.view("bidder", "b1")["max_bid"] == 100_000
    assert "max_bid" not in run.view("public")
    assert "max_bid" not in run.view("official")
    accepted(run.bid("b1", 80_000, START + 1))
    assert run.view("bidder", "b1")["max_bid"] == 79_900
    assert run.view("bidder", "b2")["max_bid"] == 79_900
    accepted(run.handle(Disqualify(official="o", bidder="b3"), START + 2))
    assert run.view("bidder", "b3")["max_bid"] is None
    run.advance(FAR)
    assert run.view("bidder", "b1")["max_bid"] is None


def test_max_bid_against_own() -> None:
    run = Run(open_spec(3, open={"against": "own"}))
    accepted(run.bid("b1", 80_000, START + 1))
    assert run.view("bidder", "b1")["max_bid"] == 79_900
    assert run.view("bidder", "b2")["max_bid"] == 100_000


def test_max_bid_is_always_accepted_and_one_more_is_not() -> None:
    run = Run(percent_spec("2.5"))
    accepted(run.bid("b1", 77_777, START))
    for i, bidder in enumerate(["b2", "b3", "b1", "b2"], start=1):
        limit = run.view("bidder", bidder)["max_bid"]
        rejected(run.bid(bidder, limit + 1, START + 2 * i), Code.STEP_TOO_SMALL)
        accepted(run.bid(bidder, limit, START + 2 * i + 1))


# ------------------------------------------------------------ pause & extend
def test_pause_resume_shifts_close_by_the_paused_time() -> None:
    run = Run(open_spec(3, open={"phases": 2, "quiet_close_s": 500}))
    accepted(run.bid("b1", 90_000, START + 50 * SEC))
    accepted(run.handle(Pause(official="o", reason="outage"), START + 100 * SEC))
    assert run.auction.next_deadline() is None
    assert run.view("public")["close_at"] == CLOSE
    assert run.advance(CLOSE + 100 * SEC) == []
    rejected(run.bid("b2", 80_000, START + 200 * SEC), Code.AUCTION_PAUSED)
    out = run.handle(Resume(official="o"), START + 400 * SEC)
    assert out.events == [
        AuctionResumed(at=START + 400 * SEC, lot="", official="o", shift=300 * SEC)
    ]
    assert run.st.close_at == CLOSE + 300 * SEC
    assert run.st.phase_ends == [START + 600 * SEC]
    assert run.st.quiet_at == START + 850 * SEC
    assert run.auction.next_deadline() == START + 600 * SEC
    accepted(run.bid("b2", 80_000, START + 401 * SEC))
    run.advance(FAR)
    assert run.of(PhaseStarted)[0].at == START + 600 * SEC
    end = run.ended()
    assert (end.at, end.winner) == (CLOSE + 300 * SEC, "b2")


def test_bid_at_shifted_close_boundary() -> None:
    run = Run(open_spec(3))
    accepted(run.handle(Pause(official="o"), START + 10 * SEC))
    accepted(run.handle(Resume(official="o"), START + 25 * SEC))
    accepted(run.bid("b1", 90_000, CLOSE + 15 * SEC - 1))
    rejected(run.bid("b2", 80_000, CLOSE + 15 * SEC), Code.AUCTION_CLOSED)


def test_pause_at_the_close_is_too_late() -> None:
    run = Run(open_spec(3))
    out = run.handle(Pause(official="o"), CLOSE)
    rejected(out, Code.AUCTION_CLOSED)
    assert isinstance(out.events[0], LotStarted)
    assert out.events[-2] == LotEnded(
        at=CLOSE, lot="1", outcome="no_winner", winner=None, amount=None
    )


def test_official_extend_moves_the_close() -> None:
    run = Run(open_spec(3))
    out = run.handle(Extend(official="o", ms=60 * SEC), START + 100 * SEC)
    accepted(out)
    assert out.events[-1] == DeadlineExtended(
        at=START + 100 * SEC, lot="1", official="o", ms=60 * SEC
    )
    assert run.view("public")["close_at"] == CLOSE + 60 * SEC
    assert run.auction.next_deadline() == CLOSE + 60 * SEC
    accepted(run.bid("b1", 90_000, CLOSE))
    accepted(run.bid("b2", 89_000, CLOSE + 60 * SEC - 1))
    rejected(run.bid("b3", 88_000, CLOSE + 60 * SEC), Code.AUCTION_CLOSED)
    assert run.ended().at == CLOSE + 60 * SEC


def test_extend_rejections() -> None:
    run = Run(open_spec(3))
    rejected(run.handle(Extend(official="o", ms=0), START), Code.INVALID_EXTENSION)
    rejected(run.handle(Extend(official="o", ms=-1), START), Code.INVALID_EXTENSION)
    rejected(run.handle(Extend(official="o", ms=SEC, lot="x"), START), Code.UNKNOWN_LOT)
    rejected(run.handle(Extend(official="o", ms=SEC), CLOSE), Code.AUCTION_CLOSED)


# --------------------------------------------------------------- boundaries
def test_bid_at_close_minus_one_ms_accepted_at_close_rejected() -> None:
    run = Run(open_spec(3))
    accepted(run.bid("b1", 90_000, CLOSE - 1))
    out = run.bid("b2", 80_000, CLOSE)
    rejected(out, Code.AUCTION_CLOSED)
    assert out.events[0] == LotEnded(
        at=CLOSE, lot="1", outcome="completed", winner="b1", amount=90_000
    )
    assert out.events[1].at == CLOSE


def test_bid_at_start_accepted_one_ms_before_not_started() -> None:
    run = Run(open_spec(3))
    rejected(run.bid("b1", 90_000, START - 1), Code.AUCTION_NOT_STARTED)
    accepted(run.bid("b1", 90_000, START))


def test_outcome_carries_deadline_events_dated_at_their_own_deadline() -> None:
    run = Run(open_spec(3, open={"phases": 3}))
    now = START + 450 * SEC
    out = run.bid("b1", 90_000, now)
    accepted(out)
    assert [(type(ev).__name__, ev.at) for ev in out.events] == [
        ("LotStarted", START),
        ("BiddingOpened", START),
        ("PhaseStarted", START + 200 * SEC),
        ("PhaseStarted", START + 400 * SEC),
        ("BidPlaced", now),
    ]


def test_late_bid_outcome_carries_the_close_at_its_own_time() -> None:
    run = Run(open_spec(3, open={"quiet_close_s": 10}))
    accepted(run.bid("b1", 90_000, START + 5 * SEC))
    now = START + 500 * SEC
    out = run.bid("b2", 80_000, now)
    rejected(out, Code.AUCTION_CLOSED)
    assert [(type(ev).__name__, ev.at) for ev in out.events] == [
        ("LotEnded", START + 15 * SEC),
        ("CommandRejected", now),
    ]


# ---------------------------------------------------------- rejection codes
def test_unknown_bidder() -> None:
    run = Run(open_spec(3))
    rejected(run.bid("zz", 90_000, START), Code.UNKNOWN_BIDDER)
    rejected(run.handle(Disqualify(official="o", bidder="zz"), START), Code.UNKNOWN_BIDDER)


def test_bidder_disqualified() -> None:
    run = Run(open_spec(3))
    accepted(run.handle(Disqualify(official="o", bidder="b2"), START))
    rejected(run.bid("b2", 90_000, START + 1), Code.BIDDER_DISQUALIFIED)


def test_auction_paused_and_pause_codes() -> None:
    run = Run(open_spec(3))
    accepted(run.handle(Pause(official="o"), START + 1))
    rejected(run.bid("b1", 90_000, START + 2), Code.AUCTION_PAUSED)
    rejected(run.handle(Pause(official="o"), START + 3), Code.ALREADY_PAUSED)
    accepted(run.handle(Resume(official="o"), START + 4))
    rejected(run.handle(Resume(official="o"), START + 5), Code.NOT_PAUSED)


def test_cancel_and_accept_price_not_supported() -> None:
    run = Run(open_spec(3))
    accepted(run.bid("b1", 90_000, START))
    rejected(run.handle(CancelBid(bidder="b1"), START + 1), Code.NOT_SUPPORTED)
    rejected(run.handle(AcceptPrice(bidder="b1"), START + 2), Code.NOT_SUPPORTED)
    assert run.st.best["b1"] == 90_000


def test_unknown_lot_and_lot_required() -> None:
    run = Run(open_spec(3))
    rejected(run.handle(PlaceBid(bidder="b1", amount=1, lot="x"), START), Code.UNKNOWN_LOT)
    lot = {k: v for k, v in open_spec(2).items() if k not in ("id", "start_at")}
    multi = {
        "id": "m1",
        "start_at": START,
        "lots": [{**lot, "id": "a"}, {**lot, "id": "b"}],
    }
    run = Run(multi)
    rejected(run.bid("b1", 90_000, START), Code.LOT_REQUIRED)
    accepted(run.handle(PlaceBid(bidder="b1", amount=90_000, lot="b"), START))


def test_rejections_are_counted_for_officials() -> None:
    run = Run(open_spec(3))
    rejected(run.bid("b1", 100_001, START), Code.ABOVE_CEILING)
    rejected(run.bid("b1", 0, START), Code.AMOUNT_NOT_POSITIVE)
    assert run.view("official")["rejections"] == 2
    assert "rejections" not in run.view("public")


# ------------------------------------------------------------- disqualifying
def test_disqualifying_the_leader_promotes_the_next_best() -> None:
    run = Run(open_spec(3))
    accepted(run.bid("b2", 90_000, START + 1))
    accepted(run.bid("b1", 80_000, START + 2))
    accepted(run.handle(Disqualify(official="o", bidder="b1"), START + 3))
    assert run.st.leader == "b2"
    # The best is b2's 90 000 again.
    accepted(run.bid("b3", 89_900, START + 4))
    run.advance(FAR)
    assert run.ended().winner == "b3"


def test_disqualification_leaving_one_bidder_ends_the_lot() -> None:
    run = Run(open_spec(2))
    accepted(run.bid("b1", 90_000, START + 1))
    out = run.handle(Disqualify(official="o", bidder="b2"), START + 2)
    assert out.events[-1] == LotEnded(
        at=START + 2, lot="1", outcome="completed", winner="b1", amount=90_000
    )


def test_disqualification_leaving_one_bidder_without_a_bid() -> None:
    run = Run(open_spec(2))
    accepted(run.bid("b1", 90_000, START + 1))
    out = run.handle(Disqualify(official="o", bidder="b1"), START + 2)
    assert out.events[-1] == LotEnded(
        at=START + 2, lot="1", outcome="no_winner", winner=None, amount=None
    )


def test_disqualification_during_a_pause_ends_the_lot_at_resume() -> None:
    run = Run(open_spec(2))
    accepted(run.bid("b1", 80_000, START + SEC))
    accepted(run.handle(Pause(official="o"), START + 2 * SEC))
    out = run.handle(Disqualify(official="o", bidder="b2"), START + 5 * SEC)
    assert [type(ev) for ev in out.events] == [BidderDisqualified]
    assert run.auction.next_deadline() is None
    out = run.handle(Resume(official="o"), START + 10 * SEC)
    assert out.events[-1] == LotEnded(
        at=START + 10 * SEC, lot="1", outcome="completed", winner="b1", amount=80_000
    )


def test_fewer_than_two_bidders() -> None:
    run = Run(sealed_spec([70_000]))
    assert run.advance(START) == [
        LotEnded(at=START, lot="1", outcome="insufficient_bidders", winner="b1", amount=70_000)
    ]
    run = Run(open_spec(1))
    assert run.advance(START) == [
        LotEnded(at=START, lot="1", outcome="insufficient_bidders", winner=None, amount=None)
    ]
    rejected(run.bid("b1", 10, START + 1), Code.AUCTION_CLOSED)


def test_cancel_auction() -> None:
    run = Run(open_spec(3))
    accepted(run.bid("b1", 90_000, START + 1))
    accepted(run.handle(CancelAuction(official="o"), START + 2))
    assert (run.st.outcome, run.st.winner) == ("cancelled", None)
    rejected(run.bid("b2", 80_000, START + 3), Code.AUCTION_CLOSED)


# --------------------------------------------------------------- surrogates
def test_surrogate_bid_is_validated_and_recorded() -> None:
    run = Run(open_spec(3))
    accepted(run.bid("b1", 90_000, START))
    out = run.bid("b2", 89_950, START + 1, bid_id="s1", surrogate_by="officer")
    rejected(out, Code.STEP_TOO_SMALL)
    rej = out.events[-1]
    assert isinstance(rej, CommandRejected)
    assert (rej.actor, rej.surrogate_by, rej.amount) == ("b2", "officer", 89_950)
    out = run.bid("b2", 89_900, START + 2, bid_id="s2", surrogate_by="officer")
    assert out.events == [
        BidPlaced(
            at=START + 2,
            lot="1",
            bidder="b2",
            amount=89_900,
            bid_id="s2",
            surrogate_by="officer",
        )
    ]


# ---------------------------------------------------------- idempotence/replay
def test_duplicate_bid_id() -> None:
    run = Run(open_spec(3))
    accepted(run.bid("b1", 90_000, START, bid_id="x"))
    again = run.bid("b1", 90_000, START + 1, bid_id="x")
    assert again.duplicate and again.accepted and again.events == []
    # The same bid_id from another bidder is another bid.
    rejected(run.bid("b2", 90_000, START + 2, bid_id="x"), Code.STEP_TOO_SMALL)
    assert run.st.bids == 1


def test_replay_and_snapshot_rebuild_the_same_state() -> None:
    run = Run(
        sealed_spec(
            [99_000, 98_000, 97_000],
            open={"dynamic_close_s": 30, "phases": 2, "quiet_close_s": 1000},
        )
    )
    accepted(run.bid("b1", 96_000, START + SEC))
    rejected(run.bid("b2", 95_950, START + 2 * SEC), Code.STEP_TOO_SMALL)
    accepted(run.handle(Pause(official="o"), START + 3 * SEC))
    accepted(run.handle(Resume(official="o"), START + 13 * SEC))
    accepted(run.handle(Extend(official="o", ms=5 * SEC), START + 14 * SEC))
    half = len(run.journal)
    snapshot = Auction.replay(run.spec, run.journal[:half]).snapshot()
    accepted(run.bid("b3", 95_000, CLOSE + 15 * SEC - 1))
    run.advance(FAR)
    assert run.ended().at == CLOSE + 15 * SEC - 1 + 30 * SEC
    assert Auction.replay(run.spec, run.journal).state_hash() == run.auction.state_hash()
    restored = Auction.restore(run.spec, snapshot)
    for ev in run.journal[half:]:
        restored.apply(ev)
    assert restored.state_hash() == run.auction.state_hash()
    assert build(open_spec(3)).state_hash() == Run(open_spec(3)).auction.state_hash()
