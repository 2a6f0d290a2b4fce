"""Bidding bots (auction.sim.bots): what they see, when and how low they bid."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

import pytest

import auction.sim.bots as bots_module
from auction.core import Auction, AuctionSpec, auction_view, parse_spec
from auction.core.commands import AcceptPrice, AnyCommand, PlaceBid
from auction.core.engine import Outcome
from auction.core.events import (
    BidPlaced,
    CommandRejected,
    Event,
    PriceAccepted,
)
from auction.documents import load_document
from auction.sim import STRATEGIES, Bot, Simulation, make_bots
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

SEEDS = range(1, 6)


def all_specs() -> list[tuple[str, AuctionSpec]]:
    specs = [(p.stem, parse_spec(load_document(p))) for p in EXAMPLE_SPECS]
    specs += [(f"demo-{f}", parse_spec(demo_spec(f, 1_800_000_000_000))) for f in DEMO_FORMATS]
    specs += [(f"factory-{f}", parsed(build(4))) for f, build in FACTORIES.items()]
    falling = dutch_spec(
        3, dutch={"start_price": 9_000, "limit_price": 2_000, "direction": "falling"}
    )
    specs.append(("factory-dutch-falling", parsed(falling)))
    return specs


SPECS = all_specs()
SPEC_IDS = [name for name, _ in SPECS]


class Recorder:
    """Collects every command sent and every event, as the runner reports them."""

    def __init__(self) -> None:
        self.commands: list[tuple[int, AnyCommand, Outcome]] = []
        self.events: list[Event] = []

    def __call__(
        self, now: int, events: list[Event], outcome: Outcome | None, command: AnyCommand | None
    ) -> None:
        self.events.extend(events)
        if command is not None:
            assert outcome is not None
            self.commands.append((now, command, outcome))


def run(spec: AuctionSpec, bots: list[Bot]) -> tuple[Simulation, Recorder]:
    recorder = Recorder()
    sim = Simulation(spec, bots=bots, on_events=recorder)
    sim.run()
    assert sim.stopped == ""
    return sim, recorder


# ------------------------------------------------------------ what it sees
class SealedAuction:
    """Stands in for the auction: a bot may do nothing with it but ask for a view."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a bot read auction.{name} instead of its bidder view")


