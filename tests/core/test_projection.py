"""Events as each role sees them: nothing leaks that the views would hide."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.core import (
    AcceptPrice,
    Auction,
    CancelBid,
    Disqualify,
    PlaceBid,
    auction_view,
    parse_spec,
)
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


# ------------------------------------------------ safe by construction
def test_every_event_type_has_a_decided_projection() -> None:
    """A new event type must be given a projector (or be hidden on purpose)."""
    from auction.core.events import EVENT_TYPES
    from auction.core.projection import DECIDED

    hidden = {t.__name__ for t in EVENT_TYPES if t not in DECIDED}
    assert hidden == {"CommandRejected"}


def test_an_event_of_no_lot_or_an_unknown_lot_is_never_shown_raw() -> None:
    run = Run(open_spec(3))
    run.advance(START)
    for lot in ("", "nope"):
        event = CommandRejected(
            at=START + 1,
            lot=lot,
            actor="b1",
            command="place_bid",
            code="unknown_lot",
            message="no lot",
            bid_id="secret",
            amount=12_345,
            surrogate_by="",
        )
        for role in ("public", "bidder"):
            assert project(run.auction, event, role) is None
    stray = BidPlaced(at=START + 1, lot="nope", bidder="b1", amount=1, bid_id="x", surrogate_by="")
    assert project(run.auction, stray, "public") is None


def test_a_disqualification_before_the_start_names_no_label() -> None:
    """Before the start no label is fixed: the projection must not depend on when it runs."""
    from auction.core import Disqualify

    run = Run(open_spec(3))
    out = run.handle(Disqualify(official="o", bidder="b2"), START - 10)
    (event,) = out.events
    before = project(run.auction, event, "public")
    run.advance(START)
    after = project(run.auction, event, "public")
    assert before == after and before is not None and before["bidder"] is None


# ----------------------------------------------------- the identity rule
_SECRET_IDS = [f"supplier-{k}-secret" for k in range(4)]
_SECRET_NAMES = [f"Hidden Name {k} LLC" for k in range(4)]


def _secret_spec(formats: list[str]) -> dict[str, Any]:
    from tests.factories import as_lot, dutch_spec, multi_spec

    builders = {
        "rounds": rounds_spec,
        "open": open_spec,
        "japanese": japanese_spec,
        "dutch": dutch_spec,
    }
    lots = []
    for i, fmt in enumerate(formats):
        lot = as_lot(builders[fmt](3), f"L{i}")
        for j, bidder in enumerate(lot["bidders"]):
            bidder["id"] = _SECRET_IDS[j]
            bidder["name"] = _SECRET_NAMES[j]
        lots.append(lot)
    return multi_spec(*lots, id="identity")


def _identity_commands() -> Any:
    from hypothesis import strategies as st

    from auction.core import AcceptPrice, CancelBid, Disqualify, Extend, Pause, Resume

    lots = st.sampled_from(["", "L0", "L1", "L2", "nope", "Ä"])
    bidders = st.sampled_from([*_SECRET_IDS, "stranger"])
    bid_ids = st.integers(min_value=0, max_value=5).map(lambda k: f"bid-secret-{k}")
    amounts = st.one_of(
        st.integers(min_value=-5, max_value=200_000), st.sampled_from([2**63, -(2**63) - 1])
    )
    return st.one_of(
        st.builds(PlaceBid, lot=lots, bidder=bidders, amount=amounts, bid_id=bid_ids),
        st.builds(CancelBid, lot=lots, bidder=bidders, bid_id=bid_ids),
        st.builds(AcceptPrice, lot=lots, bidder=bidders, bid_id=bid_ids),
        st.builds(Pause, lot=lots, official=st.just("official"), reason=st.just("check")),
        st.builds(Resume, lot=lots, official=st.just("official")),
        st.builds(Extend, lot=lots, official=st.just("official"), ms=st.integers(-5, 10**6)),
        st.builds(
            Disqualify,
            lot=lots,
            official=st.just("official"),
            bidder=bidders,
            reason=st.just("rules"),
        ),
    )


def _secrets_in(shown: Any) -> set[str]:
    found = set()
    for text in strings(shown):
        for secret in (*_SECRET_IDS, *_SECRET_NAMES, "bid-secret-"):
            if secret in text:
                found.add(secret)
    return found


def test_no_identity_reaches_the_public_or_other_bidders_whatever_the_commands() -> None:
    """For random multi-lot events and random commands (invalid ones included:
    no lot, unknown lots, strangers, absurd amounts), no bidder id, name or bid
    id appears in a public or bidder projection, nor in the public view or
    another bidder's view, before the lot's announcement."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from auction.core.views import auction_view

    formats = st.lists(
        st.sampled_from(["rounds", "open", "japanese", "dutch"]), min_size=1, max_size=3
    )

    @settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
    @given(formats=formats, data=st.data())
    def check(formats: list[str], data: st.DataObject) -> None:
        run = Run(_secret_spec(formats))
        now = START - 1_000
        ended: set[str] = set()
        for _ in range(data.draw(st.integers(min_value=1, max_value=25))):
            now += data.draw(st.sampled_from([0, 1, 500, 30_000, 120_001, 400_000]))
            out = run.handle(data.draw(_identity_commands()), now)
            for event in out.events:
                if isinstance(event, LotEnded):
                    ended.add(event.lot)
                    continue
                if event.lot in ended or run.auction.state.cancelled:
                    continue
                for role in ("public", "bidder"):
                    shown = project(run.auction, event, role)
                    assert not _secrets_in(shown), (event, shown)
            open_lots = [lot for lot in run.spec.lots if lot.id not in ended]
            if not open_lots or run.auction.state.cancelled:
                break
            public = auction_view(run.auction, "public")
            bidder = auction_view(run.auction, "bidder", _SECRET_IDS[0])
            for view in (public, bidder):
                for lot in view["lots"]:
                    if lot["id"] in ended:
                        continue
                    leaked = _secrets_in(lot) - (
                        {_SECRET_IDS[0], _SECRET_NAMES[0]} if view is bidder else set()
                    )
                    assert not leaked - {"bid-secret-"}, (lot["id"], leaked)

    check()


