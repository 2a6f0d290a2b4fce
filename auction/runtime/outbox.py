"""The outbox: messages to other systems, kept in the journal's store until delivered.

When a lot ends, the server owes every configured webhook endpoint a message.
Those deliveries are written here, durably and idempotently, and a sender
(``gateway/webhooks.py``) claims the ones that are due, tries them, and
reports each attempt. The outbox lives where the journal lives (memory, a
SQLite file beside the journal's, Redis), so it survives a restart exactly as
the auctions do, and with several nodes each delivery is claimed by **exactly
one** of them at a time: a claim is a lease (``lease_ms``); a node that dies
mid-delivery leaves its lease to lapse and another node claims the delivery
again (at least once: the receiver deduplicates by ``webhook-id``).

A delivery's life::

    add() ──► pending ──claim()──► leased ──delivered()──► delivered
                 ▲                    │
                 └────retry(due_at)───┤
                                      └──dead(reason)────► dead

While an endpoint is disabled (it answered 410 Gone), its deliveries are not
claimed: they wait, and still die at their age limit, until it is enabled again.

One interface, three implementations: :class:`MemoryOutbox` (here),
:class:`~auction.runtime.sqlite_outbox.SqliteOutbox` and
:class:`~auction.runtime.redis_outbox.RedisOutbox`; all pass the contract
suite tests/runtime/test_outbox_contract.py. Times are handed in (ms since the
epoch): the outbox has no clock of its own.

Exceptions::

    JournalError
    └── JournalUnavailable   the store cannot be reached (from auction.runtime.journal)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal, Protocol

PENDING: Final = "pending"
DELIVERED: Final = "delivered"
DEAD: Final = "dead"
State = Literal["pending", "delivered", "dead"]

MAX_ERROR_CHARS: Final = 300
"""A delivery keeps the last attempt's error, cut to this length."""
MAX_KEPT: Final = 1000
"""Delivered and dead deliveries kept per endpoint (the oldest are forgotten)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message owed to one endpoint."""

    id: str
    """Unique: ``{message_id}:{endpoint}``."""
    message_id: str
    """The ``webhook-id``: the same on every attempt and for every endpoint."""
    endpoint: str
    kind: str
    """The message type (``lot.ended``, ``auction.ocds_release``)."""
    payload: bytes
    """The JSON body, fixed when the message was made."""
    created_at: int
    """When the message was made (ms); its age limit counts from here."""
    due_at: int
    """When it may next be tried (ms)."""
    attempts: int = 0
    """Attempts so far."""
    last_error: str = ""
    """Why the last attempt failed."""
    state: State = PENDING
    finished_at: int = 0
    """When it was delivered or given up (ms)."""


def delivery_id(message_id: str, endpoint: str) -> str:
    return f"{message_id}:{endpoint}"


@dataclass(frozen=True, slots=True)
class EndpointStats:
    """What the dashboard and the metrics show of one endpoint."""

    pending: int = 0
    delivered: int = 0
    dead: int = 0
    disabled: str = ""
    """Why it was disabled (empty: enabled)."""
    disabled_at: int = 0


class Outbox(Protocol):
    """Durable deliveries. Every method may raise ``JournalUnavailable``."""

    name: str

    async def add(self, deliveries: Sequence[Delivery]) -> int:
        """Store new deliveries; one whose id exists already is left as it is.
        Returns how many were new."""
        ...

    async def claim(
        self, owner: str, *, now: int, lease_ms: int, limit: int, endpoints: Sequence[str]
    ) -> list[Delivery]:
        """Lease up to ``limit`` pending deliveries due by ``now`` to ``owner``, for the
        enabled ones of ``endpoints``, oldest due first. A delivery leased to one
        owner is not claimed by another until the lease lapses."""
        ...

    async def delivered(self, delivery_id: str, *, now: int) -> None:
        """The endpoint accepted it (whoever holds the lease now: it is done)."""
        ...

    async def retry(
        self, delivery_id: str, owner: str, *, due_at: int, error: str, now: int
    ) -> bool:
        """An attempt failed; try again at ``due_at``. False (and nothing changes)
        if ``owner`` no longer holds the lease, or it is no longer pending."""
        ...

    async def dead(self, delivery_id: str, owner: str, *, error: str, now: int) -> bool:
        """Give up on it (too old). False if ``owner`` no longer holds the lease."""
        ...

    async def disable(self, endpoint: str, *, reason: str, now: int) -> None:
        """Stop claiming the endpoint's deliveries (it answered 410 Gone)."""
        ...

    async def enable(self, endpoint: str) -> bool:
        """Claim its deliveries again; False if it was not disabled."""
        ...

    async def stats(self, endpoints: Sequence[str]) -> dict[str, EndpointStats]: ...

    async def recent(self, endpoint: str, state: State, limit: int) -> list[Delivery]:
        """The endpoint's deliveries in ``state``, the most recent first."""
        ...

    async def get(self, delivery_id: str) -> Delivery | None: ...

    async def close(self) -> None: ...


@dataclass
class _Entry:
    delivery: Delivery
    owner: str = ""
    lease_until: int = 0


@dataclass
class _Endpoint:
    disabled: str = ""
    disabled_at: int = 0
    delivered: int = 0
    dead: int = 0
    finished: list[str] = field(default_factory=list)
    """Ids of delivered and dead deliveries, oldest first (bounded by MAX_KEPT)."""


