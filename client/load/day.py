"""A procurement day's clock: real times of day to the compressed test's seconds.

ProZorro plans its auctions into 30-minute slots of a working day: the first
slot starts at 11:00 and the last at 15:30 (a slot must end by 16:00), and
the real start is randomised within the slot by 0 to 1,799 s
(``WORKING_DAY_START``, ``WORKING_DAY_END``, ``randomize()`` in ProzorroUKR's
public prozorro_chronograph, docs/loadtesting.md has the sources). A load
test replays such a day ``compression`` times faster:

    test seconds = (real seconds since the day's origin) / compression

where the origin is ``lead_s`` before the earliest start, so that the first
bidders connect at second 0. Every duration of every auction (turns, pauses,
rounds, clock intervals, the open auctions' close) is compressed the same
way, to whole milliseconds, so a rounds auction of N bidders that takes
9 + 6·N minutes takes (9 + 6·N)·60 / compression seconds.

:class:`DayShape` is the load shape of such a day (Locust's
``LoadTestShape`` and the swarm's scheduler both follow it): how many users
a plan needs at each second, bidders of the auctions live then and the
public watching them.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from client.load.profile import ProfileError

MIN_WINDOW_MS = 50
"""Shortest compressed turn, round or clock interval: bidders must be able to act in it."""


@dataclass(frozen=True)
class DayClock:
    """Maps real seconds of the day to test seconds."""

    compression: float
    origin_s: float
    """Real seconds after midnight that are the test's second 0."""

    def at(self, real_s: float) -> float:
        """Test seconds of a real time of day (seconds after midnight)."""
        return (real_s - self.origin_s) / self.compression

    def real(self, test_s: float) -> float:
        """The real time of day (seconds after midnight) of a test second."""
        return self.origin_s + test_s * self.compression

    def span(self, real_s: float) -> float:
        """A real duration (s) as test seconds."""
        return real_s / self.compression

    def ms(self, real_s: float, where: str, minimum: int = 0) -> int:
        """A real duration as whole test milliseconds, at least ``minimum`` (or refused)."""
        value = round(real_s * 1000 / self.compression)
        if real_s > 0 and value < max(1, minimum):
            most = math.floor(real_s * 1000 / max(1, minimum))
            raise ProfileError(
                where,
                f"{real_s:g} s compressed {self.compression:g} times is {value} ms; it needs at "
                f"least {max(1, minimum)} ms: use a compression of at most {most}",
            )
        return value


def clock_text(real_s: float) -> str:
    """Seconds after midnight as ``HH:MM:SS``."""
    s = round(real_s) % 86_400
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def seconds_text(ms: int) -> str:
    """Whole milliseconds as the exact decimal seconds a spec reads (``"0.25"``)."""
    whole, frac = divmod(ms, 1000)
    return f"{whole}.{frac:03d}".rstrip("0").rstrip(".") if frac else str(whole)


class Windows:
    """Presence intervals ``[join, leave)``: how many are open at a time, in log time."""

    def __init__(self, spans: list[tuple[float, float]]) -> None:
        self.joins = sorted(a for a, _ in spans)
        self.leaves = sorted(b for _, b in spans)

    def at(self, t: float) -> int:
        return bisect.bisect_right(self.joins, t) - bisect.bisect_right(self.leaves, t)

    def peak(self) -> tuple[int, float]:
        """The most open at once, and the first second it happens."""
        best, when = 0, 0.0
        for t in self.joins:
            n = self.at(t)
            if n > best:
                best, when = n, t
        return best, when

    @property
    def end(self) -> float:
        return self.leaves[-1] if self.leaves else 0.0


@dataclass
class DayShape:
    """User counts over a plan's seconds: the bidders and watchers it needs, plus slack.

    ``tick(t)`` gives ``(users, spawn_rate)`` for test second ``t``, or
    ``None`` once every window has closed and ``tail_s`` passed. The slack
    (``slack`` of the need, and ``extra`` users) lets a user that Locust
    stopped be replaced at once, and absorbs the uneven split of seats
    between Locust workers. The rate is enough to reach the need of the next
    ``lookahead_s`` within a second.
    """

    bidders: Windows
    watchers: Windows
    slack: float = 0.05
    extra: int = 1
    lookahead_s: float = 2.0
    tail_s: float = 2.0

    def need(self, t: float) -> int:
        return self.bidders.at(t) + self.watchers.at(t)

    def users(self, t: float) -> int:
        need = self.need(t)
        if need == 0:
            return 0
        return math.ceil(need * (1 + self.slack)) + self.extra

    def tick(self, t: float) -> tuple[int, float] | None:
        end = max(self.bidders.end, self.watchers.end)
        if t > end + self.tail_s:
            return None
        now = self.users(t)
        ahead = max(self.users(t + self.lookahead_s * k / 4) for k in range(5))
        rate = max(1.0, float(abs(ahead - now)), ahead / 4)
        return max(now, self.users(t + 1.0)), rate


__all__ = ["MIN_WINDOW_MS", "DayClock", "DayShape", "Windows", "clock_text", "seconds_text"]
