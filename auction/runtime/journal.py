"""The journal: where an auction's events become durable.

One interface, three implementations: :class:`~auction.runtime.memory.MemoryJournal`
(tests, the demo), :class:`~auction.runtime.sqlite.SqliteJournal` (one machine,
durable, the default of ``underbid serve``) and
:class:`~auction.runtime.redis.RedisJournal` (a Redis server, Sentinel or
Cluster). All pass the same contract test suite
(tests/runtime/test_journal_contract.py).

Per auction the journal keeps: the spec (as given), the events in sequence
order (``seq`` starts at 1, no gaps), the latest snapshot, whether the auction
has finished, and the writer's lease with its **fencing epoch**. A writer
acquires the lease and gets a new epoch; every append names the epoch and is
refused with :class:`StaleEpoch` once a newer epoch exists, so a writer that
was paused past its lease can never write again after a takeover.

Appends are submitted in batches (:meth:`Journal.append_batch`): a runtime
gathers every auction's new events of one event-loop turn and sends them in
one round trip (group commit).

Exceptions::

    JournalError
    ├── JournalUnavailable   the store cannot be reached; an append in flight may
    │                        or may not have been written (re-read to know)
    ├── StaleEpoch           a newer writer holds the auction (fenced)
    ├── SequenceConflict     first_seq is not last seq + 1 (lost race or bug)
    └── AuctionExists        create() of an id that is already there
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from auction.core.errors import UnderbidError


class JournalError(UnderbidError):
    """Base of the journal's errors."""


class JournalUnavailable(JournalError):
    """The store cannot be reached (or timed out). Nothing may be acknowledged."""


class StaleEpoch(JournalError):
    """The append's epoch is older than the auction's current epoch."""


class SequenceConflict(JournalError):
    """The append does not continue the stream (``first_seq != last + 1``)."""


class AuctionExists(JournalError):
    """An auction with this id is already in the journal."""


@dataclass(frozen=True, slots=True)
class Append:
    """Events of one auction to make durable, atomically and in order."""

    auction_id: str
    epoch: int
    """The writer's fencing epoch (from :meth:`Journal.acquire`)."""
    first_seq: int
    """Sequence number of ``events[0]``; must be the stream's last + 1."""
    events: Sequence[bytes]
    """MessagePack-encoded events (:func:`auction.core.events.encode_event`)."""
    snapshot: bytes | None = None
    """Optional snapshot of the state after the last of these events."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    seq: int
    """The snapshot holds the state after event ``seq``."""
    data: bytes


class Journal(Protocol):
    """What the runtime needs from durable storage. Every method may raise
    :class:`JournalUnavailable`."""

    name: str
    """``memory``, ``sqlite``, ``redis``, ``redis-sentinel`` or ``redis-cluster``:
    for logs and /readyz."""

    async def create(self, auction_id: str, spec: bytes) -> None:
        """Store a new auction's spec (JSON bytes) and mark it active."""
        ...

    async def spec(self, auction_id: str) -> bytes | None: ...

    async def active_auctions(self) -> list[str]:
        """Ids of auctions created and not finished, sorted."""
        ...

    async def finished_auctions(self) -> list[str]:
        """Ids of finished auctions, sorted: their spec and events stay readable."""
        ...

    async def finish(self, auction_id: str) -> None:
        """Mark an auction finished: it is no longer recovered at start."""
        ...

    async def append_batch(self, appends: Sequence[Append]) -> list[JournalError | None]:
        """Append every batch in one round trip; one result per append, in order.

        Each append is atomic: all of its events (and its snapshot) or none.
        A :class:`JournalUnavailable` is raised for the whole batch when the
        store cannot be reached.
        """
        ...

    async def read(self, auction_id: str, after_seq: int = 0) -> list[tuple[int, bytes]]:
        """Events with ``seq > after_seq``, in order, as ``(seq, bytes)``."""
        ...

    async def last_seq(self, auction_id: str) -> int:
        """The last sequence number (0 when empty)."""
        ...

    async def snapshot(self, auction_id: str) -> Snapshot | None: ...

    async def acquire(self, auction_id: str, owner: str, ttl_ms: int) -> int | None:
        """Take the writer's lease if it is free (or already ``owner``'s).

        Returns a new fencing epoch, greater than any before, or None if
        another owner holds a live lease.
        """
        ...

    async def renew(self, auction_id: str, owner: str, epoch: int, ttl_ms: int) -> bool:
        """Extend the lease; False if it was lost (expired and taken, or released)."""
        ...

    async def release(self, auction_id: str, owner: str, epoch: int) -> None: ...

    async def durability(self) -> dict[str, str]:
        """The store's durability settings, for the start-up log."""
        ...

    async def close(self) -> None: ...


REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+sentinel://", "redis+cluster://")
"""URL schemes of the Redis journal (:mod:`auction.runtime.redis_connect`)."""


def open_journal(
    url: str | None,
    *,
    min_replicas: int = 0,
    replica_timeout_ms: int = 1_000,
    timeout_s: float = 2.0,
) -> Journal:
    """The journal a deployment asks for.

    - ``None``, ``memory://``: the in-process one;
    - ``sqlite:PATH`` (``sqlite:///abs/path`` too): the SQLite journal in that file;
    - ``redis://HOST:PORT/DB``, ``rediss://...``, ``unix://PATH``: one Redis server;
    - ``redis+sentinel://HOST:PORT,HOST:PORT/MASTER[/DB]``: the master Sentinel names;
    - ``redis+cluster://HOST:PORT,HOST:PORT``: a Redis Cluster.

    ``min_replicas``, ``replica_timeout_ms`` and ``timeout_s`` apply to Redis
    (:class:`~auction.runtime.redis.RedisJournal`). Raises :class:`ValueError`
    for a URL it does not understand.
    """
    if url is None or url in ("", "memory", "memory://"):
        from auction.runtime.memory import MemoryJournal

        return MemoryJournal()
    if url.startswith("sqlite:"):
        from auction.runtime.sqlite import SqliteJournal

        path = url.removeprefix("sqlite:")
        path = path[2:] if path.startswith("//") else path
        if not path:
            raise ValueError("a sqlite: journal URL needs a path: sqlite:PATH")
        return SqliteJournal(path)
    if url.startswith(REDIS_SCHEMES):
        from auction.runtime.redis import RedisJournal

        return RedisJournal(
            url,
            timeout_s=timeout_s,
            min_replicas=min_replicas,
            replica_timeout_ms=replica_timeout_ms,
        )
    raise ValueError(
        f"unknown journal URL {url!r}: expected redis://HOST:PORT/DB, "
        "redis+sentinel://HOST:PORT,.../MASTER, redis+cluster://HOST:PORT,..., "
        "sqlite:PATH or memory://"
    )
