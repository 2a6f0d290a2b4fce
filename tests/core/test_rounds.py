"""The ``rounds`` format: ProZorro's turn-based reverse auction.

Every test drives the engine with explicit ``now`` values (a fake clock, in
ms). With the default settings the lot runs: a 300 s pause, then 3 rounds of
one 120 s turn per bidder separated by 120 s pauses (9 + 6·N minutes).
"""

from __future__ import annotations

from fractions import Fraction
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
    auction_view,
    result,
)
from auction.core.events import (
    AuctionResumed,
    BidCancelled,
    BidderDisqualified,
    BidPlaced,
    CommandRejected,
    Event,
    LotEnded,
    LotStarted,
    PauseStarted,
    RoundStarted,
    TurnEnded,
    TurnStarted,
)
from tests.core.harness import Run, accepted, ints, rejected
from tests.factories import SEC, START, build, rounds_spec

MIN = 60 * SEC
FIRST_PAUSE = 300 * SEC
TURN = 120 * SEC
PAUSE = 120 * SEC
R1 = START + FIRST_PAUSE
"""Round 1 (and the first turn) starts here with the default settings."""
FAR = START + 10**9


def turn_at(n: int, rnd: int, k: int) -> int:
    """Start of the ``k``-th turn (0-based) of round ``rnd`` with ``n`` bidders."""
    return R1 + (rnd - 1) * (n * TURN + PAUSE) + k * TURN


def end_at(n: int, rounds: int = 3) -> int:
    return R1 + rounds * n * TURN + (rounds - 1) * PAUSE


def strings(obj: Any) -> set[str]:
    """Every string (keys included) anywhere in a JSON-like structure."""
    if isinstance(obj, str):
        return {obj}
    if isinstance(obj, dict):
        out: set[str] = set()
        for k, v in obj.items():
            out |= {k} | strings(v)
        return out
    if isinstance(obj, list):
        return set().union(*(strings(v) for v in obj)) if obj else set()
    return set()


# ----------------------------------------------------------------- timeline
@pytest.mark.parametrize("n", [2, 3, 5])
def test_full_prozorro_timeline_exact(n: int) -> None:
    """300 s pause, 3 rounds of 120 s turns, 120 s pauses: 9 + 6·N minutes."""
    run = Run(rounds_spec(n))
    events = run.advance(FAR)
    order = [f"b{i}" for i in range(n, 0, -1)]  # highest sealed bid first
    expected: list[Event] = [
        LotStarted(at=START, lot="1", labels=order),
        PauseStarted(at=START, lot="1", before_round=1, deadline=R1),
    ]
    t = R1
    for rnd in (1, 2, 3):
        if rnd > 1:
            expected.append(PauseStarted(at=t, lot="1", before_round=rnd, deadline=t + PAUSE))
            t += PAUSE
        expected.append(RoundStarted(at=t, lot="1", round=rnd, order=order))
        for k, bidder in enumerate(order):
            assert t == turn_at(n, rnd, k)
            expected.append(TurnStarted(at=t, lot="1", round=rnd, bidder=bidder, deadline=t + TURN))
            amount = 90_000 + 1_000 * (int(bidder[1:]) - 1)
            t += TURN
            expected.append(
                TurnEnded(at=t, lot="1", round=rnd, bidder=bidder, amount=amount, changed=False)
            )
    expected.append(LotEnded(at=t, lot="1", outcome="completed", winner="b1", amount=90_000))
    assert events == expected
    assert t == end_at(n)
    assert t - START == (9 + 6 * n) * MIN
    assert run.auction.finished
    assert run.auction.next_deadline() is None


def test_stage_timings_from_events_with_three_bidders() -> None:
    run = Run(rounds_spec(3))
    run.advance(FAR)
    pauses = [(ev.at, ev.deadline - ev.at) for ev in run.of(PauseStarted)]
    assert pauses == [
        (START, 300 * SEC),
        (turn_at(3, 2, 0) - PAUSE, 120 * SEC),
        (turn_at(3, 3, 0) - PAUSE, 120 * SEC),
    ]
    turns = run.of(TurnStarted)
    assert len(turns) == 9
    assert all(ev.deadline - ev.at == 120 * SEC for ev in turns)
    ends = run.of(TurnEnded)
    assert [ev.at for ev in ends] == [ev.deadline for ev in turns]
    (end,) = run.of(LotEnded)
    assert end.at - START == 27 * MIN


def test_custom_timings_and_round_count() -> None:
    spec = rounds_spec(2, rounds={"rounds": 2, "first_pause_s": 10, "pause_s": 5, "turn_s": 30})
    run = Run(spec)
    events = run.advance(FAR)
    kinds = [(type(ev).__name__, ev.at - START) for ev in events]
    assert kinds == [
        ("LotStarted", 0),
        ("PauseStarted", 0),
        ("RoundStarted", 10 * SEC),
        ("TurnStarted", 10 * SEC),
        ("TurnEnded", 40 * SEC),
        ("TurnStarted", 40 * SEC),
        ("TurnEnded", 70 * SEC),
        ("PauseStarted", 70 * SEC),
        ("RoundStarted", 75 * SEC),
        ("TurnStarted", 75 * SEC),
        ("TurnEnded", 105 * SEC),
        ("TurnStarted", 105 * SEC),
        ("TurnEnded", 135 * SEC),
        ("LotEnded", 135 * SEC),
    ]