@pytest.mark.parametrize(("name", "spec"), SPECS, ids=SPEC_IDS)
def test_a_bot_sees_nothing_but_its_own_bidder_view(
    name: str, spec: AuctionSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    bots = make_bots(spec, seed=2)
    sim = Simulation(spec, bots=bots)
    sealed = SealedAuction()
    acting: list[str] = []
    views: Counter[tuple[str, str | None]] = Counter()

    def view(auction: Any, role: str, bidder: str | None = None) -> dict[str, Any]:
        assert auction is sealed
        assert (role, bidder) == ("bidder", acting[-1])
        views[(role, bidder)] += 1
        return auction_view(sim.auction, role, bidder)

    monkeypatch.setattr(bots_module, "auction_view", view)
    for bot in bots:
        replan, act = bot.replan, bot.act

        def sealed_replan(auction: Auction, now: int, bot: Bot = bot, f: Any = replan) -> None:
            acting.append(bot.bidder)
            f(sealed, now)

        def sealed_act(auction: Auction, now: int, bot: Bot = bot, f: Any = act) -> Any:
            acting.append(bot.bidder)
            return f(sealed, now)

        monkeypatch.setattr(bot, "replan", sealed_replan)
        monkeypatch.setattr(bot, "act", sealed_act)
    sim.run()
    assert sim.auction.finished
    assert {bidder for _, bidder in views} == {b.bidder for b in bots if b.strategy != "passive"}


# ----------------------------------------------------------------- passive
@pytest.mark.parametrize(("name", "spec"), SPECS, ids=SPEC_IDS)
def test_passive_bots_never_bid(name: str, spec: AuctionSpec) -> None:
    ids = {b.id for lot in spec.lots for b in lot.bidders}
    bots = make_bots(spec, dict.fromkeys(sorted(ids), "passive"), seed=1)
    sim, recorder = run(spec, bots)
    assert recorder.commands == []
    assert all(bot.wake_at is None for bot in bots)
    assert not any(isinstance(ev, BidPlaced | PriceAccepted) for ev in sim.journal)
    assert sim.auction.finished


@pytest.mark.parametrize("fmt", sorted(FACTORIES))
def test_a_passive_bot_stays_silent_among_active_ones(fmt: str) -> None:
    spec = parsed(FACTORIES[fmt](3))
    bots = make_bots(spec, {"b1": "eager", "b2": "passive", "b3": "steady"}, seed=4)
    _, recorder = run(spec, bots)
    senders = {getattr(cmd, "bidder", None) for _, cmd, _ in recorder.commands}
    assert "b2" not in senders
    assert senders  # the others did act


# ---------------------------------------------------------------- reserves
@pytest.mark.parametrize(("name", "spec"), SPECS, ids=SPEC_IDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_no_bot_bids_below_its_reserve(name: str, spec: AuctionSpec, seed: int) -> None:
    bots = make_bots(spec, seed=seed)
    reserve = {bot.bidder: bot.reserve for bot in bots}
    _, recorder = run(spec, bots)
    for _, command, _ in recorder.commands:
        if isinstance(command, PlaceBid):
            assert command.amount >= reserve[command.bidder][command.lot], command
    for ev in recorder.events:
        if isinstance(ev, BidPlaced):
            assert ev.amount >= reserve[ev.bidder][ev.lot]
        if isinstance(ev, PriceAccepted):
            lot = spec.lot(ev.lot)
            assert lot is not None
            if lot.dutch is not None and lot.dutch.direction == "falling":
                assert ev.price <= reserve[ev.bidder][ev.lot]
            else:  # japanese and a rising (reverse) dutch clock
                assert ev.price >= reserve[ev.bidder][ev.lot]


@pytest.mark.parametrize("direction", ["rising", "falling"])
@pytest.mark.parametrize("seed", SEEDS)
def test_dutch_bots_accept_only_at_an_acceptable_price(direction: str, seed: int) -> None:
    settings = {"start_price": 2_000, "limit_price": 10_000, "step": 500, "direction": direction}
    if direction == "falling":
        settings.update(start_price=10_000, limit_price=2_000)
    spec = parsed(dutch_spec(3, dutch=settings))
    bots = make_bots(spec, seed=seed)
    reserve = {bot.bidder: bot.reserve["1"] for bot in bots}
    for value in reserve.values():
        assert 2_000 <= value <= 10_000
    sim = Simulation(spec, bots=bots)
    accepted: list[tuple[str, int]] = []

    def observe(
        now: int, events: list[Event], outcome: Outcome | None, command: AnyCommand | None
    ) -> None:
        if isinstance(command, AcceptPrice):
            # The price on the clock when the accept was decided.
            price = next(
                (ev.price for ev in events if isinstance(ev, PriceAccepted)),
                None,
            )
            if price is None:
                assert isinstance(events[-1], CommandRejected)
                return
            accepted.append((command.bidder, price))

    sim.on_events = observe
    sim.run()
    [(winner, price)] = accepted
    if direction == "rising":
        assert price >= reserve[winner]
        # The clock rose only until the lowest reserve was reached.
        assert price - 500 < min(reserve.values())
    else:
        assert price <= reserve[winner]
        assert price + 500 > max(reserve.values())
    assert sim.auction.lot_states["1"].winner == winner


def test_given_reserves_are_shares_of_the_start_value() -> None:
    spec = parsed(open_spec(3))
    bots = make_bots(spec, {"b1": "eager", "b2": "steady"}, reserves={"b1": 0.8}, seed=1)
    assert bots[0].reserve == {"1": 80_000}
    assert 55_000 <= bots[1].reserve["1"] <= 90_000


def test_an_eager_bot_goes_down_to_its_reserve_but_not_below() -> None:
    spec = parsed(open_spec(2, open={"duration_s": 600, "decrement": 100}))
    bots = make_bots(spec, {"b1": "eager", "b2": "eager"}, reserves={"b1": 0.6, "b2": 0.7})
    sim, _ = run(spec, bots)
    st = sim.auction.lot_states["1"]
    assert st.winner == "b1"
    placed = [ev for ev in sim.journal if isinstance(ev, BidPlaced)]
    lowest_b2 = min(ev.amount for ev in placed if ev.bidder == "b2")
    assert lowest_b2 >= 70_000
    # b2 stopped because beating b1 would have taken it below its reserve.
    assert st.winning_amount is not None and st.winning_amount >= 60_000
    assert st.winning_amount - 100 < 70_000 <= lowest_b2


# ------------------------------------------------------------- strategies
def test_a_sniper_waits_for_the_last_seconds_of_an_open_lot() -> None:
    spec = parsed(open_spec(2, open={"duration_s": 600, "decrement": 100}))
    for seed in SEEDS:
        bots = make_bots(spec, {"b1": "sniper", "b2": "passive"}, seed=seed)
        sim, _ = run(spec, bots)
        [bid] = [ev for ev in sim.journal if isinstance(ev, BidPlaced)]
        assert START + 596 * SEC <= bid.at < START + 600 * SEC
        assert sim.auction.lot_states["1"].winner == "b1"


def test_a_steady_bot_bids_one_step_and_only_when_not_leading() -> None:
    spec = parsed(open_spec(2, open={"duration_s": 600, "decrement": 100}))
    bots = make_bots(spec, {"b1": "steady", "b2": "steady"}, reserves={"b1": 0.99, "b2": 0.98})
    sim, recorder = run(spec, bots)
    amounts = [ev.amount for ev in sim.journal if isinstance(ev, BidPlaced)]
    bidders = [ev.bidder for ev in sim.journal if isinstance(ev, BidPlaced)]
    assert amounts[0] == 100_000
    assert all(b - a == 100 for b, a in pairwise(amounts))
    assert all(x != y for x, y in pairwise(bidders))
    assert all(outcome.accepted for _, _, outcome in recorder.commands)


def test_a_rounds_bot_posts_once_per_turn_and_only_in_its_turn() -> None:
    spec = parsed(rounds_spec(3))
    bots = make_bots(spec, {"b1": "eager", "b2": "steady", "b3": "sniper"}, seed=9)
    sim, recorder = run(spec, bots)
    assert recorder.commands
    assert all(outcome.accepted for _, _, outcome in recorder.commands)
    posts = Counter(ev.bidder for ev in sim.journal if isinstance(ev, BidPlaced))
    assert all(count <= 3 for count in posts.values())


def test_the_default_assignment_takes_the_active_strategies_in_turn() -> None:
    spec = parsed(open_spec(4))
    assert [(b.bidder, b.strategy) for b in make_bots(spec)] == [
        ("b1", "eager"),
        ("b2", "steady"),
        ("b3", "sniper"),
        ("b4", "eager"),
    ]
    assert STRATEGIES == ("eager", "steady", "sniper", "passive")


def test_bots_of_a_multi_lot_event_have_a_reserve_for_every_lot() -> None:
    spec = parse_spec(load_document(EXAMPLES / "multilot.toml"))
    for bot in make_bots(spec, seed=1):
        assert set(bot.reserve) == {lot.id for lot in spec.lots}


def test_the_same_seed_gives_the_same_bots() -> None:
    spec = parsed(japanese_spec(3))
    first = [(b.bidder, b.strategy, b.reserve) for b in make_bots(spec, seed=11)]
    second = [(b.bidder, b.strategy, b.reserve) for b in make_bots(spec, seed=11)]
    assert first == second


# ------------------------------------------------------------------ errors
def test_an_unknown_strategy_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown strategy 'nonsense'"):
        make_bots(parsed(open_spec(2)), {"b1": "nonsense"})


def test_an_unknown_bidder_is_an_error() -> None:
    with pytest.raises(ValueError, match="no bidder 'ghost'"):
        make_bots(parsed(open_spec(2)), {"ghost": "eager"})
