"""The WebSocket layer's own rules (gateway/ws.py, gateway/frames.py), over real
sockets: handshake refusals, one message per frame, the hello and idle
timeouts, compression shared by every socket of a view, and the goodbye a
stopping server says to its clients."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from gateway import frames
from gateway import protocol as p
from gateway import ws as gateway_ws
from tests.gateway.server_fixture import LiveServer, eventually, live_server, metric
from tests.gateway.test_e2e import drain, hello, opened, raw, recv, start_open

MSGPACK = p.Codec.MSGPACK


def test_frames_are_built_once_and_read_back_by_websockets() -> None:
    from websockets.frames import Frame, Opcode
    from websockets.streams import StreamReader

    def parse(data: bytes) -> Frame:
        reader = StreamReader()
        reader.feed_data(data)
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as done:
            frame: Frame = done.value
            return frame
        raise AssertionError("incomplete frame")

    for size in (0, 125, 126, 65535, 65536):
        frame = parse(frames.message(b"x" * size))
        assert frame.opcode is Opcode.BINARY and frame.fin and len(frame.data) == size
    text = parse(frames.message("héllo"))
    assert text.opcode is Opcode.TEXT and text.data.decode() == "héllo"
    close = parse(frames.close(4009, "é" * 100))  # cut on a character boundary
    assert close.opcode is Opcode.CLOSE and len(close.data) <= 125
    assert int.from_bytes(close.data[:2], "big") == 4009
    close.data[2:].decode()  # still valid UTF-8


async def test_handshake_refusals_say_why_in_http(server: LiveServer) -> None:
    aid = await start_open(server, "refusals", start_in_ms=0)
    with pytest.raises(InvalidStatus) as unknown:
        await raw(server, aid, subprotocol="chat.v2")
    assert unknown.value.response.status_code == 400
    assert b"underbid.v1.msgpack" in unknown.value.response.body
    with pytest.raises(InvalidStatus) as nowhere:
        await connect(f"ws://127.0.0.1:{server.port}/ws/elsewhere", proxy=None)
    assert nowhere.value.response.status_code == 404
    metrics = (await server.http.get("/metrics")).text
    assert metric(metrics, "underbid_ws_refused_total", reason="subprotocol") == 1


async def test_a_fragmented_message_is_malformed(server: LiveServer) -> None:
    aid = await start_open(server, "fragments", start_in_ms=0)
    ws = await raw(server, aid)
    await hello(ws)
    assert isinstance(await recv(ws), p.Welcome)
    await ws.send([b"\x81\xa4type", b"\xa4ping"])  # one message in two frames
    error = await recv(ws)
    assert isinstance(error, p.ErrorMessage) and error.code == "malformed"
    assert "one frame" in error.message
    await ws.send(p.encode_client(p.Ping(nonce=3), MSGPACK))  # the connection goes on
    pong = await recv(ws)
    assert isinstance(pong, p.Pong) and pong.nonce == 3
    await ws.close()


async def test_no_hello_in_time_closes_1008(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway_ws, "HELLO_TIMEOUT_S", 0.3)
    async with live_server({"UNDERBID_LIMITS_PING_INTERVAL_S": "1"}) as server:
        aid = await start_open(server, "mute", start_in_ms=0)
        ws = await raw(server, aid)
        got, close = await drain(ws, timeout=5)
        assert close == p.POLICY_VIOLATION
        assert [m.code for m in got] == ["hello_timeout"]


async def test_silence_past_the_idle_timeout_closes_4002() -> None:
    """The server pings after ping_interval_s; a client that answers nothing
    (it stopped reading) is closed after idle_timeout_s, and one that answers
    stays."""
    env = {"UNDERBID_LIMITS_PING_INTERVAL_S": "1", "UNDERBID_LIMITS_IDLE_TIMEOUT_S": "2"}
    async with live_server(env) as server:
        aid = await start_open(server, "idle", start_in_ms=0)
        alive = await raw(server, aid, ping_interval=None)  # answers the server's pings
        mute = await raw(server, aid, ping_interval=None)
        for ws in (alive, mute):
            await hello(ws)
            assert isinstance(await recv(ws), p.Welcome)
        mute.transport.pause_reading()  # no pong will come from it
        sockets = server.gateway.sockets
        await eventually(lambda: len(sockets.all) == 1, timeout=10, what="the silent one to go")
        mute.transport.resume_reading()
        _, close = await drain(mute)
        assert close == p.IDLE_TIMEOUT
        await alive.send(p.encode_client(p.Ping(nonce=1), MSGPACK))
        assert isinstance(await recv(alive), p.Pong)
        await alive.close()


async def test_compressed_frames_are_shared_and_readable() -> None:
    """With limits.compression on, permessage-deflate is negotiated without
    context takeover: each message is compressed once for every socket."""
    async with live_server({"UNDERBID_LIMITS_COMPRESSION": "true"}) as server:
        aid = await start_open(server, "deflate", start_in_ms=0, decrement=1)
        watchers = []
        for _ in range(2):
            ws = await raw(server, aid, compression="deflate")
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert "permessage-deflate" in extensions
            assert "server_no_context_takeover" in extensions
            await hello(ws)
            assert isinstance(await recv(ws), p.Welcome)
            watchers.append(ws)
        bidder = await server.connect(aid, await server.issue(aid, bidder="b1"))
        await opened(server, aid)
        before = server.gateway.hubs.stats["frames_encoded"]
        ack = await bidder.bid(99_000)
        assert ack.ok and ack.seq is not None
        for ws in watchers:
            seen: list[int] = []
            while ack.seq not in seen:
                message = await recv(ws)
                if isinstance(message, p.EventsMessage):
                    seen += [item.seq for item in message.items]
        # one frame for the public view, shared by both watchers
        assert server.gateway.hubs.stats["frames_encoded"] - before <= 2
        for ws in watchers:
            await ws.close()


async def test_a_stopping_server_says_going_away() -> None:
    async with live_server() as server:
        aid = await start_open(server, "bye", start_in_ms=0)
        ws = await raw(server, aid)
        await hello(ws)
        assert isinstance(await recv(ws), p.Welcome)
    _, close = await drain(ws)
    assert close == p.GOING_AWAY


async def test_a_bug_of_ours_closes_1011_and_the_server_goes_on(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    aid = await start_open(server, "bug", start_in_ms=0)

    def broken(self: gateway_ws.AuctionSocket, message: p.AnyClientMessage) -> None:
        raise ZeroDivisionError("planted")

    ws = await raw(server, aid)
    await hello(ws)
    assert isinstance(await recv(ws), p.Welcome)
    with monkeypatch.context() as patch:
        patch.setattr(gateway_ws.AuctionSocket, "handle", broken)
        await ws.send(p.encode_client(p.Ping(nonce=1), MSGPACK))
        _, close = await drain(ws)
    assert close == p.INTERNAL_ERROR
    other = await raw(server, aid)
    await hello(other)
    assert isinstance(await recv(other), p.Welcome)
    await other.close()


async def test_a_page_of_this_server_may_connect_whatever_the_allowlist() -> None:
    """Same origin (the Origin names the Host the browser connected to) is always
    allowed, so the pages work on any port; other origins need the allowlist."""
    async with live_server({"UNDERBID_SECURITY_ALLOWED_ORIGINS": "https://bids.example"}) as server:
        aid = await start_open(server, "origin", start_in_ms=0)
        own = await raw(server, aid, origin=f"http://127.0.0.1:{server.port}")
        await hello(own)
        assert isinstance(await recv(own), p.Welcome)
        await own.close()
        with pytest.raises(InvalidStatus) as other:
            await raw(server, aid, origin=f"http://127.0.0.1:{server.port + 1}")
        assert other.value.response.status_code == 403


async def test_the_operator_token_is_an_official_of_every_auction(server: LiveServer) -> None:
    aid = await start_open(server, "operator", start_in_ms=0)
    ws = await raw(server, aid)
    await hello(ws, server.operator_token)
    welcome = await recv(ws)
    assert isinstance(welcome, p.Welcome) and welcome.role == "official"
    await ws.close()
    people = await server.http.get(f"/api/auctions/{aid}/people", headers=server.auth())
    assert people.status_code == 200
    assert {b["id"] for b in people.json()["bidders"]} == {"b1", "b2", "b3"}


async def test_a_bid_over_the_rate_is_rejected_by_id_not_lost() -> None:
    limits = {"UNDERBID_LIMITS_MESSAGES_PER_SECOND": "1", "UNDERBID_LIMITS_BURST": "2"}
    async with live_server(limits) as server:
        aid = await start_open(server, "rate", start_in_ms=0, decrement=1)
        await opened(server, aid)
        ws = await raw(server, aid)
        await hello(ws, await server.issue(aid, bidder="b1"))
        assert isinstance(await recv(ws), p.Welcome)
        for n in range(3):
            bid = p.Bid(lot="1", amount=99_000 - n, bid_id=f"r{n}")
            await ws.send(p.encode_client(bid, MSGPACK))
        answers: dict[str, p.AnyServerMessage] = {}
        while len(answers) < 3:
            message = await recv(ws)
            if isinstance(message, p.Ack | p.Rejected):
                answers[message.bid_id] = message
        assert isinstance(answers["r0"], p.Ack) and isinstance(answers["r1"], p.Ack)
        refused = answers["r2"]
        assert isinstance(refused, p.Rejected) and refused.code == "rate_limited"
        assert "1 messages per second" in refused.message
        await ws.close()


async def test_a_client_that_says_goodbye_leaves_the_fan_out_at_once(server: LiveServer) -> None:
    """A close from the client ends the connection cleanly (1000 both ways) and
    the fan-out stops writing to it before the socket is gone."""
    aid = await start_open(server, "goodbye", start_in_ms=0, decrement=1)
    ws = await raw(server, aid)
    await hello(ws)
    assert isinstance(await recv(ws), p.Welcome)
    (sock,) = server.gateway.hubs.subscribers(aid)
    assert isinstance(sock, gateway_ws.AuctionSocket)
    await ws.close()
    assert ws.close_code == 1000
    assert sock.state >= gateway_ws.CLOSING
    assert server.gateway.hubs.subscribers(aid) == []
    bidder = await server.connect(aid, await server.issue(aid, bidder="b1"))
    await opened(server, aid)
    assert (await bidder.bid(99_000)).ok  # the fan-out goes on without it
