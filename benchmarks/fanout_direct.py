"""The gateway as :mod:`benchmarks.fanout` serves it, and two prototypes of a
faster fan-out (benchmark-only: gateway/ is untouched, the prototypes patch a
running instance in the server process).

- ``gateway``: :func:`gateway.server.build` + :func:`gateway.server.uvicorn_config`,
  exactly as ``underbid serve`` runs it.
- ``direct``: the same, but :class:`DirectHubs` replaces the hub: each event
  frame is encoded once per (role, codec) **and framed once** (WebSocket header
  + payload), then written straight to every connection's transport from
  ``on_durable``: no queue, no ``asyncio.Event``, no writer-task wake-up, no
  Starlette/uvicorn/websockets send path per connection. A connection whose
  queue is not empty (a welcome or an ack still queued) or whose transport is
  paused falls back to the queue, so order is kept; a connection whose kernel
  and transport buffers hold more than ``send_queue_frames`` frames' worth of
  bytes is a slow consumer, as before. The transport is found through a tiny
  ASGI middleware that records uvicorn's protocol object in the scope.
- ``wsdirect``: the gateway's own session code (:class:`gateway.ws._Session`,
  unchanged) on ``websockets.asyncio.server`` instead of Starlette/uvicorn,
  through a shim with the few methods of Starlette's ``WebSocket`` it uses,
  with the same direct writes. The HTTP API stays on uvicorn on another port.
- ``wslean``: ``wsdirect`` with :class:`LeanConnection` (no writer task, no
  ``asyncio.Event``, no deque unless the socket is paused: every frame, acks
  included, is written at once), one shared decoder per codec, and one
  keepalive task for the server instead of websockets' one per connection.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.protocol import State

from gateway import protocol as p
from gateway.hub import Connection, Hubs

_OPEN = State.OPEN

_MISSING: Any = object()
_background: set[asyncio.Task[Any]] = set()


def _spawn(coro: Any) -> None:
    """A task kept referenced until it ends."""
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


def preframe(payload: bytes | str) -> bytes:
    """One unmasked server frame (binary for bytes, text for str), ready to write."""
    if isinstance(payload, str):
        data, opcode = payload.encode(), 0x81
    else:
        data, opcode = payload, 0x82
    n = len(data)
    if n < 126:
        return bytes((opcode, n)) + data
    if n < 65536:
        return bytes((opcode, 126)) + n.to_bytes(2, "big") + data
    return bytes((opcode, 127)) + n.to_bytes(8, "big") + data


class DirectConnection(Connection):
    """A :class:`Connection` that can take pre-framed bytes straight to its transport."""

    transport: Any = None
    """The connection's transport, once found (``False``: none; use the queue)."""
    owner: Any = None
    """websockets' connection (``wsdirect``) or uvicorn's protocol (``direct``)."""
    websockets = False

    def resolve(self) -> bool:
        session = getattr(self.send, "__self__", None)
        ws = getattr(session, "ws", None)
        self.transport = False
        if isinstance(ws, _WsShim):
            self.owner = ws.conn
            self.transport = ws.conn.transport
            self.websockets = True
        elif ws is not None:
            proto = ws.scope.get("underbid.protocol")
            if proto is not None:
                self.owner = proto
                self.transport = proto.transport
        return bool(self.transport)

    def writable(self) -> bool:
        owner = self.owner
        if self.websockets:
            return not owner.paused and owner.protocol.state is _OPEN
        return not owner.close_sent and owner.writable.is_set()

    def write(self, payload: bytes | str, framed: bytes) -> bool:
        if self.closed:
            return False
        if self.transport is None:
            self.resolve()
        if self.queue or not self.transport or not self.writable():
            return self.push(payload)
        transport = self.transport
        if transport.is_closing():
            return False
        if transport.get_write_buffer_size() > self.limit * len(framed):
            self.dropped += 1
            self.closed = True
            self.wake.set()
            return False
        transport.write(framed)
        return True


class _NoWake:
    """Stands in for the per-connection ``asyncio.Event`` a lean connection does not need."""

    def set(self) -> None:
        pass

    def clear(self) -> None:
        pass


_NO_WAKE = _NoWake()


