"""Which bidder seat or watcher window a Locust user takes next.

Locust decides how many users run (the day's shape, or ``-u``); the plan
decides who is needed when. A :class:`SeatBook` hands each user that asks
the most urgent piece of the plan open now: a seat a user gave back before
its auction ended first (the bidder reconnects), then the next seat due by
its join time, bidders before watchers. A user gives its seat back when it
stops; a seat whose window closed before anyone took it is counted as
unserved, so the report says how much of the plan actually ran.

With Locust workers, each process books its own share: the items whose
index is ``share`` modulo ``shares`` (the plan is the same on every
process, so the shares never overlap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from client.load.plan import BidderSeat, LoadPlan, WatchWindow


class _Item(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def join_s(self) -> float: ...
    @property
    def leave_s(self) -> float: ...


T = TypeVar("T", bound=_Item)


class _Queue(Generic[T]):
    """Items by join time: each taken once, or again after it was given back."""

    def __init__(self, items: Sequence[T]) -> None:
        self.items = sorted(items, key=lambda i: (i.join_s, i.index))
        self.next = 0
        self.returned: list[T] = []
        self.held: set[int] = set()
        self.served: set[int] = set()
        self.unserved = 0

    def take(self, now: float) -> T | None:
        while self.returned:
            item = self.returned.pop(0)
            if now < item.leave_s:
                self.held.add(item.index)
                return item
        while self.next < len(self.items) and self.items[self.next].join_s <= now:
            item = self.items[self.next]
            self.next += 1
            if now >= item.leave_s:
                self.unserved += 1
                continue
            self.held.add(item.index)
            self.served.add(item.index)
            return item
        return None

    def give_back(self, item: T, finished: bool) -> None:
        self.held.discard(item.index)
        if not finished:
            self.returned.append(item)

    def next_join(self) -> float | None:
        if self.returned:
            return 0.0
        return self.items[self.next].join_s if self.next < len(self.items) else None

    @property
    def exhausted(self) -> bool:
        return self.next >= len(self.items) and not self.returned and not self.held


@dataclass(frozen=True)
class Coverage:
    seats: int
    seats_served: int
    windows: int
    windows_served: int


class SeatBook:
    """The bidder seats and watcher windows of one process's share of a plan."""

    def __init__(self, plan: LoadPlan, share: int = 0, shares: int = 1) -> None:
        shares = max(1, shares)
        self.seats: _Queue[BidderSeat] = _Queue(
            [s for s in plan.seats if s.index % shares == share % shares]
        )
        self.windows: _Queue[WatchWindow] = _Queue(
            [w for w in plan.windows if w.index % shares == share % shares]
        )

    def take_seat(self, now_s: float) -> BidderSeat | None:
        return self.seats.take(now_s)

    def take_window(self, now_s: float) -> WatchWindow | None:
        return self.windows.take(now_s)

    def take(self, now_s: float) -> BidderSeat | WatchWindow | None:
        """Bidders first: an auction needs its bidders more than its audience."""
        return self.seats.take(now_s) or self.windows.take(now_s)

    def give_back(self, item: BidderSeat | WatchWindow, finished: bool) -> None:
        if isinstance(item, BidderSeat):
            self.seats.give_back(item, finished)
        else:
            self.windows.give_back(item, finished)

    def next_join(self, bidders: bool = True, watchers: bool = True) -> float | None:
        times = []
        if bidders and (t := self.seats.next_join()) is not None:
            times.append(t)
        if watchers and (t := self.windows.next_join()) is not None:
            times.append(t)
        return min(times, default=None)

    def exhausted(self, bidders: bool = True, watchers: bool = True) -> bool:
        return (not bidders or self.seats.exhausted) and (not watchers or self.windows.exhausted)

    def coverage(self) -> Coverage:
        return Coverage(
            len(self.seats.items),
            len(self.seats.served),
            len(self.windows.items),
            len(self.windows.served),
        )


__all__ = ["Coverage", "SeatBook"]