def test_single_round_has_no_pause_after_it() -> None:
    run = Run(rounds_spec(2, rounds={"rounds": 1}))
    run.advance(FAR)
    assert len(run.of(PauseStarted)) == 1
    (end,) = run.of(LotEnded)
    assert end.at == R1 + 2 * TURN


def test_stage_deadline_and_turn_in_views() -> None:
    run = Run(rounds_spec(3))
    assert run.auction.next_deadline() == START
    assert run.view("public")["stage"] == "scheduled"
    run.advance(START)
    lot = run.view("public")
    assert (lot["status"], lot["stage"], lot["deadline"], lot["round"]) == (
        "live",
        "pause",
        R1,
        0,
    )
    assert lot["turn"] is None
    run.advance(R1)
    assert run.auction.next_deadline() == R1 + TURN
    b3 = run.view("bidder", "b3")
    b1 = run.view("bidder", "b1")
    assert (b3["stage"], b3["round"], b3["deadline"]) == ("turn", 1, R1 + TURN)
    assert b3["your_turn"] is True
    assert b1["your_turn"] is False
    assert b3["turn"] == b1["turn"] == "Bidder #1"  # b3 was labelled first (turn order)
    run.advance(R1 + TURN)
    assert run.view("bidder", "b2")["your_turn"] is True


def test_next_deadline_tracks_every_stage() -> None:
    run = Run(rounds_spec(2))
    seen = []
    t = run.auction.next_deadline()
    while t is not None:
        seen.append(t - START)
        run.advance(t)
        t = run.auction.next_deadline()
    assert seen == [
        0,
        300 * SEC,
        420 * SEC,
        540 * SEC,
        660 * SEC,
        780 * SEC,
        900 * SEC,
        1020 * SEC,
        1140 * SEC,
        1260 * SEC,
    ]
    assert seen[-1] == (9 + 6 * 2) * MIN


def test_outcome_carries_deadline_events_dated_at_their_own_deadline() -> None:
    run = Run(rounds_spec(3))
    now = R1 + TURN + 5 * SEC  # b3's turn is over, b2's is on
    out = run.bid("b2", 90_000, now)
    accepted(out)
    assert [(type(ev).__name__, ev.at) for ev in out.events] == [
        ("LotStarted", START),
        ("PauseStarted", START),
        ("RoundStarted", R1),
        ("TurnStarted", R1),
        ("TurnEnded", R1 + TURN),
        ("TurnStarted", R1 + TURN),
        ("BidPlaced", now),
    ]
    turn = out.events[5]
    assert isinstance(turn, TurnStarted)
    assert (turn.bidder, turn.deadline) == ("b2", R1 + 2 * TURN)


def test_rejected_outcome_also_carries_deadline_events_first() -> None:
    run = Run(rounds_spec(2))
    now = end_at(2) + 7 * SEC
    out = run.bid("b1", 80_000, now)
    rejected(out, Code.AUCTION_CLOSED)
    assert out.events[-1].at == now
    *deadline_events, _ = out.events
    assert all(ev.at <= end_at(2) for ev in deadline_events)
    assert isinstance(deadline_events[-1], LotEnded)
    assert deadline_events[-1].at == end_at(2)


# --------------------------------------------------------------- turn order
def test_round_one_order_is_highest_sealed_bid_first() -> None:
    run = Run(rounds_spec(3, amounts=[91_000, 95_000, 90_000]))
    run.advance(R1)
    (rnd,) = run.of(RoundStarted)
    assert rnd.order == ["b2", "b1", "b3"]


def test_equal_sealed_bids_later_submitted_goes_first() -> None:
    spec = rounds_spec(3)
    spec["bidders"] = [
        {"id": "early", "amount": 90_000, "submitted_at": "2024-01-01T10:00:00Z"},
        {"id": "late", "amount": 90_000, "submitted_at": "2024-01-01T10:00:05Z"},
        {"id": "low", "amount": 80_000, "submitted_at": "2024-01-01T09:00:00Z"},
    ]
    run = Run(spec)
    run.advance(R1)
    (rnd,) = run.of(RoundStarted)
    assert rnd.order == ["late", "early", "low"]
    run.advance(FAR)
    assert run.st.winner == "low"


def test_order_recomputed_each_round() -> None:
    run = Run(rounds_spec(3))  # b1 90k, b2 91k, b3 92k
    accepted(run.bid("b3", 85_000, turn_at(3, 1, 0) + SEC))
    run.advance(turn_at(3, 2, 0))
    assert run.of(RoundStarted)[-1].order == ["b2", "b1", "b3"]
    accepted(run.bid("b2", 80_000, turn_at(3, 2, 0) + SEC))
    run.advance(turn_at(3, 3, 0))
    assert run.of(RoundStarted)[-1].order == ["b1", "b3", "b2"]
    assert [ev.bidder for ev in run.of(TurnStarted)[-1:]] == ["b1"]


def test_tied_posts_later_post_goes_first_and_earlier_wins() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 85_000, turn_at(3, 1, 0) + 10 * SEC))
    accepted(run.bid("b2", 85_000, turn_at(3, 1, 1) + 10 * SEC))
    run.advance(turn_at(3, 2, 0))
    assert run.of(RoundStarted)[-1].order == ["b1", "b2", "b3"]
    run.advance(FAR)
    (end,) = run.of(LotEnded)
    assert (end.outcome, end.winner, end.amount) == ("completed", "b3", 85_000)
    ranking = [r["bidder"] for r in result(run.auction)["lots"][0]["ranking"]]
    assert ranking == ["b3", "b2", "b1"]


