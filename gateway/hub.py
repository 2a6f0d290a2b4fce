"""Fan-out: every durable event, projected once per role, encoded once per
codec, queued to every connection of that role.

The runtime calls :meth:`Hubs.on_durable` with the events of one append (the
events of one loop turn for that auction). For each role that has watchers
the hub projects the events (:func:`auction.core.projection.project`) once,
wraps them in one ``events`` message and encodes it once per codec in use:
every connection of that role and codec gets the same bytes in its queue, as
one frame. Each connection has a bounded queue; a client that falls more than
``send_queue_frames`` behind is told (``slow_consumer``) and disconnected, so
a slow client never grows the server's memory nor delays the others.

The hub also keeps the last ``history`` durable events of each auction so a
client that reconnects with its last seq gets exactly what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from auction.clock import Clock
from auction.core.events import Event
from auction.core.projection import project
from auction.runtime.host import Runtime
from gateway.protocol import Codec, EventItem, EventsMessage, SlowConsumer, encode_server

Send = Callable[[bytes | str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]

SLOW_CONSUMER_CLOSE = 4009


@dataclass(eq=False)
class Connection:
    """One WebSocket of one auction, with its bounded send queue."""

    auction_id: str
    role: str
    """``official``, ``bidder`` or ``public`` (the projection it receives)."""
    bidder: str | None
    codec: Codec
    send: Send
    close: Close
    limit: int
    """Frames that may wait in the queue."""
    queue: deque[bytes | str] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    dropped: int = 0

    def push(self, frame: bytes | str) -> bool:
        """Queue a frame; False (and the connection is doomed) if it is full."""
        if self.closed:
            return False
        if len(self.queue) >= self.limit:
            self.dropped += 1
            self.closed = True
            self.wake.set()
            return False
        self.queue.append(frame)
        self.wake.set()
        return True

    async def writer(self) -> None:
        """Drain the queue to the socket until the connection closes."""
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                while self.queue and not self.closed:
                    await self.send(self.queue.popleft())
                if self.closed:
                    if self.dropped:
                        notice = encode_server(SlowConsumer(dropped=self.dropped), self.codec)
                        with contextlib.suppress(Exception):
                            await self.send(notice)
                        with contextlib.suppress(Exception):
                            await self.close(SLOW_CONSUMER_CLOSE, "slow consumer")
                    return
        except Exception:  # the socket went away: the reader side cleans up
            self.closed = True


class Hubs:
    """All connections of all auctions of one server, fed by the runtime."""

    def __init__(self, runtime: Runtime, clock: Clock, *, history: int = 10_000) -> None:
        self.runtime = runtime
        self.clock = clock
        self.history = history
        """Durable events kept per auction for reconnecting clients."""
        self.connections: dict[str, set[Connection]] = {}
        self.recent: dict[str, deque[tuple[int, Event]]] = {}
        self.stats = {"deliveries": 0, "frames_encoded": 0, "slow_consumers": 0}
        runtime.subscribe(self.on_durable)

    def add(self, conn: Connection) -> None:
        self.connections.setdefault(conn.auction_id, set()).add(conn)

    def remove(self, conn: Connection) -> None:
        conns = self.connections.get(conn.auction_id)
        if conns is not None:
            conns.discard(conn)

    def count(self, auction_id: str | None = None) -> int:
        if auction_id is not None:
            return len(self.connections.get(auction_id, ()))
        return sum(len(c) for c in self.connections.values())

    def missed(self, auction_id: str, last_seq: int, upto: int) -> list[tuple[int, Event]] | None:
        """Events ``last_seq < seq <= upto`` from memory, or None if some are too old."""
        if last_seq >= upto:
            return []
        recent = self.recent.get(auction_id)
        if not recent or recent[0][0] > last_seq + 1:
            return None
        return [(seq, ev) for seq, ev in recent if last_seq < seq <= upto]

    def on_durable(self, auction_id: str, first_seq: int, events: list[Event]) -> None:
        recent = self.recent.setdefault(auction_id, deque(maxlen=self.history))
        numbered = list(enumerate(events, start=first_seq))
        recent.extend(numbered)
        conns = self.connections.get(auction_id)
        if not conns:
            return
        auction = self.runtime.auction(auction_id)
        now = self.clock.now_ms()
        items: dict[str, list[EventItem]] = {}
        frames: dict[tuple[str, Codec], bytes | str | None] = {}
        for conn in list(conns):
            key = (conn.role, conn.codec)
            if key not in frames:
                if conn.role not in items:  # project once per role...
                    items[conn.role] = self.items(auction, numbered, conn.role)
                # ...and encode once per role and codec, for every connection.
                frames[key] = self.encode(items[conn.role], conn.codec, now)
            frame = frames[key]
            if frame is None:
                continue
            if conn.push(frame):
                self.stats["deliveries"] += 1
            elif conn.dropped:
                self.stats["slow_consumers"] += 1
                conns.discard(conn)

    def items(self, auction: Any, numbered: list[tuple[int, Event]], role: str) -> list[EventItem]:
        """``numbered`` events as ``role`` may see them (those it may not see left out)."""
        out: list[EventItem] = []
        for seq, event in numbered:
            shown = project(auction, event, role)
            if shown is not None:
                out.append(EventItem(seq=seq, event=shown))
        return out

    def encode(self, items: list[EventItem], codec: Codec, now: int) -> bytes | str | None:
        """One ``events`` frame of ``items`` (None when there is nothing to send)."""
        if not items:
            return None
        self.stats["frames_encoded"] += 1
        return encode_server(EventsMessage(server_time=now, items=items), codec)

    def frame(
        self,
        auction: Any,
        numbered: list[tuple[int, Event]],
        role: str,
        codec: Codec,
        now: int,
    ) -> bytes | str | None:
        """One ``events`` frame of ``numbered`` as ``role`` sees them (None: nothing)."""
        return self.encode(self.items(auction, numbered, role), codec, now)
