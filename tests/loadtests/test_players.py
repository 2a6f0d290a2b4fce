"""client/load/players.py: the bidders of every format, played against the real engine.

No server and no clock: a small driver runs the pure engine
(:class:`auction.core.engine.Auction`) on virtual time, shows each player its
bidder view and every event as its role sees it (the projections the
gateway sends), and hands the engine each command at the time the player
planned it, ``latency`` ms later. The engine is the judge: a rounds post out
of turn would come back ``not_your_turn``, a post breaking the step rule
``step_too_small``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest

from auction.core import parse_spec
from auction.core.commands import AcceptPrice, CancelBid, PlaceBid
from auction.core.engine import Auction
from auction.core.events import BidPlaced, CommandRejected, TurnEnded, TurnStarted, event_to_dict
from auction.core.projection import project
from auction.core.views import auction_view
from client.load.plan import Tactics, build_plan
from client.load.players import Command, OpenPlayer, RatePlayer, RoundsPlayer, SeatPlayer
from client.load.profile import load_profile, parse_profile

T0 = 1_796_112_000_000


@dataclass
class Played:
    auction: Auction
    journal: list = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)


def play(spec: dict, seats: Iterable[tuple[str, SeatPlayer]], latency: int = 0) -> Played:
    """Run ``spec`` to its end with these players; each command reaches the engine
    ``latency`` ms after the player sent it."""
    auction = Auction(parse_spec(spec))
    run = Played(auction)
    players = dict(seats)
    now = auction.spec.start_at - 1
    for bidder, player in players.items():
        player.on_view(auction_view(auction, "bidder", bidder), now)
    in_flight: list[tuple[int, str, Command, int]] = []  # (arrives, bidder, cmd, sent)

    def show(events: list) -> None:
        run.journal.extend(events)
        for ev in events:
            for _bidder, player in players.items():
                seen = project(auction, ev, "bidder")
                if seen is not None and (not ev.lot or ev.lot in player.players):
                    player.on_event(seen, now)

    for _ in range(200_000):
        if auction.finished and not in_flight:
            break
        times = [t for t in (auction.next_deadline(),) if t is not None]
        times += [t for p in players.values() if (t := p.next_at()) is not None]
        times += [arrives for arrives, *_ in in_flight]
        if not times:
            break
        now = max(now, min(times))
        arrived = [f for f in in_flight if f[0] <= now]
        if arrived:
            _arrives, bidder, cmd, sent = arrived[0]
            in_flight.remove(arrived[0])
            if cmd.kind == "bid":
                command = PlaceBid(lot=cmd.lot, bidder=bidder, amount=cmd.amount or 0)
            elif cmd.kind == "cancel":
                command = CancelBid(lot=cmd.lot, bidder=bidder)
            else:
                command = AcceptPrice(lot=cmd.lot, bidder=bidder)
            outcome = auction.handle(command, now)
            code = outcome.rejection.code.value if outcome.rejection else ""
            result = players[bidder].on_answer(cmd, not code, code, sent)
            run.outcomes[result.name] += 1
            show(outcome.events)
            continue
        deadline = auction.next_deadline()
        if deadline is not None and deadline <= now:
            show(auction.advance(now))
            continue
        for bidder, player in players.items():
            cmd = player.take(now)
            if cmd is not None:
                in_flight.append((now + latency, bidder, cmd, now))
            for fmt, note in player.notes():
                run.notes[f"{fmt}: {note}"] += 1
    assert auction.finished, "the auction did not finish"
    return run


def seats_of(plan_auction_id: str, plan) -> list[tuple[str, SeatPlayer]]:
    return [
        (s.bidder, SeatPlayer.planned(s.tactics, s.seed))
        for s in plan.seats
        if s.auction == plan_auction_id
    ]


def turns_kept(journal: list) -> None:
    """Every post and cancel was made by the bidder whose turn it was, during it."""
    current: dict[str, str | None] = {}
    for ev in journal:
        if isinstance(ev, TurnStarted):
            current[ev.lot] = ev.bidder
        elif isinstance(ev, TurnEnded):
            current[ev.lot] = None
        elif isinstance(ev, BidPlaced | CommandRejected) and current.get(ev.lot, "open") != "open":
            bidder = ev.bidder if isinstance(ev, BidPlaced) else ev.actor
            assert current.get(ev.lot) == bidder, event_to_dict(ev)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_every_format_plays_to_its_end_within_the_rules(seed: int) -> None:
    plan = build_plan(load_profile("formats"), t0_ms=T0, run_id="p", compression=60, seed=seed)
    for auction in plan.auctions:
        run = play(auction.spec, seats_of(auction.id, plan))
        turns_kept(run.journal)
        rejected = Counter(ev.code for ev in run.journal if isinstance(ev, CommandRejected))
        formats = set(auction.formats)
        # a bidder's own logic never breaks a rule the engine would refuse...
        allowed = {"step_too_small", "auction_closed"} if formats & {"open", "dutch"} else set()
        assert set(rejected) <= allowed, (auction.kind, rejected)
        # ...and never misses a window when the server is instant
        assert not run.notes, run.notes
        assert not any("late" in name for name in run.outcomes)
        accepted = sum(n for name, n in run.outcomes.items() if name.endswith(" ack"))
        assert accepted > 0, (auction.kind, run.outcomes)


def test_rounds_bidders_post_in_their_own_turn_within_the_step_rule() -> None:
    text = (
        "compression = 60\n[bidders]\nmin = 6\nmax = 6\nmean = 6\n"
        "[[auctions]]\nformat = 'rounds'\ncount = 4\n"
    )
    plan = build_plan(parse_profile(text), t0_ms=T0, run_id="r")
    posts = cancels = 0
    for auction in plan.auctions:
        run = play(auction.spec, seats_of(auction.id, plan))
        turns_kept(run.journal)
        assert not [ev for ev in run.journal if isinstance(ev, CommandRejected)]
        posts += run.outcomes["bid ack"]
        cancels += run.outcomes["cancel ack"]
        held = {b["id"]: b["amount"] for b in auction.spec["bidders"]}
        step = auction.spec["minimal_step"]
        for ev in run.journal:
            if isinstance(ev, BidPlaced):
                assert ev.amount <= held[ev.bidder] - step  # against its own amount
            if isinstance(ev, TurnEnded) and ev.changed:
                held[ev.bidder] = ev.amount
    assert posts > 40 and cancels > 0  # several posts in some turns, cancels in a few


def test_a_slow_server_turns_into_missed_turns_not_into_out_of_turn_bids() -> None:
    """With every command 700 ms on the way in 1 s turns, the late ones are named as such."""
    text = (
        "compression = 120\n[bidders]\nmin = 3\nmax = 3\nmean = 3\n"
        "[[auctions]]\nformat = 'rounds'\ncount = 1\n"
    )
    plan = build_plan(parse_profile(text), t0_ms=T0, run_id="slow")
    auction = plan.auctions[0]
    run = play(auction.spec, seats_of(auction.id, plan), latency=700)
    late = run.outcomes["bid late: server slow"] + run.outcomes["cancel late: server slow"]
    assert late > 0
    assert not any(name.startswith(("bid rejected", "cancel rejected")) for name in run.outcomes)


def test_snipers_bid_in_the_dynamic_close_window_and_extend_it() -> None:
    tactics = [
        Tactics("1", "open", 600_000, "sniper", 1000),
        Tactics("1", "open", 650_000, "sniper", 1000),
    ]
    spec = {
        "id": "snipe",
        "start_at": T0,
        "format": "open",
        "start_value": 1_000_000,
        "open": {
            "duration_s": 10,
            "decrement": 1000,
            "dynamic_close_s": 1,
            "dynamic_close_cap_s": 5,
        },
        "bidders": [{"id": "a"}, {"id": "b"}],
    }
    players = [
        (b, SeatPlayer({"1": OpenPlayer(t, random.Random(i))}))
        for i, (b, t) in enumerate(zip("ab", tactics, strict=True))
    ]
    run = play(spec, players)
    bids = [ev for ev in run.journal if isinstance(ev, BidPlaced)]
    assert bids and all(ev.at >= T0 + 9000 for ev in bids)  # only near the close
    assert any(type(ev).__name__ == "CloseExtended" for ev in run.journal)
    assert min(ev.amount for ev in bids) >= 600_000  # nobody under its reserve


def test_the_rate_player_bids_at_its_pace() -> None:
    spec = {
        "id": "rate",
        "start_at": T0,
        "format": "open",
        "start_value": 10**9,
        "open": {"duration_s": 2, "decrement": 1},
        "bidders": [{"id": "a"}, {"id": "b"}],
    }
    tactics = Tactics("1", "open", 1)
    players = [
        (b, SeatPlayer({"1": RatePlayer(tactics, random.Random(i), 10.0, "undercut")}))
        for i, b in enumerate("ab")
    ]
    run = play(spec, players)
    assert 30 <= run.outcomes["bid ack"] + run.outcomes["bid rejected step_too_small"] <= 44


def test_rounds_player_ignores_other_bidders_turns_and_replays() -> None:
    player = RoundsPlayer(Tactics("1", "rounds", 1), random.Random(3))
    player.on_view(
        {"status": "live", "minimal_step": 10, "you": {"label": "Bidder #2", "amount": 1000}},
        0,
    )
    player.on_event({"type": "turn_started", "bidder": "Bidder #1", "at": 0, "deadline": 1000}, 0)
    assert player.next_at() is None
    turn = {"type": "turn_started", "bidder": "Bidder #2", "at": 1000, "deadline": 2000}
    for _ in range(3):  # a resumed stream replays it: planned once
        player.on_event(turn, 1000)
    planned = list(player.queue)
    assert planned and all(1000 <= c.due <= 1700 and c.window_end == 2000 for c in planned)
    assert all(c.amount is None or c.amount <= 990 for c in planned)
