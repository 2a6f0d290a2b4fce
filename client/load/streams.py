"""Gaps and duplicates in an auction's event stream, told by sequence numbers.

Every event of an auction has a ``seq``, from 1, without gaps, the same on
every node (docs/protocol.md, Resuming). An official sees every one of them;
bidders and the public do not see the events their role may not see
(``command_rejected``: a rejection goes to its sender alone,
:mod:`auction.core.projection`), so their streams skip those numbers, and a
skipped number alone does not tell a lost event from a hidden one.

So a load test follows each auction it watches with one official
connection, the *reference* (:class:`Reference`: the operator token is an
official of every auction; it asks for the whole stream, ``last_seq = 0``).
On that stream every ``seq`` must follow the last, and it records which
numbers the other roles never see. A :class:`SeqTracker` on a watcher's or
a bidder's stream then says of each ``seq``:

- ``next``: the one expected, or one after numbers its role never sees;
- ``gap``: numbers its role should have seen are missing (``missing``
  counts them); when the reference has not reached them yet the verdict
  waits (:meth:`SeqTracker.settle`) and the gap is counted when it is known;
- ``duplicate``: at or before the last one seen (a replay sent twice);
- after :meth:`SeqTracker.resync` (the server sent a fresh view because the
  missed events were too old to replay) the stream continues from the
  view's ``seq``: the server said so, it is not a gap.

A ``welcome`` that resumes (``hello.last_seq``) does not move the tracker:
the replayed events that follow it are checked like any other. Without a
reference, a tracker holds its stream to strict continuity (the reference's
own stream, and an official's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from auction.core.projection import DECIDED

Verdict = Literal["next", "gap", "duplicate"]
SHOWN: frozenset[str] = frozenset(str(t.__struct_config__.tag) for t in DECIDED)
"""Event types bidders and the public see (every other type is never sent to them)."""
MAX_PENDING = 10_000
"""Skipped ranges kept waiting for the reference; past it the oldest is judged unverified."""


@dataclass
class Reference:
    """The official stream of one auction: how far it is known, and what others never see."""

    base: int | None = None
    """The first ``seq`` this reference knows (1 when it replayed from the start)."""
    upto: int = 0
    """Every ``seq`` from ``base`` to ``upto`` has been seen."""
    hidden: set[int] = field(default_factory=set)
    tracker: SeqTracker = field(default_factory=lambda: SeqTracker())

    def start(self, after: int) -> None:
        """Its connection asked for the events after ``after`` (0: all of them)."""
        self.base = after + 1
        self.upto = after
        self.tracker.last = after

    def resync(self, seq: int) -> None:
        """The history was too old: known again from after ``seq`` only (the
        connection resynced :attr:`tracker` itself)."""
        self.base = seq + 1
        self.upto = seq

    def note(self, seq: int, event_type: str) -> None:
        """An event of the official stream, in order (``tracker`` judged it, not a duplicate)."""
        if event_type not in SHOWN:
            self.hidden.add(seq)
        self.upto = max(self.upto, seq)

    def see(self, seq: int, event_type: str) -> Verdict:
        """Judge and note one event (for a caller that has no tracker of its own)."""
        verdict = self.tracker.see(seq)
        if verdict != "duplicate":
            self.note(seq, event_type)
        return verdict

    def missing(self, low: int, high: int) -> int | None:
        """How many of ``low..high`` the other roles should have seen; None if not known yet."""
        if self.base is None or high > self.upto:
            return None
        if low < self.base:
            return -1  # from before this reference: cannot be checked
        return sum(1 for s in range(low, high + 1) if s not in self.hidden)


@dataclass
class SeqTracker:
    """The last ``seq`` seen on one stream, and what went wrong with it."""

    reference: Reference | None = None
    last: int | None = None
    """The last ``seq`` processed; ``None`` before the first welcome."""
    gaps: int = 0
    """Times the stream skipped events its role should have seen."""
    missing: int = 0
    """Events skipped over by those gaps."""
    duplicates: int = 0
    resyncs: int = 0
    unverified: int = 0
    """Skipped ranges the reference could not judge (from before it started)."""
    events: int = 0
    """Events taken in order."""
    pending: list[tuple[int, int]] = field(default_factory=list)

    def start(self, seq: int) -> None:
        """A fresh welcome (no resume): the stream continues after ``seq``."""
        if self.last is None:
            self.last = seq

    def resync(self, seq: int) -> None:
        """The server sent a fresh view at ``seq``: continue from there."""
        self.resyncs += 1
        self.last = seq

    def see(self, seq: int) -> Verdict:
        """One event's ``seq``, as read."""
        if self.last is None:  # no welcome yet: take the stream as it comes
            self.last = seq
            self.events += 1
            return "next"
        if seq <= self.last:
            self.duplicates += 1
            return "duplicate"
        verdict: Verdict = "next"
        if seq > self.last + 1:
            low, high = self.last + 1, seq - 1
            if self.reference is None:
                verdict = self._gap(high - low + 1)
            else:
                missing = self.reference.missing(low, high)
                if missing is None:
                    self.pending.append((low, high))
                    if len(self.pending) > MAX_PENDING:
                        self.pending.pop(0)
                        self.unverified += 1
                elif missing < 0:
                    self.unverified += 1
                elif missing:
                    verdict = self._gap(missing)
        self.last = seq
        self.events += 1
        return verdict

    def _gap(self, missing: int) -> Verdict:
        self.gaps += 1
        self.missing += missing
        return "gap"

    def settle(self, final: bool = False) -> int:
        """Judge the skipped ranges the reference now knows; returns the gaps found.

        With ``final`` (the stream is over) a range the reference still does
        not know counts as unverified."""
        if not self.pending or self.reference is None:
            return 0
        found = 0
        waiting = []
        for low, high in self.pending:
            missing = self.reference.missing(low, high)
            if missing is None:
                if final:
                    self.unverified += 1
                else:
                    waiting.append((low, high))
            elif missing < 0:
                self.unverified += 1
            elif missing:
                self._gap(missing)
                found += 1
        self.pending = waiting
        return found


__all__ = ["SHOWN", "Reference", "SeqTracker", "Verdict"]
