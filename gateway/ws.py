"""The WebSocket endpoint ``/ws/auctions/{auction_id}``: one lean asyncio
protocol per connection, served by uvicorn on the same port as the HTTP API.

uvicorn parses the HTTP request; when it is a WebSocket upgrade it hands the
socket to :class:`AuctionSocket` (uvicorn's ``ws`` setting takes a protocol
class), which speaks WebSocket with the ``websockets`` library's sans-I/O
protocol (handshake, frame parsing, ping/pong, close) and talks to the hub and
the runtime directly, without ASGI. Why (docs/benchmarks.md, fan-out): the
ASGI send path, a writer task per connection and a future per delivery cost
more than the socket write itself, and per connection they cost memory. Here
an idle connection is this object, websockets' parser and the transport; no
task, no queue, no timer of its own (one keepalive sweep serves them all).

Handshake: the ``Origin`` header (when a browser sends one) must be in
``security.allowed_origins`` (else HTTP 403); the subprotocol picks the codec
(an unknown one: HTTP 400). Then the client authenticates: a token in
``Authorization: Bearer`` or in the first message, ``hello`` (always sent
first; it also carries ``last_seq`` to resume). A public auction may be
watched with no token (the anonymised view). Any auth failure sends one
``error`` frame and closes with 4001, revealing nothing.

``welcome`` carries the view as of everything decided so far and is sent once
that is durable; then the client receives every durable event (``events``
frames, written by :mod:`gateway.hub`) and, for a bidder, may send
``bid``/``cancel``/``accept``, each answered by ``ack`` (only once its events
are durable) or ``rejected`` with the engine's code. Commands are decided as
their frames arrive and answered from the durability future's callback, so
the bids of one loop turn share one journal append and one ``events`` frame.
Every message counts against a token bucket; garbage and flooding are
answered with ``error`` and, when they go on, a close with the matching code.
A socket that cannot take its frames keeps a backlog of at most
``limits.send_queue_frames``; past that the client is told (``slow_consumer``)
and disconnected.

Backpressure covers every byte the server writes, control frames included: a
client that does not read is no longer read from (the transport's reading is
paused while its writing is), so its pings pile up in its own TCP buffers, not
in ours; pongs queued meanwhile count against the same backlog; and a socket
that stays unwritable for ``limits.send_stall_s`` is dropped as a slow
consumer. WebSocket pings count against the message rate like messages do.

Caps: ``limits.max_connections`` WebSockets per process (the handshake is
refused with 503 past it) and ``limits.connections_per_bidder`` per bidder,
counted the moment a hello is accepted, whatever the journal is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar, Final, cast
from urllib.parse import unquote

from websockets.exceptions import InvalidState
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from auction.core.commands import AcceptPrice, CancelBid, PlaceBid
from auction.core.engine import Outcome
from auction.runtime.host import NotHosted, RuntimeError_, Unavailable
from gateway import frames
from gateway import protocol as p
from gateway.hub import Group
from gateway.tokens import TokenError
from gateway.transparency import receipt_index
from gateway.viewcache import CachedView

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("underbid.gateway.ws")

MAX_ERRORS: Final = 5
"""Protocol errors a connection may make before it is closed."""
HELLO_TIMEOUT_S: Final = 10.0
"""A connection that has not sent ``hello`` this long after the handshake is closed."""
CLOSE_GRACE_S: Final = 5.0
"""After a close, how long the frames before it may take to drain (a stuck client: no longer)."""
RESUME_CATCH_UP_S: Final = 2.0
"""How long a resume waits for this node to reach the client's ``last_seq`` (a
follower a moment behind the node the client left) before it resyncs instead."""
SLOW_CONSUMER_CLOSE: Final = p.SLOW_CONSUMER

PATH: Final = re.compile(r"/ws/auctions/([^/?#]+)")

# Connection states, in order.
HANDSHAKE: Final = 0
HELLO: Final = 1
WELCOMING: Final = 2
"""Authenticated; the welcome waits for everything decided so far to be durable."""
OPEN: Final = 3
CLOSING: Final = 4
CLOSED: Final = 5


class Sockets:
    """Every WebSocket of one gateway, the codecs' shared decoders, and the one
    keepalive sweep: ping what has been quiet for ``ping_interval_s``, close
    what has been silent for ``idle_timeout_s`` (4002) or has not said hello."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        limits = gateway.settings.limits
        self.all: set[AuctionSocket] = set()
        self.decoders = {
            codec: p.decoder_for(codec, max_frame_bytes=limits.max_frame_bytes) for codec in p.Codec
        }
        self.period = max(0.05, min(1.0, limits.ping_interval_s / 4))
        self._timer: asyncio.TimerHandle | None = None
        self.max_connections = limits.max_connections or _default_max_connections()
        """WebSockets this process holds at most (``limits.max_connections``, 0: from
        the open-file limit, less a margin for HTTP, Redis and files)."""
        self.per_bidder: dict[tuple[str, str], int] = {}
        """(auction, bidder) -> connections accepted (counted at hello, not welcome)."""

    def admit_bidder(self, auction_id: str, bidder: str) -> bool:
        """Count one more connection of ``bidder`` if it is under its cap."""
        key = (auction_id, bidder)
        count = self.per_bidder.get(key, 0)
        if count >= self.gateway.settings.limits.connections_per_bidder:
            return False
        self.per_bidder[key] = count + 1
        return True

    def release_bidder(self, auction_id: str, bidder: str) -> None:
        key = (auction_id, bidder)
        count = self.per_bidder.get(key, 0) - 1
        if count > 0:
            self.per_bidder[key] = count
        else:
            self.per_bidder.pop(key, None)

    def add(self, sock: AuctionSocket) -> None:
        self.all.add(sock)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.period, self.sweep)

    def discard(self, sock: AuctionSocket) -> None:
        self.all.discard(sock)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def sweep(self) -> None:
        self._timer = None
        limits = self.gateway.settings.limits
        now = time.monotonic()
        for sock in tuple(self.all):
            if sock.state >= CLOSING:
                continue
            quiet = now - sock.last_seen
            if sock.paused and now - sock.paused_at >= limits.send_stall_s:
                sock._slow()  # it has not read for send_stall_s: a slow consumer
            elif quiet >= limits.idle_timeout_s:
                sock.close(p.IDLE_TIMEOUT, "idle timeout")
            elif sock.state == HELLO and now - sock.opened >= HELLO_TIMEOUT_S:
                sock.send(p.ErrorMessage(code="hello_timeout", message="send hello first"))
                sock.close(p.POLICY_VIOLATION, "no hello")
            elif quiet >= limits.ping_interval_s and not sock.pinged:
                sock.ping()
        if self.all:
            self._timer = asyncio.get_running_loop().call_later(self.period, self.sweep)


