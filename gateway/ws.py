"""The WebSocket endpoint: ``/ws/auctions/{auction_id}``.

Handshake: the ``Origin`` header (when a browser sends one) must be in
``security.allowed_origins``; the subprotocol picks the codec. Then the client
authenticates: a token in ``Authorization: Bearer`` or in the first message,
``hello`` (always sent first; it also carries ``last_seq`` to resume). A
public auction may be watched with no token (the anonymised view). Any auth
failure sends one ``error`` frame and closes with 4001, revealing nothing.

After ``welcome`` the client receives every durable event (``events``
frames, fanned out by :mod:`gateway.hub`) and, for a bidder, may send
``bid``/``cancel``/``accept``, each answered by ``ack`` (only once its events
are durable) or ``rejected`` with the engine's code. Every message counts
against a token bucket; garbage and flooding are answered with ``error`` and,
when they go on, a close with the matching code.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from auction.core.commands import AcceptPrice, CancelBid, PlaceBid
from auction.core.views import auction_view
from auction.runtime.host import NotHosted, RuntimeError_, Unavailable
from gateway import protocol as p
from gateway.hub import Connection
from gateway.tokens import TokenError, verify_token

if TYPE_CHECKING:
    from gateway.app import Gateway

MAX_ERRORS = 5
"""Protocol errors a connection may make before it is closed."""
CLOSE_FLUSH_S = 1.0
"""How long a close waits for the frames queued before it (a stuck client: not longer)."""


class TokenBucket:
    """``rate`` messages per second sustained, ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


async def auction_socket(websocket: WebSocket) -> None:
    gateway: Gateway = websocket.app.state.gateway
    auction_id = websocket.path_params["auction_id"]
    origin = websocket.headers.get("origin")
    if origin is not None and origin.lower().rstrip("/") not in gateway.origins:
        gateway.metrics.inc("ws_refused_total", reason="origin")
        await websocket.close(code=p.FORBIDDEN_ORIGIN)
        return
    codec = p.select_codec(websocket.scope.get("subprotocols", []))
    if codec is None:
        await websocket.close(code=p.POLICY_VIOLATION)
        return
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=codec.value if offered else None)
    session = _Session(gateway, websocket, auction_id, codec)
    try:
        await session.run()
    except WebSocketDisconnect:
        pass
    finally:
        session.cleanup()


