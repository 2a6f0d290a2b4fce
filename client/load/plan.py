"""A load plan: the auctions of a (compressed) procurement day, their bidders and watchers.

:func:`build_plan` turns a :class:`~client.load.profile.Profile` into a
:class:`LoadPlan`, deterministically: the same profile, seed, compression and
scale give the same auctions, the same bidders with the same tactics (their
reserves and styles), the same seats and the same watcher windows, on every
machine. That is how Locust's workers rebuild the plan the master created
from the profile's text alone, and how a run is repeated exactly.

- **When.** Each auction gets a slot of the day in turn (``i mod slots``:
  ProZorro's chronograph fills every slot of a stream before the next
  stream, so a day's auctions spread evenly over its slots), and a start
  within its slot (uniform over the slot when ``jitter``, as the
  chronograph's ``randomize()``), compressed by :class:`~client.load.day.DayClock`.
- **Who.** Each lot draws its number of bidders from a power law truncated
  to ``min..max`` whose exponent makes the mean ``mean``
  (:func:`bidder_weights`): most auctions have two or three bidders and a few
  have many, as ProZorro's do (an average of 2.3 and a record of 24 in 2022).
- **How long.** A rounds lot lasts exactly ``first_pause + N·rounds·turn +
  (rounds-1)·pause``. The others depend on the bidders, whose reserves the
  plan drew, so their end is predicted from them (a Japanese lot ends at the
  round its second-last bidder drops out, a Dutch lot in the interval where
  the clock reaches the lowest reserve, an open lot at its close plus the
  dynamic-close cap at worst).
- **Seats and windows.** A bidder seat is one bidder's connection, from
  ``lead_s`` before its first lot to ``linger_s`` after its last; a watcher
  window one public connection, from the start for the ``base`` share of the
  peak and over the last ``ramp`` of the auction for the rest, until
  ``linger_s`` after its end.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

from auction.core.errors import SpecError
from auction.core.spec import parse_spec
from client.load.day import MIN_WINDOW_MS, DayClock, DayShape, Windows, clock_text, seconds_text
from client.load.profile import MAX_AUCTIONS, Bidders, KindPlan, Profile, ProfileError

VALUE_RANGE = (10_000_000, 500_000_000)
"""Start values, minor units (100,000.00 to 5,000,000.00 UAH), drawn log-uniformly."""
STEP_SHARE = 0.01
"""``minimal_step`` as a share of the start value (ProZorro allows 0.5 % to 3 %)."""
STYLES = {"open": ("steady", "steady", "steady", "sniper", "sniper")}
"""Bidding styles drawn per open bidder: three in five steady, two snipers."""


@dataclass(frozen=True)
class Tactics:
    """How one bidder plays one lot (drawn by the plan, so reproducible)."""

    lot: str
    format: str
    reserve: int
    """The worst amount (rounds, open) or price (japanese: the lowest it confirms;
    dutch: the lowest it takes) the bidder will bid."""
    style: str = ""
    """``open``: ``steady`` (bids at intervals while it does not lead) or ``sniper``
    (bids only near the close)."""
    window_ms: int = 0
    """``open``: the dynamic-close window (test ms), where snipers bid."""


@dataclass(frozen=True)
class PlannedLot:
    id: str
    format: str
    start_s: float
    end_s: float
    """Predicted end (test seconds)."""
    bidders: tuple[str, ...]


@dataclass(frozen=True)
class PlannedAuction:
    index: int
    id: str
    kind: str
    """A lot format, or ``multilot``."""
    slot: str
    """The real slot start, ``HH:MM``."""
    real_start: str
    """The real (uncompressed) start, ``HH:MM:SS``."""
    start_s: float
    end_s: float
    lots: tuple[PlannedLot, ...]
    peak_watchers: int
    spec: dict[str, Any] = field(repr=False)
    """The spec to create, ``start_at`` filled in (ms since the epoch)."""

    @property
    def formats(self) -> tuple[str, ...]:
        return tuple(lot.format for lot in self.lots)


@dataclass(frozen=True)
class BidderSeat:
    """One bidder's connection to one auction, for the lots it was admitted to."""

    index: int
    """Position in the plan (seats are split between Locust workers by it)."""
    auction: str
    bidder: str
    join_s: float
    leave_s: float
    seed: int
    tactics: tuple[Tactics, ...]


