"""client/rawws.py: the raw-socket WebSocket client under the swarm's and the
fan-out benchmark's watchers (frames and handshake checked byte by byte; one
real connection to the gateway)."""

from __future__ import annotations

import asyncio
import base64
import urllib.parse

import msgspec
import pytest
from websockets.utils import apply_mask

from client.rawws import OP_BINARY, OP_PING, OP_PONG, RawWebSocket, masked_frame, upgrade_request
from tests.gateway.server_fixture import LiveServer

ACCEPTED = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"


def _unmask(frame: bytes) -> tuple[int, bytes]:
    """The first byte and the payload of one whole masked client frame."""
    size = frame[1] & 0x7F
    head = {126: 4, 127: 10}.get(size, 2)
    if size >= 126:
        size = int.from_bytes(frame[2:head], "big")
    assert frame[1] & 0x80, "client frames are masked"
    mask = frame[head : head + 4]
    payload = frame[head + 4 :]
    assert len(payload) == size
    return frame[0], apply_mask(payload, mask)


def _server_frame(payload: bytes, first: int = 0x80 | OP_BINARY) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return bytes((first, 126)) + n.to_bytes(2, "big") + payload
    return bytes((first, 127)) + n.to_bytes(8, "big") + payload


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def abort(self) -> None:
        self.aborted = True


class _Recorder(RawWebSocket):
    __slots__ = ("closes", "failures", "messages")

    def __init__(self) -> None:
        super().__init__(b"REQUEST", b"HELLO")
        self.messages: list[bytes] = []
        self.closes: list[int] = []
        self.failures: list[str] = []

    def on_message(self, payload: bytes, now: float) -> None:
        self.messages.append(payload)

    def on_close(self, code: int) -> None:
        self.closes.append(code)
        super().on_close(code)

    def fail(self, why: str) -> None:
        self.failures.append(why)
        super().fail(why)


def _connected() -> tuple[_Recorder, _Transport]:
    ws, transport = _Recorder(), _Transport()
    ws.connection_made(transport)  # type: ignore[arg-type]
    return ws, transport


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_masked_frame_round_trips_at_every_length_boundary(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    first, got = _unmask(masked_frame(payload))
    assert first == 0x80 | OP_BINARY and got == payload
    assert _unmask(masked_frame(b"p", OP_PONG)) == (0x80 | OP_PONG, b"p")


def test_upgrade_request_asks_for_the_subprotocol() -> None:
    request = upgrade_request("127.0.0.1", 8000, "/ws/a", "underbid.v1.msgpack").decode()
    lines = request.split("\r\n")
    assert lines[0] == "GET /ws/a HTTP/1.1" and request.endswith("\r\n\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if line)
    assert headers["Host"] == "127.0.0.1:8000"
    assert headers["Sec-WebSocket-Protocol"] == "underbid.v1.msgpack"
    assert len(base64.b64decode(headers["Sec-WebSocket-Key"])) == 16


def test_frames_split_anywhere_are_read_whole_and_in_order() -> None:
    payloads = [b"a", b"b" * 200, b"c" * 70_000, b""]
    stream = ACCEPTED + b"".join(_server_frame(p) for p in payloads)
    for cut in (1, 3, 7, 64, len(stream)):
        ws, transport = _connected()
        for start in range(0, len(stream), cut):
            ws.data_received(stream[start : start + cut])
        assert ws.messages == payloads, cut
        assert transport.written == [b"REQUEST", b"HELLO"] and ws.buffer == b""


def test_pings_are_answered_and_pongs_skipped() -> None:
    ws, transport = _connected()
    ws.data_received(
        ACCEPTED
        + _server_frame(b"nonce", 0x80 | OP_PING)
        + _server_frame(b"x", 0x80 | OP_PONG)
        + _server_frame(b"m")
    )
    assert _unmask(transport.written[2]) == (0x80 | OP_PONG, b"nonce")
    assert ws.messages == [b"m"] and not ws.failures


def test_a_close_frame_ends_the_reading() -> None:
    ws, transport = _connected()
    close = _server_frame((4001).to_bytes(2, "big") + b"bye", 0x88)
    ws.data_received(ACCEPTED + close + _server_frame(b"after"))
    assert ws.closes == [4001] and ws.failures == ["closed with 4001"]
    assert transport.aborted and ws.messages == []
    ws, _ = _connected()
    ws.data_received(ACCEPTED + _server_frame(b"", 0x88))
    assert ws.closes == [1005]


def test_refused_upgrades_and_fragments_fail() -> None:
    ws, transport = _connected()
    ws.data_received(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
    assert ws.failures == ["HTTP/1.1 403 Forbidden"] and transport.aborted and not ws.is_open
    ws, transport = _connected()
    ws.data_received(ACCEPTED + _server_frame(b"part", OP_BINARY))  # no FIN: a fragment
    assert ws.failures == ["unexpected frame (opcode 2)"] and transport.aborted


async def test_a_watcher_is_welcomed_by_the_gateway(server: LiveServer) -> None:
    from gateway import protocol as p

    class Watcher(RawWebSocket):
        __slots__ = ("types",)

        def __init__(self, request: bytes, hello: bytes) -> None:
            super().__init__(request, hello)
            self.types: asyncio.Queue[str] = asyncio.Queue()

        def on_message(self, payload: bytes, now: float) -> None:
            self.types.put_nowait(msgspec.msgpack.decode(payload)["type"])

    await server.create(
        {
            "id": "raw",
            "start_at": 0,
            "format": "open",
            "start_value": 1000,
            "open": {"duration_s": 600, "decrement": 1},
            "bidders": [{"id": "acme"}],
        }
    )
    parts = urllib.parse.urlsplit(server.base_url)
    assert parts.hostname is not None and parts.port is not None
    hello = msgspec.msgpack.encode({"type": "hello"})
    watcher = Watcher(
        upgrade_request(parts.hostname, parts.port, "/ws/auctions/raw", p.Codec.MSGPACK),
        masked_frame(hello),
    )
    loop = asyncio.get_running_loop()
    await loop.create_connection(lambda: watcher, parts.hostname, parts.port)
    try:
        assert await asyncio.wait_for(watcher.types.get(), 10) == "welcome"
    finally:
        watcher.abort()
