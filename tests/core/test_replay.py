"""Replay, snapshot and journal encoding of whole auctions.

Each auction below is played to the end on a fake clock by a deterministic
script (a policy that looks at the state and bids, posts, cancels or accepts;
officials pause, extend and disqualify in some). The clock visits every
second and, around each deadline, one ms before it and the deadline itself.
Then, for the journal of ``n`` events:

- for EVERY ``k`` in ``0..n``: ``restore(snapshot after event k)`` plus
  ``apply(events k..n)`` has the hash of the full replay and of the live
  engine, and the restored snapshot equals the original byte for byte;
- the live engine's own snapshots (taken after each call) equal the replay's
  at the same point;
- ``encode_events``/``decode_events`` (and the one-event forms) round-trip the
  journal, and the decoded journal replays to the same hash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from auction.core import (
    AcceptPrice,
    AnyCommand,
    Auction,
    AuctionSpec,
    CancelBid,
    Disqualify,
    Event,
    Extend,
    Outcome,
    Pause,
    PlaceBid,
    Resume,
    decode_event,
    encode_event,
    parse_spec,
)
from auction.core.events import (
    AuctionPaused,
    AuctionResumed,
    BidCancelled,
    BidderDisqualified,
    BidderDropped,
    BidPlaced,
    CloseExtended,
    CommandRejected,
    DeadlineExtended,
    LotEnded,
    PhaseStarted,
    PriceAccepted,
    decode_events,
    encode_events,
)
from auction.core.formats.base import LIVE
from auction.core.formats.dutch import DutchState
from auction.core.formats.japanese import JapaneseState
from auction.core.formats.open import OpenRules, OpenState
from auction.core.formats.rounds import RoundsRules, RoundsState
from tests.factories import (
    SEC,
    START,
    bidders,
    dutch_spec,
    japanese_spec,
    lot_of,
    multi_lot_spec,
    open_spec,
    rounds_spec,
)


# ==================================================================== driver
@dataclass
class Run:
    """A live auction, its journal, and the live snapshots taken along the way."""

    spec: AuctionSpec
    live: Auction
    now: int = START - 5 * SEC
    journal: list[Event] = field(default_factory=list)
    snapshots: dict[int, bytes] = field(default_factory=dict)
    """Journal length -> the live engine's snapshot at that point."""
    calls: list[tuple[int, AnyCommand | None, int]] = field(default_factory=list)
    """Every call in order: (now, the command or None for advance, journal length before)."""
    memo: dict[str, Any] = field(default_factory=dict)
    """Scratch space for policies (what they saw at an earlier tick)."""

    def send(self, command: AnyCommand) -> Outcome:
        self.calls.append((self.now, command, len(self.journal)))
        outcome = self.live.handle(command, self.now)
        self._record(outcome.events)
        return outcome

    def advance(self) -> None:
        self.calls.append((self.now, None, len(self.journal)))
        self._record(self.live.advance(self.now))

    def _record(self, events: list[Event]) -> None:
        self.journal.extend(events)
        self.snapshots[len(self.journal)] = self.live.snapshot()


Policy = Callable[[Run, str], None]
"""Acts for one lot at ``run.now``."""


@dataclass(frozen=True)
class Officials:
    """When (seconds after the start) officials pause, resume, extend and disqualify."""

    pause: int
    resume: int
    extend: int
    disqualify: int
    bidder: str = "b3"
    """Who is disqualified (from every lot)."""

    def __call__(self, run: Run) -> None:
        elapsed = run.now - START
        live = [lot.id for lot in run.spec.lots if run.live.lot_states[lot.id].status == LIVE]
        lot = live[0] if live else run.spec.lots[0].id
        if elapsed == self.pause * SEC:
            run.send(Pause(official="o1", reason="network trouble"))
            run.send(PlaceBid(lot=lot, bidder="b1", amount=1, bid_id="while-paused"))
            run.send(Extend(official="o1", ms=5 * SEC, lot=lot))
        elif elapsed == self.resume * SEC:
            run.send(Resume(official="o1"))
        elif elapsed == self.extend * SEC:
            run.send(Extend(official="o1", ms=10 * SEC, lot=lot))
        elif elapsed == self.disqualify * SEC:
            run.send(Disqualify(official="o1", bidder=self.bidder, reason="collusion"))


def play(raw: dict[str, Any], officials: Officials | None = None) -> Run:
    """Play an auction to its end. The clock visits every whole second, and
    ``deadline - 1`` and ``deadline`` of every deadline."""
    spec = parse_spec(raw)
    run = Run(spec, Auction(spec))
    for _ in range(100_000):
        run.advance()
        if officials is not None:
            officials(run)
        for lot in spec.lots:
            POLICIES[lot.format](run, lot.id)
        if run.live.finished:
            return run
        step = SEC - run.now % SEC
        deadline = run.live.next_deadline()
        if deadline is not None:
            step = min(step, deadline - 1 - run.now if deadline - 1 > run.now else 1)
        run.now += step
    raise AssertionError("the auction never ended")


