"""The engine: multi-lot events, official controls, exactly-once bids, time,
replay and snapshots, role views, the result and audit record, event coding."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from auction.core import (
    AcceptPrice,
    AnyCommand,
    Auction,
    CancelAuction,
    CancelBid,
    Code,
    Disqualify,
    EngineBug,
    Extend,
    Pause,
    PlaceBid,
    Resume,
    auction_view,
    audit_record,
    decode_event,
    encode_event,
    event_to_dict,
    parse_spec,
    result,
)
from auction.core.events import (
    EVENT_TYPES,
    AuctionCancelled,
    AuctionPaused,
    AuctionResumed,
    BidCancelled,
    BidderDisqualified,
    BidderDropped,
    BiddingOpened,
    BidPlaced,
    ClockRoundStarted,
    CloseExtended,
    CommandRejected,
    DeadlineExtended,
    Event,
    LotEnded,
    LotStarted,
    PauseStarted,
    PhaseStarted,
    PriceAccepted,
    PriceChanged,
    RoundStarted,
    StartMoved,
    TurnEnded,
    TurnStarted,
    decode_events,
    encode_events,
)
from auction.core.record import RECORD_VERSION, iso
from tests.core.harness import Run, accepted, rejected
from tests.factories import (
    SEC,
    START,
    as_lot,
    bidders,
    dutch_spec,
    japanese_spec,
    multi_spec,
    open_spec,
)

ROUND = 30 * SEC
"""Japanese round of the default spec."""
INTERVAL = 10 * SEC
"""Dutch interval of the default spec."""
OPEN = 600 * SEC
"""Open duration of the default spec."""


def two_lots(**kw: Any) -> dict[str, Any]:
    """Lot J (japanese: b1, b2, b3) and lot D (dutch: b1, b2, b4)."""
    dutch = dutch_spec()
    dutch["bidders"] = [*bidders(2), {"id": "b4", "name": "Fourth Ltd"}]
    return multi_spec(as_lot(japanese_spec(), "J"), as_lot(dutch, "D"), **kw)


def open_lots(n: int = 2, **kw: Any) -> dict[str, Any]:
    return multi_spec(*(as_lot(open_spec(), f"L{i + 1}") for i in range(n)), **kw)


def only(events: list[Event], kind: type[Event]) -> list[Any]:
    return [ev for ev in events if isinstance(ev, kind)]


def strings(obj: Any) -> set[str]:
    """Every string anywhere in a JSON-like value (keys included)."""
    if isinstance(obj, str):
        return {obj}
    if isinstance(obj, dict):
        return set().union(*(strings(k) | strings(v) for k, v in obj.items()))
    if isinstance(obj, list | tuple):
        return set().union(*(strings(v) for v in obj))
    return set()


# ================================================================ multi-lot
def test_lots_closing_together_start_together() -> None:
    run = Run(two_lots())
    events = run.advance(START)
    assert [(ev.lot, ev.at) for ev in only(events, LotStarted)] == [("J", START), ("D", START)]
    assert run.lot("J").status == run.lot("D").status == "live"


def test_staggered_lots_start_one_stagger_apart() -> None:
    run = Run(two_lots(closing="staggered", stagger_s=60))
    assert [lot.start_at for lot in run.spec.lots] == [START, START + 60 * SEC]
    events = run.advance(START)
    assert [ev.lot for ev in only(events, LotStarted)] == ["J"]
    assert run.lot("D").status == "scheduled"
    rejected(run.handle(AcceptPrice(bidder="b1", lot="D"), START + SEC), Code.AUCTION_NOT_STARTED)
    events = run.advance(START + 60 * SEC)
    assert [(ev.lot, ev.at) for ev in only(events, LotStarted)] == [("D", START + 60 * SEC)]


def test_staggered_open_lots_close_one_after_another() -> None:
    run = Run(open_lots(3, closing="staggered", stagger_s=60))
    run.advance(START + 120 * SEC)
    closes = [run.lot(f"L{i}").close_at for i in (1, 2, 3)]
    assert closes == [START + OPEN, START + OPEN + 60 * SEC, START + OPEN + 120 * SEC]
    run.handle(PlaceBid(bidder="b1", amount=90_000, lot="L1"), START + SEC)
    events = run.advance(START + OPEN + 60 * SEC - 1)
    assert only(events, LotEnded) == [
        LotEnded(at=START + OPEN, lot="L1", outcome="completed", winner="b1", amount=90_000)
    ]
    events = run.advance(START + OPEN + 120 * SEC)
    assert [(ev.lot, ev.at, ev.outcome) for ev in only(events, LotEnded)] == [
        ("L2", START + OPEN + 60 * SEC, "no_winner"),
        ("L3", START + OPEN + 120 * SEC, "no_winner"),
    ]
    assert run.auction.finished


def test_open_lots_closing_together_close_together() -> None:
    run = Run(open_lots(2, stagger_s=60))
    events = run.advance(START + OPEN)
    assert [(ev.lot, ev.at) for ev in only(events, LotEnded)] == [
        ("L1", START + OPEN),
        ("L2", START + OPEN),
    ]


def test_deadlines_of_different_lots_fire_in_time_order() -> None:
    run = Run(two_lots(closing="staggered", stagger_s=5))
    events = run.advance(START + 3 * INTERVAL)
    times = [ev.at for ev in events]
    assert times == sorted(times)
    assert {ev.lot for ev in events} == {"J", "D"}


@pytest.mark.parametrize(
    "command",
    [
        AcceptPrice(bidder="b1"),
        CancelBid(bidder="b1"),
        PlaceBid(bidder="b1", amount=5_000),
        Extend(official="o", ms=SEC),
    ],
)
def test_commands_must_name_a_lot_of_a_multi_lot_event(command: AnyCommand) -> None:
    run = Run(two_lots())
    run.advance(START)
    before = run.auction.state_hash()
    rej = rejected(run.handle(command, START + SEC), Code.LOT_REQUIRED)
    assert rej.lot == ""
    assert run.auction.state.seq == len(run.journal)
    assert run.lot("J").rejections == run.lot("D").rejections == 0
    assert before != run.auction.state_hash()  # the rejection itself is journaled


@pytest.mark.parametrize(
    "command",
    [
        AcceptPrice(bidder="b1", lot="X"),
        CancelBid(bidder="b1", lot="X"),
        PlaceBid(bidder="b1", amount=5_000, lot="X"),
        Extend(official="o", ms=SEC, lot="X"),
        Disqualify(official="o", bidder="b1", lot="X"),
    ],
)
def test_unknown_lot(command: AnyCommand) -> None:
    run = Run(two_lots())
    run.advance(START)
    rej = rejected(run.handle(command, START + SEC), Code.UNKNOWN_LOT)
    assert rej.lot == ""


def test_single_lot_commands_may_leave_the_lot_out_or_name_it() -> None:
    run = Run(japanese_spec())
    run.advance(START)
    assert accepted(run.handle(AcceptPrice(bidder="b1"), START + 1))
    assert accepted(run.handle(AcceptPrice(bidder="b2", lot="1"), START + 2))
    rejected(run.handle(AcceptPrice(bidder="b3", lot="2"), START + 3), Code.UNKNOWN_LOT)


def test_lots_are_independent() -> None:
    run = Run(two_lots())
    run.advance(START)
    out = run.handle(AcceptPrice(bidder="b4", lot="D"), START + INTERVAL)
    assert only(out.events, LotEnded) == [
        LotEnded(at=START + INTERVAL, lot="D", outcome="completed", winner="b4", amount=6_000)
    ]
    assert run.lot("J").status == "live"
    assert not run.auction.finished
    # b4 is not admitted to J, b3 not to D
    rejected(run.handle(AcceptPrice(bidder="b4", lot="J"), START + INTERVAL), Code.UNKNOWN_BIDDER)
    rejected(run.handle(AcceptPrice(bidder="b3", lot="D"), START + INTERVAL), Code.UNKNOWN_BIDDER)
    rejected(run.handle(AcceptPrice(bidder="b1", lot="D"), START + INTERVAL), Code.AUCTION_CLOSED)
    # J runs on by itself; rejections are counted per lot
    for bidder in ("b1", "b2", "b3"):
        accepted(run.handle(AcceptPrice(bidder=bidder, lot="J"), START + INTERVAL + 1))
    assert run.lot("J").round == 2
    assert (run.lot("J").rejections, run.lot("D").rejections) == (1, 2)
    assert run.auction.next_deadline() == run.lot("J").deadline


def test_dutch_unknown_bidder_in_its_own_lot() -> None:
    run = Run(two_lots())
    run.advance(START)
    rejected(run.handle(AcceptPrice(bidder="b3", lot="D"), START + 1), Code.UNKNOWN_BIDDER)


# ========================================================= official controls
BIDDER_COMMANDS = [
    AcceptPrice(bidder="b1", lot="J"),
    CancelBid(bidder="b1", lot="J"),
    PlaceBid(bidder="b1", amount=1, lot="J"),
    AcceptPrice(bidder="b1", lot="D"),
    AcceptPrice(bidder="b1"),  # paused is checked before the lot
]


def test_pause_rejects_bidders_and_freezes_deadlines() -> None:
    run = Run(two_lots())
    run.advance(START)
    out = run.handle(Pause(official="o", reason="network"), START + 5 * SEC)
    assert out.events == [AuctionPaused(at=START + 5 * SEC, lot="", official="o", reason="network")]
    assert run.auction.paused
    assert run.auction.next_deadline() is None
    for command in BIDDER_COMMANDS:
        rejected(run.handle(command, START + 6 * SEC), Code.AUCTION_PAUSED)
    deadlines = (run.lot("J").deadline, run.lot("D").deadline)
    assert run.advance(START + 100 * ROUND) == []
    assert (run.lot("J").deadline, run.lot("D").deadline) == deadlines
    assert (run.lot("J").round, run.lot("D").price) == (1, 5_000)
    assert auction_view(run.auction, "public")["paused"] is True


def test_resume_shifts_every_deadline_by_the_paused_time() -> None:
    run = Run(two_lots(closing="staggered", stagger_s=60))
    run.advance(START)
    run.handle(Pause(official="o"), START + 5 * SEC)
    before = {lot: run.lot(lot).deadline for lot in ("J", "D")}
    assert before == {"J": START + ROUND, "D": START + 60 * SEC}  # D is still scheduled
    out = run.handle(Resume(official="o"), START + 65 * SEC)
    assert out.events == [AuctionResumed(at=START + 65 * SEC, lot="", official="o", shift=60 * SEC)]
    assert not run.auction.paused
    assert run.lot("J").deadline == START + ROUND + 60 * SEC
    assert run.lot("D").deadline == START + 120 * SEC
    assert run.auction.next_deadline() == START + ROUND + 60 * SEC
    # the round keeps its remaining 25 s
    assert accepted(run.handle(AcceptPrice(bidder="b1", lot="J"), START + ROUND + 60 * SEC - 1))
    events = run.advance(START + 120 * SEC)
    assert [(type(ev), ev.at) for ev in events if isinstance(ev, LotStarted)] == [
        (LotStarted, START + 120 * SEC)
    ]


def test_resume_at_the_pause_instant_shifts_nothing() -> None:
    run = Run(japanese_spec())
    run.advance(START)
    run.handle(Pause(official="o"), START + SEC)
    out = run.handle(Resume(official="o"), START + SEC)
    assert out.events[0].shift == 0  # type: ignore[attr-defined]
    assert run.lot("1").deadline == START + ROUND


def test_pause_before_the_start_delays_the_start() -> None:
    run = Run(japanese_spec())
    run.handle(Pause(official="o"), START - 10 * SEC)
    run.handle(Resume(official="o"), START + 5 * SEC)
    assert run.advance(START + 15 * SEC - 1) == []
    (started,) = only(run.advance(START + 15 * SEC), LotStarted)
    assert started.at == START + 15 * SEC


def test_deadline_due_at_the_pause_instant_fires_first() -> None:
    run = Run(japanese_spec())
    run.advance(START)
    run.handle(AcceptPrice(bidder="b1"), START + 1)
    run.handle(AcceptPrice(bidder="b2"), START + 2)
    out = run.handle(Pause(official="o"), START + ROUND)
    assert [type(ev) for ev in out.events] == [BidderDropped, ClockRoundStarted, AuctionPaused]
    assert all(ev.at == START + ROUND for ev in out.events)


def test_already_paused_and_not_paused() -> None:
    run = Run(japanese_spec())
    run.advance(START)
    rej = rejected(run.handle(Resume(official="o"), START + 1), Code.NOT_PAUSED)
    assert (rej.lot, rej.actor, rej.command) == ("1", "o", "resume")
    run.handle(Pause(official="o"), START + 2)
    rejected(run.handle(Pause(official="o2"), START + 3), Code.ALREADY_PAUSED)
    assert run.auction.state.paused_at == START + 2
    accepted(run.handle(Resume(official="o"), START + 4))
    rejected(run.handle(Resume(official="o"), START + 5), Code.NOT_PAUSED)


def test_official_commands_after_the_end_are_closed() -> None:
    run = Run(dutch_spec())
    run.advance(START)
    run.handle(AcceptPrice(bidder="b1"), START + 1)
    assert run.auction.finished
    for command in (
        Pause(official="o"),
        Resume(official="o"),
        Extend(official="o", ms=SEC),
        CancelAuction(official="o"),
        Disqualify(official="o", bidder="b1"),
    ):
        rejected(run.handle(command, START + 2), Code.AUCTION_CLOSED)


def test_extend_moves_the_lot_deadline() -> None:
    run = Run(two_lots())
    run.advance(START)
    out = run.handle(Extend(official="o", ms=7 * SEC, lot="J"), START + SEC)
    assert out.events == [DeadlineExtended(at=START + SEC, lot="J", official="o", ms=7 * SEC)]
    assert run.lot("J").deadline == START + ROUND + 7 * SEC
    assert run.lot("D").deadline == START + INTERVAL  # other lots untouched
    events = run.advance(START + ROUND + 7 * SEC - 1)
    assert events
    assert all(ev.lot == "D" for ev in events)
    assert run.lot("J").round == 1
    events = run.advance(START + ROUND + 7 * SEC)
    assert [ev.lot for ev in events if isinstance(ev, LotEnded)] == ["J"]


@pytest.mark.parametrize("ms", [0, -1, -SEC])
def test_extend_must_be_positive(ms: int) -> None:
    run = Run(japanese_spec())
    run.advance(START)
    rejected(run.handle(Extend(official="o", ms=ms), START + 1), Code.INVALID_EXTENSION)
    assert run.lot("1").deadline == START + ROUND


def test_extend_of_an_ended_lot_is_closed() -> None:
    run = Run(two_lots())
    run.advance(START)
    run.handle(AcceptPrice(bidder="b1", lot="D"), START + 1)
    rejected(run.handle(Extend(official="o", ms=SEC, lot="D"), START + 2), Code.AUCTION_CLOSED)
    accepted(run.handle(Extend(official="o", ms=SEC, lot="J"), START + 2))


def test_extend_while_paused_adds_to_the_shift() -> None:
    run = Run(japanese_spec())
    run.advance(START)
    run.handle(Pause(official="o"), START + SEC)
    accepted(run.handle(Extend(official="o", ms=SEC), START + 2 * SEC))
    run.handle(Resume(official="o"), START + 3 * SEC)
    assert run.lot("1").deadline == START + ROUND + SEC + 2 * SEC


def test_cancel_auction_ends_every_lot_as_cancelled() -> None:
    run = Run(two_lots(closing="staggered", stagger_s=600))
    run.advance(START)
    out = run.handle(CancelAuction(official="o", reason="complaint"), START + SEC)
    assert out.events == [
        AuctionCancelled(at=START + SEC, lot="", official="o", reason="complaint")
    ]
    for lot in ("J", "D"):  # D had not even started
        st = run.lot(lot)
        assert (st.status, st.outcome, st.winner, st.ended_at) == (
            "ended",
            "cancelled",
            None,
            START + SEC,
        )
    assert run.auction.finished
    assert run.auction.state.cancelled
    assert run.auction.next_deadline() is None
    rejected(run.handle(AcceptPrice(bidder="b1", lot="J"), START + 2 * SEC), Code.AUCTION_CLOSED)
    rejected(run.handle(CancelAuction(official="o"), START + 2 * SEC), Code.AUCTION_CLOSED)
    res = result(run.auction)
    assert res["cancelled"] is True
    assert [lot["outcome"] for lot in res["lots"]] == ["cancelled", "cancelled"]


def test_cancel_keeps_the_outcome_of_a_lot_already_ended() -> None:
    run = Run(two_lots())
    run.advance(START)
    run.handle(AcceptPrice(bidder="b2", lot="D"), START + 1)
    run.handle(CancelAuction(official="o"), START + 2)
    assert (run.lot("D").outcome, run.lot("D").winner) == ("completed", "b2")
    assert run.lot("J").outcome == "cancelled"


def test_cancel_while_paused_unpauses() -> None:
    run = Run(japanese_spec())
    run.advance(START)
    run.handle(Pause(official="o"), START + 1)
    accepted(run.handle(CancelAuction(official="o"), START + 2))
    assert not run.auction.paused
    assert run.lot("1").outcome == "cancelled"


def test_disqualify_from_every_lot() -> None:
    run = Run(two_lots())
    run.advance(START)
    out = run.handle(Disqualify(official="o", bidder="b1", reason="collusion"), START + SEC)
    assert out.events == [
        BidderDisqualified(at=START + SEC, lot=lot, bidder="b1", official="o", reason="collusion")
        for lot in ("J", "D")
    ]
    for lot in ("J", "D"):
        assert run.lot(lot).disqualified == ["b1"]
        rejected(
            run.handle(AcceptPrice(bidder="b1", lot=lot), START + 2 * SEC),
            Code.BIDDER_DISQUALIFIED,
        )


def test_disqualify_from_all_lots_covers_only_lots_the_bidder_is_in() -> None:
    run = Run(two_lots())
    run.advance(START)
    out = run.handle(Disqualify(official="o", bidder="b4"), START + SEC)
    assert [ev.lot for ev in out.events] == ["D"]
    assert run.lot("J").disqualified == []


def test_disqualify_from_one_lot() -> None:
    run = Run(two_lots())
    run.advance(START)
    out = run.handle(Disqualify(official="o", bidder="b2", lot="J"), START + SEC)
    assert [ev.lot for ev in out.events] == ["J"]
    assert run.lot("D").disqualified == []
    accepted(run.handle(AcceptPrice(bidder="b2", lot="D"), START + 2 * SEC))


def test_disqualify_unknown_bidder() -> None:
    run = Run(two_lots())
    run.advance(START)
    rej = rejected(
        run.handle(Disqualify(official="o", bidder="zz"), START + 1), Code.UNKNOWN_BIDDER
    )
    assert rej.actor == "o"
    rejected(
        run.handle(Disqualify(official="o", bidder="b4", lot="J"), START + 1), Code.UNKNOWN_BIDDER
    )


def test_disqualify_twice_creates_no_second_event() -> None:
    run = Run(japanese_spec())
    run.advance(START)
    run.handle(Disqualify(official="o", bidder="b1"), START + 1)
    out = run.handle(Disqualify(official="o", bidder="b1"), START + 2)
    assert out.accepted
    assert out.events == []
    assert run.lot("1").disqualified == ["b1"]


def test_disqualify_skips_a_lot_that_has_ended() -> None:
    run = Run(two_lots())
    run.advance(START)
    run.handle(AcceptPrice(bidder="b1", lot="D"), START + 1)
    out = run.handle(Disqualify(official="o", bidder="b1"), START + 2)
    assert [ev.lot for ev in out.events] == ["J"]
    assert run.lot("D").winner == "b1"


def test_disqualify_down_to_one_bidder_ends_an_open_lot_at_once() -> None:
    run = Run(open_spec(2))
    run.advance(START)
    run.handle(PlaceBid(bidder="b1", amount=90_000), START + SEC)
    run.handle(PlaceBid(bidder="b2", amount=80_000), START + 2 * SEC)
    out = run.handle(Disqualify(official="o", bidder="b2"), START + 3 * SEC)
    assert out.events[-1] == LotEnded(
        at=START + 3 * SEC, lot="1", outcome="completed", winner="b1", amount=90_000
    )


def test_disqualify_while_paused_takes_effect_at_the_resume() -> None:
    run = Run(open_spec(2))
    run.advance(START)
    run.handle(PlaceBid(bidder="b1", amount=90_000), START + SEC)
    run.handle(Pause(official="o"), START + 2 * SEC)
    out = run.handle(Disqualify(official="o", bidder="b2"), START + 3 * SEC)
    assert [type(ev) for ev in out.events] == [BidderDisqualified]
    assert run.lot("1").status == "live"
    out = run.handle(Resume(official="o"), START + 10 * SEC)
    assert [type(ev) for ev in out.events] == [AuctionResumed, LotEnded]
    assert out.events[-1].at == START + 10 * SEC
    assert run.lot("1").winner == "b1"


# ============================================================ exactly-once
def test_same_bid_id_returns_the_original_acceptance_without_an_event() -> None:
    run = Run(open_spec())
    run.advance(START)
    first = run.handle(PlaceBid(bidder="b1", amount=90_000, bid_id="x1"), START + SEC)
    assert [type(ev) for ev in accepted(first)] == [BidPlaced]
    seq, digest = run.auction.state.seq, run.auction.state_hash()
    # a retry, even with another amount, is the same bid
    again = run.handle(PlaceBid(bidder="b1", amount=50_000, bid_id="x1"), START + 2 * SEC)
    assert (again.accepted, again.duplicate, again.events) == (True, True, [])
    assert (run.auction.state.seq, run.auction.state_hash()) == (seq, digest)
    assert run.lot("1").best == {"b1": 90_000}


def test_same_bid_id_returns_the_original_rejection_without_an_event() -> None:
    run = Run(open_spec())
    run.advance(START)
    first = run.handle(PlaceBid(bidder="b1", amount=200_000, bid_id="x1"), START + SEC)
    rejected(first, Code.ABOVE_CEILING)
    seq = run.auction.state.seq
    again = run.handle(PlaceBid(bidder="b1", amount=90_000, bid_id="x1"), START + 2 * SEC)
    assert again.duplicate
    assert again.rejection is not None
    assert again.rejection.code == Code.ABOVE_CEILING
    assert again.events == []
    assert run.auction.state.seq == seq
    assert run.lot("1").best == {}


def test_a_bid_rejected_while_paused_stays_rejected_on_retry() -> None:
    run = Run(open_spec())
    run.advance(START)
    run.handle(Pause(official="o"), START + 1)
    rejected(
        run.handle(PlaceBid(bidder="b1", amount=90_000, bid_id="p"), START + 2), Code.AUCTION_PAUSED
    )
    run.handle(Resume(official="o"), START + 3)
    again = run.handle(PlaceBid(bidder="b1", amount=90_000, bid_id="p"), START + 4)
    assert again.duplicate
    assert again.rejection is not None
    assert again.rejection.code == Code.AUCTION_PAUSED


def test_different_bidders_may_reuse_a_bid_id() -> None:
    run = Run(open_spec())
    run.advance(START)
    accepted(run.handle(PlaceBid(bidder="b1", amount=90_000, bid_id="same"), START + 1))
    out = run.handle(PlaceBid(bidder="b2", amount=80_000, bid_id="same"), START + 2)
    assert not out.duplicate
    assert [type(ev) for ev in accepted(out)] == [BidPlaced]
    assert run.lot("1").leader == "b2"


def test_bid_ids_are_shared_across_command_kinds_and_lots() -> None:
    run = Run(two_lots())
    run.advance(START)
    accepted(run.handle(AcceptPrice(bidder="b1", lot="J", bid_id="k"), START + 1))
    out = run.handle(AcceptPrice(bidder="b1", lot="D", bid_id="k"), START + 2)
    assert out.duplicate
    assert run.lot("D").status == "live"


def test_commands_without_a_bid_id_are_never_deduplicated() -> None:
    run = Run(open_spec())
    run.advance(START)
    accepted(run.handle(PlaceBid(bidder="b1", amount=90_000), START + 1))
    rejected(run.handle(PlaceBid(bidder="b1", amount=90_000), START + 2), Code.STEP_TOO_SMALL)


def test_duplicates_survive_replay_and_restore() -> None:
    run = Run(open_spec())
    run.advance(START)
    run.handle(PlaceBid(bidder="b1", amount=90_000, bid_id="x"), START + 1)
    for auction in (
        Auction.replay(run.spec, run.journal),
        Auction.restore(run.spec, run.auction.snapshot()),
    ):
        out = auction.handle(PlaceBid(bidder="b1", amount=80_000, bid_id="x"), START + 2)
        assert (out.duplicate, out.accepted, out.events) == (True, True, [])


def test_duplicate_still_reports_deadline_events_that_fired() -> None:
    run = Run(dutch_spec())
    run.advance(START)
    rejected(run.handle(PlaceBid(bidder="b1", amount=1, bid_id="n"), START + 1), Code.NOT_SUPPORTED)
    out = run.handle(PlaceBid(bidder="b1", amount=1, bid_id="n"), START + INTERVAL)
    assert out.duplicate
    assert [type(ev) for ev in out.events] == [PriceChanged]


# ==================================================================== time
def test_a_now_earlier_than_the_clock_is_treated_as_the_clock() -> None:
    run2 = Run(japanese_spec())
    run2.advance(START)
    run2.handle(AcceptPrice(bidder="b1"), START + 20 * SEC)
    out = run2.handle(AcceptPrice(bidder="b2"), START + 5 * SEC)
    (acc,) = only(out.events, PriceAccepted)
    assert acc.at == START + 20 * SEC
    assert run2.auction.state.clock == START + 20 * SEC
    # and an official's command too
    out = run2.handle(Pause(official="o"), START)
    assert out.events[0].at == START + 20 * SEC
    assert run2.auction.state.paused_at == START + 20 * SEC


def test_a_stale_now_never_fires_a_deadline_early() -> None:
    run = Run(japanese_spec())
    run.advance(START)
    run.handle(AcceptPrice(bidder="b1"), START + ROUND - 1)
    out = run.handle(AcceptPrice(bidder="b2"), START)
    assert [type(ev) for ev in out.events] == [PriceAccepted]
    assert out.events[0].at == START + ROUND - 1


def test_the_clock_follows_events_only() -> None:
    run = Run(japanese_spec())
    assert run.auction.state.clock == 0
    run.advance(START + SEC)  # nothing fires after the start
    assert run.auction.state.clock == START
    assert auction_view(run.auction, "public")["clock"] == START


def test_deadline_events_carry_their_own_time_whoever_notices() -> None:
    late = Run(dutch_spec())
    late.handle(AcceptPrice(bidder="b1"), START + 2 * INTERVAL + 1)
    steady = Run(dutch_spec())
    for at in range(START, START + 2 * INTERVAL + 1, SEC):
        steady.advance(at)
    steady.handle(AcceptPrice(bidder="b1"), START + 2 * INTERVAL + 1)
    assert late.journal == steady.journal
    assert late.auction.state_hash() == steady.auction.state_hash()


# ========================================================= replay & snapshot
def busy_run() -> Run:
    """A multi-lot event with a bit of everything."""
    run = Run(multi_spec(*two_lots()["lots"], as_lot(open_spec(), "O")))
    steps: list[tuple[AnyCommand, int]] = [
        (AcceptPrice(bidder="b1", lot="J", bid_id="a"), START + SEC),
        (AcceptPrice(bidder="b1", lot="J", bid_id="a"), START + SEC),
        (AcceptPrice(bidder="b1", lot="J"), START + SEC),
        (PlaceBid(bidder="b2", amount=95_000, lot="O", bid_id="a"), START + 2 * SEC),
        (PlaceBid(bidder="b3", amount=94_950, lot="O"), START + 3 * SEC),
        (Pause(official="o"), START + 4 * SEC),
        (PlaceBid(bidder="b3", amount=90_000, lot="O"), START + 5 * SEC),
        (Extend(official="o", ms=SEC, lot="J"), START + 6 * SEC),
        (Resume(official="o"), START + 9 * SEC),
        (AcceptPrice(bidder="b2", lot="J"), START + 10 * SEC),
        (CancelBid(bidder="b3", lot="J", bid_id="w"), START + 11 * SEC),
        (Disqualify(official="o", bidder="b2", lot="O"), START + 12 * SEC),
        (AcceptPrice(bidder="b4", lot="D"), START + 3 * INTERVAL),
    ]
    run.advance(START)
    for command, at in steps:
        run.handle(command, at)
    return run


def test_replay_equals_the_live_state() -> None:
    run = busy_run()
    assert only(run.journal, CommandRejected)
    replayed = Auction.replay(run.spec, run.journal)
    assert replayed.state_hash() == run.auction.state_hash()
    assert replayed.state == run.auction.state
    assert replayed.lot_states == run.auction.lot_states
    run.advance(START + 2 * OPEN)
    assert run.auction.finished
    assert Auction.replay(run.spec, run.journal).state_hash() == run.auction.state_hash()


def test_replay_of_every_prefix_matches_the_live_hash_at_that_point() -> None:
    run = Run(japanese_spec())
    hashes = [run.auction.state_hash()]
    lengths = [0]
    for command, at in [
        (AcceptPrice(bidder="b1"), START + 1),
        (AcceptPrice(bidder="b1"), START + 2),
        (CancelBid(bidder="b2"), START + 3),
        (AcceptPrice(bidder="b3"), START + 4),
        (AcceptPrice(bidder="b1"), START + ROUND),
    ]:
        run.handle(command, at)
        hashes.append(run.auction.state_hash())
        lengths.append(len(run.journal))
    for digest, length in zip(hashes, lengths, strict=True):
        assert Auction.replay(run.spec, run.journal[:length]).state_hash() == digest


def test_snapshot_restore_round_trip() -> None:
    run = busy_run()
    snap = run.auction.snapshot()
    restored = Auction.restore(run.spec, snap)
    assert restored.snapshot() == snap
    assert restored.state_hash() == run.auction.state_hash()
    assert restored.lot_states == run.auction.lot_states
    # both continue alike
    tail_live = run.handle(AcceptPrice(bidder="b1", lot="J"), START + 200 * SEC)
    tail_restored = restored.handle(AcceptPrice(bidder="b1", lot="J"), START + 200 * SEC)
    assert tail_live.events == tail_restored.events
    assert tail_live.rejection is not None
    assert tail_restored.rejection is not None
    assert tail_live.rejection.code == tail_restored.rejection.code == Code.AUCTION_CLOSED
    assert restored.state_hash() == run.auction.state_hash()


def test_restore_then_apply_the_tail() -> None:
    run = busy_run()
    cut = len(run.journal)
    snap = run.auction.snapshot()
    run.advance(START + 2 * OPEN)
    restored = Auction.restore(run.spec, snap)
    for ev in run.journal[cut:]:
        restored.apply(ev)
    assert restored.state_hash() == run.auction.state_hash()


def test_snapshot_is_deterministic() -> None:
    assert busy_run().auction.snapshot() == busy_run().auction.snapshot()
    assert Run(japanese_spec()).auction.state_hash() != Run(dutch_spec()).auction.state_hash()


def test_restore_refuses_another_auctions_snapshot() -> None:
    snap = Run(japanese_spec()).auction.snapshot()
    with pytest.raises(EngineBug):
        Auction.restore(parse_spec(dutch_spec()), snap)


def test_apply_of_an_event_for_an_unknown_lot_is_a_bug() -> None:
    auction = Run(japanese_spec()).auction
    with pytest.raises(EngineBug):
        auction.apply(LotStarted(at=START, lot="nope", labels=[]))


# =================================================================== views
IDENTITIES = {"b1", "b2", "b3", "b4", "Supplier 1 LLC", "Supplier 2 LLC", "Supplier 3 LLC"}


def test_public_view_hides_identities_while_live() -> None:
    run = Run(open_spec())
    run.advance(START)
    run.handle(PlaceBid(bidder="b2", amount=90_000), START + 1)
    run.handle(PlaceBid(bidder="b1", amount=80_000), START + 2)
    view = auction_view(run.auction, "public")
    assert view["role"] == "public"
    assert not strings(view) & IDENTITIES
    ladder = view["lots"][0]["ladder"]
    assert [(e["rank"], e["label"], e["amount"]) for e in ladder] == [
        (1, "Bidder #1", 80_000),
        (2, "Bidder #2", 90_000),
        (None, "Bidder #3", None),
    ]
    assert "you" not in view["lots"][0]
    assert "winner" not in view["lots"][0]


def test_public_view_reveals_names_once_the_lot_ended() -> None:
    run = Run(open_spec())
    run.advance(START)
    run.handle(PlaceBid(bidder="b2", amount=90_000), START + 1)
    run.advance(START + OPEN)
    lot = auction_view(run.auction, "public")["lots"][0]
    assert lot["outcome"] == "completed"
    assert lot["winner"] == {
        "bidder": "b2",
        "name": "Supplier 2 LLC",
        "label": "Bidder #2",
        "amount": 90_000,
        "score": "90000",
    }
    assert (lot["ladder"][0]["bidder"], lot["ladder"][0]["name"]) == ("b2", "Supplier 2 LLC")


def test_public_view_of_a_multi_lot_event_reveals_only_ended_lots() -> None:
    run = Run(two_lots())
    run.advance(START)
    run.handle(AcceptPrice(bidder="b4", lot="D"), START + 1)
    run.handle(AcceptPrice(bidder="b1", lot="J"), START + 2)
    view = auction_view(run.auction, "public")
    j, d = view["lots"]
    assert not strings(j) & IDENTITIES
    assert d["winner"]["bidder"] == "b4"
    assert d["winner"]["name"] == "Fourth Ltd"


def test_japanese_and_dutch_public_views_hide_identities() -> None:
    run = Run(two_lots())
    run.advance(START)
    run.handle(AcceptPrice(bidder="b1", lot="J"), START + 1)
    run.handle(CancelBid(bidder="b3", lot="J"), START + 2)
    assert not strings(auction_view(run.auction, "public")) & IDENTITIES


def test_bidder_view_lists_only_the_lots_it_is_admitted_to() -> None:
    run = Run(two_lots())
    run.advance(START)
    ids = {
        b: [lot["id"] for lot in auction_view(run.auction, "bidder", b)["lots"]]
        for b in ("b1", "b2", "b3", "b4")
    }
    assert ids == {"b1": ["J", "D"], "b2": ["J", "D"], "b3": ["J"], "b4": ["D"]}
    assert auction_view(run.auction, "bidder", "stranger")["lots"] == []


def test_bidder_view_marks_its_own_entry_and_hides_others() -> None:
    run = Run(open_spec())
    run.advance(START)
    run.handle(PlaceBid(bidder="b2", amount=90_000), START + 1)
    run.handle(PlaceBid(bidder="b1", amount=80_000), START + 2)
    view = auction_view(run.auction, "bidder", "b2")
    assert view["role"] == "bidder"
    lot = view["lots"][0]
    assert lot["you"] == {"rank": 2, "label": "Bidder #2", "amount": 90_000, "you": True}
    assert not strings(lot) & IDENTITIES
    assert lot["max_bid"] == 79_900


def test_official_view_sees_everything() -> None:
    run = Run(two_lots())
    run.advance(START)
    run.handle(AcceptPrice(bidder="b1", lot="J"), START + 1)
    run.handle(Disqualify(official="o", bidder="b2", lot="J"), START + 2)
    run.handle(AcceptPrice(bidder="b2", lot="J"), START + 3)
    view = auction_view(run.auction, "official")
    assert [lot["id"] for lot in view["lots"]] == ["J", "D"]
    j = view["lots"][0]
    assert j["disqualified"] == ["b2"]
    assert j["rejections"] == 1
    assert j["confirmed_by"] == ["b1"]
    assert {e["bidder"] for e in j["ladder"]} == {"b1", "b3"}
    assert {e["name"] for e in j["ladder"]} == {"Supplier 1 LLC", "Supplier 3 LLC"}


def test_view_header() -> None:
    run = Run(two_lots())
    run.advance(START)
    view = auction_view(run.auction, "official")
    assert {k: view[k] for k in ("auction", "role", "paused", "cancelled", "finished")} == {
        "auction": "m1",
        "role": "official",
        "paused": False,
        "cancelled": False,
        "finished": False,
    }
    assert view["seq"] == len(run.journal)
    assert view["next_deadline"] == START + INTERVAL
    json.dumps(view)  # JSON-ready


def test_view_arguments_are_checked() -> None:
    auction = Run(japanese_spec()).auction
    with pytest.raises(ValueError, match="role"):
        auction_view(auction, "admin")
    with pytest.raises(ValueError, match="bidder id"):
        auction_view(auction, "bidder")


# ===================================================== result & audit record
def test_result_structure() -> None:
    run = Run(open_spec())
    run.advance(START)
    accepted(run.handle(PlaceBid(bidder="b1", amount=87_650), START + 1))
    accepted(run.handle(PlaceBid(bidder="b3", amount=87_500), START + 2))
    res = result(run.auction)
    assert res["finished"] is False
    assert res["lots"][0]["outcome"] is None
    run.advance(START + OPEN)
    res = result(run.auction)
    assert {k: res[k] for k in ("auction", "currency", "currency_exponent", "finished")} == {
        "auction": "o1",
        "currency": "UAH",
        "currency_exponent": 2,
        "finished": True,
    }
    (lot,) = res["lots"]
    assert lot["outcome"] == "completed"
    assert lot["ended_at"] == iso(START + OPEN)
    assert lot["winner"] == {
        "bidder": "b3",
        "name": "Supplier 3 LLC",
        "label": "Bidder #3",
        "amount": 87_500,
    }
    assert (lot["savings"], lot["savings_percent"]) == (12_500, "12.5")
    assert [(r["rank"], r["bidder"], r["amount"]) for r in lot["ranking"]] == [
        (1, "b3", 87_500),
        (2, "b1", 87_650),
        (3, "b2", None),
    ]
    json.dumps(res)


def test_iso_times_are_utc_with_milliseconds() -> None:
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(START) == "1970-01-01T00:16:40.000Z"
    assert iso(1_714_557_600_123) == "2024-05-01T10:00:00.123Z"


def test_audit_record_lists_every_event_with_seq_and_time() -> None:
    run = busy_run()
    run.advance(START + 2 * OPEN)
    record = audit_record(run.auction, run.journal)
    assert record["record_version"] == RECORD_VERSION
    assert record["auction"] == "m1"
    assert record["spec"] == run.spec.raw
    assert record["state_hash"] == run.auction.state_hash()
    assert record["result"] == result(run.auction)
    events = record["events"]
    assert len(events) == len(run.journal) == record["summary"]["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    for item, ev in zip(events, run.journal, strict=True):
        assert item["time"] == iso(ev.at)
        assert item["type"] == ev.__struct_config__.tag
        assert item["at"] == ev.at
    codes = [e["code"] for e in events if e["type"] == "command_rejected"]
    assert record["summary"]["rejections_by_code"] == {
        c: codes.count(c) for c in sorted(set(codes))
    }
    assert record["summary"]["rejections_by_code"]
    by_type = record["summary"]["by_type"]
    assert list(by_type) == sorted(by_type)
    assert sum(by_type.values()) == len(events)
    json.dumps(record)


def test_audit_record_counts_rejections_by_code() -> None:
    run = Run(japanese_spec())
    run.advance(START)
    run.handle(AcceptPrice(bidder="zz"), START + 1)
    run.handle(AcceptPrice(bidder="zz"), START + 2)
    run.handle(PlaceBid(bidder="b1", amount=1), START + 3)
    record = audit_record(run.auction, run.journal)
    assert record["summary"]["rejections_by_code"] == {"not_supported": 1, "unknown_bidder": 2}


# ============================================================ event coding
SAMPLES: list[Event] = [
    LotStarted(at=1, lot="1", labels=["b1", "b2"]),
    LotEnded(at=2, lot="1", outcome="completed", winner="b1", amount=100),
    LotEnded(at=2, lot="1", outcome="no_winner", winner=None, amount=None),
    BidPlaced(at=3, lot="1", bidder="b1", amount=99, bid_id="x", surrogate_by="o"),
    BidCancelled(at=4, lot="1", bidder="b1", bid_id="y", surrogate_by=""),
    PriceAccepted(at=5, lot="1", bidder="b2", price=1_000, bid_id="", surrogate_by=""),
    CommandRejected(
        at=6,
        lot="",
        actor="b1",
        command="place_bid",
        code="auction_paused",
        message="paused",
        bid_id="z",
        amount=5,
        surrogate_by="",
    ),
    AuctionPaused(at=7, lot="", official="o", reason="why"),
    AuctionResumed(at=8, lot="", official="o", shift=1_000),
    AuctionCancelled(at=9, lot="", official="o", reason="because"),
    BidderDisqualified(at=10, lot="1", bidder="b1", official="o", reason="r"),
    DeadlineExtended(at=11, lot="1", official="o", ms=5_000),
    StartMoved(at=11, lot="1", official="bridge", start_at=90_000),
    PauseStarted(at=12, lot="1", before_round=2, deadline=20),
    RoundStarted(at=13, lot="1", round=2, order=["b2", "b1"]),
    TurnStarted(at=14, lot="1", round=2, bidder="b2", deadline=30),
    TurnEnded(at=15, lot="1", round=2, bidder="b2", amount=90, changed=True),
    BiddingOpened(at=16, lot="1", close_at=100, phase_ends=[40, 70]),
    PhaseStarted(at=17, lot="1", phase=2),
    CloseExtended(at=18, lot="1", close_at=120),
    ClockRoundStarted(at=19, lot="1", round=3, price=8_000, deadline=50),
    BidderDropped(at=20, lot="1", bidder="b3", reason="withdrew", bid_id="w"),
    BidderDropped(at=20, lot="1", bidder="b3", reason="no_confirmation"),
    PriceChanged(at=21, lot="1", step=4, price=9_000, deadline=60),
]


def test_samples_cover_every_event_type() -> None:
    assert {type(ev) for ev in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda ev: ev.__struct_config__.tag)
def test_event_msgpack_round_trip(event: Event) -> None:
    data = encode_event(event)
    assert isinstance(data, bytes)
    decoded = decode_event(data)
    assert decoded == event
    assert type(decoded) is type(event)
    as_dict = event_to_dict(event)
    assert as_dict["type"] == event.__struct_config__.tag
    assert {k for k in as_dict if k != "type"} == set(event.__struct_fields__)


def test_event_list_round_trip() -> None:
    assert decode_events(encode_events(SAMPLES)) == SAMPLES
    journal = busy_run().journal
    assert decode_events(encode_events(journal)) == journal


def test_events_are_compact_arrays() -> None:
    raw = msgspec.msgpack.decode(encode_event(SAMPLES[0]))
    assert raw == ["lot_started", 1, "1", ["b1", "b2"]]


def test_bidder_dropped_without_a_bid_id_still_decodes() -> None:
    old = msgspec.msgpack.encode(["bidder_dropped", 5, "1", "b2", "no_confirmation"])
    assert decode_event(old) == BidderDropped(at=5, lot="1", bidder="b2", reason="no_confirmation")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        msgspec.msgpack.encode(["no_such_event", 1, "1"]),
        msgspec.msgpack.encode(["lot_started", "soon", "1", []]),
        msgspec.msgpack.encode({"at": 1}),
    ],
)
def test_decoding_garbage_raises(data: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_event(data)
