"""Fan-out: every durable event, projected once per role, encoded and framed
once per (role, codec, compression), written straight to every socket.

The runtime calls :meth:`Hubs.on_durable` with the events of one append (all
the events of one loop turn for that auction, however many bids they come
from). For each group of subscribers that see the same bytes (same role, same
codec, same compression) the hub projects the events
(:func:`auction.core.projection.project`) once per role, wraps them in one
``events`` message, encodes and frames it once, and hands those bytes to every
subscriber of the group: one ``transport.write`` per socket per append, with
no task, future or queue per delivery. A subscriber whose socket cannot take
more keeps a bounded backlog; one that falls ``send_queue_frames`` behind is
told (``slow_consumer``) and disconnected (:mod:`gateway.ws`), so a slow
client never grows the server's memory nor delays the others.

The hub also keeps the last ``history`` durable events of each auction so a
client that reconnects with its last seq gets exactly what it missed. A client
may resume on a node a few events behind the one it left (a follower reads the
journal a moment after the owner wrote it): :meth:`Hubs.reached` lets the
welcome wait for this node to catch up, so no event is ever sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any, Protocol

from auction.clock import Clock
from auction.core.events import Event
from auction.core.projection import project
from auction.runtime.host import Runtime
from gateway import frames
from gateway.protocol import Codec, EventItem, EventsMessage, encode_server

Group = tuple[str, Codec, bool]
"""(role, codec, compressed): subscribers that receive the very same bytes."""


class Subscriber(Protocol):
    """One live socket of one auction, as the hub sees it."""

    @property
    def group(self) -> Group: ...

    @property
    def bidder(self) -> str | None: ...

    def write(self, frame: bytes) -> bool:
        """Send one ready frame; False if the subscriber is gone (or just dropped)."""
        ...


class Hubs:
    """All subscribers of all auctions of one server, fed by the runtime."""

    def __init__(self, runtime: Runtime, clock: Clock, *, history: int = 10_000) -> None:
        self.runtime = runtime
        self.clock = clock
        self.history = history
        """Durable events kept per auction for reconnecting clients."""
        self.groups: dict[str, dict[Group, set[Subscriber]]] = {}
        self.recent: dict[str, deque[tuple[int, Event]]] = {}
        self.waiting: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}
        """Resuming clients waiting for this node to reach their ``last_seq``."""
        self.stats = {"deliveries": 0, "frames_encoded": 0, "slow_consumers": 0}
        runtime.subscribe(self.on_durable)

    def add(self, auction_id: str, sub: Subscriber) -> None:
        self.groups.setdefault(auction_id, {}).setdefault(sub.group, set()).add(sub)

    def remove(self, auction_id: str, sub: Subscriber) -> None:
        groups = self.groups.get(auction_id)
        if groups is not None:
            members = groups.get(sub.group)
            if members is not None:
                members.discard(sub)

    def subscribers(self, auction_id: str) -> list[Subscriber]:
        return [s for members in self.groups.get(auction_id, {}).values() for s in members]

    def present(self, auction_id: str) -> list[tuple[str, str | None]]:
        """(role, bidder) of every live subscriber of an auction: who is connected."""
        return [(s.group[0], s.bidder) for s in self.subscribers(auction_id)]

    def count(self, auction_id: str | None = None) -> int:
        if auction_id is not None:
            return sum(len(m) for m in self.groups.get(auction_id, {}).values())
        return sum(len(m) for groups in self.groups.values() for m in groups.values())

    def missed(self, auction_id: str, last_seq: int, upto: int) -> list[tuple[int, Event]] | None:
        """Events ``last_seq < seq <= upto`` from memory, or None if some are too old
        (or ``last_seq`` is past ``upto``: a client that saw more than this node holds)."""
        if last_seq > upto:
            return None  # ahead of this node: not replayable (the caller resyncs)
        if last_seq == upto:
            return []
        recent = self.recent.get(auction_id)
        if not recent or recent[0][0] > last_seq + 1:
            return None
        return [(seq, ev) for seq, ev in recent if last_seq < seq <= upto]

    def reached(self, auction_id: str, seq: int) -> asyncio.Future[None]:
        """Done once this node has had the events of ``auction_id`` up to ``seq``
        durable (a follower a few events behind a client that resumes from
        another node). The caller bounds the wait and cancels the future."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = self.waiting.setdefault(auction_id, [])
        waiting.append((seq, future))
        future.add_done_callback(lambda _: self._forget(auction_id, seq, future))
        return future

    def _forget(self, auction_id: str, seq: int, future: asyncio.Future[None]) -> None:
        waiting = self.waiting.get(auction_id)
        if waiting is None:
            return
        with contextlib.suppress(ValueError):
            waiting.remove((seq, future))
        if not waiting:
            del self.waiting[auction_id]

    def on_durable(self, auction_id: str, first_seq: int, events: list[Event]) -> None:
        recent = self.recent.setdefault(auction_id, deque(maxlen=self.history))
        numbered = list(enumerate(events, start=first_seq))
        recent.extend(numbered)
        waiting = self.waiting.get(auction_id)
        if waiting:
            upto = first_seq + len(events) - 1
            for seq, future in list(waiting):
                if seq <= upto and not future.done():
                    future.set_result(None)
        groups = self.groups.get(auction_id)
        if not groups:
            return
        auction = self.runtime.auction(auction_id)
        now = self.clock.now_ms()
        items: dict[str, list[EventItem]] = {}
        for (role, codec, compressed), members in groups.items():
            if not members:
                continue
            if role not in items:  # project once per role...
                items[role] = self.items(auction, numbered, role)
            # ...encode and frame once per group, then the same bytes to every socket.
            frame = self.frame(items[role], codec, now, compressed=compressed)
            if frame is None:
                continue
            delivered = 0
            for sub in tuple(members):  # a copy: a slow one leaves the set meanwhile
                if sub.write(frame):
                    delivered += 1
            self.stats["deliveries"] += delivered

    def items(self, auction: Any, numbered: list[tuple[int, Event]], role: str) -> list[EventItem]:
        """``numbered`` events as ``role`` may see them (those it may not see left out)."""
        out: list[EventItem] = []
        for seq, event in numbered:
            shown = project(auction, event, role)
            if shown is not None:
                out.append(EventItem(seq=seq, event=shown))
        return out

    def frame(
        self, items: list[EventItem], codec: Codec, now: int, *, compressed: bool = False
    ) -> bytes | None:
        """One ready ``events`` frame of ``items`` (None when there is nothing to send)."""
        if not items:
            return None
        self.stats["frames_encoded"] += 1
        payload = encode_server(EventsMessage(server_time=now, items=items), codec)
        return frames.message(payload, compressed=compressed)