# ---------------------------------------------------------------- step rule
def test_step_rule_boundary_against_own_amount() -> None:
    run = Run(rounds_spec(3))
    run.advance(R1)
    too_much = run.bid("b3", 91_001, R1)
    rejected(too_much, Code.STEP_TOO_SMALL)
    assert too_much.rejection is not None and too_much.rejection.limit == 91_000  # for the pages
    rejected(run.bid("b3", 92_000, R1), Code.STEP_TOO_SMALL)
    # 91 000 is above the leader's 90 000: the step is measured from its OWN amount.
    accepted(run.bid("b3", 91_000, R1))
    run.advance(turn_at(3, 1, 2))
    rejected(run.bid("b1", 89_001, turn_at(3, 1, 2)), Code.STEP_TOO_SMALL)
    accepted(run.bid("b1", 89_000, turn_at(3, 1, 2)))
    run.advance(turn_at(3, 2, 0))
    ends = run.of(TurnEnded)
    assert [(e.bidder, e.amount, e.changed) for e in ends] == [
        ("b3", 91_000, True),
        ("b2", 91_000, False),
        ("b1", 89_000, True),
    ]


def test_step_rule_uses_committed_amount_not_the_pending_post() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 80_000, R1))
    # The second post is still measured against 92 000, not the pending 80 000.
    accepted(run.bid("b3", 91_000, R1 + SEC))
    run.advance(R1 + TURN)
    assert run.of(TurnEnded)[-1].amount == 91_000
    t = turn_at(3, 2, 0)  # round 2: b3 (91k, later) before b2 (91k, sealed)
    run.advance(t)
    assert run.of(TurnStarted)[-1].bidder == "b3"
    rejected(run.bid("b3", 90_001, t), Code.STEP_TOO_SMALL)
    accepted(run.bid("b3", 90_000, t))


@pytest.mark.parametrize("amount", [0, -1, -90_000])
def test_amount_must_be_positive(amount: int) -> None:
    run = Run(rounds_spec(3))
    rejected(run.bid("b3", amount, R1), Code.AMOUNT_NOT_POSITIVE)


def test_smallest_positive_amount_is_accepted() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 1, R1))
    run.advance(FAR)
    assert (run.st.winner, run.st.winning_amount) == ("b3", 1)


def test_max_bid_in_bidder_view() -> None:
    run = Run(rounds_spec(3))
    run.advance(START)
    assert run.view("bidder", "b3")["max_bid"] is None  # pause: nobody's turn
    run.advance(R1)
    assert run.view("bidder", "b3")["max_bid"] == 91_000
    assert run.view("bidder", "b1")["max_bid"] is None
    assert "max_bid" not in run.view("public")
    run.advance(turn_at(3, 1, 2))
    assert run.view("bidder", "b1")["max_bid"] == 89_000
    assert run.view("bidder", "b3")["max_bid"] is None


def test_max_bid_none_when_step_leaves_nothing_positive() -> None:
    spec = rounds_spec(2, amounts=[1_000, 5_000])
    run = Run(spec)
    run.advance(turn_at(2, 1, 1))
    assert run.view("bidder", "b1")["max_bid"] is None
    rejected(run.bid("b1", 1, turn_at(2, 1, 1)), Code.STEP_TOO_SMALL)


# -------------------------------------------------------- posting & cancel
def test_several_posts_last_counts() -> None:
    run = Run(rounds_spec(3))
    for i, amount in enumerate([88_000, 85_000, 87_500]):
        accepted(run.bid("b3", amount, R1 + i * SEC))
    run.advance(R1 + TURN)
    assert len(run.of(BidPlaced)) == 3
    end = run.of(TurnEnded)[-1]
    assert (end.bidder, end.amount, end.changed) == ("b3", 87_500, True)


def test_cancel_reverts_to_amount_before_the_turn() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 85_000, R1 + SEC))
    accepted(run.bid("b3", 84_000, R1 + 2 * SEC))
    out = run.cancel("b3", R1 + 3 * SEC, bid_id="c1")
    accepted(out)
    assert out.events == [
        BidCancelled(at=R1 + 3 * SEC, lot="1", bidder="b3", bid_id="c1", surrogate_by="")
    ]
    assert run.view("official")["pending"] is None
    run.advance(R1 + TURN)
    end = run.of(TurnEnded)[-1]
    assert (end.amount, end.changed) == (92_000, False)
    assert run.st.amounts["b3"] == 92_000


def test_post_after_cancel_counts() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 85_000, R1 + SEC))
    accepted(run.cancel("b3", R1 + 2 * SEC))
    accepted(run.bid("b3", 88_000, R1 + 3 * SEC))
    run.advance(R1 + TURN)
    assert run.of(TurnEnded)[-1].amount == 88_000