@dataclass(frozen=True)
class WatchWindow:
    """One public watcher's connection to one auction."""

    index: int
    auction: str
    join_s: float
    leave_s: float


@dataclass(frozen=True)
class LoadPlan:
    profile: Profile
    run_id: str
    t0_ms: int
    """Wall clock (ms since the epoch) of test second 0."""
    clock: DayClock
    seed: int
    scale: float
    auctions: tuple[PlannedAuction, ...]
    seats: tuple[BidderSeat, ...]
    windows: tuple[WatchWindow, ...]

    @property
    def duration_s(self) -> float:
        ends = [s.leave_s for s in self.seats] + [w.leave_s for w in self.windows]
        return max(ends, default=0.0)

    @cached_property
    def by_id(self) -> dict[str, PlannedAuction]:
        return {a.id: a for a in self.auctions}

    def auction(self, auction_id: str) -> PlannedAuction:
        return self.by_id[auction_id]

    def shape(self) -> DayShape:
        return DayShape(
            Windows([(s.join_s, s.leave_s) for s in self.seats]),
            Windows([(w.join_s, w.leave_s) for w in self.windows]),
        )

    def summary(self) -> list[str]:
        """What a tester checks before running it (``underbid swarm --plan-only``)."""
        kinds = Counter(a.kind for a in self.auctions)
        per_lot = [len(lot.bidders) for a in self.auctions for lot in a.lots]
        shape = self.shape()
        peak_b, when_b = shape.bidders.peak()
        peak_w, when_w = shape.watchers.peak()
        first = min(a.real_start for a in self.auctions)
        last = max(a.real_start for a in self.auctions)
        lines = [
            f"plan {self.run_id}: profile {self.profile.name}, seed {self.seed}, "
            f"compression {self.clock.compression:g}, scale {self.scale:g}",
            f"  auctions: {len(self.auctions)} ("
            + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
            + f"), starts {first} to {last} real time",
            f"  bidders per lot: {min(per_lot)} to {max(per_lot)}, mean "
            f"{sum(per_lot) / len(per_lot):.2f}; {len(self.seats)} bidder seats, "
            f"{len(self.windows)} watcher windows",
            f"  peak: {peak_b} bidders at {when_b:.0f} s ({clock_text(self.clock.real(when_b))}), "
            f"{peak_w} watchers at {when_w:.0f} s ({clock_text(self.clock.real(when_w))})",
            f"  runs {self.duration_s:.0f} s (the real day {clock_text(self.clock.real(0))} to "
            f"{clock_text(self.clock.real(self.duration_s))})",
        ]
        return lines


# ---------------------------------------------------------------- bidders
@cache
def bidder_weights(low: int, high: int, mean: float) -> tuple[float, ...]:
    """P(n) for n in low..high, proportional to n**-s with s making the mean ``mean``."""
    if low == high:
        return (1.0,)
    ns = range(low, high + 1)

    def mean_for(s: float) -> float:
        w = [math.pow(n, -s) for n in ns]
        total: float = sum(n * x for n, x in zip(ns, w, strict=True))
        return total / sum(w)

    lo, hi = 0.0, 64.0  # mean_for falls from the midpoint (s=0) towards ``low``
    if mean <= mean_for(hi):
        hi_weights = [0.0] * (high - low + 1)
        hi_weights[0] = 1.0
        return tuple(hi_weights)
    for _ in range(100):
        mid = (lo + hi) / 2
        if mean_for(mid) > mean:
            lo = mid
        else:
            hi = mid
    w = [math.pow(n, -lo) for n in ns]
    total = sum(w)
    return tuple(x / total for x in w)


def draw_bidders(rng: random.Random, b: Bidders) -> int:
    weights = bidder_weights(b.min, b.max, b.mean)
    return rng.choices(range(b.min, b.max + 1), weights=weights)[0]


