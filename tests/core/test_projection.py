"""Events as each role sees them: nothing leaks that the views would hide."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from auction.core import Auction, PlaceBid, parse_spec
from auction.core.events import (
    BidPlaced,
    CommandRejected,
    Event,
    LotEnded,
    PriceAccepted,
    TurnEnded,
)
from auction.core.projection import project
from auction.documents import load_document
from auction.sim import Simulation, make_bots
from tests.core.harness import Run
from tests.factories import EXAMPLE_SPECS, START, japanese_spec, open_spec, rounds_spec


def strings(obj: Any) -> set[str]:
    if isinstance(obj, str):
        return {obj}
    if isinstance(obj, dict):
        return set().union(*(strings(v) for v in obj.values())) if obj else set()
    if isinstance(obj, list):
        return set().union(*(strings(v) for v in obj)) if obj else set()
    return set()


@pytest.mark.parametrize("path", EXAMPLE_SPECS, ids=lambda p: p.stem)
@pytest.mark.parametrize("role", ["public", "bidder"])
def test_no_identity_reaches_participants_before_the_announcement(path: Path, role: str) -> None:
    spec = parse_spec(load_document(path))
    secrets = {b.id for lot in spec.lots for b in lot.bidders}
    secrets |= {b.name for lot in spec.lots for b in lot.bidders}
    leaks: list[tuple[str, Any]] = []
    ended: set[str] = set()

    def watch(now: int, events: list[Event], *_: Any) -> None:
        for event in events:
            if isinstance(event, LotEnded):
                ended.add(event.lot)
                continue
            if event.lot in ended:
                continue
            shown = project(sim.auction, event, role)
            if shown is not None and strings(shown) & secrets:
                leaks.append((event.__struct_config__.tag, shown))

    sim = Simulation(spec, bots=make_bots(spec, seed=3), on_events=watch)
    sim.run()
    assert sim.auction.finished
    assert leaks == []


def test_officials_see_every_event_as_it_is() -> None:
    run = Run(open_spec(3))
    run.advance(START)
    out = run.bid("b1", 90_000, START + 1, bid_id="x")
    (event,) = out.events
    shown = project(run.auction, event, "official")
    assert shown is not None
    assert shown["bidder"] == "b1" and shown["amount"] == 90_000 and shown["bid_id"] == "x"


def test_rejections_are_private() -> None:
    run = Run(open_spec(3))
    run.advance(START)
    out = run.bid("b1", 10**9, START + 1)
    (event,) = out.events
    assert isinstance(event, CommandRejected)
    assert project(run.auction, event, "public") is None
    assert project(run.auction, event, "bidder") is None
    assert project(run.auction, event, "official") is not None


def test_a_rounds_post_shows_no_amount_until_the_turn_ends() -> None:
    run = Run(rounds_spec(2))
    run.advance(START + 300_000)
    turn_of = run.st.order[run.st.turn]
    out = run.bid(turn_of, 80_000, START + 300_001)
    (post,) = [e for e in out.events if isinstance(e, BidPlaced)]
    shown = project(run.auction, post, "public")
    assert shown is not None and shown["amount"] is None and shown["bidder"].startswith("Bidder #")
    ended = [e for e in run.advance(START + 420_000) if isinstance(e, TurnEnded)]
    public_end = project(run.auction, ended[0], "public")
    assert public_end is not None and public_end["amount"] == 80_000


def test_features_scoring_shows_scores_not_raw_amounts() -> None:
    spec = rounds_spec(
        2,
        scoring="features",
        features=[{"code": "Y", "values": ["0.05", "0.15"]}],
        amounts=[47_500_000, 48_000_000],
        start_value=50_000_000,
    )
    spec["bidders"][0]["features"] = {"Y": "0.05"}
    spec["bidders"][1]["features"] = {"Y": "0.15"}
    run = Run(spec)
    events = run.advance(START + 300_000 + 120_000)
    (ended,) = [e for e in events if isinstance(e, TurnEnded)]
    shown = project(run.auction, ended, "bidder")
    assert shown is not None
    assert shown["amount"] is None and shown["score"] is not None
    assert str(ended.amount) not in strings(shown)


def test_japanese_confirmations_do_not_say_who() -> None:
    run = Run(japanese_spec(3))
    run.advance(START)
    from auction.core import AcceptPrice

    out = run.handle(AcceptPrice(bidder="b2", bid_id="c"), START + 1)
    (accepted,) = [e for e in out.events if isinstance(e, PriceAccepted)]
    shown = project(run.auction, accepted, "public")
    assert shown is not None and shown["bidder"] is None and shown["bid_id"] == ""


def test_the_end_reveals_the_winner() -> None:
    run = Run(open_spec(2))
    run.advance(START)
    run.handle(PlaceBid(bidder="b2", amount=50_000, bid_id="w"), START + 5)
    (end,) = [e for e in run.advance(START + 10**9) if isinstance(e, LotEnded)]
    shown = project(run.auction, end, "public")
    assert shown is not None
    assert shown["winner"] == "b2" and shown["winner_name"] == "Supplier 2 LLC"


def test_an_unknown_role_is_refused() -> None:
    run = Run(open_spec(2))
    (event, *_) = run.advance(START)
    with pytest.raises(ValueError):
        project(run.auction, event, "admin")


def test_projection_does_not_depend_on_the_auction_object() -> None:
    run = Run(open_spec(2))
    events = run.advance(START)
    other = Auction.replay(run.spec, events)
    assert [project(other, e, "public") for e in events] == [
        project(run.auction, e, "public") for e in events
    ]
