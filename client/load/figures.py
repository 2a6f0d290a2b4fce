"""Latency figures in constant memory: a log histogram and a timeline of them.

Both load tools (``underbid swarm`` and the Locust file) collect their
latencies here, so a percentile means the same in either report and the SLO
verdicts (:mod:`client.load.slo`) read one kind of figure.

- :class:`Histogram`: buckets 1 % wide on a log scale. Percentiles are
  nearest-rank over the buckets, reported as the bucket's upper edge (never
  under the true value, never over it by more than 1 %); ``max`` is exact.
- :class:`Timeline`: one histogram per series (``rounds.ack``,
  ``open.deliver``...) per second of the run, to plot latency over time per
  auction format. It travels as plain maps (:meth:`Timeline.to_wire`), so
  Locust workers can send theirs to the master, which merges them.

Nothing here reads a clock: callers say when a sample was taken.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any


class Histogram:
    """Latencies (ms) in logarithmic buckets 1 % wide: constant memory, ~1 % error.

    Values at or below ``floor_ms`` share the first bucket; percentiles are
    nearest-rank over the buckets, reported as the bucket's upper edge (never
    under the true value by more than one bucket). ``max`` is exact.
    """

    GROWTH = 1.01
    """Each bucket is 1 % wider than the one before."""
    FLOOR_MS = 0.01

    __slots__ = ("_log", "count", "counts", "floor_ms", "max")

    def __init__(self, floor_ms: float = FLOOR_MS) -> None:
        self.floor_ms = floor_ms
        self.counts: Counter[int] = Counter()
        self.count = 0
        self.max = 0.0
        self._log = math.log(self.GROWTH)

    def add(self, ms: float) -> None:
        index = 0 if ms <= self.floor_ms else 1 + int(math.log(ms / self.floor_ms) / self._log)
        self.counts[index] += 1
        self.count += 1
        if ms > self.max:
            self.max = ms

    def merge(self, other: Histogram) -> None:
        """Add every sample of ``other`` (same bucket scheme) to this one."""
        self.counts.update(other.counts)
        self.count += other.count
        self.max = max(self.max, other.max)

    def percentile(self, q: float) -> float:
        """The value under which ``q`` % of the samples fall (``nan`` when empty)."""
        if not self.count:
            return math.nan
        rank = max(1, math.ceil(q / 100 * self.count))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                edge = self.floor_ms * self.GROWTH**index
                return min(edge, self.max)
        return self.max

    def summary(self) -> dict[str, float | int | None]:
        """count, p50, p99, p99.9 and max in ms (``None`` when there is no sample)."""
        if not self.count:
            return {"count": 0, "p50_ms": None, "p99_ms": None, "p999_ms": None, "max_ms": None}
        return {
            "count": self.count,
            "p50_ms": self.percentile(50),
            "p99_ms": self.percentile(99),
            "p999_ms": self.percentile(99.9),
            "max_ms": self.max,
        }

    def to_wire(self) -> dict[str, Any]:
        """Plain maps (string keys: JSON and MessagePack alike)."""
        return {"c": {str(k): v for k, v in self.counts.items()}, "max": self.max}

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Histogram:
        h = cls()
        counts = data.get("c", {})
        if not isinstance(counts, Mapping):
            raise ValueError("a histogram's counts must be a map")
        for key, value in counts.items():
            n = int(value)
            if n < 0:
                raise ValueError("a histogram count cannot be negative")
            h.counts[int(key)] += n
            h.count += n
        h.max = float(data.get("max", 0.0))
        return h


class Timeline:
    """Histograms per series per second since the run's start (``t0``).

    ``add(series, at_s, ms)`` files a sample under ``floor(at_s)``; the
    overall histogram of each series is kept as well (:meth:`overall`), so a
    percentile of the whole run does not need the per-second buckets.
    Samples before ``t0`` (a negative ``at_s``) count in second 0.
    """

    def __init__(self) -> None:
        self.buckets: dict[str, dict[int, Histogram]] = {}
        self.totals: dict[str, Histogram] = {}

    def add(self, series: str, at_s: float, ms: float) -> None:
        second = max(0, int(at_s))
        per_second = self.buckets.setdefault(series, {})
        h = per_second.get(second)
        if h is None:
            h = per_second[second] = Histogram()
        h.add(ms)
        total = self.totals.get(series)
        if total is None:
            total = self.totals[series] = Histogram()
        total.add(ms)

    def series(self) -> list[str]:
        return sorted(self.totals)

    def overall(self, series: str) -> Histogram:
        """Every sample of ``series`` (an empty histogram when there is none)."""
        return self.totals.get(series) or Histogram()

    def combined(self, names: Iterable[str]) -> Histogram:
        """The samples of several series together (``rounds.ack`` + ``open.ack``...)."""
        out = Histogram()
        for name in names:
            if name in self.totals:
                out.merge(self.totals[name])
        return out

    def points(self, series: str, width_s: int = 1) -> list[tuple[float, int, float, float]]:
        """``(start of the interval s, count, p50 ms, p99 ms)`` per ``width_s`` interval."""
        width = max(1, width_s)
        grouped: dict[int, Histogram] = {}
        for second, h in self.buckets.get(series, {}).items():
            group = grouped.setdefault(second // width, Histogram())
            group.merge(h)
        return [
            (float(k * width), h.count, h.percentile(50), h.percentile(99))
            for k, h in sorted(grouped.items())
        ]

    def last_second(self) -> int:
        return max((max(b) for b in self.buckets.values() if b), default=0)

    def merge(self, other: Timeline) -> None:
        for series, per_second in other.buckets.items():
            mine = self.buckets.setdefault(series, {})
            for second, h in per_second.items():
                mine.setdefault(second, Histogram()).merge(h)
        for series, total in other.totals.items():
            self.totals.setdefault(series, Histogram()).merge(total)

    def to_wire(self) -> dict[str, Any]:
        return {
            series: {str(second): h.to_wire() for second, h in per_second.items()}
            for series, per_second in self.buckets.items()
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Timeline:
        """The inverse of :meth:`to_wire` (totals are rebuilt from the seconds)."""
        t = cls()
        for series, per_second in data.items():
            if not isinstance(per_second, Mapping):
                raise ValueError("a timeline series must map seconds to histograms")
            for second, wire in per_second.items():
                h = Histogram.from_wire(wire)
                t.buckets.setdefault(str(series), {})[int(second)] = h
                t.totals.setdefault(str(series), Histogram()).merge(h)
        return t

    def take(self) -> Timeline:
        """Hand over everything collected so far and start empty (a worker's report)."""
        out = Timeline()
        out.buckets, out.totals = self.buckets, self.totals
        self.buckets, self.totals = {}, {}
        return out


__all__ = ["Histogram", "Timeline"]
