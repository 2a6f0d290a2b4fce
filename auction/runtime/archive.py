"""Finished auctions, read back from the journal: read-only, loaded on demand.

A runtime hosts the auctions it writes. An auction that finished before this
process started (``underbid serve`` restarted on its SQLite journal, say) is
not hosted by anyone, yet its view, result and record must stay readable. The
:class:`Archive` keeps the ids of the finished auctions (read from
:meth:`Journal.finished_auctions` once it is opened) with a short summary for
listings, and rebuilds an auction's engine from its snapshot and events the
first time it is asked for, keeping the ``capacity`` most recently used in
memory. Nothing is ever written: an archived auction takes no commands.

Guarantees:

- Only ids the journal listed as finished are ever loaded: an unknown id costs
  no journal call (an attacker cannot make the journal work by guessing ids).
- One load at a time (a lock), and one per id even when many ask at once.
- The engine is restored exactly as the runtime restores a hosted one
  (snapshot, then the tail of the stream), so it equals a full replay.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

import msgspec

from auction.core.engine import Auction
from auction.core.events import decode_event
from auction.core.spec import parse_spec
from auction.runtime.journal import Journal

log = logging.getLogger("underbid.runtime")

CAPACITY = 64
"""Finished auctions kept loaded in memory (least recently used dropped first)."""


class Archive:
    """The finished auctions of one journal (see the module docstring)."""

    def __init__(self, journal: Journal, *, capacity: int = CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.journal = journal
        """Where the auctions are read from."""
        self.capacity = capacity
        """How many loaded auctions are kept."""
        self.opened = False
        """True once the ids were read from the journal."""
        self._summaries: dict[str, dict[str, Any]] = {}
        """Finished id -> what a listing shows of it."""
        self._loaded: OrderedDict[str, Auction] = OrderedDict()
        self._loading: dict[str, asyncio.Task[Auction]] = {}
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Read the finished ids and their specs (may raise JournalUnavailable)."""
        summaries: dict[str, dict[str, Any]] = {}
        for auction_id in await self.journal.finished_auctions():
            raw = await self.journal.spec(auction_id)
            if raw is None:
                continue
            spec = parse_spec(msgspec.json.decode(raw))
            summaries[auction_id] = {
                "id": auction_id,
                "title": spec.title,
                "state": "finished",
                "formats": sorted({lot.format for lot in spec.lots}),
                "start_at": spec.start_at,
                "next_deadline": None,
                "public": spec.public,
                "time_zone": spec.time_zone,
            }
        self._summaries = summaries
        self.opened = True
        if summaries:
            log.info("%d finished auctions readable from the journal", len(summaries))

    def __contains__(self, auction_id: object) -> bool:
        return auction_id in self._summaries

    def ids(self) -> list[str]:
        return sorted(self._summaries)

    def summary(self, auction_id: str) -> dict[str, Any]:
        """What a listing shows of a finished auction (a copy)."""
        return dict(self._summaries[auction_id])

    def get(self, auction_id: str) -> Auction | None:
        """The engine if it is loaded now (and marks it recently used)."""
        auction = self._loaded.get(auction_id)
        if auction is not None:
            self._loaded.move_to_end(auction_id)
        return auction

    def prefetch(self, auction_id: str) -> None:
        """Start loading a finished auction in the background (no-op if loaded,
        loading, or not a finished one)."""
        if auction_id in self._summaries and auction_id not in self._loaded:
            self._task(auction_id)

    async def load(self, auction_id: str) -> Auction | None:
        """The engine of a finished auction, loaded if need be; None if the id
        is not a finished auction. May raise JournalUnavailable."""
        if auction_id not in self._summaries:
            return None
        return self.get(auction_id) or await asyncio.shield(self._task(auction_id))

    def _task(self, auction_id: str) -> asyncio.Task[Auction]:
        task = self._loading.get(auction_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load(auction_id))
            self._loading[auction_id] = task
            task.add_done_callback(lambda t: self._loaded_or_failed(auction_id, t))
        return task

    def _loaded_or_failed(self, auction_id: str, task: asyncio.Task[Auction]) -> None:
        self._loading.pop(auction_id, None)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.warning("cannot read finished auction %s: %s", auction_id, error)

    async def _load(self, auction_id: str) -> Auction:
        async with self._lock:
            loaded = self._loaded.get(auction_id)
            if loaded is not None:
                return loaded
            restored = await read_back(self.journal, auction_id)
            if restored is None:
                raise KeyError(f"no auction {auction_id!r} in the journal")
            auction = restored[0]
            self._loaded[auction_id] = auction
            while len(self._loaded) > self.capacity:
                self._loaded.popitem(last=False)
            return auction


async def read_back(journal: Journal, auction_id: str) -> tuple[Auction, int] | None:
    """An auction's engine rebuilt from the journal (its latest snapshot, then
    the events after it), and the seq of that snapshot (0: none); None if the
    journal has no such auction. The result equals a full replay."""
    raw = await journal.spec(auction_id)
    if raw is None:
        return None
    spec = parse_spec(msgspec.json.decode(raw))
    snap = await journal.snapshot(auction_id)
    if snap is not None:
        auction = Auction.restore(spec, snap.data)
        after = snap.seq
    else:
        auction = Auction(spec)
        after = 0
    apply = auction.apply
    for _, data in await journal.read(auction_id, after):
        apply(decode_event(data))
    return auction, after