# --------------------------------------------- japanese: who confirmed stays hidden
JAPANESE_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["accept"] * 4 + ["cancel", "wait", "disqualify"]),
        st.integers(0, 4),
        st.integers(1, 12_000),
    ),
    max_size=40,
)


def _japanese_run(
    n: int, plan: list[tuple[str, int, int]], actor: Callable[[int], str]
) -> Iterator[tuple[Auction, list[Event]]]:
    """Play ``plan`` on a fresh Japanese lot, bidder ``i`` of the plan being
    ``actor(i)``; yield the auction and each step's events."""
    auction = Auction(parse_spec(japanese_spec(n, japanese={"round_s": 10, "step": 500})))
    now = START
    yield auction, auction.advance(now)
    for kind, who, pause in plan:
        now += pause
        bidder = actor(who % n)
        if kind == "accept":
            events = auction.handle(AcceptPrice(bidder=bidder, bid_id=f"{now}"), now).events
        elif kind == "cancel":
            events = auction.handle(CancelBid(bidder=bidder, bid_id=f"{now}"), now).events
        elif kind == "disqualify":
            events = auction.handle(Disqualify(official="o", bidder=bidder), now).events
        else:
            events = auction.advance(now)
        yield auction, events


@settings(max_examples=150, deadline=None)
@given(n=st.integers(3, 5), data=st.data(), plan=JAPANESE_STEPS)
def test_japanese_views_and_projections_do_not_depend_on_who_confirmed(
    n: int, data: st.DataObject, plan: list[tuple[str, int, int]]
) -> None:
    """Two runs that differ only in WHO acts (bidders permuted), the same number
    of confirmations and withdrawals at the same moments, look the same to the
    public and to every bidder the permutation leaves alone, until the lot ends:
    every view and every projected event. Disqualifications are public, so they
    fall on the same bidder in both runs."""
    ids = [f"b{i + 1}" for i in range(n)]
    perm = data.draw(st.permutations(range(n)), label="who acts instead")
    fixed = [ids[i] for i in range(n) if perm[i] == i]
    plan = [
        (kind, who, pause)
        for kind, who, pause in plan
        if kind != "disqualify" or perm[who % n] == who % n
    ]
    first = _japanese_run(n, plan, lambda i: ids[i])
    second = _japanese_run(n, plan, lambda i: ids[perm[i]])
    for (a, events_a), (b, events_b) in zip(first, second, strict=True):
        lot_a, lot_b = a.lot_states["1"], b.lot_states["1"]
        assert lot_a.status == lot_b.status, "the counts alone decide when the lot ends"
        if lot_a.status == "ended":
            break
        for role in ("public", "bidder"):
            assert [project(a, e, role) for e in events_a] == [
                project(b, e, role) for e in events_b
            ], role
        assert auction_view(a, "public") == auction_view(b, "public")
        for bidder in fixed:
            assert auction_view(a, "bidder", bidder) == auction_view(b, "bidder", bidder), bidder


def test_a_live_japanese_ladder_is_in_label_order_without_ranks() -> None:
    """The leak of issue 18: after Bidder #2 confirmed round 2, the public ladder
    went #2, #1, #3. It stays #1, #2, #3, unranked, until the lot ends."""
    run = Run(japanese_spec(3))
    run.advance(START)
    for i, bidder in enumerate(["b1", "b2", "b3"]):
        run.handle(AcceptPrice(bidder=bidder, bid_id=f"r1-{i}"), START + 1 + i)
    run.handle(AcceptPrice(bidder="b2", bid_id="r2"), START + 10)
    for role, bidder in [("public", None), ("bidder", "b1"), ("bidder", "b3")]:
        ladder = run.view(role, bidder)["ladder"]
        assert [(e["rank"], e["label"]) for e in ladder] == [
            (None, "Bidder #1"),
            (None, "Bidder #2"),
            (None, "Bidder #3"),
        ], role
        assert run.view(role, bidder)["ranked"] is False  # on purpose, not "nobody yet"
    mine = run.view("bidder", "b2")
    assert mine["you"]["amount"] == 9_000  # its own last confirmed price
    assert mine["you"]["rank"] is None
    official = run.view("official")["ladder"]
    assert [e["bidder"] for e in official] == ["b2", "b1", "b3"]
    assert official[0]["rank"] == 1
    run.handle(CancelBid(bidder="b1", bid_id="w1"), START + 11)
    run.handle(CancelBid(bidder="b3", bid_id="w3"), START + 12)
    run.advance(START + 10**9)
    assert run.view("official")["ranked"] is True
    ended = run.view("public")
    assert ended["ranked"] is True
    assert [(e["rank"], e["bidder"]) for e in ended["ladder"]] == [(1, "b2"), (2, "b1"), (3, "b3")]
