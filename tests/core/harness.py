"""A fake-clock driver and assertions shared by the engine's unit tests."""

from __future__ import annotations

from typing import Any

from auction.core import Auction, CancelBid, Code, Outcome, PlaceBid, auction_view, parse_spec
from auction.core.commands import AnyCommand
from auction.core.events import CommandRejected, Event, LotEnded


class Run:
    """An auction on a fake clock, keeping the journal of every event in order."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = parse_spec(spec)
        self.auction = Auction(self.spec)
        self.journal: list[Event] = []

    def handle(self, command: AnyCommand, now: int) -> Outcome:
        out = self.auction.handle(command, now)
        self.journal.extend(out.events)
        return out

    def advance(self, now: int) -> list[Event]:
        events = self.auction.advance(now)
        self.journal.extend(events)
        return events

    def bid(self, bidder: str, amount: int, now: int, **kw: Any) -> Outcome:
        return self.handle(PlaceBid(bidder=bidder, amount=amount, **kw), now)

    def cancel(self, bidder: str, now: int, **kw: Any) -> Outcome:
        return self.handle(CancelBid(bidder=bidder, **kw), now)

    def view(self, role: str, bidder: str | None = None) -> dict[str, Any]:
        """The first lot's view for ``role``."""
        lot: dict[str, Any] = auction_view(self.auction, role, bidder)["lots"][0]
        return lot

    def of(self, kind: type[Event]) -> list[Any]:
        return [ev for ev in self.journal if isinstance(ev, kind)]

    def ended(self) -> LotEnded:
        (end,) = self.of(LotEnded)
        assert isinstance(end, LotEnded)
        return end

    def lot(self, lot_id: str) -> Any:
        return self.auction.lot_states[lot_id]

    @property
    def st(self) -> Any:
        """The state of the auction's only (first) lot."""
        return self.auction.lot_states[self.spec.lots[0].id]


def rejected(out: Outcome, code: Code) -> CommandRejected:
    """``out`` is a fresh rejection with ``code``, journaled as its last event."""
    assert out.rejection is not None, out
    assert out.rejection.code == code
    assert not out.duplicate
    last = out.events[-1]
    assert isinstance(last, CommandRejected)
    assert last.code == code.value
    return last


def accepted(out: Outcome) -> list[Event]:
    assert out.rejection is None, out.rejection
    return out.events


def ints(obj: Any) -> set[int]:
    """Every int anywhere in a JSON-like structure."""
    if isinstance(obj, bool):
        return set()
    if isinstance(obj, int):
        return {obj}
    if isinstance(obj, dict):
        return set().union(*(ints(v) for v in obj.values())) if obj else set()
    if isinstance(obj, list):
        return set().union(*(ints(v) for v in obj)) if obj else set()
    return set()