def test_cancel_with_nothing_posted_is_a_harmless_no_op() -> None:
    """ProZorro answers a cancel (-1) with nothing posted as a success: so do we."""
    run = Run(rounds_spec(3))
    run.advance(R1)
    out = run.cancel("b3", R1 + SEC, bid_id="c1")
    assert accepted(out) == [
        BidCancelled(at=R1 + SEC, lot="1", bidder="b3", bid_id="c1", surrogate_by="")
    ]
    assert run.st.pending is None
    assert run.view("bidder", "b3")["max_bid"] == 91_000
    # A retry of the same id is its duplicate, even after a restart from the journal.
    seq = run.auction.state.seq
    again = run.cancel("b3", R1 + 2 * SEC, bid_id="c1")
    assert (again.accepted, again.duplicate, again.events) == (True, True, [])
    assert run.auction.state.seq == seq
    restarted = Auction.replay(run.spec, run.journal)
    assert restarted.state_hash() == run.auction.state_hash()
    retried = restarted.handle(CancelBid(bidder="b3", bid_id="c1"), R1 + 3 * SEC)
    assert (retried.accepted, retried.duplicate, retried.events) == (True, True, [])
    # A cancel after a cancel changes nothing either; the turn keeps the amount.
    accepted(run.bid("b3", 85_000, R1 + 4 * SEC))
    accepted(run.cancel("b3", R1 + 5 * SEC, bid_id="c2"))
    accepted(run.cancel("b3", R1 + 6 * SEC, bid_id="c3"))
    run.advance(R1 + TURN)
    end = run.of(TurnEnded)[-1]
    assert (end.bidder, end.amount, end.changed) == ("b3", 92_000, False)
    assert run.st.amounts["b3"] == 92_000
    assert not run.of(CommandRejected)


def test_a_cancel_out_of_turn_is_still_not_your_turn() -> None:
    run = Run(rounds_spec(3))
    run.advance(START)
    rejected(run.cancel("b3", START + SEC), Code.NOT_YOUR_TURN)  # the pause before round 1
    run.advance(R1)
    rejected(run.cancel("b1", R1 + SEC), Code.NOT_YOUR_TURN)  # b3's turn
    run.advance(FAR)
    rejected(run.cancel("b3", FAR), Code.AUCTION_CLOSED)


def test_a_surrogate_cancel_with_nothing_posted_is_marked() -> None:
    run = Run(rounds_spec(3))
    run.advance(R1)
    out = run.cancel("b3", R1 + SEC, bid_id="s1", surrogate_by="clerk")
    (cancelled,) = accepted(out)
    assert isinstance(cancelled, BidCancelled) and cancelled.surrogate_by == "clerk"


def test_cancel_does_not_reach_back_into_an_earlier_turn() -> None:
    run = Run(rounds_spec(2))
    accepted(run.bid("b2", 85_000, R1))
    t = turn_at(2, 2, 0)
    run.advance(t)
    assert run.of(TurnStarted)[-1].bidder == "b1"
    run.advance(turn_at(2, 2, 1))
    assert run.of(TurnStarted)[-1].bidder == "b2"
    accepted(run.cancel("b2", turn_at(2, 2, 1)))  # nothing posted in this turn: no-op
    run.advance(FAR)
    assert run.st.amounts["b2"] == 85_000


def test_doing_nothing_keeps_the_amount() -> None:
    run = Run(rounds_spec(3))
    run.advance(FAR)
    ends = run.of(TurnEnded)
    assert len(ends) == 9
    assert all(not e.changed for e in ends)
    assert run.st.amounts == {"b1": 90_000, "b2": 91_000, "b3": 92_000}
    assert not run.of(BidPlaced)


# ---------------------------------------------------------------- visibility
def test_pending_post_is_public_only_when_the_turn_ends() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 85_000, R1 + SEC))
    public = run.view("public")
    other = run.view("bidder", "b1")
    own = run.view("bidder", "b3")
    official = run.view("official")
    for view in (public, other):
        assert 85_000 not in ints(view)
        assert "pending" not in view
        assert "your_pending" not in view
        assert sorted(e["amount"] for e in view["ladder"]) == [90_000, 91_000, 92_000]
    assert 85_000 not in ints(auction_view(run.auction, "public"))
    assert own["your_pending"] == 85_000
    assert own["you"]["amount"] == 92_000  # still the committed amount
    assert official["pending"] == 85_000
    assert official["ladder"][-1]["amount"] == 92_000

    run.advance(R1 + TURN - 1)
    assert 85_000 not in ints(run.view("public"))
    run.advance(R1 + TURN)
    public = run.view("public")
    assert public["ladder"][0]["amount"] == 85_000
    assert public["ladder"][0]["rank"] == 1
    assert "pending" not in run.view("official") or run.view("official")["pending"] is None


def test_anonymous_labels_until_the_end_then_names() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 85_000, R1))
    run.advance(turn_at(3, 2, 0))
    secrets = {"b1", "b2", "b3", "Supplier 1 LLC", "Supplier 2 LLC", "Supplier 3 LLC"}
    for role, who in (("public", None), ("bidder", "b1"), ("bidder", "b3")):
        view = auction_view(run.auction, role, who)
        assert not secrets & strings(view), role
        lot = view["lots"][0]
        labels = {e["label"] for e in lot["ladder"]}
        assert labels == {"Bidder #1", "Bidder #2", "Bidder #3"}
        assert all("bidder" not in e and "name" not in e for e in lot["ladder"])
    official = run.view("official")
    assert {e["bidder"] for e in official["ladder"]} == {"b1", "b2", "b3"}

    run.advance(FAR)
    public = run.view("public")
    assert [(e["bidder"], e["name"]) for e in public["ladder"]] == [
        ("b3", "Supplier 3 LLC"),
        ("b1", "Supplier 1 LLC"),
        ("b2", "Supplier 2 LLC"),
    ]
    assert public["winner"]["name"] == "Supplier 3 LLC"
    assert public["outcome"] == "completed"


def test_labels_are_stable_across_rounds() -> None:
    run = Run(rounds_spec(3))
    run.advance(R1)
    label_b3 = run.view("bidder", "b3")["you"]["label"]
    accepted(run.bid("b3", 80_000, R1))
    run.advance(turn_at(3, 3, 0))
    assert run.view("bidder", "b3")["you"]["label"] == label_b3
    assert run.st.labels == ["b3", "b2", "b1"]