# ================================================================= policies
def rounds_policy(run: Run, lot: str) -> None:
    """Each turn: a post at once (most turns), a lower one 2 s later (some),
    a cancel 3 s in (a few), a resend of the first post 4 s in, a post at the
    last ms (one label), a post out of turn, and a post from the bidder whose
    turn ended at the very ms it ended (rejected)."""
    live = run.live
    st = live.lot_states[lot]
    rules = live.rules[lot]
    assert isinstance(st, RoundsState) and isinstance(rules, RoundsRules)
    ended = run.memo.get(lot)
    if ended is not None and ended[1] == run.now:
        run.send(PlaceBid(lot=lot, bidder=ended[0], amount=1_000, bid_id=f"late-{run.now}"))
    if st.stage != "turn" or st.deadline is None:
        return
    bidder = st.order[st.turn]
    run.memo[lot] = (bidder, st.deadline)
    i = st.labels.index(bidder)
    elapsed = run.now - (st.deadline - rules.settings.turn_ms)
    limit = rules.max_bid(st, bidder)
    first = f"{lot}-r{st.round}-{bidder}"
    if elapsed == 0 and limit and (st.round + i) % 3 != 2:
        run.send(PlaceBid(lot=lot, bidder=bidder, amount=limit - 7 * i, bid_id=first))
    if elapsed == 2 * SEC and limit and i % 2 == 0:
        run.send(PlaceBid(lot=lot, bidder=bidder, amount=limit - 500, bid_id=f"{first}-2"))
    if elapsed == 3 * SEC and (st.round + i) % 4 == 1:
        run.send(CancelBid(lot=lot, bidder=bidder, bid_id=f"{first}-cancel"))
    if elapsed == 4 * SEC and limit:
        run.send(PlaceBid(lot=lot, bidder=bidder, amount=limit - 7 * i, bid_id=first))
    if run.now == st.deadline - 1:
        if i == 1 and limit:
            run.send(PlaceBid(lot=lot, bidder=bidder, amount=limit, bid_id=f"{first}-last-ms"))
        other = st.order[(st.turn + 1) % len(st.order)]
        run.send(PlaceBid(lot=lot, bidder=other, amount=1_000, bid_id=f"{first}-{other}"))


def open_policy(run: Run, lot: str) -> None:
    """Every 3 s the bidder after the leader bids its maximum (and resends it);
    a bid at the last ms before the close (a dynamic close extends it); a
    too-small bid every 7 s; silence after 40 bids, so the lot closes; a bid
    at the very ms of the close (rejected)."""
    live = run.live
    st = live.lot_states[lot]
    rules = live.rules[lot]
    assert isinstance(st, OpenState) and isinstance(rules, OpenRules)
    if run.memo.get(lot) == run.now:
        run.send(PlaceBid(lot=lot, bidder="b1", amount=1, bid_id=f"at-close-{run.now}"))
    if st.status != LIVE:
        return
    run.memo[lot] = st.close_at if st.quiet_at is None else min(st.close_at, st.quiet_at)
    if st.bids >= 40:
        return
    labels = st.labels
    leader = st.leader
    bidder = labels[(labels.index(leader) + 1) % len(labels)] if leader else labels[0]
    limit = rules.max_bid(st, bidder)
    if limit is None:
        return
    if run.now % (3 * SEC) == 0 or run.now == st.close_at - 1:
        bid = PlaceBid(lot=lot, bidder=bidder, amount=limit, bid_id=f"{lot}-{run.now}")
        run.send(bid)
        run.send(bid)
    elif run.now % (7 * SEC) == 0:
        run.send(PlaceBid(lot=lot, bidder=bidder, amount=limit + 1, bid_id=f"small{run.now}"))


def japanese_policy(run: Run, lot: str) -> None:
    """One second into each round every bidder still in confirms (and resends),
    except: in round 2 the last label withdraws (and resends), in round 3 the
    third label lets the round pass; in round 4 the second label confirms at
    the last ms. A confirm at the very ms a round ended (rejected)."""
    live = run.live
    st = live.lot_states[lot]
    assert isinstance(st, JapaneseState)
    ended = run.memo.get(lot)
    if ended is not None and ended[1] == run.now:
        run.send(AcceptPrice(lot=lot, bidder=ended[0], bid_id=f"late-{run.now}"))
    if st.status != LIVE or st.deadline is None:
        return
    settings = live.rules[lot].settings  # type: ignore[attr-defined]
    started = st.deadline - settings.round_ms
    for i, bidder in enumerate(st.labels):
        if bidder not in st.active or bidder in st.confirmed:
            continue
        bid_id = f"{lot}-j{st.round}-{bidder}"
        if st.round == 2 and i == len(st.labels) - 1:
            run.send(CancelBid(lot=lot, bidder=bidder, bid_id=bid_id))
            run.send(CancelBid(lot=lot, bidder=bidder, bid_id=bid_id))
        elif st.round == 3 and i == 2:
            run.memo[lot] = (bidder, st.deadline)
        elif st.round == 4 and i == 1:
            if run.now == st.deadline - 1:
                run.send(AcceptPrice(lot=lot, bidder=bidder, bid_id=bid_id))
        elif run.now >= started + SEC:
            run.send(AcceptPrice(lot=lot, bidder=bidder, bid_id=bid_id))
            run.send(AcceptPrice(lot=lot, bidder=bidder, bid_id=bid_id))