# ------------------------------------------------------------------- lots
@dataclass
class _Lot:
    """A lot being planned: its spec part, its bidders' tactics, its predicted length."""

    id: str
    format: str
    spec: dict[str, Any]
    bidders: list[str]
    tactics: dict[str, Tactics]
    length_s: float


def _money(rng: random.Random) -> tuple[int, int]:
    low, high = VALUE_RANGE
    value = round(math.exp(rng.uniform(math.log(low), math.log(high))), -2)
    return int(value), max(1, int(value * STEP_SHARE))


def _share(value: int, percent: float) -> int:
    return max(1, round(value * percent / 100))


def _plan_lot(
    kind: KindPlan,
    fmt: str,
    lot_id: str,
    bidders: list[str],
    clock: DayClock,
    rng: random.Random,
    t0_ms: int,
) -> _Lot:
    value, step = _money(rng)
    where = kind.where
    spec: dict[str, Any] = {"format": fmt, "start_value": value}
    tactics: dict[str, Tactics] = {}
    n = len(bidders)
    if fmt == "rounds":
        r = kind.rounds
        turn = clock.ms(r.turn_s, f"{where}.rounds.turn_s", MIN_WINDOW_MS)
        first = clock.ms(r.first_pause_s, f"{where}.rounds.first_pause_s")
        pause = clock.ms(r.pause_s, f"{where}.rounds.pause_s")
        spec["minimal_step"] = step
        spec["rounds"] = {
            "rounds": r.rounds,
            "first_pause_s": seconds_text(first),
            "pause_s": seconds_text(pause),
            "turn_s": seconds_text(turn),
        }
        entries = []
        for i, b in enumerate(bidders):
            amount = value - step * rng.randint(1, 10)
            entries.append(
                {"id": b, "amount": amount, "submitted_at": max(0, t0_ms - 86_400_000) + i}
            )
            reserve = round(amount * rng.uniform(0.80, 0.97))
            tactics[b] = Tactics(lot_id, fmt, reserve)
        spec["bidders"] = entries
        length = (first + n * r.rounds * turn + (r.rounds - 1) * pause) / 1000
    elif fmt == "open":
        o = kind.open
        duration = clock.ms(o.duration_s, f"{where}.open.duration_s", MIN_WINDOW_MS)
        window = clock.ms(o.dynamic_close_s, f"{where}.open.dynamic_close_s")
        settings: dict[str, Any] = {
            "duration_s": seconds_text(duration),
            "decrement": step,
            "against": o.against,
        }
        if window:
            settings["dynamic_close_s"] = seconds_text(window)
        cap = None
        if o.dynamic_close_cap_s is not None and window:
            cap = clock.ms(o.dynamic_close_cap_s, f"{where}.open.dynamic_close_cap_s")
            settings["dynamic_close_cap_s"] = seconds_text(cap)
        spec["open"] = settings
        spec["bidders"] = [{"id": b} for b in bidders]
        for b in bidders:
            style = rng.choice(STYLES["open"])
            reserve = round(value * rng.uniform(0.70, 0.95))
            tactics[b] = Tactics(lot_id, fmt, reserve, style, window or duration // 10)
        length = (duration + (cap if cap is not None else 4 * window)) / 1000
    elif fmt == "japanese":
        j = kind.japanese
        round_ms = clock.ms(j.round_s, f"{where}.japanese.round_s", MIN_WINDOW_MS)
        jstep = _share(value, j.step_percent)
        floor = _share(value, j.floor_percent)
        spec["japanese"] = {"round_s": seconds_text(round_ms), "step": jstep, "floor": floor}
        spec["bidders"] = [{"id": b} for b in bidders]
        low = j.floor_percent / 100
        for b in bidders:
            reserve = max(floor, round(value * rng.uniform(low + 0.02, 0.98)))
            tactics[b] = Tactics(lot_id, fmt, reserve)
        rounds = _japanese_rounds(value, jstep, floor, [t.reserve for t in tactics.values()])
        length = rounds * round_ms / 1000
    else:  # dutch, rising to the start value
        d = kind.dutch
        interval = clock.ms(d.interval_s, f"{where}.dutch.interval_s", MIN_WINDOW_MS)
        start = _share(value, d.start_percent)
        dstep = _share(value, d.step_percent)
        spec["dutch"] = {
            "start_price": start,
            "limit_price": value,
            "step": dstep,
            "interval_s": seconds_text(interval),
            "direction": "rising",
        }
        spec["bidders"] = [{"id": b} for b in bidders]
        low = d.start_percent / 100
        for b in bidders:
            reserve = round(value * rng.uniform(min(low + 0.05, 0.99), 1.0))
            tactics[b] = Tactics(lot_id, fmt, reserve)
        lowest = min(t.reserve for t in tactics.values())
        steps = max(0, math.ceil((lowest - start) / dstep))
        limit_steps = math.ceil((value - start) / dstep)
        length = (min(steps, limit_steps) + 2) * interval / 1000
    return _Lot(lot_id, fmt, spec, list(bidders), tactics, length)


def _japanese_rounds(value: int, step: int, floor: int, reserves: list[int]) -> int:
    """The round after which a Japanese lot ends, given who confirms down to what price."""
    k = 1
    while k < 10_000:
        price = value - (k - 1) * step
        if price - step < floor:
            return k
        if sum(1 for r in reserves if r <= price) <= 1:
            return k
        k += 1
    return k


# ------------------------------------------------------------------- plan
def build_plan(
    profile: Profile,
    *,
    t0_ms: int,
    run_id: str,
    compression: float | None = None,
    scale: float = 1.0,
    seed: int | None = None,
) -> LoadPlan:
    """The plan of ``profile``'s day, its test second 0 at ``t0_ms`` (see the module)."""
    factor = profile.compression if compression is None else compression
    if not 0 < factor <= 100_000:
        raise ProfileError("compression", f"{factor:g}: more than 0, at most 100,000")
    if not 0 < scale <= 1000:
        raise ProfileError("scale", f"{scale:g}: more than 0, at most 1,000")
    seed = profile.seed if seed is None else seed
    rng = random.Random(seed)
    day = profile.day
    slot_s = day.slot_minutes * 60
    drafts: list[tuple[float, KindPlan, int]] = []  # (real start, kind, slot)
    for kind in profile.kinds:
        count = round(kind.count * scale) if kind.count else 0
        if kind.count and count == 0:
            count = 1
        for i in range(count):
            slot = kind.slots[i % len(kind.slots)] * 60
            offset = rng.uniform(0, slot_s - 1) if day.jitter else 0.0
            drafts.append((slot + offset, kind, slot))
    if len(drafts) > MAX_AUCTIONS:
        raise ProfileError("scale", f"{len(drafts):,} auctions: at most {MAX_AUCTIONS:,}")
    drafts.sort(key=lambda d: d[0])
    origin = drafts[0][0] - day.lead_s
    clock = DayClock(factor, origin)
    lead = clock.span(day.lead_s)
    linger = clock.span(day.linger_s)
    auctions: list[PlannedAuction] = []
    seats: list[BidderSeat] = []
    windows: list[WatchWindow] = []
    for index, (real_start, kind, slot) in enumerate(drafts):
        auction_id = f"{run_id}-{index:04d}"
        start_s = round(clock.at(real_start), 3)
        start_ms = t0_ms + round(start_s * 1000)
        lots: list[_Lot] = []
        offsets: list[float] = []
        if kind.format == "multilot":
            counts = [draw_bidders(rng, kind.bidders) for _ in kind.lots]
            pool = [f"s{j}" for j in range(max(counts))]
            stagger = clock.ms(kind.stagger_s, f"{kind.where}.stagger_s") / 1000
            for k, fmt in enumerate(kind.lots):
                chosen = sorted(rng.sample(pool, counts[k]), key=pool.index)
                lots.append(_plan_lot(kind, fmt, f"lot{k + 1}", chosen, clock, rng, t0_ms))
                offsets.append(k * stagger if kind.closing == "staggered" else 0.0)
        else:
            bidders = [f"b{j}" for j in range(draw_bidders(rng, kind.bidders))]
            lots.append(_plan_lot(kind, kind.format, "1", bidders, clock, rng, t0_ms))
            offsets.append(0.0)
        spec = _auction_spec(auction_id, kind, lots, clock, start_ms)
        try:
            parse_spec(spec)
        except SpecError as exc:
            raise ProfileError(kind.where, f"plans an auction the engine refuses: {exc}") from None
        planned_lots = tuple(
            PlannedLot(
                lot.id,
                lot.format,
                start_s + off,
                round(start_s + off + lot.length_s, 3),
                tuple(lot.bidders),
            )
            for lot, off in zip(lots, offsets, strict=True)
        )
        end_s = max(lot.end_s for lot in planned_lots)
        peak = kind.watchers.peak
        auctions.append(
            PlannedAuction(
                index,
                auction_id,
                kind.format,
                clock_text(slot)[:5],
                clock_text(real_start),
                start_s,
                end_s,
                planned_lots,
                peak,
                spec,
            )
        )
        everyone = sorted({b for lot in lots for b in lot.bidders}, key=_bidder_order)
        for bidder in everyone:
            mine = [
                (pl, lot)
                for pl, lot in zip(planned_lots, lots, strict=True)
                if bidder in lot.tactics
            ]
            seats.append(
                BidderSeat(
                    len(seats),
                    auction_id,
                    bidder,
                    round(max(0.0, min(pl.start_s for pl, _ in mine) - lead), 3),
                    round(max(pl.end_s for pl, _ in mine) + linger, 3),
                    rng.getrandbits(63),
                    tuple(lot.tactics[bidder] for _, lot in mine),
                )
            )
        windows.extend(_windows(len(windows), auction_id, start_s, end_s, kind, linger))
    return LoadPlan(
        profile, run_id, t0_ms, clock, seed, scale, tuple(auctions), tuple(seats), tuple(windows)
    )


def _bidder_order(bidder: str) -> tuple[str, int]:
    return bidder[:1], int(bidder[1:]) if bidder[1:].isdigit() else 0


def _auction_spec(
    auction_id: str, kind: KindPlan, lots: list[_Lot], clock: DayClock, start_ms: int
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "id": auction_id,
        "title": f"Load test: {kind.format} auction {auction_id}",
        "start_at": start_ms,
    }
    if kind.format != "multilot":
        lot = lots[0]
        spec.update(lot.spec)
        spec["bidders"] = [_named(b) for b in lot.spec["bidders"]]
        return spec
    spec["closing"] = kind.closing
    if kind.closing == "staggered":
        spec["stagger_s"] = seconds_text(clock.ms(kind.stagger_s, f"{kind.where}.stagger_s"))
    spec["lots"] = [
        {
            "id": lot.id,
            "title": f"Lot {i + 1}: {lot.format}",
            **{k: v for k, v in lot.spec.items() if k != "bidders"},
            "bidders": [_named(b) for b in lot.spec["bidders"]],
        }
        for i, lot in enumerate(lots)
    ]
    return spec


def _named(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "name": f"Load supplier {entry['id']}"}


def _windows(
    first: int, auction_id: str, start_s: float, end_s: float, kind: KindPlan, linger: float
) -> list[WatchWindow]:
    w = kind.watchers
    if not w.peak:
        return []
    length = max(0.0, end_s - start_s)
    early = round(w.base * w.peak)
    late = w.peak - early
    leave = round(end_s + linger, 3)
    out = [WatchWindow(first + j, auction_id, start_s, leave) for j in range(early)]
    ramp = w.ramp * length
    for j in range(late):
        join = end_s - ramp * (1 - (j + 0.5) / late)
        out.append(WatchWindow(first + early + j, auction_id, round(max(start_s, join), 3), leave))
    return out


__all__ = [
    "BidderSeat",
    "LoadPlan",
    "PlannedAuction",
    "PlannedLot",
    "Tactics",
    "WatchWindow",
    "bidder_weights",
    "build_plan",
    "draw_bidders",
]