class LeanConnection(DirectConnection):
    """No writer task, no Event, no deque while the socket keeps up (``wslean``).

    Every frame (events, welcome, acks) is framed and written at once; only
    while websockets' transport is paused do frames wait in a deque, drained by a
    task made for that moment. The slow-consumer rule is unchanged: more than
    ``limit`` frames waiting, or that many frames' worth of bytes in the
    transport, and the client is told and closed.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = None  # type: ignore[assignment]
        self.wake = _NO_WAKE  # type: ignore[assignment]

    async def writer(self) -> None:
        return None

    def push(self, frame: bytes | str) -> bool:
        return self.write(frame, preframe(frame))

    def write(self, payload: bytes | str, framed: bytes) -> bool:
        if self.closed:
            return False
        if self.transport is None:
            self.resolve()
        owner = self.owner
        transport = self.transport
        if transport.is_closing() or owner.protocol.state is not _OPEN:
            return False
        if self.queue is not None or owner.paused:
            if self.queue is None:
                self.queue = deque()
                _spawn(self._drain())
            if len(self.queue) >= self.limit:
                return self._slow()
            self.queue.append(framed)
            return True
        if transport.get_write_buffer_size() > self.limit * len(framed):
            return self._slow()
        transport.write(framed)
        return True

    async def _drain(self) -> None:
        owner = self.owner
        try:
            while self.queue and not self.closed:
                await owner.drain()
                while self.queue and not owner.paused:
                    self.transport.write(self.queue.popleft())
        except Exception:
            self.closed = True
        finally:
            self.queue = None

    def _slow(self) -> bool:
        self.dropped += 1
        self.closed = True
        notice = p.encode_server(p.SlowConsumer(dropped=self.dropped), self.codec)
        self.transport.write(preframe(notice))
        _spawn(self.close(4009, "slow consumer"))
        return False


class DirectHubs(Hubs):
    """Encode once, frame once, write to each transport from on_durable."""

    def on_durable(self, auction_id: str, first_seq: int, events: list[Any]) -> None:
        recent = self.recent.get(auction_id)
        if recent is None:
            recent = self.recent[auction_id] = deque(maxlen=self.history)
        numbered = list(enumerate(events, start=first_seq))
        recent.extend(numbered)
        conns = self.connections.get(auction_id)
        if not conns:
            return
        auction = self.runtime.auction(auction_id)
        now = self.clock.now_ms()
        frames: dict[tuple[str, p.Codec], tuple[bytes | str, bytes] | None] = {}
        delivered = 0
        dropped: list[Connection] = []
        for conn in conns:
            key = (conn.role, conn.codec)
            entry = frames.get(key, _MISSING)
            if entry is _MISSING:
                payload = self.frame(auction, numbered, conn.role, conn.codec, now)
                entry = frames[key] = None if payload is None else (payload, preframe(payload))
            if entry is None:
                continue
            if conn.write(entry[0], entry[1]):  # type: ignore[attr-defined]
                delivered += 1
            elif conn.dropped:
                dropped.append(conn)
        self.stats["deliveries"] += delivered
        for conn in dropped:
            self.stats["slow_consumers"] += 1
            conns.discard(conn)


def _install_direct(gateway: Any, lean: bool = False) -> None:
    import functools

    import gateway.ws as ws_module

    runtime = gateway.runtime
    runtime._listeners.remove(gateway.hubs.on_durable)
    gateway.hubs = DirectHubs(runtime, gateway.clock)
    ws_module.Connection = LeanConnection if lean else DirectConnection  # type: ignore[misc]
    if lean:  # decoders are stateless: one per (codec, limit), not one per connection
        p.decoder_for = functools.lru_cache(maxsize=None)(p.decoder_for)  # type: ignore[assignment]


class _ProtocolTap:
    """ASGI middleware: remember uvicorn's protocol object (it holds the transport)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            scope["underbid.protocol"] = getattr(send, "__self__", None)
        await self.app(scope, receive, send)


class _Headers:
    def __init__(self, headers: Any) -> None:
        self.headers = headers

    def get(self, name: str, default: Any = None) -> Any:
        return self.headers.get(name, default)


