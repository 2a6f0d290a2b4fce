"""One client connection to one auction, kept alive across network failures.

:class:`AuctionClient` speaks protocol v1 (docs/protocol.md) for a bidder, an
official or a public watcher::

    async with AuctionClient("http://127.0.0.1:8000", "ua-2024-001", token=token) as client:
        result = await client.bid(4_750_000)        # BidResult(ok=True, seq=13, ...)
        async for seq, event in client.events():    # every event once, in order
            ...

What it guarantees:

- **Every event once, in order.** :meth:`AuctionClient.events` yields
  ``(seq, event)`` with strictly increasing ``seq``, across reconnects: after a
  drop the client reconnects with ``hello.last_seq`` and the server replays
  exactly what was missed. When the missed events are too old the server sends
  a fresh view instead; the client replaces :attr:`AuctionClient.view` and
  yields one synthetic event ``{"type": "resync", "seq", "view"}`` so that a
  consumer folding events knows to start again from the view.
- **Commands are answered, never doubled.** ``bid``, ``cancel`` and ``accept``
  carry a ``bid_id`` (a fresh uuid4 unless given). If the connection drops
  before the answer, the client reconnects and sends the same ``bid_id``
  again, until it is answered or the timeout passes; the server executes a
  ``bid_id`` once and repeats the original outcome (``duplicate=True``).
  An ``ack`` means the bid is durable in the server's journal.
- **Bounded reconnects.** Exponential back-off with jitter from
  ``min_backoff_s`` up to ``max_backoff_s``. A close that retrying cannot fix
  (:data:`TERMINAL_CLOSE_CODES`: auth failed, forbidden origin, policy, ...)
  ends the client instead.
- **The server's clock.** :attr:`AuctionClient.server_offset_ms` is the
  smoothed ``server_time - local clock`` of the frames received;
  :meth:`AuctionClient.server_now_ms` is the local clock corrected by it, for
  countdowns. :meth:`AuctionClient.ping` refines it with a round trip.
- **Latency.** Every answered command appends its latency (first send to
  answer, ms) to :attr:`AuctionClient.latencies`.

Errors (the exception tree)::

    Exception
    └── ClientError
        └── ConnectError   connect() failed: unreachable, refused at the
                           handshake, or refused after hello (``code`` is the
                           server's error code, e.g. ``token_expired``)

Commands never raise for a refusal: they return a :class:`BidResult` whose
``code`` is the engine's code (``step_too_small``...), ``unavailable`` (retry
with the same ``bid_id``), ``forbidden``, ``timeout`` or ``closed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Origin, Subprotocol

from gateway import protocol as p

log = logging.getLogger("underbid.client")

TERMINAL_CLOSE_CODES: Final = frozenset(
    {
        p.NORMAL_CLOSURE,
        p.POLICY_VIOLATION,
        p.MESSAGE_TOO_BIG,
        p.AUTH_FAILED,
        p.FORBIDDEN_ORIGIN,
        p.UNKNOWN_AUCTION,
        p.RATE_LIMITED,
    }
)
"""Close codes after which reconnecting cannot help: the client stops.

