"""Lean public watchers for ``underbid swarm``: thousands per process, each resuming on a node.

A :class:`LeanWatcher` is one raw WebSocket (:mod:`client.rawws`: no task,
no queue, a few hundred bytes) that says ``hello`` as the public (or with an
observer token), checks every ``seq`` it reads with a
:class:`~client.load.streams.SeqTracker`, and hands the events to its
:class:`Sink` with the time of the read. When its connection drops after the
welcome, the sink is told; :func:`reconnect` then opens a new connection to
the next node of the watcher's route with ``hello.last_seq`` (a task lives
only while it reconnects), and the same tracker goes on judging the resumed
stream, so a lost or repeated event across nodes is seen.

Server frames are expected whole (protocol v1: one message per frame); a
fragment is a protocol error here and ends the connection.
"""

from __future__ import annotations

import asyncio
import random
import time
import urllib.parse
from collections.abc import Sequence
from typing import Protocol

import msgspec

from client.load.report import RunFigures
from client.load.streams import SeqTracker
from client.rawws import RawWebSocket, masked_frame, upgrade_request

SUBPROTOCOL = "underbid.v1.msgpack"


class Seen(msgspec.Struct):
    """What a watcher reads of an event; everything else is skipped."""

    type: str = ""
    amount: int | None = None
    at: int = 0
    lot: str = ""


class Item(msgspec.Struct):
    seq: int = 0
    event: Seen = msgspec.field(default_factory=Seen)


class Frame(msgspec.Struct):
    type: str = ""
    seq: int = 0
    server_time: int = 0
    event: Seen | None = None
    items: list[Item] = msgspec.field(default_factory=list)
    code: str = ""


read_frame = msgspec.msgpack.Decoder(Frame).decode


class Sink(Protocol):
    """Where a watcher's news goes (the swarm)."""

    def welcomed(self, watcher: LeanWatcher, resumed: bool, seq: int, server_time: int) -> None: ...

    def events(self, watcher: LeanWatcher, items: Sequence[Item], now: float) -> None: ...

    def dropped(self, watcher: LeanWatcher, code: int | None) -> None: ...