def dutch_policy(run: Run, lot: str) -> None:
    """A bid (not supported here) at the first price; the second label accepts
    at the very ms the clock shows its fourth price, and the first label a
    moment too late; with two bidders nobody accepts."""
    live = run.live
    st = live.lot_states[lot]
    assert isinstance(st, DutchState)
    if st.status != LIVE:
        return
    second = st.labels[1]
    if st.step == 0:
        run.send(PlaceBid(lot=lot, bidder=second, amount=5_000, bid_id=f"{lot}-bid"))
    interval = live.rules[lot].settings.interval_ms  # type: ignore[attr-defined]
    if len(st.labels) > 2 and st.step == 3 and st.deadline == run.now + interval:
        run.send(AcceptPrice(lot=lot, bidder=second, bid_id=f"{lot}-accept"))
        run.send(AcceptPrice(lot=lot, bidder=st.labels[0], bid_id=f"{lot}-late"))


POLICIES: dict[str, Policy] = {
    "rounds": rounds_policy,
    "open": open_policy,
    "japanese": japanese_policy,
    "dutch": dutch_policy,
}


# =================================================================== cases
FEATURES = [{"code": "q", "values": [0, "0.05", "0.1", "0.15"]}]


def _features(spec: dict[str, Any]) -> dict[str, Any]:
    spec["scoring"] = "features"
    spec["features"] = FEATURES
    for i, b in enumerate(spec["bidders"]):
        b["features"] = {"q": FEATURES[0]["values"][i % 4]}
    return spec


def _open(**settings: Any) -> dict[str, Any]:
    base = {"duration_s": 120, "dynamic_close_s": 30, "dynamic_close_cap_s": 60, "phases": 2}
    base.update(settings)
    return open_spec(4, open=base)


@dataclass(frozen=True)
class Case:
    raw: dict[str, Any]
    expect: frozenset[type[Event]]
    """Event types the script must produce (guards the script itself)."""
    officials: Officials | None = None
    winners: int = 1


ROUNDS = frozenset({BidPlaced, BidCancelled, CommandRejected})
OPEN = frozenset({BidPlaced, CommandRejected})
OPEN_DYNAMIC = OPEN | {PhaseStarted, CloseExtended}
JAPANESE = frozenset({PriceAccepted, BidderDropped, CommandRejected})
DUTCH = frozenset({PriceAccepted, CommandRejected})
OFFICIAL = frozenset({AuctionPaused, AuctionResumed, DeadlineExtended, BidderDisqualified})

