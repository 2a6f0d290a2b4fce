"""Rescheduling: a lot that has not started moves, earlier or later; one that
has started cannot; the move is an event and replays like any other."""

from __future__ import annotations

import pytest

from auction.core import Auction, Code, Reschedule
from auction.core.engine import MAX_RESCHEDULE_MS
from auction.core.events import LotStarted, StartMoved
from tests.core.harness import Run, rejected
from tests.factories import START, as_lot, multi_spec, open_spec, rounds_spec

SEC = 1_000


def move(run: Run, start_at: int, now: int, lot: str = "") -> object:
    return run.handle(Reschedule(official="bridge", start_at=start_at, lot=lot), now)


@pytest.mark.parametrize("delta", [3_600 * SEC, -60 * SEC])
def test_a_scheduled_lot_starts_at_the_new_time(delta: int) -> None:
    run = Run(rounds_spec(3))
    now = START - 120 * SEC
    out = move(run, START + delta, now)
    assert out.accepted  # type: ignore[attr-defined]
    assert run.of(StartMoved) == [
        StartMoved(at=now, lot=run.spec.lots[0].id, official="bridge", start_at=START + delta)
    ]
    assert run.auction.next_deadline() == START + delta
    assert run.auction.latest_start() == START + delta
    assert run.advance(START + delta - 1) == []
    (started,) = [ev for ev in run.advance(START + delta) if isinstance(ev, LotStarted)]
    assert started.at == START + delta
    assert run.auction.latest_start() is None
    assert Auction.replay(run.spec, run.journal).state_hash() == run.auction.state_hash()


def test_moving_to_the_same_start_changes_nothing() -> None:
    run = Run(open_spec(2))
    out = move(run, START, START - SEC)
    assert out.accepted and out.events == []  # type: ignore[attr-defined]


def test_a_started_lot_cannot_move() -> None:
    run = Run(open_spec(2))
    run.advance(START)
    rejected(move(run, START + 60 * SEC, START + SEC), Code.ALREADY_STARTED)  # type: ignore[arg-type]


def test_a_start_that_is_due_fires_before_the_move_is_decided() -> None:
    run = Run(open_spec(2))
    out = move(run, START + 60 * SEC, START)
    rejected(out, Code.ALREADY_STARTED)  # type: ignore[arg-type]
    assert run.of(LotStarted)


@pytest.mark.parametrize("offset", [0, -SEC, MAX_RESCHEDULE_MS + 1])
def test_the_new_start_must_be_ahead_within_bounds(offset: int) -> None:
    run = Run(open_spec(2))
    now = START - 10 * SEC
    rejected(move(run, now + offset, now), Code.INVALID_START)  # type: ignore[arg-type]
    assert move(run, now + MAX_RESCHEDULE_MS, now).accepted  # type: ignore[attr-defined]


def test_not_while_paused() -> None:
    from auction.core import Pause

    run = Run(open_spec(2))
    run.handle(Pause(official="o"), START - 10 * SEC)
    rejected(move(run, START + SEC, START - 5 * SEC), Code.AUCTION_PAUSED)  # type: ignore[arg-type]


def test_each_lot_of_an_event_moves_on_its_own() -> None:
    run = Run(
        multi_spec(
            as_lot(open_spec(2), "L1"),
            as_lot(open_spec(2), "L2"),
            closing="staggered",
            stagger_s=60,
        )
    )
    lots = [lot.id for lot in run.spec.lots]
    rejected(move(run, START + SEC, START - SEC), Code.LOT_REQUIRED)  # type: ignore[arg-type]
    assert move(run, START + 600 * SEC, START - SEC, lot=lots[0]).accepted  # type: ignore[attr-defined]
    assert run.lot(lots[0]).deadline == START + 600 * SEC
    assert run.lot(lots[1]).deadline == run.spec.lots[1].start_at
    assert run.auction.latest_start() == START + 600 * SEC