# ------------------------------------------------------------------ scoring
FEATURE = "OCDS-123454-YEARS"


def meat_spec(**kw: Any) -> dict[str, Any]:
    """ProZorro's worked example, in kopiyky (x100)."""
    spec = rounds_spec(
        2,
        start_value=50_000_000,
        minimal_step=3_500_000,
        scoring="features",
        features=[{"code": FEATURE, "values": [0.05, 0.1, 0.15]}],
    )
    spec["bidders"] = [
        {
            "id": "A",
            "name": "Tenderer A",
            "amount": 47_500_000,
            "submitted_at": "2014-11-19T08:22:21.726234+00:00",
            "features": {FEATURE: 0.1},
        },
        {
            "id": "B",
            "name": "Tenderer B",
            "amount": 48_000_000,
            "submitted_at": "2014-11-19T08:22:24.038426+00:00",
            "features": {FEATURE: 0.15},
        },
    ]
    spec.update(kw)
    return spec


def test_meat_worked_example_b_leads() -> None:
    run = Run(meat_spec())
    rules = run.auction.rules["1"]
    assert rules.scorer.coefficient("A") == 1 + Fraction(10, 85)
    assert rules.scorer.coefficient("B") == 1 + Fraction(15, 85)
    assert rules.scorer.adjusted("A", 47_500_000) == 42_500_000
    assert rules.scorer.adjusted("B", 48_000_000) == 40_800_000
    run.advance(R1)
    assert run.of(RoundStarted)[0].order == ["A", "B"]  # B leads, so bids last
    run.advance(FAR)
    (end,) = run.of(LotEnded)
    assert (end.outcome, end.winner, end.amount) == ("completed", "B", 48_000_000)
    lot = result(run.auction)["lots"][0]
    assert [(r["bidder"], r["amount"], r["score"]) for r in lot["ranking"]] == [
        ("B", 48_000_000, "40800000"),
        ("A", 47_500_000, "42500000"),
    ]


def test_meat_views_show_only_adjusted_amounts_of_others() -> None:
    run = Run(meat_spec())
    run.advance(R1)
    public = run.view("public")
    assert [(e["amount"], e["score"]) for e in public["ladder"]] == [
        (None, "40800000"),
        (None, "42500000"),
    ]
    assert 47_500_000 not in ints(public) and 48_000_000 not in ints(public)
    assert all("coefficient" not in e for e in public["ladder"])
    a_view = run.view("bidder", "A")
    assert a_view["you"]["amount"] == 47_500_000
    other = [e for e in a_view["ladder"] if not e.get("you")]
    assert [(e["amount"], e["score"]) for e in other] == [(None, "40800000")]
    assert 48_000_000 not in ints(a_view)
    official = run.view("official")
    assert [(e["bidder"], e["amount"]) for e in official["ladder"]] == [
        ("B", 48_000_000),
        ("A", 47_500_000),
    ]
    assert all("coefficient" in e for e in official["ladder"])


def test_meat_step_rule_applies_to_raw_amount_and_order_follows_adjusted() -> None:
    run = Run(meat_spec())
    run.advance(R1)
    assert run.view("bidder", "A")["max_bid"] == 44_000_000
    rejected(run.bid("A", 44_000_001, R1), Code.STEP_TOO_SMALL)
    accepted(run.bid("A", 44_000_000, R1))  # adjusted 39 368 421.05… < 40 800 000
    run.advance(turn_at(2, 2, 0))
    assert run.of(RoundStarted)[-1].order == ["B", "A"]
    run.advance(FAR)
    assert (run.st.winner, run.st.winning_amount) == ("A", 44_000_000)


def test_lifecycle_scoring_adds_non_price_cost() -> None:
    spec = rounds_spec(2, scoring="lifecycle")
    spec["bidders"] = [
        {"id": "b1", "amount": 90_000, "non_price_cost": 5_000, "submitted_at": 0},
        {"id": "b2", "amount": 92_000, "submitted_at": 1},
    ]
    run = Run(spec)
    run.advance(R1)
    assert run.of(RoundStarted)[0].order == ["b1", "b2"]  # 95 000 vs 92 000
    public = run.view("public")
    assert [(e["amount"], e["score"]) for e in public["ladder"]] == [
        (92_000, "92000"),
        (90_000, "95000"),
    ]
    accepted(run.bid("b1", 86_000, R1))  # weighted 91 000
    run.advance(turn_at(2, 2, 0))
    assert run.of(RoundStarted)[-1].order == ["b2", "b1"]
    run.advance(FAR)
    assert (run.st.winner, run.st.winning_amount) == ("b1", 86_000)


# ------------------------------------------------------------------- winner
def test_winner_is_lowest_amount_with_savings() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 85_000, R1))
    accepted(run.bid("b1", 84_000, turn_at(3, 1, 2)))
    accepted(run.bid("b3", 80_000, turn_at(3, 2, 1)))  # round 2 order b2, b3, b1
    run.advance(FAR)
    (end,) = run.of(LotEnded)
    assert (end.outcome, end.winner, end.amount) == ("completed", "b3", 80_000)
    lot = result(run.auction)["lots"][0]
    assert lot["savings"] == 20_000
    assert lot["savings_percent"] == "20"
    assert lot["winner"]["name"] == "Supplier 3 LLC"