Every other close (going away, internal error, try again later, idle
timeout, slow consumer, a dropped network) is followed by a reconnect."""

MAX_SERVER_FRAME_BYTES: Final = 16 * 1024 * 1024
"""Largest frame accepted from the server (a big auction's view is the largest)."""

OFFSET_SMOOTHING: Final = 0.2
"""Weight of a new sample in :attr:`AuctionClient.server_offset_ms` (EWMA)."""

EventCallback = Callable[[int, dict[str, Any]], object]
"""``on_event(seq, event)``: called for each event as it is received; must not block."""
CheckpointCallback = Callable[[p.Checkpoint], object]
"""``on_checkpoint(message)``: called for each signed checkpoint received; must not block."""

_CodecName = Literal["msgpack", "json"]
_CODECS: Final[dict[str, p.Codec]] = {"msgpack": p.Codec.MSGPACK, "json": p.Codec.JSON}


@dataclass(frozen=True, slots=True)
class BidResult:
    """The answer to a ``bid``, ``cancel`` or ``accept``."""

    ok: bool
    """True: accepted and durable (the server's ``ack``)."""
    code: str
    """``""`` when ok; else the engine's code (``step_too_small``, ``not_your_turn``...),
    ``unavailable`` (the journal did not confirm: retry with the same ``bid_id``),
    ``forbidden`` (this role may not bid), ``timeout`` or ``closed``."""
    message: str
    """For humans; ``""`` when ok."""
    bid_id: str
    """The command's id: pass it again to retry safely."""
    seq: int | None
    """The auction's durable seq at the ack (``None`` unless ok)."""
    duplicate: bool
    """The server had seen ``bid_id`` already and repeated the original outcome."""
    latency_ms: float | None
    """First send to answer; ``None`` when there was no answer."""
    leaf_index: int | None = None
    """The ack's leaf index: where the command's event is in the auction's log
    (the receipt, :mod:`client.receipts`); ``None`` unless ok and not a duplicate."""


class ClientError(Exception):
    """Base of the client's errors."""


class ConnectError(ClientError):
    """:meth:`AuctionClient.connect` failed. Nothing about the auction was revealed."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        close_code: int | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        """The server's error code (``token_expired``, ``too_many_connections``...), or
        ``unreachable``, ``refused`` (HTTP status at the handshake), ``closed``."""
        self.message = message
        self.close_code = close_code
        """The WebSocket close code, when the server closed after accepting."""
        self.status = status
        """The HTTP status, when the server refused the handshake itself."""

    @property
    def terminal(self) -> bool:
        """Retrying will not help (refused, not merely unreachable)."""
        if self.close_code is not None and self.close_code in TERMINAL_CLOSE_CODES:
            return True
        return self.status is not None and 400 <= self.status < 500


@dataclass(eq=False)
class _Pending:
    """A command waiting for its ``ack`` or ``rejected``."""

    frame: bytes | str
    future: asyncio.Future[tuple[p.Ack | p.Rejected, float] | None]
    started: float
    """``time.perf_counter()`` at the first send."""
    waiters: int = 0
    sends: int = 0


@dataclass
class _Counters:
    frames: int = 0
    events: int = 0
    duplicates: int = 0
    """Events skipped because their seq was not after :attr:`AuctionClient.last_seq`."""
    reconnects: int = 0
    resyncs: int = 0
    resent: int = 0
    """Commands sent again after a reconnect."""
    slow_consumer: int = 0
    unknown: int = 0
    """Frames of a type this client does not know (skipped)."""


def _websocket_url(base_url: str, auction_id: str) -> str:
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"base_url must be an http(s):// or ws(s):// URL, not {base_url!r}")
    path = parts.path.rstrip("/") + "/ws/auctions/" + quote(auction_id, safe="")
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def _wall_ms() -> float:
    return time.time() * 1000


class AuctionClient:
    """A bidder's or watcher's connection to one auction (see the module docstring).

    ``base_url`` is the server (``http://127.0.0.1:8000``); ``also`` other
    nodes of the same cluster, tried in turn when a connection drops or fails
    (any node serves any auction, and a resume works on any of them); ``token`` a token
    the server issued (``None``: a public watcher). ``auth="hello"`` sends the
    token in the first message (as browsers must); ``"header"`` sends it as
    ``Authorization: Bearer``. ``origin`` sets the ``Origin`` header (programs
    normally send none). With ``reconnect`` the client reconnects and resumes
    after any close that retrying can fix. ``buffer_events=False`` keeps no
    queue for :meth:`events` (use ``on_event``, or nothing, e.g. in load tests).

    Use from one event loop. ``async with`` connects and closes.
    """

    def __init__(
        self,
        base_url: str,
        auction_id: str,
        *,
        token: str | None = None,
        codec: _CodecName = "msgpack",
        origin: str | None = None,
        reconnect: bool = True,
        max_backoff_s: float = 5.0,
        min_backoff_s: float = 0.05,
        connect_timeout: float = 10.0,
        auth: Literal["hello", "header"] = "hello",
        on_event: EventCallback | None = None,
        buffer_events: bool = True,
        on_checkpoint: CheckpointCallback | None = None,
        also: Sequence[str] = (),
    ) -> None:
        if codec not in _CODECS:
            raise ValueError(f"codec must be 'msgpack' or 'json', not {codec!r}")
        if auth not in ("hello", "header"):
            raise ValueError(f"auth must be 'hello' or 'header', not {auth!r}")
        if not 0 < min_backoff_s <= max_backoff_s:
            raise ValueError("need 0 < min_backoff_s <= max_backoff_s")
        self.base_url = base_url
        self.auction_id = auction_id
        self.url = _websocket_url(base_url, auction_id)
        """The WebSocket endpoint, ``ws://host:port/ws/auctions/{auction_id}``
        (of the node connected to, or tried next)."""
        self.urls = [self.url, *(_websocket_url(other, auction_id) for other in also)]
        """Every node's endpoint, in the order they are tried."""
        self.token = token
        self.codec: p.Codec = _CODECS[codec]
        self.origin = origin
        self.reconnect = reconnect
        self.min_backoff_s = min_backoff_s
        self.max_backoff_s = max_backoff_s
        self.connect_timeout = connect_timeout
        self.auth = auth
        self.on_event = on_event
        self.buffer_events = buffer_events
        self.on_checkpoint = on_checkpoint
        self.checkpoint: p.Checkpoint | None = None
        """The last signed checkpoint of the auction's log received (docs/record.md)."""

        self.welcome: p.Welcome | None = None
        """The last ``welcome`` (role, bidder id, label...)."""
        self.view: dict[str, Any] | None = None
        """The latest view of the auction for this role, from ``welcome`` or ``resync``."""
        self.last_seq: int | None = None
        """The seq of the last event received (or of the view); resumed from on reconnect."""
        self.server_offset_ms: float = 0.0
        """Smoothed ``server_time - local wall clock`` (ms) of the frames received."""
        self.latencies: list[float] = []
        """Latency (ms, first send to answer) of every answered command, in answer order."""
        self.errors: list[p.ErrorMessage] = []
        """Every ``error`` message the server sent (rate limits, malformed frames...)."""
        self.close_code: int | None = None
        """The close code of the last connection that ended."""
        self.close_reason: str | None = None
        self.last_error: ConnectError | None = None
        """Why the last (re)connect attempt failed."""
        self.stats = _Counters()

        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()
        self._done = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[str, _Pending] = {}
        self._pings: dict[int, asyncio.Future[tuple[p.Pong, float]]] = {}
        self._nonces = itertools.count(1)
        self._events: asyncio.Queue[tuple[int, dict[str, Any]] | None] = asyncio.Queue()
        self._offset_samples = 0

    # ------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> AuctionClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        """True while a connection is open and welcomed."""
        return self._ready.is_set()

    @property
    def running(self) -> bool:
        """True from :meth:`connect` until :meth:`close` or a terminal close."""
        return self._task is not None and not self._task.done()

    async def connect(self) -> p.Welcome:
        """Connect and authenticate; returns the server's ``welcome``.

        Resumes after :attr:`last_seq` when the client was connected before
        (after :meth:`close` or a terminal close too). Raises
        :class:`ConnectError` if the server cannot be reached or refuses;
        reconnects after this first success happen in the background.
        """
        if self.running:
            raise RuntimeError("already connected")
        self._closing = False
        self._done.clear()
        self._drop_end_markers()
        try:
            ws, welcome, resynced = await self._open()
        except BaseException:
            self._finish()
            raise
        await self._accept(ws, welcome, resynced)
        self._task = asyncio.get_running_loop().create_task(
            self._run(ws), name=f"underbid-client-{self.auction_id}"
        )
        return welcome

    async def close(self) -> None:
        """Say goodbye (close 1000); unanswered commands return ``closed``."""
        self._closing = True
        ws = self._ws
        task = self._task
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), timeout=self.connect_timeout)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._finish()

    def abort_connection(self) -> None:
        """Drop the current connection abruptly, as a network failure would.

        For tests and drills: with ``reconnect`` the client reconnects and
        resumes; without it the client stops (call :meth:`connect` to resume).
        """
        ws = self._ws
        if ws is not None:
            ws.transport.abort()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until a connection is open and welcomed (raises ``TimeoutError``)."""
        async with asyncio.timeout(timeout):  # (not wait_for: see auction.runtime.loop.wait_set)
            await self._ready.wait()

    async def wait_closed(self, timeout: float | None = None) -> None:
        """Wait until the client stopped for good (:meth:`close` or a terminal close)."""
        async with asyncio.timeout(timeout):
            await self._done.wait()

    # ------------------------------------------------------------- commands
    async def bid(
        self, amount: int, *, lot: str = "", bid_id: str | None = None, timeout: float = 10
    ) -> BidResult:
        """Place a bid (``open``) or post in one's turn (``rounds``); amount in minor units."""
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise TypeError(f"amount must be an integer of minor units, not {amount!r}")
        message = p.Bid(lot=lot, amount=amount, bid_id=bid_id or uuid.uuid4().hex)
        return await self._command(message, timeout)

    async def cancel(
        self, *, lot: str = "", bid_id: str | None = None, timeout: float = 10
    ) -> BidResult:
        """``rounds``: revert this turn's posts; ``japanese``: leave the auction."""
        message = p.Cancel(lot=lot, bid_id=bid_id or uuid.uuid4().hex)
        return await self._command(message, timeout)

    async def accept(
        self, *, lot: str = "", bid_id: str | None = None, timeout: float = 10
    ) -> BidResult:
        """``japanese``: confirm the round's price; ``dutch``: take the current price."""
        message = p.Accept(lot=lot, bid_id=bid_id or uuid.uuid4().hex)
        return await self._command(message, timeout)

    async def ping(self, timeout: float = 10) -> float:
        """Round trip to the server in ms; refines :attr:`server_offset_ms`."""
        await self.wait_connected(timeout)
        ws = self._ws
        assert ws is not None
        nonce = next(self._nonces)
        future: asyncio.Future[tuple[p.Pong, float]] = asyncio.get_running_loop().create_future()
        self._pings[nonce] = future
        sent_wall = _wall_ms()
        sent = time.perf_counter()
        try:
            await ws.send(p.encode_client(p.Ping(nonce=nonce), self.codec))
            pong, received = await asyncio.wait_for(future, timeout)
        finally:
            self._pings.pop(nonce, None)
        rtt = (received - sent) * 1000
        self._sample_offset(pong.server_time - (sent_wall + rtt / 2))
        return rtt

    async def _command(self, message: p.Bid | p.Cancel | p.Accept, timeout: float) -> BidResult:
        bid_id = message.bid_id
        if not self.running:
            return BidResult(
                False, "closed", "the client is not connected", bid_id, None, False, None
            )
        pending = self._pending.get(bid_id)
        if pending is None:
            future: asyncio.Future[tuple[p.Ack | p.Rejected, float] | None]
            future = asyncio.get_running_loop().create_future()
            pending = _Pending(p.encode_client(message, self.codec), future, time.perf_counter())
            self._pending[bid_id] = pending
            ws = self._ws
            if ws is not None and self._ready.is_set():
                pending.sends += 1
                with contextlib.suppress(ConnectionClosed):  # resent after the reconnect
                    await ws.send(pending.frame)
        pending.waiters += 1
        try:
            answer = await asyncio.wait_for(asyncio.shield(pending.future), timeout)
        except TimeoutError:
            if pending.waiters == 1 and self._pending.get(bid_id) is pending:
                del self._pending[bid_id]
            return BidResult(
                False,
                "timeout",
                f"no answer within {timeout} s; retry with the same bid_id",
                bid_id,
                None,
                False,
                None,
            )
        finally:
            pending.waiters -= 1
        if answer is None:
            return BidResult(False, "closed", "the client stopped", bid_id, None, False, None)
        reply, received = answer
        latency = (received - pending.started) * 1000
        if isinstance(reply, p.Ack):
            return BidResult(
                True, "", "", bid_id, reply.seq, reply.duplicate, latency, reply.leaf_index
            )
        return BidResult(False, reply.code, reply.message, bid_id, None, False, latency)

    # --------------------------------------------------------------- events
    async def events(self) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        """``(seq, event)`` for every event, once, in seq order, across reconnects.

        Starts with the events buffered since :meth:`connect`; ends when the
        client stops. A ``{"type": "resync", "seq", "view"}`` item means the
        missed events were too old: start again from its view.
        """
        while True:
            item = await self._events.get()
            if item is None:
                self._events.put_nowait(None)  # for any other iterator
                return
            yield item

    def server_now_ms(self) -> int:
        """The server's clock now, as estimated from the frames received."""
        return int(_wall_ms() + self.server_offset_ms)

    # ------------------------------------------------------------- internals
    async def _open(self) -> tuple[ClientConnection, p.Welcome, bool]:
        headers: dict[str, str] = {}
        if self.token and self.auth == "header":
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            ws = await ws_connect(
                self.url,
                origin=Origin(self.origin) if self.origin else None,
                subprotocols=[Subprotocol(self.codec.value)],
                additional_headers=headers or None,
                compression=None,
                proxy=None,
                open_timeout=self.connect_timeout,
                max_size=MAX_SERVER_FRAME_BYTES,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise ConnectError(
                "refused", f"the server refused the handshake (HTTP {status})", status=status
            ) from exc
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise ConnectError("unreachable", f"cannot connect to {self.url}: {exc}") from exc
        try:
            welcome, resynced = await asyncio.wait_for(self._hello(ws), self.connect_timeout)
        except BaseException:
            ws.transport.abort()
            raise
        return ws, welcome, resynced

    async def _hello(self, ws: ClientConnection) -> tuple[p.Welcome, bool]:
        token = self.token if self.token and self.auth == "hello" else ""
        hello = p.Hello(token=token, last_seq=self.last_seq)
        error: p.ErrorMessage | None = None
        resynced = False
        try:
            await ws.send(p.encode_client(hello, self.codec))
            while True:
                message = self._decode(await ws.recv())
                if isinstance(message, p.Welcome):
                    return message, resynced
                if isinstance(message, p.ErrorMessage):
                    error = message
                    self.errors.append(message)
                elif isinstance(message, p.Resync):
                    resynced = True
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            if error is not None:
                raise ConnectError(error.code, error.message, close_code=code) from None
            raise ConnectError(
                "closed", f"closed before welcome (code {code})", close_code=code
            ) from None

    async def _accept(self, ws: ClientConnection, welcome: p.Welcome, resynced: bool) -> None:
        """A connection was welcomed: adopt its view, then resend what is unanswered."""
        self._sample_offset(welcome.server_time - _wall_ms())
        self.welcome = welcome
        self.view = welcome.view
        if self.last_seq is None:
            self.last_seq = welcome.seq
        elif resynced:
            self.stats.resyncs += 1
            self._deliver(welcome.seq, {"type": "resync", "seq": welcome.seq, "view": welcome.view})
        self._ws = ws
        self._ready.set()
        for pending in list(self._pending.values()):
            pending.sends += 1
            if pending.sends > 1:
                self.stats.resent += 1
            with contextlib.suppress(ConnectionClosed):  # dropped again: the next reconnect
                await ws.send(pending.frame)

    async def _run(self, ws: ClientConnection) -> None:
        """Read until the connection ends; reconnect while that can help."""
        try:
            while True:
                await self._read(ws)
                self._ready.clear()
                self._ws = None
                self.close_code = ws.close_code
                self.close_reason = ws.close_reason
                if self._closing or not self.reconnect:
                    return
                if self.close_code is not None and self.close_code in TERMINAL_CLOSE_CODES:
                    return
                again = await self._reconnect()
                if again is None:
                    return
                ws = again
        finally:
            self._finish()

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                self._dispatch(await ws.recv())

    def _next_node(self) -> None:
        if len(self.urls) > 1:
            self.url = self.urls[(self.urls.index(self.url) + 1) % len(self.urls)]

    async def _reconnect(self) -> ClientConnection | None:
        delay = self.min_backoff_s
        self._next_node()  # the node dropped us: another serves the auction too
        while not self._closing:
            await asyncio.sleep(random.uniform(delay / 2, delay))
            try:
                ws, welcome, resynced = await self._open()
            except ConnectError as exc:
                self.last_error = exc
                log.info("reconnect to %s failed: %s", self.url, exc)
                if exc.terminal:
                    self.close_code = exc.close_code
                    return None
                self._next_node()
                delay = min(delay * 2, self.max_backoff_s)
                continue
            self.stats.reconnects += 1
            await self._accept(ws, welcome, resynced)
            return ws
        return None

    def _finish(self) -> None:
        """The client stopped: answer what waits, end :meth:`events`."""
        self._ready.clear()
        self._ws = None
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_result(None)
        self._pending.clear()
        for future in self._pings.values():
            if not future.done():
                future.cancel()
        if not self._done.is_set():
            self._done.set()
            self._events.put_nowait(None)

    def _drop_end_markers(self) -> None:
        items = []
        while not self._events.empty():
            items.append(self._events.get_nowait())
        for item in items:
            if item is not None:
                self._events.put_nowait(item)

    def _decode(self, frame: bytes | str) -> p.AnyServerMessage | None:
        self.stats.frames += 1
        try:
            return p.decode_server(frame, self.codec)
        except p.ProtocolError as exc:  # a newer server's message type: skip it
            self.stats.unknown += 1
            log.debug("skipped a server frame: %s", exc)
            return None

    def _dispatch(self, frame: bytes | str) -> None:
        message = self._decode(frame)
        if isinstance(message, p.EventsMessage):
            self._sample_offset(message.server_time - _wall_ms())
            for item in message.items:
                self._deliver(item.seq, item.event)
        elif isinstance(message, p.EventMessage):
            self._sample_offset(message.server_time - _wall_ms())
            self._deliver(message.seq, message.event)
        elif isinstance(message, p.Ack | p.Rejected):
            self._sample_offset(message.server_time - _wall_ms())
            pending = self._pending.pop(message.bid_id, None)
            if pending is not None and not pending.future.done():
                received = time.perf_counter()
                self.latencies.append((received - pending.started) * 1000)
                pending.future.set_result((message, received))
        elif isinstance(message, p.Resync):
            self._sample_offset(message.server_time - _wall_ms())
            self.view = message.view
            self.stats.resyncs += 1
            self._deliver(message.seq, {"type": "resync", "seq": message.seq, "view": message.view})
        elif isinstance(message, p.Pong):
            future = self._pings.get(message.nonce)
            if future is not None and not future.done():
                future.set_result((message, time.perf_counter()))
        elif isinstance(message, p.ErrorMessage):
            self.errors.append(message)
            log.info("server error on %s: %s %s", self.url, message.code, message.message)
        elif isinstance(message, p.SlowConsumer):
            self.stats.slow_consumer += 1
        elif isinstance(message, p.Checkpoint):
            self.checkpoint = message
            if self.on_checkpoint is not None:
                try:
                    self.on_checkpoint(message)
                except Exception:  # the caller's bug must not stop the reader
                    log.exception("on_checkpoint failed at size %d", message.size)
        elif isinstance(message, p.Welcome):  # not sent twice by v1 servers; keep the view
            self.welcome = message
            self.view = message.view

    def _deliver(self, seq: int, event: dict[str, Any]) -> None:
        if self.last_seq is not None and seq <= self.last_seq:
            self.stats.duplicates += 1
            return
        self.last_seq = seq
        self.stats.events += 1
        if self.buffer_events:
            self._events.put_nowait((seq, event))
        if self.on_event is not None:
            try:
                self.on_event(seq, event)
            except Exception:  # the caller's bug must not stop the reader
                log.exception("on_event failed for seq %d", seq)

    def _sample_offset(self, sample: float) -> None:
        if self._offset_samples == 0:
            self.server_offset_ms = sample
        else:
            self.server_offset_ms += OFFSET_SMOOTHING * (sample - self.server_offset_ms)
        self._offset_samples += 1


__all__ = [
    "TERMINAL_CLOSE_CODES",
    "AuctionClient",
    "BidResult",
    "CheckpointCallback",
    "ClientError",
    "ConnectError",
    "EventCallback",
]