CASES: dict[str, Case] = {
    "rounds": Case(rounds_spec(4), ROUNDS),
    "rounds-ties-officials": Case(
        rounds_spec(4, amounts=[60_000, 60_000, 61_000, 60_000]),
        ROUNDS | OFFICIAL,
        Officials(pause=400, resume=430, extend=500, disqualify=600),
    ),
    "rounds-features": Case(_features(rounds_spec(3, amounts=[95_000, 97_000, 99_000])), ROUNDS),
    "open-best": Case(_open(), OPEN_DYNAMIC),
    "open-own-percent-sealed": Case(
        open_spec(
            3,
            open={
                "duration_s": 90,
                "decrement": None,
                "decrement_percent": "0.5",
                "against": "own",
            },
            bidders=bidders(3, amounts=[90_000, 95_000, 99_000]),
        ),
        OPEN,
    ),
    "open-quiet-officials": Case(
        _open(duration_s=120, quiet_close_s=10, phases=4),
        OPEN | {PhaseStarted} | OFFICIAL,
        Officials(pause=40, resume=70, extend=80, disqualify=100),
    ),
    "open-features": Case(_features(_open()), OPEN_DYNAMIC),
    "japanese": Case(japanese_spec(4), JAPANESE),
    "japanese-percent-officials": Case(
        japanese_spec(4, japanese={"step": None, "step_percent": 10}),
        JAPANESE | OFFICIAL,
        Officials(pause=20, resume=25, extend=30, disqualify=40, bidder="b2"),
    ),
    "dutch-rising": Case(dutch_spec(3), DUTCH),
    "dutch-falling-officials": Case(
        dutch_spec(
            3,
            dutch={
                "start_price": 10_000,
                "limit_price": 2_000,
                "direction": "falling",
                "interval_s": 150,
            },
        ),
        DUTCH | OFFICIAL,
        Officials(pause=400, resume=430, extend=440, disqualify=460),
    ),
    "dutch-no-winner": Case(dutch_spec(2), frozenset({CommandRejected}), winners=0),
    "multi-lot-together": Case(
        multi_lot_spec(
            lot_of(rounds_spec(3), "A"),
            lot_of(_open(), "B"),
            lot_of(japanese_spec(4), "C"),
            lot_of(dutch_spec(3), "D"),
        ),
        ROUNDS | OPEN_DYNAMIC | JAPANESE | DUTCH,
        winners=4,
    ),
    "multi-lot-staggered-officials": Case(
        multi_lot_spec(
            lot_of(dutch_spec(3), "D"),
            lot_of(rounds_spec(4), "A"),
            lot_of(japanese_spec(3), "C"),
            lot_of(_open(quiet_close_s=20), "B"),
            closing="staggered",
            stagger_s=45,
        ),
        ROUNDS | OPEN | JAPANESE | DUTCH | OFFICIAL,
        Officials(pause=400, resume=430, extend=500, disqualify=600),
        winners=4,
    ),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[Case, Run]:
    case = CASES[request.param]
    return case, play(case.raw, case.officials)


# =================================================================== tests
def test_the_script_reaches_what_is_tested(case: tuple[Case, Run]) -> None:
    """Guards the scripts: every case ends, with the events it is meant to show."""
    expected, run = case
    assert run.live.finished
    kinds = {type(ev) for ev in run.journal}
    assert expected.expect <= kinds, (
        f"missing {sorted(t.__name__ for t in expected.expect - kinds)}"
    )
    winners = [ev for ev in run.journal if isinstance(ev, LotEnded) and ev.winner is not None]
    assert len(winners) == expected.winners
    assert any(isinstance(ev, CommandRejected) for ev in run.journal)


def test_full_replay_matches_live(case: tuple[Case, Run]) -> None:
    _, run = case
    replayed = Auction.replay(run.spec, run.journal)
    assert replayed.state_hash() == run.live.state_hash()
    assert replayed.snapshot() == run.live.snapshot()


def test_restore_at_every_k_then_apply_the_tail(case: tuple[Case, Run]) -> None:
    """For every k in 0..n: restore(snapshot after k events) + events k..n is
    the full replay; the restored snapshot is the original, byte for byte; the
    live engine's snapshots are the replay's at the same point."""
    _, run = case
    full = Auction.replay(run.spec, run.journal).state_hash()
    assert full == run.live.state_hash()
    prefix = Auction(run.spec)
    n = len(run.journal)
    for k in range(n + 1):
        snapshot = prefix.snapshot()
        if k in run.snapshots:
            assert run.snapshots[k] == snapshot, f"live snapshot at {k} differs from replay"
        restored = Auction.restore(run.spec, snapshot)
        assert restored.snapshot() == snapshot, f"snapshot at {k} does not round-trip"
        for ev in run.journal[k:]:
            restored.apply(ev)
        assert restored.state_hash() == full, f"restore at {k} + events {k}..{n} differs"
        if k < n:
            prefix.apply(run.journal[k])


def test_journal_encoding_round_trips(case: tuple[Case, Run]) -> None:
    _, run = case
    data = encode_events(run.journal)
    decoded = decode_events(data)
    assert decoded == run.journal
    assert encode_events(decoded) == data
    assert [decode_event(encode_event(ev)) for ev in run.journal] == run.journal
    assert Auction.replay(run.spec, decoded).state_hash() == run.live.state_hash()


def test_a_restored_engine_decides_the_rest_identically(case: tuple[Case, Run]) -> None:
    """A node taking over from a snapshot, fed the same calls, emits the same
    events: restore after call c, redo calls c+1.. and compare with the journal
    (for a spread of c; every c would be quadratic in the number of ticks)."""
    _, run = case
    points = range(0, len(run.calls), max(1, len(run.calls) // 25))
    for c in [*points, len(run.calls) - 1]:
        _, _, before = run.calls[c]
        engine = Auction.restore(
            run.spec, Auction.replay(run.spec, run.journal[:before]).snapshot()
        )
        redone: list[Event] = []
        for now, command, _ in run.calls[c:]:
            if command is None:
                redone.extend(engine.advance(now))
            else:
                redone.extend(engine.handle(command, now).events)
        assert redone == run.journal[before:], f"diverged after restoring at call {c}"
        assert engine.snapshot() == run.live.snapshot()
