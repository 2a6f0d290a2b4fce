"""client/load/day.py and the plan's schedule: a real procurement day, compressed.

The unit test of the procurement day's shape: ProZorro's slots (11:00 to
15:30, 30 minutes each, the start anywhere in its slot), every duration
divided by the compression, and the users the shape asks for at each second
equal to the bidders and watchers the plan has present then.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from client.load.day import DayClock, DayShape, Windows, clock_text, seconds_text
from client.load.plan import build_plan
from client.load.profile import ProfileError, load_profile, parse_profile

T0 = 1_796_112_000_000
SLOT_S = 30 * 60
FIRST, LAST = 11 * 3600, 15 * 3600 + 30 * 60


def test_the_clock_maps_real_times_to_compressed_seconds() -> None:
    clock = DayClock(60.0, 11 * 3600 - 120)
    assert clock.at(11 * 3600) == 2.0  # two real minutes of lead become two seconds
    assert clock.real(2.0) == 11 * 3600
    assert clock.span(120) == 2.0
    assert clock.ms(120, "turn_s", 50) == 2000
    assert clock.ms(0, "pause_s") == 0
    with pytest.raises(ProfileError) as err:
        DayClock(5000.0, 0).ms(120, "rounds.turn_s", 50)
    assert err.value.field == "rounds.turn_s"
    assert "at most 2400" in err.value.message
    assert clock_text(11 * 3600 + 61) == "11:01:01"
    assert seconds_text(2500) == "2.5" and seconds_text(2000) == "2" and seconds_text(83) == "0.083"


def test_a_prozorro_day_starts_every_auction_in_a_slot_from_11_to_15_30() -> None:
    profile = load_profile("prozorro-day")
    plan = build_plan(profile, t0_ms=T0, run_id="day", compression=60)
    assert len(plan.auctions) == 100
    slots = Counter()
    for auction in plan.auctions:
        real = plan.clock.real(auction.start_s)
        slot = int(auction.slot[:2]) * 3600 + int(auction.slot[3:]) * 60
        assert FIRST <= slot <= LAST, auction.slot
        assert slot <= real < slot + SLOT_S + 1e-3, (auction.id, clock_text(real), auction.slot)
        assert auction.spec["start_at"] == T0 + round(auction.start_s * 1000)
        slots[auction.slot] += 1
    # ten slots, every one used, spread evenly (the chronograph fills each stream's slots in turn)
    assert sorted(slots) == [f"{h:02d}:{m:02d}" for h in range(11, 16) for m in (0, 30)]
    assert max(slots.values()) - min(slots.values()) <= len(profile.kinds)
    # second 0 is the lead before the first start: the first bidders connect then
    first = min(a.start_s for a in plan.auctions)
    assert first == pytest.approx(profile.day.lead_s / 60, abs=1e-3)
    assert min(s.join_s for s in plan.seats) == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("compression", [30.0, 60.0, 200.0])
def test_every_duration_is_the_real_one_divided_by_the_compression(compression: float) -> None:
    plan = build_plan(load_profile("prozorro-day"), t0_ms=T0, run_id="d", compression=compression)
    rounds = next(a for a in plan.auctions if a.kind == "rounds")
    settings = rounds.spec["rounds"]
    assert float(settings["turn_s"]) == pytest.approx(120 / compression, abs=1e-3)
    assert float(settings["first_pause_s"]) == pytest.approx(300 / compression, abs=1e-3)
    assert float(settings["pause_s"]) == pytest.approx(120 / compression, abs=1e-3)
    n = len(rounds.spec["bidders"])
    # 9 + 6·N minutes for N bidders (ProZorro's rule for 3 rounds of 2-minute turns)
    assert rounds.end_s - rounds.start_s == pytest.approx((9 + 6 * n) * 60 / compression, abs=0.01)
    clock_open = next(a for a in plan.auctions if a.kind == "open")
    assert float(clock_open.spec["open"]["duration_s"]) == pytest.approx(1200 / compression)
    # the same day in real time, whatever the compression
    span = plan.clock.real(plan.duration_s) - plan.clock.real(0)
    base = build_plan(load_profile("prozorro-day"), t0_ms=T0, run_id="d", compression=60)
    assert span == pytest.approx(base.clock.real(base.duration_s) - base.clock.real(0), rel=0.01)


def test_the_shape_asks_for_the_users_the_plan_has_present() -> None:
    plan = build_plan(load_profile("prozorro-day"), t0_ms=T0, run_id="s", compression=60)
    shape = plan.shape()
    for t in (0.0, 30.0, 100.0, 200.0, plan.duration_s - 1):
        bidders = sum(1 for s in plan.seats if s.join_s <= t < s.leave_s)
        watchers = sum(1 for w in plan.windows if w.join_s <= t < w.leave_s)
        assert shape.need(t) == bidders + watchers
        expected = 0 if not bidders + watchers else math.ceil((bidders + watchers) * 1.05) + 1
        assert shape.users(t) == expected
        tick = shape.tick(t)
        assert tick is not None and tick[0] >= expected and tick[1] >= 1
    assert shape.tick(plan.duration_s + 10) is None  # the day is over: the test ends


def test_watchers_peak_when_their_auction_closes() -> None:
    plan = build_plan(load_profile("prozorro-day"), t0_ms=T0, run_id="w", compression=60)
    for auction in plan.auctions[:10]:
        mine = [w for w in plan.windows if w.auction == auction.id]
        assert len(mine) == auction.peak_watchers == 10
        at = Windows([(w.join_s, w.leave_s) for w in mine])
        assert at.at(auction.start_s) == 2  # a fifth from the start
        assert at.at(auction.end_s - 1e-3) == 10  # all of them at the close
        middle = auction.start_s + (auction.end_s - auction.start_s) * 0.5
        assert at.at(middle) == 2  # the rest arrive over the last 30 %


def test_day_shape_counts_open_windows() -> None:
    w = Windows([(0, 10), (5, 15), (5, 6)])
    assert [w.at(t) for t in (0, 4.9, 5, 6, 10, 15)] == [1, 1, 3, 2, 1, 0]
    assert w.peak() == (3, 5)
    assert DayShape(w, Windows([])).tick(20) is None


def test_a_compression_that_leaves_no_time_to_bid_is_refused() -> None:
    with pytest.raises(ProfileError) as err:
        build_plan(load_profile("prozorro-day"), t0_ms=T0, run_id="x", compression=5000)
    assert err.value.field.split(".", 1)[1] in ("rounds.turn_s", "dutch.interval_s")
    text = '[[auctions]]\nformat = "dutch"\ncount = 1\n[auctions.dutch]\ninterval_s = 1\n'
    with pytest.raises(
        ProfileError, match=r"10 ms; it needs at least 50 ms: use a compression of at most 20$"
    ):
        build_plan(parse_profile(text), t0_ms=T0, run_id="x", compression=100)
