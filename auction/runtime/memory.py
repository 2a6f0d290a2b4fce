"""The in-memory journal: everything in this process's memory.

For tests and the demo. Durable only as long as the process lives: a restart
loses every auction (``underbid serve`` uses the SQLite journal by default,
:mod:`auction.runtime.sqlite`). It follows the same contract as the Redis journal,
leases and fencing included, so the runtime behaves the same on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from auction.clock import Clock, SystemClock
from auction.runtime.journal import (
    Append,
    AuctionExists,
    JournalError,
    SequenceConflict,
    Snapshot,
    StaleEpoch,
)


@dataclass
class _Stream:
    spec: bytes
    events: list[bytes] = field(default_factory=list)
    snapshot: Snapshot | None = None
    finished: bool = False
    epoch: int = 0
    owner: str | None = None
    lease_until: int = 0


class MemoryJournal:
    """In-process journal. ``clock`` times the leases (a fake one in tests)."""

    name = "memory"

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._streams: dict[str, _Stream] = {}

    def _stream(self, auction_id: str) -> _Stream:
        try:
            return self._streams[auction_id]
        except KeyError:
            raise KeyError(f"no auction {auction_id!r} in the journal") from None

    async def create(self, auction_id: str, spec: bytes) -> None:
        if auction_id in self._streams:
            raise AuctionExists(f"auction {auction_id!r} already exists")
        self._streams[auction_id] = _Stream(spec=spec)

    async def spec(self, auction_id: str) -> bytes | None:
        stream = self._streams.get(auction_id)
        return stream.spec if stream else None

    async def active_auctions(self) -> list[str]:
        return sorted(k for k, s in self._streams.items() if not s.finished)

    async def finished_auctions(self) -> list[str]:
        return sorted(k for k, s in self._streams.items() if s.finished)

    async def finish(self, auction_id: str) -> None:
        self._stream(auction_id).finished = True

    async def append_batch(self, appends: Sequence[Append]) -> list[JournalError | None]:
        results: list[JournalError | None] = []
        for append in appends:
            stream = self._stream(append.auction_id)
            if append.epoch != stream.epoch:
                results.append(StaleEpoch(f"epoch {append.epoch} < {stream.epoch}"))
                continue
            if append.first_seq != len(stream.events) + 1:
                results.append(
                    SequenceConflict(f"first_seq {append.first_seq}, last {len(stream.events)}")
                )
                continue
            stream.events.extend(append.events)
            if append.snapshot is not None:
                stream.snapshot = Snapshot(len(stream.events), append.snapshot)
            results.append(None)
        return results

    async def read(self, auction_id: str, after_seq: int = 0) -> list[tuple[int, bytes]]:
        events = self._stream(auction_id).events
        return [(seq, events[seq - 1]) for seq in range(after_seq + 1, len(events) + 1)]

    async def last_seq(self, auction_id: str) -> int:
        return len(self._stream(auction_id).events)

    async def snapshot(self, auction_id: str) -> Snapshot | None:
        return self._stream(auction_id).snapshot

    async def acquire(self, auction_id: str, owner: str, ttl_ms: int) -> int | None:
        stream = self._stream(auction_id)
        now = self._clock.now_ms()
        if stream.owner not in (None, owner) and stream.lease_until > now:
            return None
        stream.epoch += 1
        stream.owner = owner
        stream.lease_until = now + ttl_ms
        return stream.epoch

    async def renew(self, auction_id: str, owner: str, epoch: int, ttl_ms: int) -> bool:
        stream = self._stream(auction_id)
        now = self._clock.now_ms()
        if stream.owner != owner or stream.epoch != epoch or stream.lease_until <= now:
            return False
        stream.lease_until = now + ttl_ms
        return True

    async def release(self, auction_id: str, owner: str, epoch: int) -> None:
        stream = self._stream(auction_id)
        if stream.owner == owner and stream.epoch == epoch:
            stream.owner = None
            stream.lease_until = 0

    async def durability(self) -> dict[str, str]:
        return {"store": "process memory", "survives": "nothing: a crash loses running auctions"}

    async def close(self) -> None:
        return None
