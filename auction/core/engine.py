"""The engine: one auction (one or more lots), commands in, events out.

``Auction.handle(command, now)`` first lets every deadline up to ``now`` fire
(each at its own time), then decides the command, applies the events it
caused and returns them with the outcome. ``Auction.advance(now)`` only fires
deadlines; a runtime calls it at :meth:`Auction.next_deadline`. Because
deadlines fire at their own time whoever notices them, no outcome depends on
when a caller happens to call.

State is a fold of events: :meth:`Auction.replay` rebuilds it from the
journal, :meth:`Auction.snapshot` / :meth:`Auction.restore` shorten the
replay, and :meth:`Auction.state_hash` fingerprints it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import msgspec

from auction.core.commands import (
    AcceptPrice,
    AnyCommand,
    CancelAuction,
    CancelBid,
    Disqualify,
    Extend,
    Pause,
    PlaceBid,
    Reschedule,
    Resume,
)
from auction.core.errors import BidRejected, Code, EngineBug
from auction.core.events import (
    AuctionCancelled,
    AuctionPaused,
    AuctionResumed,
    BidCancelled,
    BidderDisqualified,
    BidderDropped,
    BidPlaced,
    CommandRejected,
    DeadlineExtended,
    Event,
    LotEnded,
    PriceAccepted,
    StartMoved,
)
from auction.core.formats import rules_for
from auction.core.formats.base import ENDED, SCHEDULED, FormatRules, LotState
from auction.core.limits import MAX_EXTENSION_MS
from auction.core.spec import AuctionSpec

_RECORDABLE = 2**63
"""Amounts a rejection records: those a signed 64-bit integer holds (the journal's wire)."""
MAX_RESCHEDULE_MS = 400 * 86_400_000
"""How far ahead a lot may be rescheduled (a little over a year)."""

_MAX_CASCADE = 1_000_000
"""Deadlines one advance may fire before we call it a bug (an endless loop)."""


class AuctionState(msgspec.Struct, kw_only=True):
    """Auction-wide state; each lot has its own :class:`LotState`."""

    seq: int = 0
    """Number of events applied."""
    clock: int = 0
    """Time of the latest event; the engine's time never goes back."""
    paused_at: int | None = None
    cancelled: bool = False
    outcomes: dict[str, str] = {}
    """Seen (bidder, bid_id) keys -> original outcome ("" accepted, else a code)."""


class Outcome(msgspec.Struct, frozen=True):
    """What became of one command."""

    events: list[Event]
    """Every event the call caused, deadline events first, in journal order."""
    rejection: BidRejected | None = None
    duplicate: bool = False
    """The (bidder, bid_id) was seen before; ``rejection`` is the original one."""
    seq: int = 0
    """The auction's seq once this call was decided: every event it caused (and,
    for a duplicate, the original's) is at or before it. An acknowledgement names
    it once the journal holds everything up to it."""

    @property
    def accepted(self) -> bool:
        return self.rejection is None


class _Snapshot(msgspec.Struct):
    auction_id: str
    state: AuctionState
    lots: dict[str, msgspec.Raw]


_snapshot_encoder = msgspec.msgpack.Encoder(order="deterministic")


def _dedupe_key(bidder: str, bid_id: str) -> str:
    return f"{bidder}\x00{bid_id}"


_BIDDER_COMMANDS = frozenset({PlaceBid, CancelBid, AcceptPrice})
_ACTOR_FIELD: dict[type[Event], str] = {
    BidPlaced: "bidder",
    BidCancelled: "bidder",
    PriceAccepted: "bidder",
    BidderDropped: "bidder",
    CommandRejected: "actor",
}
"""Events that carry a client bid id, and the field naming who sent it."""


class Auction:
    """One auction: its spec, the state of every lot, and the rules that move it."""

    __slots__ = ("_only_lot", "lot_states", "rules", "spec", "state")

    def __init__(self, spec: AuctionSpec) -> None:
        self.spec = spec
        self.state = AuctionState()
        self.rules: dict[str, FormatRules[Any]] = {
            lot.id: rules_for(lot.format)(spec, lot) for lot in spec.lots
        }
        self.lot_states: dict[str, LotState] = {
            lot_id: rules.new_state() for lot_id, rules in self.rules.items()
        }
        self._only_lot = spec.lots[0].id if len(spec.lots) == 1 else None

    # ------------------------------------------------------------ queries
    @property
    def paused(self) -> bool:
        return self.state.paused_at is not None

    @property
    def finished(self) -> bool:
        return all(st.status == ENDED for st in self.lot_states.values())

    def latest_start(self) -> int | None:
        """When the last lot still scheduled starts (ms), or None once all have started."""
        starts = [
            st.deadline
            for st in self.lot_states.values()
            if st.status == SCHEDULED and st.deadline is not None
        ]
        return max(starts, default=None)

    def next_deadline(self) -> int | None:
        """When the engine must next be woken (ms), or None (paused or over)."""
        if self.state.paused_at is not None:
            return None
        best: int | None = None
        for st in self.lot_states.values():
            if st.deadline is not None and (best is None or st.deadline < best):
                best = st.deadline
        return best

    # ----------------------------------------------------------- commands
    def advance(self, now: int) -> list[Event]:
        """Fire every deadline up to and including ``now``; return their events."""
        events: list[Event] = []
        if self.state.paused_at is not None:
            return events
        lot_states = self.lot_states
        fired_count = 0
        while True:
            due_lot: str | None = None
            due_at = now + 1
            for lot_id, st in lot_states.items():
                deadline = st.deadline
                if deadline is not None and deadline < due_at:
                    due_lot, due_at = lot_id, deadline
            if due_lot is None:
                return events
            fired = self.rules[due_lot].on_deadline(lot_states[due_lot], due_at)
            for ev in fired:
                self.apply(ev)
                events.append(ev)
            st = lot_states[due_lot]
            if st.deadline is not None and st.deadline <= due_at and not fired:
                raise EngineBug(f"lot {due_lot}: deadline {due_at} fired without progress")
            fired_count += 1
            if fired_count > _MAX_CASCADE:
                raise EngineBug("deadlines cascade without end")

    def handle(self, command: AnyCommand, now: int) -> Outcome:
        """Decide one command at ``now``. Never raises for a peer's mistake."""
        state = self.state
        if now < state.clock:
            now = state.clock
        events = self.advance(now)
        from_bidder = type(command) in _BIDDER_COMMANDS
        if from_bidder and command.bid_id:  # type: ignore[union-attr]
            key = f"{command.bidder}\x00{command.bid_id}"  # type: ignore[union-attr]
            original = state.outcomes.get(key)
            if original is not None:
                rejection = (
                    BidRejected(Code(original), "this bid_id was already rejected")
                    if original
                    else None
                )
                return Outcome(events, rejection, duplicate=True, seq=state.seq)
        try:
            if from_bidder:
                decided = self._decide_bidder(command, now)  # type: ignore[arg-type]
            else:
                decided = self._decide_official(command, now)
        except BidRejected as rejection:
            rejected = self._rejected_event(command, now, rejection)
            self.apply(rejected)
            events.append(rejected)
            return Outcome(events, rejection, seq=self.state.seq)
        apply = self.apply
        for ev in decided:
            apply(ev)
            events.append(ev)
        if decided:
            events.extend(self.advance(now))
        return Outcome(events, seq=self.state.seq)

    def _decide_bidder(self, command: PlaceBid | CancelBid | AcceptPrice, now: int) -> list[Event]:
        if self.state.paused_at is not None:
            raise BidRejected(Code.AUCTION_PAUSED, "the auction is paused by an official")
        lot_id = self._only_lot if not command.lot and self._only_lot else self._lot_id(command.lot)
        rules = self.rules[lot_id]
        st = self.lot_states[lot_id]
        ctype = type(command)
        if ctype is PlaceBid:
            return rules.place_bid(st, command, now)  # type: ignore[arg-type]
        if ctype is CancelBid:
            return rules.cancel_bid(st, command, now)  # type: ignore[arg-type]
        return rules.accept_price(st, command, now)  # type: ignore[arg-type]

    def _decide_official(self, command: AnyCommand, now: int) -> list[Event]:
        if self.finished:
            raise BidRejected(Code.AUCTION_CLOSED, "the auction is over")
        if isinstance(command, Pause):
            if self.state.paused_at is not None:
                raise BidRejected(Code.ALREADY_PAUSED, "the auction is already paused")
            return [AuctionPaused(at=now, lot="", official=command.official, reason=command.reason)]
        if isinstance(command, Resume):
            if self.state.paused_at is None:
                raise BidRejected(Code.NOT_PAUSED, "the auction is not paused")
            shift = now - self.state.paused_at
            return [AuctionResumed(at=now, lot="", official=command.official, shift=shift)]
        if isinstance(command, CancelAuction):
            return [
                AuctionCancelled(at=now, lot="", official=command.official, reason=command.reason)
            ]
        if isinstance(command, Extend):
            lot_id = self._lot_id(command.lot)
            if command.ms <= 0:
                raise BidRejected(Code.INVALID_EXTENSION, "an extension must be positive")
            if command.ms > MAX_EXTENSION_MS:
                raise BidRejected(
                    Code.INVALID_EXTENSION,
                    f"an extension is at most {MAX_EXTENSION_MS // 1000} seconds; extend again",
                )
            if self.lot_states[lot_id].status == ENDED:
                raise BidRejected(Code.AUCTION_CLOSED, f"lot {lot_id} is over")
            # A deadline at or before the pause is due the moment the auction resumes
            # (a disqualification ended the lot, turn or round): extending it would
            # reopen bidding that the rules have closed.
            due = self.lot_states[lot_id].deadline
            if self.state.paused_at is not None and due is not None and due <= self.state.paused_at:
                raise BidRejected(
                    Code.INVALID_EXTENSION,
                    f"lot {lot_id} moves on as soon as the auction resumes: nothing to extend",
                )
            return [DeadlineExtended(at=now, lot=lot_id, official=command.official, ms=command.ms)]
        if isinstance(command, Reschedule):
            return self._reschedule(command, now)
        if isinstance(command, Disqualify):
            lots = [self._lot_id(command.lot)] if command.lot else list(self.rules)
            known = [lot for lot in lots if command.bidder in self.rules[lot].bidder_ids]
            if not known:
                raise BidRejected(Code.UNKNOWN_BIDDER, f"{command.bidder!r} is not admitted")
            return [
                BidderDisqualified(
                    at=now,
                    lot=lot,
                    bidder=command.bidder,
                    official=command.official,
                    reason=command.reason,
                )
                for lot in known
                if command.bidder not in self.lot_states[lot].disqualified
                and self.lot_states[lot].status != ENDED
            ]
        raise BidRejected(Code.NOT_SUPPORTED, f"unknown command {type(command).__name__}")

    def _reschedule(self, command: Reschedule, now: int) -> list[Event]:
        lot_id = self._lot_id(command.lot)
        if self.state.paused_at is not None:
            raise BidRejected(Code.AUCTION_PAUSED, "resume the auction before moving its start")
        if self.lot_states[lot_id].status != SCHEDULED:
            raise BidRejected(Code.ALREADY_STARTED, f"lot {lot_id} has already started")
        if not now < command.start_at <= now + MAX_RESCHEDULE_MS:
            raise BidRejected(
                Code.INVALID_START, "the new start must be in the future, within 400 days"
            )
        if command.start_at == self.lot_states[lot_id].deadline:
            return []
        return [
            StartMoved(at=now, lot=lot_id, official=command.official, start_at=command.start_at)
        ]

    def _lot_id(self, lot: str) -> str:
        if not lot:
            if self._only_lot is None:
                raise BidRejected(Code.LOT_REQUIRED, "this auction has several lots: name one")
            return self._only_lot
        if lot not in self.rules:
            raise BidRejected(Code.UNKNOWN_LOT, f"no lot {lot!r} in this auction")
        return lot

    def _rejected_event(
        self, command: AnyCommand, now: int, rejection: BidRejected
    ) -> CommandRejected:
        # an official's command is sent by ``official``; ``Disqualify.bidder`` is its target
        actor = getattr(command, "official", "") or getattr(command, "bidder", "")
        lot = command.lot if command.lot in self.rules else (self._only_lot or "")
        amount = getattr(command, "amount", None)
        if amount is not None and not -_RECORDABLE <= amount < _RECORDABLE:
            amount = None  # a refused absurd number is not kept: no wire could carry it
        return CommandRejected(
            at=now,
            lot=lot,
            actor=actor,
            command=command.__struct_config__.tag,  # type: ignore[arg-type]
            code=rejection.code.value,
            message=rejection.message,
            bid_id=getattr(command, "bid_id", ""),
            amount=amount,
            surrogate_by=getattr(command, "surrogate_by", ""),
        )

    # -------------------------------------------------------------- apply
    def apply(self, event: Event) -> None:
        """Fold one event into the state. The only place state changes."""
        state = self.state
        state.seq += 1
        if event.at > state.clock:
            state.clock = event.at
        actor_field = _ACTOR_FIELD.get(type(event))
        if actor_field is not None and event.bid_id:  # type: ignore[attr-defined]
            key = _dedupe_key(getattr(event, actor_field), event.bid_id)  # type: ignore[attr-defined]
            if key not in state.outcomes:
                state.outcomes[key] = getattr(event, "code", "")
        if not event.lot:
            self._apply_auction_wide(event)
            return
        rules = self.rules.get(event.lot)
        if rules is None:
            raise EngineBug(f"event for unknown lot {event.lot!r}")
        st = self.lot_states[event.lot]
        if isinstance(event, BidderDisqualified):
            st.disqualified.append(event.bidder)
            effective = state.paused_at if state.paused_at is not None else event.at
            rules.disqualify(st, event.bidder, effective)
        rules.apply(st, event)

    def _apply_auction_wide(self, event: Event) -> None:
        state = self.state
        if isinstance(event, AuctionPaused):
            state.paused_at = event.at
        elif isinstance(event, AuctionResumed):
            state.paused_at = None
            for lot_id, st in self.lot_states.items():
                if st.status != ENDED:
                    self.rules[lot_id].shift(st, event.shift)
        elif isinstance(event, AuctionCancelled):
            state.cancelled = True
            state.paused_at = None
            for lot_id, st in self.lot_states.items():
                if st.status != ENDED:
                    self.rules[lot_id].apply(
                        st,
                        LotEnded(
                            at=event.at, lot=lot_id, outcome="cancelled", winner=None, amount=None
                        ),
                    )
        elif isinstance(event, CommandRejected):
            pass
        else:
            raise EngineBug(f"auction-wide event {type(event).__name__} has no lot")

    # ------------------------------------------------------ replay & hash
    @classmethod
    def replay(cls, spec: AuctionSpec, events: Iterable[Event]) -> Auction:
        """Rebuild an auction from its journal."""
        auction = cls(spec)
        apply = auction.apply
        for ev in events:
            apply(ev)
        return auction

    def snapshot(self) -> bytes:
        """The whole state as deterministic MessagePack bytes."""
        lots = {
            lot_id: msgspec.Raw(_snapshot_encoder.encode(st))
            for lot_id, st in self.lot_states.items()
        }
        return _snapshot_encoder.encode(_Snapshot(self.spec.id, self.state, lots))

    @classmethod
    def restore(cls, spec: AuctionSpec, snapshot: bytes) -> Auction:
        """Inverse of :meth:`snapshot`; continue with :meth:`apply` for the tail."""
        data = msgspec.msgpack.decode(snapshot, type=_Snapshot)
        if data.auction_id != spec.id:
            raise EngineBug(f"snapshot of {data.auction_id!r} given for {spec.id!r}")
        auction = cls(spec)
        auction.state = data.state
        for lot_id, raw in data.lots.items():
            rules = auction.rules[lot_id]
            auction.lot_states[lot_id] = msgspec.msgpack.decode(raw, type=rules.state_type)
        return auction

    def state_hash(self) -> str:
        """SHA-256 of the snapshot: equal states, equal hashes."""
        return hashlib.sha256(self.snapshot()).hexdigest()
