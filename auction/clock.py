"""Clocks: the only way the outside world's time reaches an auction.

The engine never reads a clock; it is handed ``now``. Hosts (the simulator,
the runtime) read one of these, so tests and simulations use a
:class:`FakeClock` that only moves when told to.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class FakeClock:
    """A clock that moves only when :meth:`advance` or :meth:`set` says so."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> int:
        if ms < 0:
            raise ValueError("a clock does not go back")
        self._now += ms
        return self._now

    def set(self, ms: int) -> None:
        if ms < self._now:
            raise ValueError("a clock does not go back")
        self._now = ms