class _Session:
    def __init__(self, gateway: Gateway, websocket: WebSocket, auction_id: str, codec: p.Codec):
        self.gateway = gateway
        self.ws = websocket
        self.auction_id = auction_id
        self.codec = codec
        self.decoder = p.decoder_for(codec, max_frame_bytes=gateway.settings.limits.max_frame_bytes)
        limits = gateway.settings.limits
        self.bucket = TokenBucket(limits.messages_per_second, limits.burst)
        self.conn: Connection | None = None
        self.writer: asyncio.Task[None] | None = None
        self.errors = 0

    # ------------------------------------------------------------ frames
    async def send(self, message: p.ServerMessage) -> None:
        """Direct answers (welcome, ack, ...) go through the same queue as events,
        so a client sees them in order and a slow one is still bounded."""
        frame = p.encode_server(message, self.codec)
        if self.conn is not None:
            self.conn.push(frame)
        else:
            await self._raw_send(frame)

    async def _raw_send(self, frame: bytes | str) -> None:
        if isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        else:
            await self.ws.send_text(frame)

    async def _close(self, code: int, reason: str) -> None:
        conn = self.conn
        if conn is not None and not conn.closed:
            # The frames queued before the close (the error explaining it) go first.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_FLUSH_S):
                    while conn.queue and not conn.closed:
                        await asyncio.sleep(0.001)
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, reason=reason)

    async def receive(self) -> p.AnyClientMessage | None:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        frame: bytes | str | None = message.get("bytes")
        if frame is None:
            frame = message.get("text")
        if frame is None:
            return None
        try:
            return self.decoder.decode(frame)
        except p.ProtocolError as exc:
            await self.protocol_error(exc)
            return None

    async def protocol_error(self, exc: p.ProtocolError) -> None:
        self.errors += 1
        self.gateway.metrics.inc("protocol_errors_total", code=exc.code.value)
        await self.send(exc.to_message())
        if exc.code == p.ErrorCode.FRAME_TOO_LARGE:
            await self._close(p.MESSAGE_TOO_BIG, "frame too large")
            raise WebSocketDisconnect(p.MESSAGE_TOO_BIG)
        if self.errors >= MAX_ERRORS:
            await self._close(p.POLICY_VIOLATION, "too many protocol errors")
            raise WebSocketDisconnect(p.POLICY_VIOLATION)

    # -------------------------------------------------------------- flow
    async def run(self) -> None:
        hello = await self.receive()
        while hello is None:
            hello = await self.receive()
        if not isinstance(hello, p.Hello):
            await self.protocol_error(
                p.ProtocolError(p.ErrorCode.UNEXPECTED_MESSAGE, "the first message must be hello")
            )
            await self._close(p.POLICY_VIOLATION, "hello first")
            return
        claims = await self.authenticate(hello)
        if claims is None:
            return
        role, bidder = claims
        await self.welcome(role, bidder, hello.last_seq)
        while True:
            message = await self.receive()
            if message is None:
                continue
            if not self.bucket.take():
                self.gateway.metrics.inc("rate_limited_total")
                self.errors += 1
                await self.send(
                    p.ErrorMessage(code=p.ErrorCode.RATE_LIMITED.value, message="slow down")
                )
                if self.errors >= MAX_ERRORS:
                    await self._close(p.RATE_LIMITED, "rate limited")
                    return
                continue
            await self.handle(message, role, bidder)

    async def authenticate(self, hello: p.Hello) -> tuple[str, str | None] | None:
        gateway = self.gateway
        header = self.ws.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else hello.token
        now = gateway.clock.now_ms()
        try:
            gateway.runtime.auction(self.auction_id)
        except Unavailable:  # hosted, being rebuilt (journal down): come back, not 4001
            await self.send(p.ErrorMessage(code="unavailable", message="try again shortly"))
            await self._close(p.TRY_AGAIN_LATER, "try again later")
            return None
        except RuntimeError_:
            if not token:
                await self.refuse("token_missing", "a token is required")
                return None
            await self.refuse("auth_failed", "not authorised")
            return None
        if not token:
            if gateway.is_public(self.auction_id):
                return "public", None
            await self.refuse("token_missing", "a token is required")
            return None
        try:
            claims = verify_token(gateway.secret, token, auction=self.auction_id, now=now)
        except TokenError as exc:
            gateway.metrics.inc("ws_refused_total", reason=exc.code.value)
            await self.refuse(exc.code.value, exc.message)
            return None
        if claims.role == "bidder":
            count = sum(
                1
                for c in gateway.hubs.connections.get(self.auction_id, ())
                if c.bidder == claims.bidder
            )
            if count >= gateway.settings.limits.connections_per_bidder:
                await self.send(
                    p.ErrorMessage(code="too_many_connections", message="close another tab")
                )
                await self._close(p.RATE_LIMITED, "too many connections")
                return None
        role = "public" if claims.role == "observer" else claims.role
        return role, claims.bidder

    async def refuse(self, code: str, message: str) -> None:
        await self.send(p.ErrorMessage(code=code, message=message))
        await self._close(p.AUTH_FAILED, "authentication failed")
        return None

    async def welcome(self, role: str, bidder: str | None, last_seq: int | None) -> None:
        gateway = self.gateway
        await gateway.runtime.drain()
        auction = gateway.runtime.auction(self.auction_id)
        seq = gateway.runtime.durable_seq(self.auction_id)
        now = gateway.clock.now_ms()
        view = auction_view(auction, role, bidder)
        label = None
        if bidder is not None:
            for lot in view["lots"]:
                you = lot.get("you") or {}
                label = you.get("label") or label
        self.conn = Connection(
            self.auction_id,
            role,
            bidder,
            self.codec,
            self._raw_send,
            self._close,
            gateway.settings.limits.send_queue_frames,
        )
        missed = None if last_seq is None else gateway.hubs.missed(self.auction_id, last_seq, seq)
        if last_seq is not None and missed is None:
            await self.send(p.Resync(server_time=now, seq=seq, view=view))
        await self.send(
            p.Welcome(
                role="observer" if role == "public" else role,  # type: ignore[arg-type]
                bidder=bidder,
                label=label,
                server_time=now,
                seq=seq,
                view=view,
                next_deadline=auction.next_deadline(),
            )
        )
        if missed:
            frame = gateway.hubs.frame(auction, missed, role, self.codec, now)
            if frame is not None:
                self.conn.push(frame)
        gateway.hubs.add(self.conn)
        gateway.metrics.inc("ws_connections_total", role=role)
        self.writer = asyncio.get_running_loop().create_task(self.conn.writer())

    async def handle(self, message: p.AnyClientMessage, role: str, bidder: str | None) -> None:
        gateway = self.gateway
        now = gateway.clock.now_ms()
        if isinstance(message, p.Ping):
            await self.send(p.Pong(nonce=message.nonce, server_time=now))
            return
        if isinstance(message, p.Hello):
            await self.protocol_error(
                p.ProtocolError(p.ErrorCode.UNEXPECTED_MESSAGE, "hello comes once, first")
            )
            return
        if role != "bidder" or bidder is None:
            await self.send(
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
        try:
            outcome = await gateway.runtime.submit(self.auction_id, command)
        except (Unavailable, NotHosted) as exc:
            gateway.metrics.inc("bids_total", result=exc.code)
            await self.send(
                p.Rejected(bid_id=message.bid_id, code=exc.code, message=str(exc), server_time=now)
            )
            return
        now = gateway.clock.now_ms()
        if outcome.rejection is None:
            gateway.metrics.inc("bids_total", result="accepted")
            seq = gateway.runtime.durable_seq(self.auction_id)
            await self.send(
                p.Ack(bid_id=message.bid_id, seq=seq, server_time=now, duplicate=outcome.duplicate)
            )
        else:
            code = outcome.rejection.code.value
            gateway.metrics.inc("bids_total", result=code)
            await self.send(
                p.Rejected(
                    bid_id=message.bid_id,
                    code=code,
                    message=outcome.rejection.message,
                    server_time=now,
                )
            )

    def cleanup(self) -> None:
        if self.conn is not None:
            self.conn.closed = True
            self.conn.wake.set()
            self.gateway.hubs.remove(self.conn)
        if self.writer is not None:
            self.writer.cancel()