def target(url: str, auction: str) -> tuple[str, int, str]:
    """(host, port, path) of an auction's WebSocket on a node (plain ws:// only)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "ws") or parts.hostname is None:
        raise ValueError(f"watchers speak plain ws:// (http://) only, not {url!r}")
    path = parts.path.rstrip("/") + "/ws/auctions/" + urllib.parse.quote(auction, safe="")
    return parts.hostname, parts.port or 80, path


class LeanWatcher(RawWebSocket):
    """One watcher connection (see the module docstring)."""

    __slots__ = (
        "auction",
        "close_code",
        "index",
        "node",
        "replay_until",
        "route",
        "sink",
        "token",
        "tracker",
        "up",
        "welcomed",
    )

    def __init__(
        self,
        sink: Sink,
        route: tuple[str, ...],
        auction: str,
        token: str = "",
        *,
        index: int = 0,
        node: int = 0,
        tracker: SeqTracker | None = None,
    ) -> None:
        self.sink = sink
        self.route = route
        self.auction = auction
        self.token = token
        self.index = index
        self.node = node
        self.tracker = tracker if tracker is not None else SeqTracker()
        host, port, path = target(route[node], auction)
        hello = {"type": "hello", "token": token, "last_seq": self.tracker.last}
        super().__init__(
            upgrade_request(host, port, path, SUBPROTOCOL),
            masked_frame(msgspec.msgpack.encode(hello)),
        )
        self.welcomed: asyncio.Future[None] | None = None
        self.up = False
        self.close_code: int | None = None
        self.replay_until = 0
        """After a resume: the events up to this seq are the replay of what was missed."""

    @property
    def address(self) -> tuple[str, int]:
        host, port, _ = target(self.route[self.node], self.auction)
        return host, port

    def connection_lost(self, exc: Exception | None) -> None:
        if self.welcomed is not None and not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError("closed before welcome"))
        was_up, self.up = self.up, False
        self.is_open = False
        self.transport = None
        if was_up:
            self.sink.dropped(self, self.close_code)

    def fail(self, why: str) -> None:
        if self.welcomed is not None and not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError(why))
        self.abort()

    def on_close(self, code: int) -> None:
        self.close_code = code
        super().on_close(code)

    def on_message(self, payload: bytes, now: float) -> None:
        frame = read_frame(payload)
        if not self.up:
            if frame.type == "welcome":
                resumed = self.tracker.last is not None
                self.tracker.start(frame.seq)
                self.up = True
                if self.welcomed is not None and not self.welcomed.done():
                    self.welcomed.set_result(None)
                self.replay_until = frame.seq if resumed else 0
                self.sink.welcomed(self, resumed, frame.seq, frame.server_time)
            elif frame.type == "resync":
                self.tracker.resync(frame.seq)
            elif frame.type == "error":
                self.fail(f"refused after hello: {frame.code}")
            return
        if frame.type == "resync":
            self.tracker.resync(frame.seq)
            return
        if frame.items:
            self.sink.events(self, frame.items, now)
        elif frame.event is not None:
            self.sink.events(self, [Item(frame.seq, frame.event)], now)


async def clock_offset(url: str, auction: str, pings: int = 5, timeout: float = 10.0) -> float:
    """The node's clock minus ours (ms), from the fastest of ``pings`` round trips.

    A ``pong`` carries the server's time; taken at the middle of the round
    trip, with the shortest round trip of several, it is off by at most half
    of that round trip (well under a millisecond on one machine or a LAN)."""
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    host, port, path = target(url, auction)
    best: tuple[float, float] | None = None
    async with asyncio.timeout(timeout):
        async with connect(
            f"ws://{host}:{port}{path}",
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            compression=None,
            proxy=None,
            max_size=2**24,
        ) as ws:
            await ws.send(msgspec.msgpack.encode({"type": "hello"}))
            nonce = 0
            sent = 0.0
            while True:
                frame = read_frame(await ws.recv(decode=False))
                if frame.type == "welcome" or frame.type == "pong":
                    if frame.type == "pong":
                        back = time.time() * 1000
                        sample = (back - sent, frame.server_time - (sent + back) / 2)
                        best = sample if best is None or sample[0] < best[0] else best
                    if nonce == pings:
                        break
                    nonce += 1
                    sent = time.time() * 1000
                    await ws.send(msgspec.msgpack.encode({"type": "ping", "nonce": nonce}))
                elif frame.type == "error":
                    raise ConnectionError(f"refused: {frame.code}")
    return best[1] if best is not None else 0.0


async def open_watcher(watcher: LeanWatcher, timeout: float = 30.0) -> None:
    """Connect and wait for the welcome (raises on a refusal or a timeout)."""
    loop = asyncio.get_running_loop()
    watcher.welcomed = loop.create_future()
    host, port = watcher.address
    try:
        await asyncio.wait_for(loop.create_connection(lambda: watcher, host, port), timeout)
        await asyncio.wait_for(watcher.welcomed, timeout)
    except BaseException:
        watcher.abort()
        raise


async def reconnect(
    old: LeanWatcher,
    budget_s: float,
    *,
    closing: asyncio.Event | None = None,
    first: bool = False,
) -> tuple[LeanWatcher | None, int, str]:
    """Resume ``old``'s stream on the next nodes of its route, for at most ``budget_s``
    (``first``: ``old`` never connected; try its own node first).

    Returns (the new watcher or None, attempts, the last error)."""
    deadline = time.monotonic() + budget_s
    delay = 0.05
    node = old.node - 1 if first else old.node
    attempts = 0
    error = ""
    while time.monotonic() < deadline and not (closing is not None and closing.is_set()):
        node = (node + 1) % len(old.route)
        attempts += 1
        watcher = LeanWatcher(
            old.sink,
            old.route,
            old.auction,
            old.token,
            index=old.index,
            node=node,
            tracker=old.tracker,
        )
        try:
            await open_watcher(watcher, timeout=max(0.1, min(10.0, deadline - time.monotonic())))
        except Exception as exc:
            error = f"{old.route[node]}: {type(exc).__name__}: {exc}"[:200]
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(1.0, delay * 2)
            continue
        return watcher, attempts, error
    return None, attempts, error


async def resume(
    old: LeanWatcher, figures: RunFigures, budget_s: float, closing: asyncio.Event
) -> LeanWatcher | None:
    """:func:`reconnect`, its outcome filed in ``figures`` (a reconnect and how long it
    took, or a failure)."""
    dropped = time.perf_counter()
    new, _, _ = await reconnect(old, budget_s, closing=closing)
    if new is None:
        if not closing.is_set():
            figures.count("reconnect_failures")
            figures.count("errors")
        return None
    figures.count("reconnects")
    figures.sample("reconnect", time.time() * 1000, (time.perf_counter() - dropped) * 1000)
    return new


__all__ = [
    "Frame",
    "Item",
    "LeanWatcher",
    "Seen",
    "Sink",
    "clock_offset",
    "open_watcher",
    "reconnect",
    "resume",
    "target",
]