# --------------------------------------------------------- too few bidders
def test_single_bidder_sealed_bid_stands() -> None:
    run = Run(rounds_spec(1))
    events = run.advance(START)
    assert events == [
        LotEnded(at=START, lot="1", outcome="insufficient_bidders", winner="b1", amount=90_000)
    ]
    assert run.auction.finished
    rejected(run.bid("b1", 80_000, R1), Code.AUCTION_CLOSED)
    assert result(run.auction)["lots"][0]["winner"]["amount"] == 90_000


def test_no_bidders_no_winner() -> None:
    run = Run(rounds_spec(1, bidders=[]))
    assert run.advance(START) == [
        LotEnded(at=START, lot="1", outcome="insufficient_bidders", winner=None, amount=None)
    ]


def test_disqualified_before_start_leaves_one_bidder() -> None:
    run = Run(rounds_spec(2))
    accepted(run.handle(Disqualify(official="o", bidder="b1"), START - 10))
    assert run.advance(START) == [
        LotEnded(at=START, lot="1", outcome="insufficient_bidders", winner="b2", amount=91_000)
    ]


# ------------------------------------------------------------ disqualifying
def test_disqualifying_the_bidder_whose_turn_it_is() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 80_000, R1 + 5 * SEC))
    now = R1 + 20 * SEC
    out = run.handle(Disqualify(official="o", bidder="b3", reason="fraud"), now)
    accepted(out)
    assert out.events == [
        BidderDisqualified(at=now, lot="1", bidder="b3", official="o", reason="fraud"),
        TurnStarted(at=now, lot="1", round=1, bidder="b2", deadline=now + TURN),
    ]
    assert not run.of(TurnEnded)
    assert run.st.amounts["b3"] == 92_000  # the pending post was dropped
    rejected(run.bid("b3", 70_000, now + 1), Code.BIDDER_DISQUALIFIED)
    rejected(run.cancel("b3", now + 1), Code.BIDDER_DISQUALIFIED)
    public = run.view("public")
    assert public["bidders"] == 2
    assert 80_000 not in ints(public)
    assert len(public["ladder"]) == 2
    run.advance(FAR)
    assert all(ev.order == ["b2", "b1"] for ev in run.of(RoundStarted)[1:])
    assert all(ev.bidder != "b3" for ev in run.of(TurnStarted)[1:])
    (end,) = run.of(LotEnded)
    assert end.winner == "b1"
    assert end.at == now + TURN * 2 + 2 * (PAUSE + 2 * TURN)
    assert run.view("official")["disqualified"] == ["b3"]


def test_disqualifying_the_current_bidder_while_paused() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 80_000, R1 + SEC))
    accepted(run.handle(Pause(official="o"), R1 + 2 * SEC))
    out = run.handle(Disqualify(official="o", bidder="b3"), R1 + 5 * SEC)
    assert [type(ev) for ev in out.events] == [BidderDisqualified]
    assert run.auction.next_deadline() is None
    out = run.handle(Resume(official="o"), R1 + 10 * SEC)
    # The next turn starts when the clocks restart, with a full turn.
    assert out.events[-1] == TurnStarted(
        at=R1 + 10 * SEC, lot="1", round=1, bidder="b2", deadline=R1 + 10 * SEC + TURN
    )
    assert run.st.amounts["b3"] == 92_000


def test_disqualified_before_start_is_not_counted() -> None:
    run = Run(rounds_spec(3))
    accepted(run.handle(Disqualify(official="o", bidder="b2"), START - 1))
    run.advance(R1)
    assert run.of(RoundStarted)[0].order == ["b3", "b1"]
    public = run.view("public")
    assert public["bidders"] == 2
    assert len(public["ladder"]) == 2


def test_disqualifying_a_later_bidder_skips_its_turn() -> None:
    run = Run(rounds_spec(3))
    accepted(run.handle(Disqualify(official="o", bidder="b1"), R1 + SEC))
    run.advance(turn_at(3, 1, 2))
    # After b2's turn the round is over: the next stage is the pause.
    last = run.of(TurnEnded)[-1]
    assert (last.bidder, last.at) == ("b2", R1 + 2 * TURN)
    pause = run.of(PauseStarted)[-1]
    assert (pause.at, pause.before_round) == (R1 + 2 * TURN, 2)
    run.advance(FAR)
    (end,) = run.of(LotEnded)
    assert end.winner == "b2"


def test_disqualification_leaving_one_bidder_ends_the_lot_at_once() -> None:
    run = Run(rounds_spec(2))
    now = R1 + 30 * SEC
    run.advance(now)
    out = run.handle(Disqualify(official="o", bidder="b2"), now)
    assert [type(ev) for ev in out.events] == [BidderDisqualified, LotEnded]
    end = out.events[-1]
    assert isinstance(end, LotEnded)
    assert (end.at, end.outcome, end.winner, end.amount) == (now, "completed", "b1", 90_000)
    rejected(run.handle(Disqualify(official="o", bidder="b1"), now + 1), Code.AUCTION_CLOSED)


def test_disqualifying_an_unknown_bidder() -> None:
    run = Run(rounds_spec(2))
    rejected(run.handle(Disqualify(official="o", bidder="zz"), R1), Code.UNKNOWN_BIDDER)