class _WsShim:
    """What :class:`gateway.ws._Session` uses of Starlette's ``WebSocket``, over websockets."""

    def __init__(self, conn: Any, gateway: Any, auction_id: str) -> None:
        from types import SimpleNamespace

        self.conn = conn
        self.headers = _Headers(conn.request.headers)
        self.path_params = {"auction_id": auction_id}
        self.scope: dict[str, Any] = {}
        self.app = SimpleNamespace(state=SimpleNamespace(gateway=gateway))

    async def receive(self) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        try:
            data = await self.conn.recv()
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            return {"type": "websocket.disconnect", "code": code}
        if isinstance(data, str):
            return {"type": "websocket.receive", "text": data}
        return {"type": "websocket.receive", "bytes": data}

    async def send_bytes(self, data: bytes) -> None:
        await self.conn.send(data)

    async def send_text(self, data: str) -> None:
        await self.conn.send(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.conn.close(code, reason)


async def _start_ws_side(gateway: Any, port: int, backlog: int, lean: bool) -> Any:
    from starlette.websockets import WebSocketDisconnect
    from websockets.asyncio.server import ServerConnection, serve

    from gateway.ws import _Session

    limits = gateway.settings.limits
    prefix = "/ws/auctions/"

    async def handler(conn: ServerConnection) -> None:
        assert conn.request is not None
        path = conn.request.path.partition("?")[0]
        if not path.startswith(prefix):
            await conn.close(p.POLICY_VIOLATION)
            return
        origin = conn.request.headers.get("origin")
        if origin is not None and origin.lower().rstrip("/") not in gateway.origins:
            await conn.close(p.FORBIDDEN_ORIGIN)
            return
        codec = p.Codec(conn.subprotocol) if conn.subprotocol else p.DEFAULT_CODEC
        auction_id = path[len(prefix) :]
        session = _Session(gateway, _WsShim(conn, gateway, auction_id), auction_id, codec)  # type: ignore[arg-type]
        try:
            await session.run()
        except WebSocketDisconnect:
            pass
        finally:
            session.cleanup()

    server = await serve(
        handler,
        "127.0.0.1",
        port,
        subprotocols=list(p.SUBPROTOCOLS),  # type: ignore[arg-type]
        compression=None,
        max_size=limits.max_frame_bytes,
        # lean: one keepalive task for the whole server instead of one per connection
        ping_interval=None if lean else limits.ping_interval_s,
        ping_timeout=None if lean else limits.idle_timeout_s - limits.ping_interval_s,
        backlog=backlog,
    )
    if lean:
        _spawn(_keepalive(server, limits.ping_interval_s, limits.idle_timeout_s))
    return server


async def _keepalive(server: Any, interval: float, timeout: float) -> None:
    """Ping every connection every ``interval``; close those whose last pong is
    older than ``timeout`` (what websockets' per-connection keepalive task does,
    with one task for all of them)."""
    from websockets.exceptions import ConnectionClosed

    loop = asyncio.get_running_loop()
    waiting: dict[Any, tuple[float, asyncio.Future[float]]] = {}
    while True:
        await asyncio.sleep(interval)
        now = loop.time()
        for conn in list(server.connections):
            sent = waiting.get(conn)
            if sent is not None and not sent[1].done():
                if now - sent[0] >= timeout - interval:
                    conn.protocol.fail(1011, "keepalive ping timeout")
                    conn.send_data()
                    conn.transport.close()
                    waiting.pop(conn, None)
                continue
            try:
                waiting[conn] = (now, await conn.ping())
            except ConnectionClosed:
                waiting.pop(conn, None)
        for conn in [c for c in waiting if c.protocol.state is not _OPEN]:
            del waiting[conn]


async def start_gateway(
    kind: str, ws_port: int, http_port: int, backlog: int
) -> Callable[[], dict[str, Any]]:
    """Start the gateway ``kind`` in this process's running loop; its stats function."""
    import uvicorn

    from gateway.server import build, uvicorn_config
    from gateway.settings import load_settings

    settings = load_settings(None, os.environ)
    gateway, app = build(settings)
    asgi: Any = app
    if kind in ("direct", "wsdirect", "wslean"):
        _install_direct(gateway, lean=kind == "wslean")
        asgi = _ProtocolTap(app)
    server = uvicorn.Server(uvicorn_config(asgi, settings, backlog=backlog))
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.02)
    if kind in ("wsdirect", "wslean"):
        await _start_ws_side(gateway, ws_port, backlog, lean=kind == "wslean")

    def stats() -> dict[str, Any]:
        return {
            **gateway.hubs.stats,
            "connections": gateway.hubs.count(),
            "batches": gateway.runtime.stats["batches"],
            "events": gateway.runtime.stats["events"],
        }

    return stats