class MemoryOutbox:
    """The outbox in this process's memory, beside the memory journal: it lasts as
    long as the process (and as the auctions it reports on)."""

    name = "memory"

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._endpoints: dict[str, _Endpoint] = {}

    def _endpoint(self, name: str) -> _Endpoint:
        return self._endpoints.setdefault(name, _Endpoint())

    async def add(self, deliveries: Sequence[Delivery]) -> int:
        added = 0
        for delivery in deliveries:
            if delivery.id not in self._entries:
                self._entries[delivery.id] = _Entry(delivery)
                added += 1
        return added

    async def claim(
        self, owner: str, *, now: int, lease_ms: int, limit: int, endpoints: Sequence[str]
    ) -> list[Delivery]:
        wanted = {e for e in endpoints if not self._endpoint(e).disabled}
        due = sorted(
            (
                entry
                for entry in self._entries.values()
                if entry.delivery.state == PENDING
                and entry.delivery.endpoint in wanted
                and max(entry.delivery.due_at, entry.lease_until) <= now
            ),
            key=lambda e: (max(e.delivery.due_at, e.lease_until), e.delivery.id),
        )[:limit]
        for entry in due:
            entry.owner = owner
            entry.lease_until = now + lease_ms
        return [entry.delivery for entry in due]

    def _finish(self, entry: _Entry, state: State, error: str, now: int) -> None:
        d = entry.delivery
        entry.delivery = replace(
            d,
            state=state,
            attempts=d.attempts + 1,
            last_error=error[:MAX_ERROR_CHARS],
            finished_at=now,
        )
        entry.owner, entry.lease_until = "", 0
        endpoint = self._endpoint(d.endpoint)
        if state == DELIVERED:
            endpoint.delivered += 1
        else:
            endpoint.dead += 1
        endpoint.finished.append(d.id)
        while len(endpoint.finished) > MAX_KEPT:
            self._entries.pop(endpoint.finished.pop(0), None)

    async def delivered(self, delivery_id: str, *, now: int) -> None:
        entry = self._entries.get(delivery_id)
        if entry is not None and entry.delivery.state == PENDING:
            self._finish(entry, DELIVERED, "", now)

    def _held(self, delivery_id: str, owner: str) -> _Entry | None:
        entry = self._entries.get(delivery_id)
        if entry is None or entry.delivery.state != PENDING or entry.owner != owner:
            return None
        return entry

    async def retry(
        self, delivery_id: str, owner: str, *, due_at: int, error: str, now: int
    ) -> bool:
        entry = self._held(delivery_id, owner)
        if entry is None:
            return False
        d = entry.delivery
        entry.delivery = replace(
            d, due_at=due_at, attempts=d.attempts + 1, last_error=error[:MAX_ERROR_CHARS]
        )
        entry.owner, entry.lease_until = "", 0
        return True

    async def dead(self, delivery_id: str, owner: str, *, error: str, now: int) -> bool:
        entry = self._held(delivery_id, owner)
        if entry is None:
            return False
        self._finish(entry, DEAD, error, now)
        return True

    async def disable(self, endpoint: str, *, reason: str, now: int) -> None:
        state = self._endpoint(endpoint)
        if not state.disabled:
            state.disabled, state.disabled_at = reason[:MAX_ERROR_CHARS] or "disabled", now

    async def enable(self, endpoint: str) -> bool:
        state = self._endpoint(endpoint)
        was = bool(state.disabled)
        state.disabled, state.disabled_at = "", 0
        return was

    async def stats(self, endpoints: Sequence[str]) -> dict[str, EndpointStats]:
        pending: dict[str, int] = {}
        for entry in self._entries.values():
            if entry.delivery.state == PENDING:
                pending[entry.delivery.endpoint] = pending.get(entry.delivery.endpoint, 0) + 1
        out: dict[str, EndpointStats] = {}
        for name in endpoints:
            e = self._endpoint(name)
            out[name] = EndpointStats(
                pending.get(name, 0), e.delivered, e.dead, e.disabled, e.disabled_at
            )
        return out

    async def recent(self, endpoint: str, state: State, limit: int) -> list[Delivery]:
        found = [
            e.delivery
            for e in self._entries.values()
            if e.delivery.endpoint == endpoint and e.delivery.state == state
        ]
        found.sort(key=lambda d: (d.finished_at or d.due_at, d.id), reverse=True)
        return found[:limit]

    async def get(self, delivery_id: str) -> Delivery | None:
        entry = self._entries.get(delivery_id)
        return entry.delivery if entry is not None else None

    async def close(self) -> None:
        return None


def open_outbox(url: str | None) -> Outbox:
    """The outbox beside the journal at ``url`` (the URL ``open_journal`` takes):
    in memory, in a SQLite file next to the journal's, or in the same Redis."""
    from auction.runtime.journal import REDIS_SCHEMES

    if url is None or url in ("", "memory", "memory://"):
        return MemoryOutbox()
    if url.startswith("sqlite:"):
        from auction.runtime.sqlite_outbox import SqliteOutbox, outbox_path

        path = url.removeprefix("sqlite:")
        path = path[2:] if path.startswith("//") else path
        if not path:
            raise ValueError("a sqlite: journal URL needs a path: sqlite:PATH")
        return SqliteOutbox(outbox_path(path))
    if url.startswith(REDIS_SCHEMES):
        from auction.runtime.redis_outbox import RedisOutbox

        return RedisOutbox(url)
    raise ValueError(f"unknown journal URL {url!r}: expected redis://..., sqlite:PATH or memory://")
