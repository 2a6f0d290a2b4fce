"""The simulator (auction.sim.runner): one auction on a virtual clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from auction.core import Auction, AuctionSpec, parse_spec
from auction.core.commands import AnyCommand
from auction.core.engine import Outcome
from auction.core.events import (
    AuctionCancelled,
    AuctionPaused,
    AuctionResumed,
    BidPlaced,
    CommandRejected,
    Event,
    LotEnded,
    LotStarted,
    PriceAccepted,
    TurnEnded,
    TurnStarted,
    decode_events,
    encode_events,
)
from auction.documents import load_document
from auction.sim import Simulation, make_bots, parse_script
from auction.sim.demo import DEMO_FORMATS, demo_spec
from tests.factories import (
    EXAMPLE_SPECS,
    EXAMPLES,
    FACTORIES,
    SEC,
    START,
    dutch_spec,
    japanese_spec,
    open_spec,
    parsed,
    rounds_spec,
)

DEMO_START = 1_800_000_000_000
"""A realistic start for the demo specs (their sealed bids are a day earlier)."""

R1 = START + 300 * SEC
"""Round 1 of a default rounds lot: the order is b3, b2, b1 (highest first)."""
TURN = 120 * SEC


def script(*actions: dict[str, Any]) -> dict[str, Any]:
    return {"actions": list(actions)}


def simulate(spec: AuctionSpec, *actions: dict[str, Any], seed: int | None = None) -> Simulation:
    bots = make_bots(spec, seed=seed) if seed is not None else []
    sim = Simulation(spec, actions=parse_script(script(*actions), spec.start_at), bots=bots)
    sim.run()
    return sim


def of_type(journal: list[Event], kind: type[Event]) -> list[Any]:
    return [ev for ev in journal if isinstance(ev, kind)]


def example(path: Path) -> AuctionSpec:
    return parse_spec(load_document(path))


# ------------------------------------------------------------ timing ties
def test_a_deadline_fires_before_a_command_at_the_same_instant() -> None:
    spec = parsed(rounds_spec(3))
    sim = simulate(
        spec,
        {"at": 420, "type": "bid", "bidder": "b3", "amount": 80_000, "bid_id": "late"},
        {"at": 419.999, "type": "bid", "bidder": "b3", "amount": 85_000, "bid_id": "in"},
    )
    journal = sim.journal
    placed = of_type(journal, BidPlaced)
    assert [(b.bid_id, b.at) for b in placed] == [("in", R1 + TURN - 1)]
    [late] = of_type(journal, CommandRejected)
    assert (late.bid_id, late.code, late.at) == ("late", "not_your_turn", R1 + TURN)
    # The turn ended (and the next began) before the late bid was decided.
    ended = next(ev for ev in journal if isinstance(ev, TurnEnded))
    assert journal.index(ended) < journal.index(late)
    assert (ended.bidder, ended.amount) == ("b3", 85_000)
    started = [ev for ev in journal if isinstance(ev, TurnStarted)]
    assert journal.index(started[1]) < journal.index(late)
    assert started[1].bidder == "b2"
    assert sim.auction.finished and sim.stopped == ""


def test_a_bid_at_the_close_of_an_open_lot_is_late() -> None:
    spec = parsed(open_spec(3, open={"duration_s": 60, "decrement": 100}))
    sim = simulate(
        spec,
        {"at": 60, "type": "bid", "bidder": "b1", "amount": 50_000},
        {"at": 59, "type": "bid", "bidder": "b2", "amount": 60_000},
    )
    [placed] = of_type(sim.journal, BidPlaced)
    assert placed.bidder == "b2"
    [late] = of_type(sim.journal, CommandRejected)
    assert (late.actor, late.code) == ("b1", "auction_closed")
    [ended] = of_type(sim.journal, LotEnded)
    assert (ended.winner, ended.amount, ended.at) == ("b2", 60_000, START + 60 * SEC)


def test_actions_after_the_end_are_still_sent_and_refused() -> None:
    spec = parsed(dutch_spec(2))
    sim = simulate(spec, {"at": 10**6, "type": "accept", "bidder": "b1"})
    assert sim.auction.finished and sim.stopped == ""
    [rejected] = of_type(sim.journal, CommandRejected)
    assert rejected.code == "auction_closed"
    assert sim.journal[-1] is rejected


def test_an_action_before_the_start_runs_at_its_own_time() -> None:
    spec = parsed(open_spec(2))
    sim = simulate(
        spec, {"at": "1970-01-01T00:16:30Z", "type": "bid", "bidder": "b1", "amount": 90_000}
    )
    first = sim.journal[0]
    assert isinstance(first, CommandRejected)
    assert (first.at, first.code) == (START - 10 * SEC, "auction_not_started")
    assert isinstance(sim.journal[1], LotStarted)
    assert not of_type(sim.journal, BidPlaced)


# ---------------------------------------------------------- replay, hash
@pytest.mark.parametrize("fmt", sorted(FACTORIES))
def test_the_journal_replays_to_the_same_state(fmt: str) -> None:
    spec = parsed(FACTORIES[fmt](3))
    sim = simulate(spec, seed=7)
    assert sim.auction.finished
    replayed = Auction.replay(spec, sim.journal)
    assert replayed.state_hash() == sim.auction.state_hash()
    decoded = decode_events(encode_events(sim.journal))
    assert Auction.replay(spec, decoded).state_hash() == sim.auction.state_hash()


def test_the_scripted_example_replays_to_the_same_state() -> None:
    spec = example(EXAMPLES / "rounds.toml")
    actions = parse_script(load_document(EXAMPLES / "rounds-script.toml"), spec.start_at)
    sim = Simulation(spec, actions=actions)
    auction = sim.run()
    assert auction.finished
    codes = [ev.code for ev in of_type(sim.journal, CommandRejected)]
    assert codes == ["not_your_turn", "step_too_small"]
    assert Auction.replay(spec, sim.journal).state_hash() == auction.state_hash()


# ------------------------------------------------------------ pause, stop
@pytest.mark.parametrize("fmt", sorted(FACTORIES))
@pytest.mark.parametrize("bots", [False, True])
def test_a_pause_with_no_resume_stops_instead_of_looping(fmt: str, bots: bool) -> None:
    spec = parsed(FACTORIES[fmt](3))
    sim = simulate(spec, {"at": 5, "type": "pause"}, seed=3 if bots else None)
    assert not sim.auction.finished
    assert sim.auction.paused
    assert "nothing left to happen" in sim.stopped
    assert not of_type(sim.journal, CommandRejected), "bots must not bid into a pause"


@pytest.mark.parametrize("fmt", sorted(FACTORIES))
def test_a_pause_then_resume_finishes_and_shifts_the_deadlines(fmt: str) -> None:
    spec = parsed(FACTORIES[fmt](3))
    sim = simulate(spec, {"at": 5, "type": "pause"}, {"at": 65, "type": "resume"}, seed=3)
    assert sim.auction.finished and sim.stopped == ""
    [paused] = of_type(sim.journal, AuctionPaused)
    [resumed] = of_type(sim.journal, AuctionResumed)
    assert resumed.shift == resumed.at - paused.at == 60 * SEC
    assert all(not (paused.at < ev.at < resumed.at) for ev in sim.journal)


def test_without_bots_or_actions_the_sealed_bids_decide() -> None:
    sim = simulate(parsed(rounds_spec(3)))
    [ended] = of_type(sim.journal, LotEnded)
    assert (ended.outcome, ended.winner, ended.amount) == ("completed", "b1", 90_000)


def test_a_cancelled_auction_ends_the_run() -> None:
    sim = simulate(parsed(japanese_spec(3)), {"at": 1, "type": "cancel_auction"}, seed=1)
    assert sim.auction.finished and sim.auction.state.cancelled
    assert isinstance(sim.journal[-1], AuctionCancelled)
    assert [st.outcome for st in sim.auction.lot_states.values()] == ["cancelled"]
    assert sim.stopped == ""


# ------------------------------------------------- bots finish everything
def _assert_won(sim: Simulation) -> None:
    assert sim.stopped == ""
    assert sim.auction.finished
    for lot_id, st in sim.auction.lot_states.items():
        assert st.outcome == "completed", lot_id
        assert st.winner is not None, lot_id


@pytest.mark.parametrize("path", EXAMPLE_SPECS, ids=lambda p: p.stem)
def test_bots_finish_every_example_with_a_winner(path: Path) -> None:
    spec = example(path)
    sim = Simulation(spec, bots=make_bots(spec, seed=1))
    sim.run()
    _assert_won(sim)
    assert of_type(sim.journal, BidPlaced) or of_type(sim.journal, PriceAccepted)


@pytest.mark.parametrize("fmt", DEMO_FORMATS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bots_finish_every_demo_with_a_winner(fmt: str, seed: int) -> None:
    spec = parse_spec(demo_spec(fmt, DEMO_START))
    sim = Simulation(spec, bots=make_bots(spec, seed=seed))
    sim.run()
    _assert_won(sim)


def test_the_examples_cover_every_format() -> None:
    formats = {lot.format for path in EXAMPLE_SPECS for lot in example(path).lots}
    assert formats == set(DEMO_FORMATS)


# ------------------------------------------------------------ determinism
@pytest.mark.parametrize("path", EXAMPLE_SPECS, ids=lambda p: p.stem)
def test_the_same_seed_gives_the_same_journal(path: Path) -> None:
    spec = example(path)
    first = Simulation(spec, bots=make_bots(spec, seed=42))
    second = Simulation(spec, bots=make_bots(spec, seed=42))
    first.run()
    second.run()
    assert encode_events(first.journal) == encode_events(second.journal)
    assert first.auction.state_hash() == second.auction.state_hash()


def test_a_different_seed_may_give_a_different_journal() -> None:
    spec = example(EXAMPLES / "open.toml")

    def journal(seed: int) -> bytes:
        sim = Simulation(spec, bots=make_bots(spec, seed=seed))
        sim.run()
        return encode_events(sim.journal)

    base = journal(1)
    assert any(journal(seed) != base for seed in range(2, 6))


# -------------------------------------------------------------- observers
def test_the_observer_sees_every_event_once_with_its_command() -> None:
    spec = parsed(rounds_spec(3))
    seen: list[Event] = []
    calls: list[tuple[int, AnyCommand | None, bool]] = []

    def observe(
        now: int, events: list[Event], outcome: Outcome | None, command: AnyCommand | None
    ) -> None:
        seen.extend(events)
        calls.append((now, command, outcome is None))
        assert all(ev.at <= now for ev in events)

    actions = parse_script(
        script({"at": 301, "type": "bid", "bidder": "b3", "amount": 85_000}), START
    )
    sim = Simulation(spec, actions=actions, on_events=observe)
    sim.run()
    assert seen == sim.journal
    with_command = [(now, cmd) for now, cmd, no_outcome in calls if cmd is not None]
    assert len(with_command) == 1
    assert with_command[0][0] == START + 301 * SEC
    # Deadline steps carry neither a command nor an outcome.
    assert all(no_outcome for _, cmd, no_outcome in calls if cmd is None)


def test_pace_is_called_with_non_decreasing_virtual_times() -> None:
    spec = parsed(open_spec(3))
    times: list[int] = []
    sim = Simulation(spec, bots=make_bots(spec, seed=5), pace=times.append)
    sim.run()
    assert times and times == sorted(times)
    assert times[0] == START
    assert times[-1] == sim.journal[-1].at
