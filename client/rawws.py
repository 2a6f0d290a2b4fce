"""A lean WebSocket client on a raw asyncio transport, for load generators.

Thousands of connections in one process: no task, no queue, a few hundred
bytes each. :class:`RawWebSocket` does the opening handshake, sends one
``hello`` frame, parses the server's frames by hand, answers pings, and hands
each message to :meth:`RawWebSocket.on_message` with the time of the read.
``underbid swarm`` (:mod:`client.swarm`) and the fan-out benchmark
(``benchmarks/fanout.py``) build their watchers on it.

Server frames are expected whole (protocol v1: one message per frame, binary
under MessagePack): a FIN binary frame is a message; anything but ping, pong
and close goes to :meth:`RawWebSocket.on_other`, which fails the connection
unless a subclass says otherwise. No TLS, no extensions (no compression).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time

from websockets.utils import apply_mask

OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
NO_STATUS = 1005
"""The close code of a close frame that carries none (RFC 6455, 7.1.5)."""


def masked_frame(payload: bytes, opcode: int = OP_BINARY) -> bytes:
    """One whole client frame (clients must mask; the mask need not be secret here)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + mask + apply_mask(payload, mask)


def upgrade_request(host: str, port: int, path: str, subprotocol: str) -> bytes:
    """The HTTP/1.1 request that opens a WebSocket on ``path``, asking for ``subprotocol``."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
    ).encode()


class RawWebSocket(asyncio.Protocol):
    """One client connection: handshake, ``hello``, then every message to a hook.

    Subclasses implement :meth:`on_message` and may override :meth:`on_open`
    (the server said 101, before ``hello`` goes), :meth:`on_close` (a close
    frame came), :meth:`on_other` (a frame of another kind) and :meth:`fail`
    (the connection is given up: refused upgrade, close, unexpected frame).
    The server's response headers are not checked beyond the status line.
    """

    __slots__ = ("buffer", "hello", "is_open", "request", "transport")

    def __init__(self, request: bytes, hello: bytes) -> None:
        self.request = request
        """The upgrade request (:func:`upgrade_request`)."""
        self.hello = hello
        """The first frame, ready to send (:func:`masked_frame`)."""
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        """Bytes of a frame (or of the handshake response) not complete yet."""
        self.is_open = False
        """The server accepted the upgrade."""

    # ----------------------------------------------------------- hooks
    def on_open(self) -> None:
        """The server accepted the upgrade; ``hello`` goes next."""

    def on_message(self, payload: bytes, now: float) -> None:
        """A whole binary message, read at ``now`` (``time.perf_counter()``)."""
        raise NotImplementedError

    def on_close(self, code: int) -> None:
        """The server sent a close frame with ``code``; nothing after it is read."""
        self.fail(f"closed with {code}")

    def on_other(self, first: int, payload: bytes, now: float) -> bool:
        """A frame that is not a FIN binary, ping, pong or close (``first``: its
        first byte, FIN and opcode). Return whether to read on."""
        self.fail(f"unexpected frame (opcode {first & 0x0F})")
        return False

    def fail(self, why: str) -> None:
        """Give the connection up (``why`` says what went wrong)."""
        self.abort()

    # -------------------------------------------------------- protocol
    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        buf = self.buffer + data if self.buffer else data
        transport = self.transport
        if transport is None:
            return
        if not self.is_open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buf
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.fail(buf[: buf.find(b"\r\n")].decode(errors="replace"))
                return
            self.is_open = True
            self.on_open()
            transport.write(self.hello)
            buf = buf[end + 4 :]
        n = len(buf)
        pos = 0
        while n - pos >= 2:
            size = buf[pos + 1] & 0x7F
            head = 2
            if size == 126:
                if n - pos < 4:
                    break
                size = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif size == 127:
                if n - pos < 10:
                    break
                size = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + size
            if end > n:
                break
            first = buf[pos]
            opcode = first & 0x0F
            payload = buf[pos + head : end]
            pos = end
            if opcode == 0x2 and first & 0x80:  # binary, FIN: a message
                self.on_message(payload, now)
            elif opcode == 0x9:  # ping: pong with the same payload
                transport.write(masked_frame(payload, OP_PONG))
            elif opcode == 0x8:
                self.on_close(int.from_bytes(payload[:2], "big") if size >= 2 else NO_STATUS)
                return
            elif opcode != 0xA and not self.on_other(first, payload, now):  # 0xA: pong
                return
        self.buffer = buf[pos:] if pos < n else b""


__all__ = [
    "NO_STATUS",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "RawWebSocket",
    "masked_frame",
    "upgrade_request",
]