def socket_protocol(gateway: Gateway) -> type[AuctionSocket]:
    """The protocol class uvicorn instantiates for each upgraded connection."""
    limits = gateway.settings.limits
    attrs: dict[str, Any] = {
        "__slots__": (),
        "gateway": gateway,
        "queue_limit": limits.send_queue_frames,
        "deflate": limits.compression,
    }
    return type("GatewaySocket", (AuctionSocket,), attrs)


class AuctionSocket(asyncio.Protocol):
    """One WebSocket connection to one auction (uvicorn's ``ws`` protocol class).

    It is also the hub's subscriber: :meth:`write` takes a ready frame.
    """

    __slots__ = (
        "auction_id",
        "backlog",
        "bidder",
        "closer",
        "codec",
        "connections",
        "counted",
        "decoder",
        "dropped",
        "early",
        "errors",
        "group",
        "header_token",
        "last_seen",
        "opened",
        "paused",
        "paused_at",
        "pinged",
        "role",
        "stamp",
        "state",
        "tokens",
        "transport",
        "wbits",
        "ws",
    )

    gateway: ClassVar[Gateway]
    queue_limit: ClassVar[int]
    deflate: ClassVar[bool]

    def __init__(
        self,
        config: Any = None,
        server_state: Any = None,
        app_state: Any = None,
        _loop: Any = None,
    ) -> None:
        limits = self.gateway.settings.limits
        extensions = (
            [ServerPerMessageDeflateFactory(server_no_context_takeover=True)]
            if self.deflate
            else None
        )
        # Frames up to 4x the limit reach the decoder, which answers frame_too_large
        # (with a message); beyond that websockets closes with a bare 1009.
        self.ws = ServerProtocol(
            extensions=extensions, max_size=limits.max_frame_bytes * 4, logger=_quiet
        )
        self.connections: set[Any] | None = (
            server_state.connections if server_state is not None else None
        )
        self.transport: asyncio.Transport | None = None
        self.state = HANDSHAKE
        self.auction_id = ""
        self.codec = p.DEFAULT_CODEC
        self.decoder = self.gateway.sockets.decoders[p.DEFAULT_CODEC]
        self.wbits = 0
        self.role = "public"
        self.bidder: str | None = None
        self.group: Group = ("public", p.DEFAULT_CODEC, False)
        self.header_token: str | None = None
        self.backlog: deque[bytes] | None = None
        self.early: list[p.AnyClientMessage] | None = None
        self.paused = False
        self.paused_at = 0.0
        self.counted = False
        """Whether this connection counts against its bidder's cap (released once)."""
        self.pinged = False
        self.dropped = 0
        self.errors = 0
        self.tokens = float(limits.burst)
        self.stamp = self.opened = self.last_seen = time.monotonic()
        self.closer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------- asyncio side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.connections is not None:
            self.connections.add(self)  # uvicorn shuts these down on exit
        self.gateway.sockets.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone()
        self.state = CLOSED
        self.gateway.sockets.discard(self)
        if self.connections is not None:
            self.connections.discard(self)
        if self.closer is not None:
            self.closer.cancel()
            self.closer = None

    def pause_writing(self) -> None:
        # The client does not read: stop reading it too, so that what it keeps
        # sending (pings above all) waits in its own buffers, not in ours.
        self.paused = True
        self.paused_at = time.monotonic()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
        backlog, self.backlog = self.backlog, None
        if backlog and self.state < CLOSED:
            self._raw(b"".join(backlog))

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._flush_ws()
        return None

    def shutdown(self) -> None:
        """uvicorn is stopping: tell the client to reconnect (elsewhere) and resume."""
        self.close(p.GOING_AWAY, "server shutting down")

    def data_received(self, data: bytes) -> None:
        self.last_seen = time.monotonic()
        self.pinged = False
        ws = self.ws
        ws.receive_data(data)
        try:
            for event in ws.events_received():
                if isinstance(event, Frame):
                    self._frame(event)
                elif isinstance(event, Request):
                    self._handshake(event)
        except Exception:  # a bug of ours: say so (1011); the client resumes
            log.exception("WebSocket of auction %r failed", self.auction_id)
            if self.state >= HELLO:
                self.close(p.INTERNAL_ERROR, "internal error")
            elif self.transport is not None:
                self.transport.abort()
            return
        self._flush_ws()

    def _flush_ws(self) -> None:
        """Write what websockets' protocol produced (handshake, pong, close); while
        the socket is unwritable, behind the backlog and counted against it."""
        if self.transport is None:
            return
        for data in self.ws.data_to_send():
            if not data:  # websockets asks for the end of the stream: the server closes TCP
                self._shut()
            elif self.paused and self.state < CLOSING:
                self.write(data)
            else:
                self._raw(data)

    # ------------------------------------------------------------ writing
    def write(self, frame: bytes) -> bool:
        """Send one ready frame: at once, or after the backlog while the socket
        cannot take more; False if the connection is closing or just dropped."""
        if self.state >= CLOSING:
            return False
        backlog = self.backlog
        if self.paused or backlog is not None:
            if backlog is None:
                backlog = self.backlog = deque()
            if len(backlog) >= self.queue_limit:
                self._slow()
                return False
            backlog.append(frame)
            return True
        try:
            self.transport.write(frame)  # type: ignore[union-attr]
        except (RuntimeError, OSError):  # the transport went away under us
            self._gone()
            return False
        return True

    def _raw(self, data: bytes) -> None:
        """Write past the backlog (handshake, control frames, the last words)."""
        transport = self.transport
        if transport is None:
            return
        try:
            transport.write(data)
        except (RuntimeError, OSError):  # the transport went away under us
            self._gone()

    def _gone(self) -> None:
        """No more frames for this connection (it is ending)."""
        if self.state < CLOSING:
            self.state = CLOSING
            self.gateway.hubs.remove(self.auction_id, self)
        self._uncount()
        self.backlog = None

    def _uncount(self) -> None:
        if self.counted and self.bidder is not None:
            self.counted = False
            self.gateway.sockets.release_bidder(self.auction_id, self.bidder)

    def send(self, message: p.ServerMessage) -> bool:
        payload = p.encode_server(message, self.codec)
        return self.write(frames.message(payload, compressed=bool(self.wbits)))

    def ping(self) -> None:
        if not self.paused and self.state < CLOSING:
            self._raw(frames.PING_FRAME)
            self.pinged = True

    def close(self, code: int, reason: str) -> None:
        """Send what is queued, then a close frame, then end the connection."""
        if self.state >= CLOSING:
            return
        self.state = CLOSING
        self.gateway.hubs.remove(self.auction_id, self)
        self._uncount()
        backlog, self.backlog = self.backlog, None
        if self.transport is None:
            return
        if backlog:
            self._raw(b"".join(backlog))
        with contextlib.suppress(InvalidState):  # the client closed first
            self.ws.send_close(code, reason)
        self._flush_ws()
        self._shut()

    def _shut(self) -> None:
        self._gone()
        transport = self.transport
        if transport is None or self.closer is not None:
            return
        transport.close()  # after the buffered frames; a stuck client is cut off:
        self.closer = asyncio.get_running_loop().call_later(CLOSE_GRACE_S, transport.abort)

    def _slow(self) -> None:
        """The client does not read: tell it (it finds out if it ever reads) and drop it."""
        self.dropped += 1
        gateway = self.gateway
        gateway.hubs.stats["slow_consumers"] += 1
        gateway.metrics.inc("fanout_drops_total")
        self.backlog = None  # what it has not read is gone; it resumes with last_seq
        notice = p.SlowConsumer(dropped=self.dropped)
        self._raw(frames.message(p.encode_server(notice, self.codec), compressed=bool(self.wbits)))
        self.close(SLOW_CONSUMER_CLOSE, "slow consumer")

    # ----------------------------------------------------------- reading
    def _handshake(self, request: Request) -> None:
        gateway = self.gateway
        ws = self.ws
        match = PATH.fullmatch(request.path.partition("?")[0])
        if match is None:
            return self._refuse_handshake(404, "no such WebSocket endpoint")
        origin = request.headers.get("Origin")
        if origin is not None and not gateway.origin_allowed(origin):
            gateway.metrics.inc("ws_refused_total", reason="origin")
            return self._refuse_handshake(403, "origin not allowed")
        if len(gateway.sockets.all) > gateway.sockets.max_connections:
            gateway.metrics.inc("ws_refused_total", reason="capacity")
            return self._refuse_handshake(503, "too many connections: try another node")
        offered = [
            name.strip()
            for header in request.headers.get_all("Sec-WebSocket-Protocol")
            for name in header.split(",")
            if name.strip()
        ]
        codec = p.select_codec(offered)
        if codec is None:
            gateway.metrics.inc("ws_refused_total", reason="subprotocol")
            return self._refuse_handshake(400, f"subprotocols spoken: {', '.join(p.SUBPROTOCOLS)}")
        response = ws.accept(request)
        if response.status_code == 101 and offered:
            response.headers["Sec-WebSocket-Protocol"] = codec.value
        ws.send_response(response)
        if response.status_code != 101:
            self.state = CLOSING
            return None
        for extension in ws.extensions:
            if isinstance(extension, PerMessageDeflate):
                self.wbits = extension.local_max_window_bits or 15
        self.auction_id = unquote(match.group(1))
        self.codec = codec
        self.decoder = gateway.sockets.decoders[codec]
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            self.header_token = auth[7:].strip()
        self.state = HELLO
        self.opened = time.monotonic()
        return None

    def _refuse_handshake(self, status: int, text: str) -> None:
        self.ws.send_response(self.ws.reject(status, text + "\n"))
        self.state = CLOSING

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is not Opcode.TEXT and opcode is not Opcode.BINARY:
            # ping, pong, close: websockets' protocol answers them (a ping costs a
            # message of the rate: a flood of them is refused like any flood); the
            # rest of a fragmented message: already refused with its first frame.
            if opcode is Opcode.PING and self.state < CLOSING and not self._take():
                self._rate_limited(None)
            return
        if not frame.fin:
            self.protocol_error(
                p.ProtocolError(p.ErrorCode.MALFORMED, "send each message in one frame")
            )
            return
        if self.state < HELLO or self.state >= CLOSING:
            return
        data: bytes | str = bytes(frame.data)
        if opcode is Opcode.TEXT:
            try:
                data = bytes(frame.data).decode()
            except UnicodeDecodeError:
                self.ws.fail(1007, "invalid UTF-8")
                return
        try:
            message = self.decoder.decode(data)
        except p.ProtocolError as exc:
            self.protocol_error(exc)
            return
        state = self.state
        if state == OPEN:
            if self._take():
                self.handle(message)
            else:
                self._rate_limited(message)
        elif state == HELLO:
            if isinstance(message, p.Hello):
                self.start(message)
            else:
                self.protocol_error(
                    p.ProtocolError(
                        p.ErrorCode.UNEXPECTED_MESSAGE, "the first message must be hello"
                    )
                )
                self.close(p.POLICY_VIOLATION, "hello first")
        else:  # WELCOMING: kept, in order, until the welcome is out
            early = self.early if self.early is not None else []
            self.early = early
            if len(early) < self.gateway.settings.limits.burst:
                early.append(message)
            else:
                self._rate_limited(message)

    def _take(self) -> bool:
        """One message from the token bucket (``messages_per_second``, ``burst``)."""
        limits = self.gateway.settings.limits
        now = time.monotonic()
        refill = (now - self.stamp) * limits.messages_per_second
        tokens = min(float(limits.burst), self.tokens + refill)
        self.stamp = now
        if tokens >= 1:
            self.tokens = tokens - 1
            return True
        self.tokens = tokens
        return False

    def _rate_limited(self, message: p.AnyClientMessage | None) -> None:
        """Over the token bucket: a command is answered ``rejected`` (so the client
        knows it was not decided: resend it later, same ``bid_id``), anything else
        ``error``; the fifth strike closes with 4008."""
        gateway = self.gateway
        gateway.metrics.inc("rate_limited_total")
        self.errors += 1
        code = p.ErrorCode.RATE_LIMITED.value
        rate = gateway.settings.limits.messages_per_second
        text = f"slow down: at most {rate} messages per second"
        bid_id = getattr(message, "bid_id", None)
        if isinstance(bid_id, str):
            now = gateway.clock.now_ms()
            self.send(p.Rejected(bid_id=bid_id, code=code, message=text, server_time=now))
        else:
            self.send(p.ErrorMessage(code=code, message=text))
        if self.errors >= MAX_ERRORS:
            self.close(p.RATE_LIMITED, "rate limited")

    def protocol_error(self, exc: p.ProtocolError) -> None:
        self.errors += 1
        self.gateway.metrics.inc("protocol_errors_total", code=exc.code.value)
        self.send(exc.to_message())
        if exc.code == p.ErrorCode.FRAME_TOO_LARGE:
            self.close(p.MESSAGE_TOO_BIG, "frame too large")
        elif self.errors >= MAX_ERRORS:
            self.close(p.POLICY_VIOLATION, "too many protocol errors")

    # -------------------------------------------------------------- flow
    def start(self, hello: p.Hello) -> None:
        """Authenticate, then welcome once everything decided so far is durable.

        An auction this node has not met yet (created through another node a
        moment ago, or finished before this node started) is read from the
        journal first; messages that come meanwhile wait in order."""
        try:
            self.gateway.runtime.auction(self.auction_id)
        except NotHosted:
            self.state = WELCOMING
            task = asyncio.get_running_loop().create_task(self._find_then_start(hello))
            task.add_done_callback(_log_failure)
            return
        except RuntimeError_:
            pass  # authenticate() answers it
        self._authenticated_start(hello)

    async def _find_then_start(self, hello: p.Hello) -> None:
        with contextlib.suppress(RuntimeError_):
            await self.gateway.runtime.find(self.auction_id)
        if self.state == WELCOMING:
            self.state = HELLO
            self._authenticated_start(hello)

    def _authenticated_start(self, hello: p.Hello) -> None:
        claims = self.authenticate(hello)
        if claims is None:
            return
        self.role, self.bidder = claims
        self.group = (self.role, self.codec, bool(self.wbits))
        self.state = WELCOMING
        last_seq = hello.last_seq
        try:
            behind = last_seq is not None and last_seq > self.gateway.runtime.durable_seq(
                self.auction_id
            )
        except (Unavailable, NotHosted):
            return self._unavailable()
        if behind:
            assert last_seq is not None
            waiting = self.gateway.hubs.reached(self.auction_id, last_seq)
            task = asyncio.get_running_loop().create_task(
                self._catch_up_then_welcome(hello, waiting)
            )
            task.add_done_callback(_log_failure)
            return None
        return self._prepare_welcome(hello)

    async def _catch_up_then_welcome(self, hello: p.Hello, waiting: asyncio.Future[None]) -> None:
        """This node holds fewer events than the client saw elsewhere: wait (a
        moment at most) until it has them all, so the resume replays nothing twice.
        A ``last_seq`` still ahead after the wait gets a resync (``welcome``)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiting, RESUME_CATCH_UP_S)
        if self.state == WELCOMING:
            self._prepare_welcome(hello)

    def _prepare_welcome(self, hello: p.Hello) -> None:
        runtime = self.gateway.runtime
        try:
            auction = runtime.auction(self.auction_id)
            seq = auction.state.seq  # decided so far; durable before the welcome goes
            # One view per (role, bidder, seq), shared by every connection asking.
            view = self.gateway.views.get(auction, self.role, self.bidder)
            durable = runtime.settled(self.auction_id)
        except (Unavailable, NotHosted):
            return self._unavailable()
        if durable is None:
            return self.welcome(seq, view, hello.last_seq)
        durable.add_done_callback(lambda done: self._welcome_when_durable(done, seq, view, hello))
        return None

    def _welcome_when_durable(
        self, done: asyncio.Future[None], seq: int, view: CachedView, hello: p.Hello
    ) -> None:
        if done.cancelled() or done.exception() is not None:
            return self._unavailable()
        if self.state == WELCOMING:
            self.welcome(seq, view, hello.last_seq)
        return None

    def _unavailable(self) -> None:
        self.send(p.ErrorMessage(code="unavailable", message="try again shortly"))
        self.close(p.TRY_AGAIN_LATER, "try again later")

    def authenticate(self, hello: p.Hello) -> tuple[str, str | None] | None:
        gateway = self.gateway
        token = self.header_token or hello.token
        self.header_token = None
        try:
            gateway.runtime.auction(self.auction_id)
        except Unavailable:  # hosted, being rebuilt (journal down): come back, not 4001
            self._unavailable()
            return None
        except RuntimeError_:
            if token:
                self.refuse("auth_failed", "not authorised")
            else:
                self.refuse("token_missing", "a token is required")
            return None
        if not token:
            if gateway.is_public(self.auction_id):
                return "public", None
            self.refuse("token_missing", "a token is required")
            return None
        try:
            claims = gateway.verify(token, self.auction_id)
        except TokenError as exc:
            gateway.metrics.inc("ws_refused_total", reason=exc.code.value)
            self.refuse(exc.code.value, exc.message)
            return None
        if claims.role == "bidder" and claims.bidder is not None:
            # Counted now, not at the welcome: a journal that stalls the welcome
            # must not let a bidder open connections without bound meanwhile.
            if not gateway.sockets.admit_bidder(self.auction_id, claims.bidder):
                self.send(p.ErrorMessage(code="too_many_connections", message="close another tab"))
                self.close(p.RATE_LIMITED, "too many connections")
                return None
            self.bidder = claims.bidder
            self.counted = True
        role = "public" if claims.role == "observer" else claims.role
        return role, claims.bidder

    def refuse(self, code: str, message: str) -> None:
        """One ``error`` frame, then 4001."""
        self.send(p.ErrorMessage(code=code, message=message))
        self.close(p.AUTH_FAILED, "authentication failed")

    def welcome(self, seq: int, cached: CachedView, last_seq: int | None) -> None:
        """The view as of ``seq`` (durable now), then whatever became durable since
        (or, resuming, everything after ``last_seq``), then the live stream."""
        gateway = self.gateway
        runtime = gateway.runtime
        try:
            auction = runtime.auction(self.auction_id)
            durable = runtime.durable_seq(self.auction_id)
        except (Unavailable, NotHosted):
            return self._unavailable()
        now = gateway.clock.now_ms()
        label = None
        if self.bidder is not None:
            for lot in cached.view["lots"]:
                label = (lot.get("you") or {}).get("label") or label
        # The view goes out as the bytes encoded once for every connection like this one.
        view = cast(dict[str, Any], cached.raw(self.codec))
        hubs = gateway.hubs
        missed = None if last_seq is None else hubs.missed(self.auction_id, last_seq, durable)
        if last_seq is not None and missed is None:
            self.send(p.Resync(server_time=now, seq=seq, view=view))
        if missed is None:  # not resuming (or too old): the view, then what followed it
            missed = hubs.missed(self.auction_id, seq, durable) or []
        self.state = OPEN
        self.send(
            p.Welcome(
                role="observer" if self.role == "public" else self.role,  # type: ignore[arg-type]
                bidder=self.bidder,
                label=label,
                server_time=now,
                seq=seq,
                view=view,
                next_deadline=auction.next_deadline(),
            )
        )
        if missed:
            frame = hubs.frame(
                hubs.items(auction, missed, self.role), self.codec, now, compressed=bool(self.wbits)
            )
            if frame is not None:
                self.write(frame)
        if self.state != OPEN:
            return None
        hubs.add(self.auction_id, self)
        gateway.metrics.inc("ws_connections_total", role=self.role)
        early, self.early = self.early, None
        for message in early or ():
            if self.state != OPEN:
                break
            if self._take():
                self.handle(message)
            else:
                self._rate_limited(message)
        return None

    def handle(self, message: p.AnyClientMessage) -> None:
        gateway = self.gateway
        now = gateway.clock.now_ms()
        if isinstance(message, p.Ping):
            self.send(p.Pong(nonce=message.nonce, server_time=now))
            return
        if isinstance(message, p.Hello):
            self.protocol_error(
                p.ProtocolError(p.ErrorCode.UNEXPECTED_MESSAGE, "hello comes once, first")
            )
            return
        bidder = self.bidder
        if self.role != "bidder" or bidder is None:
            self.send(
                p.Rejected(
                    bid_id=message.bid_id,
                    code="forbidden",
                    message="only bidders bid; officials use the HTTP API",
                    server_time=now,
                )
            )
            return
        command: Any
        if isinstance(message, p.Bid):
            command = PlaceBid(
                lot=message.lot, bidder=bidder, amount=message.amount, bid_id=message.bid_id
            )
        elif isinstance(message, p.Cancel):
            command = CancelBid(lot=message.lot, bidder=bidder, bid_id=message.bid_id)
        else:
            command = AcceptPrice(lot=message.lot, bidder=bidder, bid_id=message.bid_id)
        bid_id = message.bid_id
        try:
            gateway.runtime.decide_then(
                self.auction_id, command, lambda outcome, error: self.answer(bid_id, outcome, error)
            )
        except RuntimeError_ as exc:  # unavailable, not hosted, halted: typed
            self._unanswerable(bid_id, exc)

    def answer(self, bid_id: str, outcome: Outcome, error: RuntimeError_ | None = None) -> None:
        """``ack`` or ``rejected``, once the command's events are durable (called by
        the runtime inside the commit, so it goes out before the fan-out)."""
        if error is not None:
            self._unanswerable(bid_id, error)
            return
        gateway = self.gateway
        now = gateway.clock.now_ms()
        if outcome.rejection is None:
            gateway.metrics.inc("bids_total", result="accepted")
            # The seq it was decided at (durable now, on whichever node decided it),
            # and the leaf of its own event in the auction's log: its receipt.
            first = outcome.seq - len(outcome.events) + 1
            leaf = receipt_index(outcome, self.bidder or "", bid_id, first)
            self.send(
                p.Ack(
                    bid_id=bid_id,
                    seq=outcome.seq,
                    server_time=now,
                    duplicate=outcome.duplicate,
                    leaf_index=leaf,
                )
            )
        else:
            code = outcome.rejection.code.value
            gateway.metrics.inc("bids_total", result=code)
            self.send(
                p.Rejected(
                    bid_id=bid_id,
                    code=code,
                    message=outcome.rejection.message,
                    server_time=now,
                    limit=outcome.rejection.limit,
                )
            )

    def _unanswerable(self, bid_id: str, exc: RuntimeError_) -> None:
        gateway = self.gateway
        gateway.metrics.inc("bids_total", result=exc.code)
        now = gateway.clock.now_ms()
        self.send(p.Rejected(bid_id=bid_id, code=exc.code, message=str(exc), server_time=now))


_quiet: Any = logging.getLogger("underbid.gateway.ws.protocol")
_quiet.setLevel(logging.WARNING)  # websockets logs every connection at INFO; /metrics counts them


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a WebSocket's start failed", exc_info=task.exception())


FD_MARGIN: Final = 512
"""Open files kept free of WebSockets: HTTP clients, the journal's connections, logs."""


def _default_max_connections() -> int:
    """``limits.max_connections = 0``: the open-file limit less :data:`FD_MARGIN`."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        return 10_000
    if soft == resource.RLIM_INFINITY:
        return 100_000
    return max(16, soft - FD_MARGIN)