# --------------------------------------------------------------- surrogates
def test_surrogate_bid_is_validated_and_recorded() -> None:
    run = Run(rounds_spec(3))
    out = run.bid("b3", 91_001, R1, bid_id="s0", surrogate_by="officer")
    rejected(out, Code.STEP_TOO_SMALL)
    rej = out.events[-1]
    assert isinstance(rej, CommandRejected)
    assert (rej.actor, rej.surrogate_by, rej.amount, rej.bid_id) == (
        "b3",
        "officer",
        91_001,
        "s0",
    )
    rejected(run.bid("b1", 80_000, R1, surrogate_by="officer"), Code.NOT_YOUR_TURN)
    rejected(run.bid("zz", 80_000, R1, surrogate_by="officer"), Code.UNKNOWN_BIDDER)
    out = run.bid("b3", 91_000, R1 + SEC, bid_id="s1", surrogate_by="officer")
    accepted(out)
    assert out.events == [
        BidPlaced(
            at=R1 + SEC, lot="1", bidder="b3", amount=91_000, bid_id="s1", surrogate_by="officer"
        )
    ]
    out = run.cancel("b3", R1 + 2 * SEC, bid_id="s2", surrogate_by="officer")
    assert out.events == [
        BidCancelled(at=R1 + 2 * SEC, lot="1", bidder="b3", bid_id="s2", surrogate_by="officer")
    ]


# ---------------------------------------------------------- rejection codes
def test_not_your_turn() -> None:
    run = Run(rounds_spec(3))
    rejected(run.bid("b1", 80_000, START), Code.NOT_YOUR_TURN)  # first pause
    rejected(run.bid("b3", 80_000, R1 - 1), Code.NOT_YOUR_TURN)
    rejected(run.bid("b1", 80_000, R1), Code.NOT_YOUR_TURN)  # b3's turn
    rejected(run.cancel("b2", R1), Code.NOT_YOUR_TURN)
    between = turn_at(3, 2, 0) - 1  # the pause before round 2
    rejected(run.bid("b3", 80_000, between), Code.NOT_YOUR_TURN)
    assert run.view("official")["rejections"] == 5


def test_unknown_bidder() -> None:
    run = Run(rounds_spec(3))
    rejected(run.bid("zz", 80_000, R1), Code.UNKNOWN_BIDDER)
    rejected(run.cancel("zz", R1), Code.UNKNOWN_BIDDER)


def test_bidder_disqualified() -> None:
    run = Run(rounds_spec(3))
    accepted(run.handle(Disqualify(official="o", bidder="b2"), START + SEC))
    rejected(run.bid("b2", 80_000, turn_at(3, 1, 0)), Code.BIDDER_DISQUALIFIED)


def test_auction_not_started() -> None:
    run = Run(rounds_spec(3))
    rejected(run.bid("b3", 80_000, START - 1), Code.AUCTION_NOT_STARTED)
    rejected(run.cancel("b3", START - 1), Code.AUCTION_NOT_STARTED)


def test_auction_closed() -> None:
    run = Run(rounds_spec(3))
    rejected(run.bid("b1", 80_000, end_at(3)), Code.AUCTION_CLOSED)
    rejected(run.cancel("b1", end_at(3) + 1), Code.AUCTION_CLOSED)
    rejected(run.handle(Pause(official="o"), end_at(3) + 2), Code.AUCTION_CLOSED)
    rejected(run.handle(Extend(official="o", ms=SEC), end_at(3) + 3), Code.AUCTION_CLOSED)


def test_auction_paused() -> None:
    run = Run(rounds_spec(3))
    accepted(run.handle(Pause(official="o"), R1 + SEC))
    rejected(run.bid("b3", 80_000, R1 + 2 * SEC), Code.AUCTION_PAUSED)
    rejected(run.cancel("b3", R1 + 2 * SEC), Code.AUCTION_PAUSED)
    rejected(run.handle(Pause(official="o"), R1 + 3 * SEC), Code.ALREADY_PAUSED)
    accepted(run.handle(Resume(official="o"), R1 + 4 * SEC))
    rejected(run.handle(Resume(official="o"), R1 + 5 * SEC), Code.NOT_PAUSED)


def test_accept_price_is_not_supported() -> None:
    run = Run(rounds_spec(3))
    rejected(run.handle(AcceptPrice(bidder="b3"), R1), Code.NOT_SUPPORTED)


def test_unknown_lot() -> None:
    run = Run(rounds_spec(3))
    rejected(run.handle(PlaceBid(bidder="b3", amount=80_000, lot="9"), R1), Code.UNKNOWN_LOT)


def test_invalid_extension() -> None:
    run = Run(rounds_spec(3))
    rejected(run.handle(Extend(official="o", ms=0), R1), Code.INVALID_EXTENSION)
    rejected(run.handle(Extend(official="o", ms=-5), R1), Code.INVALID_EXTENSION)


def test_rejections_do_not_change_amounts() -> None:
    run = Run(rounds_spec(3))
    run.advance(R1)
    before = run.st.amounts.copy()
    rejected(run.bid("b3", 91_500, R1), Code.STEP_TOO_SMALL)
    rejected(run.bid("b1", 50_000, R1), Code.NOT_YOUR_TURN)
    assert run.st.amounts == before
    assert run.st.pending is None


# ------------------------------------------------------- deadline boundaries
def test_post_at_turn_deadline_minus_one_ms_counts() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 85_000, R1 + TURN - 1))
    out = run.bid("b3", 84_000, R1 + TURN)
    rejected(out, Code.NOT_YOUR_TURN)
    turn_end = out.events[0]
    assert isinstance(turn_end, TurnEnded)
    assert (turn_end.at, turn_end.amount, turn_end.changed) == (R1 + TURN, 85_000, True)


