"""The terminal ladder (auction.sim.render.LadderPrinter)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from auction.core import AuctionSpec, parse_spec
from auction.core.events import BidPlaced
from auction.documents import load_document
from auction.sim import Simulation, make_bots, parse_script
from auction.sim.render import LadderPrinter
from tests.factories import (
    EXAMPLES,
    FACTORIES,
    START,
    dutch_spec,
    japanese_spec,
    open_spec,
    parsed,
    rounds_spec,
)

NAMES = ("Supplier 1 LLC", "Supplier 2 LLC", "Supplier 3 LLC")


def render(
    spec: AuctionSpec,
    *actions: dict[str, Any],
    seed: int | None = None,
    verbose: bool = False,
) -> list[str]:
    out = io.StringIO()
    bots = make_bots(spec, seed=seed) if seed is not None else []
    sim = Simulation(spec, actions=parse_script({"actions": list(actions)}, START), bots=bots)
    sim.on_events = LadderPrinter(sim.auction, out, verbose=verbose)
    sim.run()
    return out.getvalue().splitlines()


def split_at_announcement(lines: list[str]) -> tuple[list[str], list[str]]:
    [at] = [i for i, line in enumerate(lines) if "ANNOUNCEMENT:" in line]
    return lines[:at], lines[at:]


# ----------------------------------------------------------- anonymity
@pytest.mark.parametrize("fmt", sorted(FACTORIES))
def test_the_ladder_is_anonymous_until_the_announcement(fmt: str) -> None:
    lines = render(parsed(FACTORIES[fmt](3)), seed=2)
    before, after = split_at_announcement(lines)
    assert not any(name in line for line in before for name in NAMES)
    assert not any(f"b{i}" in line.split() for line in before for i in (1, 2, 3))
    ladders = [line for line in before if line.lstrip().startswith("ladder:")]
    if fmt == "japanese":  # no ranking while it runs: its order would say who confirmed
        assert all("Bidder #" not in line and "who stays hidden" in line for line in ladders)
    else:
        assert all("Bidder #" in line for line in ladders)
    if fmt != "dutch":  # a dutch lot ends with its first accept: no ladder before
        assert ladders
    # After the end the names are shown, in the announcement and the last ladder.
    announcement, *rest = after
    assert any(name in announcement for name in NAMES)
    [final] = [line for line in rest if line.lstrip().startswith("ladder:")]
    assert "Bidder #" not in final
    assert sum(name in final for name in NAMES) >= 1


def test_an_example_ladder_shows_names_only_at_the_end() -> None:
    spec = parse_spec(load_document(EXAMPLES / "rounds.toml"))
    out = io.StringIO()
    sim = Simulation(spec, bots=make_bots(spec, seed=1))
    sim.on_events = LadderPrinter(sim.auction, out)
    sim.run()
    names = [b.name for b in spec.lots[0].bidders]
    before, after = split_at_announcement(out.getvalue().splitlines())
    assert not any(name in line for line in before for name in names)
    assert all(name in after[-1] for name in names)


def test_rounds_posts_stay_hidden_until_the_turn_ends() -> None:
    lines = render(
        parsed(rounds_spec(3)),
        {"at": 305, "type": "bid", "bidder": "b3", "amount": 85_000, "surrogate_by": "clerk"},
    )
    [post] = [line for line in lines if "posts a bid" in line]
    assert post == (
        "+00:05:05 Bidder #1 posts a bid, hidden until the turn ends (surrogate by clerk)"
    )
    assert "850.00" not in post
    assert "+00:07:00 turn of Bidder #1 ends: 850.00 UAH" in lines


# ------------------------------------------------------------ rejections
def test_a_rejection_is_printed_with_its_code() -> None:
    lines = render(
        parsed(rounds_spec(3)),
        {"at": 305, "type": "bid", "bidder": "b1", "amount": 80_000},
        {"at": 306, "type": "bid", "bidder": "b3", "amount": 91_500},
    )
    rejected = [line for line in lines if "REJECTED" in line]
    assert rejected == [
        "+00:05:05 REJECTED place_bid 800.00 UAH from Bidder #3: not_your_turn "
        "(only the bidder whose turn it is may post)",
        "+00:05:06 REJECTED place_bid 915.00 UAH from Bidder #1: step_too_small "
        "(bid at most 910.00 UAH: your amount less the minimal step of 10.00 UAH)",
    ]


def test_a_rejected_official_command_names_the_official() -> None:
    lines = render(parsed(open_spec(2)), {"at": 5, "type": "resume", "official": "chair"})
    assert "+00:00:05 REJECTED resume from chair: not_paused (the auction is not paused)" in lines


def test_a_rejection_before_the_start_is_shown_before_the_start() -> None:
    lines = render(
        parsed(open_spec(2)),
        {"at": "1970-01-01T00:16:30Z", "type": "bid", "bidder": "b1", "amount": 90_000},
    )
    assert lines[0].startswith("-00:00:10 REJECTED place_bid 900.00 UAH from Bidder #1: ")
    assert "auction_not_started" in lines[0]


# ----------------------------------------------------- official actions
def test_official_actions_are_printed() -> None:
    lines = render(
        parsed(open_spec(4)),
        {"at": 10, "type": "pause", "official": "chair", "reason": "network"},
        {"at": 40, "type": "resume", "official": "chair"},
        {"at": 50, "type": "extend", "seconds": 60},
        {"at": 60, "type": "disqualify", "bidder": "b2", "reason": "bid security withdrawn"},
        {"at": 65, "type": "disqualify", "bidder": "b3"},
        {"at": 70, "type": "cancel_auction", "reason": "complaint"},
    )
    assert lines == [
        "+00:00:00 lot starts with 4 bidders",
        "+00:00:00 bidding opens; closes at +00:10:00",
        "+00:00:10 PAUSED by chair: network",
        "+00:00:40 RESUMED by chair; deadlines move 30 s later",
        "+00:00:50 EXTENDED by official: +60 s",
        "+00:01:00 Bidder #2 DISQUALIFIED by official: bid security withdrawn",
        "+00:01:05 Bidder #3 DISQUALIFIED by official",
        "+00:01:10 CANCELLED by official: complaint",
    ]


# ---------------------------------------------------------------- clocks
def test_dutch_price_steps_are_printed_only_when_verbose() -> None:
    spec = parsed(dutch_spec(2))
    quiet = [line for line in render(spec) if "clock price" in line]
    loud = [line for line in render(spec, verbose=True) if "clock price" in line]
    assert quiet == ["+00:00:00 clock price 50.00 UAH"]
    assert len(loud) == 6  # 50.00 .. 100.00, one step every 10 s
    assert loud[-1] == "+00:00:50 clock price 100.00 UAH"


def test_japanese_rounds_and_anonymous_confirmations_are_printed() -> None:
    lines = render(parsed(japanese_spec(3)), seed=1)
    assert lines[1] == "+00:00:00 round 1: price 100.00 UAH until +00:00:30"
    assert any("a bidder confirms " in line for line in lines)
    assert any("a bidder drops out" in line for line in lines)
    live = lines[: next(i for i, line in enumerate(lines) if "ANNOUNCEMENT" in line)]
    # Who confirmed or dropped is never shown while the lot runs, not even by the
    # ladder's order: it gives the counts only.
    assert not any("Bidder #" in line for line in live)
    counts = "ladder: 3 of 3 bidders still in; 0 confirmed 100.00 UAH (who stays hidden)"
    assert f"           {counts}" in live


def test_a_multi_lot_event_names_the_lot() -> None:
    spec = parse_spec(load_document(EXAMPLES / "multilot.toml"))
    out = io.StringIO()
    sim = Simulation(spec, bots=make_bots(spec, seed=1))
    sim.on_events = LadderPrinter(sim.auction, out)
    sim.run()
    lines = out.getvalue().splitlines()
    for lot in ("gloves", "masks", "gowns"):
        assert any(f"[lot {lot}] lot starts" in line for line in lines)
        assert any(f"lot {lot} ladder:" in line for line in lines)


def test_money_and_clock_helpers() -> None:
    spec = parsed(open_spec(2))
    printer = LadderPrinter(Simulation(spec).auction, io.StringIO())
    assert printer.clock(START) == "+00:00:00"
    assert printer.clock(START + 3_723_999) == "+01:02:03"
    assert printer.clock(START - 61_000) == "-00:01:01"
    assert printer.money(None) == "-"
    assert printer.money(123_456) == "1,234.56 UAH"
    assert printer.score("1001/2") == "5.01 UAH"


# ------------------------------------------------- what the public may see
def test_under_features_scoring_only_scores_are_shown_until_the_end() -> None:
    spec = parse_spec(load_document(EXAMPLES / "rounds-features.toml"))
    out = io.StringIO()
    sim = Simulation(spec, bots=make_bots(spec, seed=1))
    sim.on_events = LadderPrinter(sim.auction, out)
    sim.run()
    raw = {
        LadderPrinter(sim.auction, io.StringIO()).money(ev.amount)
        for ev in sim.journal
        if isinstance(ev, BidPlaced)
    }
    before, after = split_at_announcement(out.getvalue().splitlines())
    ended = [line for line in before if "ends: " in line and "no change" not in line]
    assert ended and all("ends: scored " in line for line in ended)
    assert not any(amount in line for line in before for amount in raw)
    assert any(amount in after[-1] for amount in raw)  # revealed with the names


def test_a_rank_only_open_lot_hides_the_amounts() -> None:
    spec = parsed(open_spec(3, open={"visibility": "rank", "against": "own"}))
    lines = render(spec, seed=1)
    before, _ = split_at_announcement(lines)
    bids = [line for line in before if " bids " in line]
    assert bids and all(line.endswith(" bids (amount hidden)") for line in bids)
    assert not any("UAH" in line for line in before)
