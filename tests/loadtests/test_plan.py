"""client/load/profile.py, plan.py and book.py: profiles read strictly, plans made
deterministically, seats booked once."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from auction.core import parse_spec
from client.load.book import SeatBook
from client.load.plan import bidder_weights, build_plan, draw_bidders
from client.load.profile import Bidders, ProfileError, bundled, load_profile, parse_profile

T0 = 1_796_112_000_000


def test_the_bundled_profiles_are_found_by_name() -> None:
    assert {"prozorro-day", "formats"} <= set(bundled())
    assert load_profile("formats").name == "formats"
    with pytest.raises(ProfileError, match="no bundled profile 'nope'"):
        load_profile("nope")
    with pytest.raises(ProfileError, match="no such file"):
        load_profile("missing/profile.toml")


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        (
            "[[auctions]]\nformat = 'rounds'\ncount = 1\ncolour = 1\n",
            "auctions[0]",
            "unknown field",
        ),
        ("[[auctions]]\nformat = 'vickrey'\ncount = 1\n", "auctions[0].format", "Invalid enum"),
        ("[[auctions]]\nformat = 'rounds'\ncount = -1\n", "auctions[0].count", ">= 0"),
        ("[[auctions]]\nformat = 'rounds'\ncount = 0\n", "auctions", "at least one auction"),
        ("[[auctions]]\nformat = 'rounds'\ncount = 9999\n", "auctions[0].count", "<= 5000"),
        (
            "[bidders]\nmin = 2\nmax = 24\nmean = 20\n[[auctions]]\nformat = 'open'\ncount = 1\n",
            "bidders.mean",
            "above the middle",
        ),
        (
            "[bidders]\nmin = 5\nmax = 3\nmean = 4\n[[auctions]]\nformat = 'open'\ncount = 1\n",
            "bidders.min",
            "above max",
        ),
        (
            "[day]\nfirst_slot = '25:00'\n[[auctions]]\nformat = 'open'\ncount = 1\n",
            "day.first_slot",
            "not a time of day",
        ),
        (
            "[[auctions]]\nformat = 'multilot'\ncount = 1\nlots = ['rounds']\n",
            "auctions[0].lots",
            "2 to 10 lots",
        ),
        (
            "[[auctions]]\nformat = 'open'\ncount = 1\nlots = ['rounds', 'open']\n",
            "auctions[0].lots",
            "only a multilot",
        ),
        ("compression = 0\n[[auctions]]\nformat = 'open'\ncount = 1\n", "compression", "> 0"),
        ("not = [toml", "", "not TOML or JSON"),
    ],
)
def test_a_bad_profile_names_the_key(text: str, field: str, says: str) -> None:
    with pytest.raises(ProfileError) as err:
        parse_profile(text)
    assert err.value.field == field
    assert says in err.value.message


def test_unquoted_toml_times_are_read_as_slots() -> None:
    profile = parse_profile(
        "[day]\nfirst_slot = 12:00:00\nlast_slot = 13:00:00\n"
        "[[auctions]]\nformat = 'open'\ncount = 1\n"
    )
    assert profile.slots == (720, 750, 780)


def test_bidder_counts_follow_a_power_law_with_the_asked_mean() -> None:
    weights = bidder_weights(2, 24, 2.4)
    assert len(weights) == 23 and abs(sum(weights) - 1) < 1e-9
    assert sum(n * w for n, w in zip(range(2, 25), weights, strict=True)) == pytest.approx(2.4)
    assert all(a > b for a, b in itertools.pairwise(weights))  # fewer as they grow
    rng = random.Random(7)
    draws = [draw_bidders(rng, Bidders()) for _ in range(20_000)]
    assert min(draws) == 2 and max(draws) <= 24
    assert sum(draws) / len(draws) == pytest.approx(2.4, abs=0.03)
    assert draw_bidders(rng, Bidders(min=5, max=5, mean=5)) == 5


def test_the_same_seed_plans_the_same_day() -> None:
    profile = load_profile("prozorro-day")
    a = build_plan(profile, t0_ms=T0, run_id="r")
    b = build_plan(profile, t0_ms=T0, run_id="r")
    c = build_plan(profile, t0_ms=T0, run_id="r", seed=2)
    assert [x.spec for x in a.auctions] == [x.spec for x in b.auctions]
    assert a.seats == b.seats and a.windows == b.windows
    assert [x.spec for x in a.auctions] != [x.spec for x in c.auctions]


def test_every_planned_auction_is_a_valid_spec_with_its_bidders_tactics() -> None:
    plan = build_plan(load_profile("formats"), t0_ms=T0, run_id="f")
    kinds = Counter(a.kind for a in plan.auctions)
    assert kinds == {"rounds": 1, "open": 1, "japanese": 1, "dutch": 1, "multilot": 1}
    for auction in plan.auctions:
        spec = parse_spec(auction.spec)
        seats = [s for s in plan.seats if s.auction == auction.id]
        for lot in spec.lots:
            admitted = {b.id for b in lot.bidders}
            players = {s.bidder for s in seats if any(t.lot == lot.id for t in s.tactics)}
            assert players == admitted  # every admitted bidder has a seat with tactics for it
            for seat in seats:
                for t in seat.tactics:
                    assert t.format == spec.lot(t.lot).format
    multi = next(a for a in plan.auctions if a.kind == "multilot")
    assert [lot.format for lot in multi.lots] == ["rounds", "open"]
    seat = next(s for s in plan.seats if s.auction == multi.id)
    assert {t.lot for t in seat.tactics} <= {"lot1", "lot2"}


def test_scale_multiplies_the_auctions() -> None:
    profile = load_profile("formats")
    assert len(build_plan(profile, t0_ms=T0, run_id="s", scale=3).auctions) == 15
    with pytest.raises(ProfileError, match="scale"):
        build_plan(profile, t0_ms=T0, run_id="s", scale=5000)


def test_seats_are_booked_once_given_back_and_split_between_workers() -> None:
    plan = build_plan(load_profile("formats"), t0_ms=T0, run_id="b")
    book = SeatBook(plan)
    first = book.take_seat(0.0)
    assert first is not None and first.index == 0
    second = book.take_seat(0.0)
    assert second is not None and second.index != first.index
    book.give_back(first, finished=False)  # its user stopped: the next user resumes it
    assert book.take_seat(0.0) == first
    book.give_back(first, finished=True)
    taken = {first.index, second.index}
    while (seat := book.take_seat(0.0)) is not None:
        taken.add(seat.index)
    assert taken == {s.index for s in plan.seats}
    assert book.take_window(0.0) is None  # the watchers come at the start, not with the bidders
    assert book.take_window(plan.auctions[0].start_s) is not None
    late = SeatBook(plan)
    assert late.take_seat(10_000.0) is None  # every seat's window had closed: unserved
    assert late.coverage().seats_served == 0 and late.seats.unserved == len(plan.seats)
    shares = [SeatBook(plan, i, 3) for i in range(3)]
    indexes = [s.index for b in shares for s in b.seats.items]
    assert sorted(indexes) == [s.index for s in plan.seats]  # no overlap, nothing left out