def test_post_at_the_very_start_of_a_turn_is_accepted() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 85_000, R1))
    accepted(run.bid("b2", 85_000, R1 + TURN))


def test_cancel_at_turn_deadline_is_too_late() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 85_000, R1))
    rejected(run.cancel("b3", R1 + TURN), Code.NOT_YOUR_TURN)
    assert run.st.amounts["b3"] == 85_000


def test_last_turn_boundary() -> None:
    run = Run(rounds_spec(2))
    last = end_at(2)
    accepted(run.bid("b1", 80_000, last - 1))
    rejected(run.bid("b1", 79_000, last), Code.AUCTION_CLOSED)
    assert (run.st.winner, run.st.winning_amount) == ("b1", 80_000)


# --------------------------------------------------------- official controls
def test_pause_freezes_the_turn_and_resume_shifts_it() -> None:
    run = Run(rounds_spec(3))
    accepted(run.handle(Pause(official="o"), R1 + 30 * SEC))
    assert run.auction.next_deadline() is None
    assert run.advance(R1 + 10 * TURN) == []
    rejected(run.bid("b3", 85_000, R1 + 500 * SEC), Code.AUCTION_PAUSED)
    out = run.handle(Resume(official="o"), R1 + 530 * SEC)
    assert out.events == [AuctionResumed(at=R1 + 530 * SEC, lot="", official="o", shift=500 * SEC)]
    deadline = R1 + TURN + 500 * SEC
    assert run.auction.next_deadline() == deadline
    accepted(run.bid("b3", 85_000, deadline - 1))
    rejected(run.bid("b3", 84_000, deadline), Code.NOT_YOUR_TURN)
    assert run.of(TurnStarted)[-1].at == deadline
    run.advance(FAR)
    (end,) = run.of(LotEnded)
    assert end.at == end_at(3) + 500 * SEC


def test_pause_during_the_first_pause_delays_round_one() -> None:
    run = Run(rounds_spec(2))
    accepted(run.handle(Pause(official="o"), START + 10 * SEC))
    accepted(run.handle(Resume(official="o"), START + 70 * SEC))
    run.advance(FAR)
    assert run.of(RoundStarted)[0].at == R1 + 60 * SEC


def test_official_extend_moves_the_current_turn_deadline() -> None:
    run = Run(rounds_spec(3))
    out = run.handle(Extend(official="o", ms=30 * SEC), R1 + SEC)
    accepted(out)
    assert run.auction.next_deadline() == R1 + TURN + 30 * SEC
    accepted(run.bid("b3", 85_000, R1 + TURN + 30 * SEC - 1))
    run.advance(R1 + TURN + 30 * SEC)
    assert run.of(TurnEnded)[-1].at == R1 + TURN + 30 * SEC
    assert run.of(TurnStarted)[-1].deadline == R1 + 2 * TURN + 30 * SEC


def test_cancel_auction_ends_the_lot() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 85_000, R1))
    accepted(run.handle(CancelAuction(official="o", reason="appeal"), R1 + SEC))
    assert run.auction.finished
    assert run.st.outcome == "cancelled"
    assert run.st.winner is None
    rejected(run.bid("b3", 84_000, R1 + 2 * SEC), Code.AUCTION_CLOSED)


# ------------------------------------------------------ idempotence & replay
def test_duplicate_bid_id_returns_the_original_outcome() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 85_000, R1, bid_id="x"))
    again = run.bid("b3", 85_000, R1 + SEC, bid_id="x")
    assert again.duplicate and again.accepted and again.events == []
    rejected(run.bid("b3", 91_500, R1 + 2 * SEC, bid_id="y"), Code.STEP_TOO_SMALL)
    again = run.bid("b3", 80_000, R1 + 3 * SEC, bid_id="y")
    assert again.duplicate
    assert again.rejection is not None and again.rejection.code == Code.STEP_TOO_SMALL
    assert len(run.of(BidPlaced)) == 1


def test_replay_and_snapshot_rebuild_the_same_state() -> None:
    run = Run(rounds_spec(3))
    accepted(run.bid("b3", 85_000, R1 + SEC))
    rejected(run.bid("b1", 10, R1 + 2 * SEC), Code.NOT_YOUR_TURN)
    accepted(run.handle(Pause(official="o"), R1 + 3 * SEC))
    accepted(run.handle(Resume(official="o"), R1 + 9 * SEC))
    # b2's turn (shifted by the 6 s pause) is on: b1's turn starts at once.
    accepted(run.handle(Disqualify(official="o", bidder="b2"), turn_at(3, 1, 1) + 7 * SEC))
    accepted(run.bid("b1", 84_000, turn_at(3, 1, 1) + 60 * SEC))
    half = len(run.journal)
    snapshot_auction = Auction.replay(run.spec, run.journal[:half])
    snapshot = snapshot_auction.snapshot()
    run.advance(FAR)
    replayed = Auction.replay(run.spec, run.journal)
    assert replayed.state_hash() == run.auction.state_hash()
    restored = Auction.restore(run.spec, snapshot)
    for ev in run.journal[half:]:
        restored.apply(ev)
    assert restored.state_hash() == run.auction.state_hash()
    assert run.st.winner == "b1"


def test_build_factory_matches_run_helper() -> None:
    auction = build(rounds_spec(3))
    auction.advance(FAR)
    run = Run(rounds_spec(3))
    run.advance(FAR)
    assert auction.state_hash() == run.auction.state_hash()
