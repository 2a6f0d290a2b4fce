"""Fan-out to the watchers of one auction: the real gateway beside a bare
``websockets`` ``broadcast()`` server, measured in the same run.

    python -m benchmarks.fanout [--watchers 1000,10000] [--rate 20,50] [--seconds 5]
                                [--bidders 1] [--servers bare,gateway]
                                [--max-idle N] [--no-idle] [--no-sweep]
                                [--profile SECONDS [--profile-rate 30]
                                 [--profile-watchers 1000] [--profiler py-spy]]

Processes (uvloop everywhere; everything on 127.0.0.1; every child is pinned,
bounded by ``signal.alarm`` and exits when its control pipe closes; all of
them are ended on the way out):

- **server under test**, pinned to the first CPU of this process's affinity:
  ``gateway`` is :func:`gateway.server.build` (embedded journal) served by
  uvicorn with uvloop, WebSocket upgrades handed to the gateway's own protocol
  (:func:`gateway.server.uvicorn_config`, :mod:`gateway.ws`),
  the token secret given in ``UNDERBID_SECURITY_TOKEN_SECRET`` (and the
  per-connection message rate lifted: one bidder connection carries every bid).
  ``bare`` is a ``websockets.asyncio.server.serve`` server: watchers on
  ``/watch``, bids on ``/bid``, one ``broadcast()`` per bid of a frame shaped
  and sized like the gateway's ``events`` frame (143 bytes).
- **watchers**, raw-socket WebSocket clients (an asyncio ``Protocol`` doing the
  handshake and parsing frames by hand, a few hundred bytes per connection),
  at most 7,000 per process, on the other CPU(s), ``nice`` +5 so that the
  bidder keeps its timetable; they say ``hello`` with no token (public
  auction, the anonymised view) over the MessagePack subprotocol, and answer
  pings.
- **bidder**: one process, ``--bidders`` connections (bidder tokens issued over
  the HTTP API with the operator token), bids sent open loop at a fixed rate,
  each below the last.

Figures, each printed beside the bare server's:

- **deliveries/s at saturation**: the bid rate is raised step by step (offered
  deliveries = bids sent in the window x watchers) until deliveries stop
  growing (a step that gets less than 92 % of what was offered and no more than
  3 % over the best step before it); the best delivered rate is the figure. A
  delivery is one event reaching one watcher (the gateway may put the events
  of one loop turn in one frame; frames/s are printed too). The server's CPU
  time per delivery is the server process's CPU time over the same window.
- **memory per idle connection**: server RSS after N watchers connected
  (hello/welcome done) minus RSS before, divided by N.
- **bid -> last watcher latency** at each ``--rate`` (bids/s; above 1,000
  watchers scaled by 1,000 / watchers, the same deliveries/s): from the
  bidder's send (``time.perf_counter``, CLOCK_MONOTONIC, shared by the
  processes) to the watcher read that completed the last of the N deliveries
  of that bid (matched by the bid's amount). Client-side read time is included.
- **max idle connections** one server process holds: watchers are added in
  chunks of 1,000 up to ``--max-idle`` (default: as many as the server's
  open-file hard limit leaves room for) or the first failure.

Targets (docs/quality bars): >= 1.5 x bare deliveries/s; <= 16 KiB per idle
connection; bid -> last of 1,000 watchers p99 <= 20 ms; >= 15,000 idle
connections. ``--profile S`` samples each server for S seconds at
``--profile-rate`` bids/s with py-spy (``--native``; when installed) or
cProfile, and prints where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import math
import multiprocessing
import os
import pstats
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import msgspec
import uvloop

from client.rawws import OP_BINARY, OP_TEXT, RawWebSocket, masked_frame, upgrade_request

HOST = "127.0.0.1"
SECRET = "fanout-benchmark-token-secret-0123456789abcdef"
AUCTION = "fanout"
START_VALUE = 10**12
BACKLOG = 4096
CHILD_LIFETIME_S = 3600
"""A child that outlives this is killed by its own alarm, whatever the parent does."""
PER_CLIENT_PROCESS = 7000
"""Watchers per client process (each side of a connection takes a descriptor)."""
SWEEP_TARGETS = (25_000, 50_000, 75_000, 100_000, 125_000, 150_000, 200_000, 300_000, 400_000)
"""Offered deliveries/s of the saturation steps."""
KEEPS_UP = 0.92
"""A step keeps up when the watchers get at least this share of the offered deliveries."""
GROWS = 1.03
"""Past saturation, the sweep goes on while each step delivers 3 % more than the best."""
KINDS = ("bare", "gateway")


# ===================================================================== children
def _child_init(cpus: set[int], nice: int = 0) -> None:
    os.sched_setaffinity(0, cpus)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if nice:
        os.nice(nice)
    signal.alarm(CHILD_LIFETIME_S)


def _on_control(ctl: Connection, handle: Callable[[tuple[Any, ...]], None]) -> None:
    """Serve the control pipe from the loop; exit as soon as the parent is gone."""

    def ready() -> None:
        try:
            message = ctl.recv()
        except (EOFError, OSError):
            os._exit(0)
        handle(message)

    asyncio.get_running_loop().add_reader(ctl.fileno(), ready)


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


# ---------------------------------------------------------------- server side
def _server_env(ws_port: int, http_port: int) -> dict[str, str]:
    return {
        "UNDERBID_SECURITY_TOKEN_SECRET": SECRET,
        "UNDERBID_SERVER_PORT": str(http_port),
        # One bidder connection drives the whole bid rate: lift the per-connection bucket.
        "UNDERBID_LIMITS_MESSAGES_PER_SECOND": "1000000",
        "UNDERBID_LIMITS_BURST": "1000000",
    }


def server_process(kind: str, ws_port: int, http_port: int, cpus: set[int], ctl: Connection):
    _child_init(cpus)
    os.environ.update(_server_env(ws_port, http_port))
    uvloop.run(_server_main(kind, ws_port, http_port, ctl))


async def _server_main(kind: str, ws_port: int, http_port: int, ctl: Connection) -> None:
    stats: Callable[[], dict[str, Any]]
    if kind == "bare":
        stats = await _start_bare(ws_port)
    else:
        stats = await _start_gateway(BACKLOG)
    profiler: cProfile.Profile | None = None

    def handle(message: tuple[Any, ...]) -> None:
        nonlocal profiler
        command = message[0]
        if command == "stop":
            ctl.send("bye")
            os._exit(0)
        elif command == "stats":
            ctl.send(stats())
        elif command == "profile_start":
            profiler = cProfile.Profile()
            profiler.enable()
            ctl.send("ok")
        elif command == "profile_stop":
            assert profiler is not None
            profiler.disable()
            profiler.dump_stats(message[1])
            ctl.send("ok")
        elif command == "gc":
            gc.collect()
            ctl.send("ok")

    _on_control(ctl, handle)
    ctl.send(("ready", os.getpid()))
    await asyncio.get_running_loop().create_future()


async def _start_gateway(backlog: int) -> Callable[[], dict[str, Any]]:
    """The gateway exactly as ``underbid serve`` runs it, in this process's loop."""
    import uvicorn

    from gateway.server import build, uvicorn_config
    from gateway.settings import load_settings

    settings = load_settings(None, os.environ)
    gateway, app = build(settings)
    server = uvicorn.Server(uvicorn_config(app, settings, backlog=backlog))
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.02)

    def stats() -> dict[str, Any]:
        return {
            **gateway.hubs.stats,
            "connections": gateway.hubs.count(),
            "batches": gateway.runtime.stats["batches"],
            "events": gateway.runtime.stats["events"],
        }

    return stats


async def _start_bare(port: int) -> Callable[[], dict[str, Any]]:
    """The baseline: websockets' own server, ``broadcast()`` of one frame per bid."""
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.exceptions import ConnectionClosed

    from gateway import protocol as p

    watchers: set[ServerConnection] = set()
    decoder = msgspec.msgpack.Decoder(p.AnyClientMessage)
    welcome = p.encode_server(p.Pong(nonce=0, server_time=0), p.Codec.MSGPACK)
    counters = {"bids": 0, "deliveries": 0}

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()  # hello
            await ws.send(welcome)
        except ConnectionClosed:
            return
        if ws.request is not None and ws.request.path == "/bid":
            async for message in ws:
                bid = decoder.decode(message)
                if not isinstance(bid, p.Bid):
                    continue
                counters["bids"] += 1
                now = time.time_ns() // 1_000_000
                event = {
                    "type": "bid_placed",
                    "at": now,
                    "lot": "1",
                    "bidder": "Bidder #1",
                    "amount": bid.amount,
                    "bid_id": "",
                    "surrogate_by": "",
                }
                item = p.EventItem(seq=counters["bids"], event=event)
                frame = p.encode_server(
                    p.EventsMessage(server_time=now, items=[item]), p.Codec.MSGPACK
                )
                broadcast(watchers, frame)
                counters["deliveries"] += len(watchers)
            return
        watchers.add(ws)
        try:
            await ws.wait_closed()
        finally:
            watchers.discard(ws)

    await serve(handler, HOST, port, compression=None, max_size=4096, backlog=BACKLOG)
    return lambda: {**counters, "connections": len(watchers)}


# ---------------------------------------------------------------- client side
class _Event(msgspec.Struct):
    amount: int | None = None


class _Item(msgspec.Struct):
    seq: int = 0
    event: _Event = msgspec.field(default_factory=_Event)


class _Message(msgspec.Struct):
    """What a watcher reads of a server frame (everything else is skipped)."""

    type: str = ""
    items: list[_Item] = msgspec.field(default_factory=list)


_decode = msgspec.msgpack.Decoder(_Message).decode


class _ClientState:
    def __init__(self) -> None:
        self.frames = 0
        self.events = 0
        self.nbytes = 0
        self.acks = 0
        self.rejected = 0
        self.open = 0
        self.closes: dict[int, int] = {}
        self.lat: dict[int, list[float]] = {}
        """amount -> [deliveries, time of the last]."""
        self.conns: list[_Ws] = []


class _Ws(RawWebSocket):
    """One raw WebSocket client connection: handshake, hello, then count what arrives."""

    __slots__ = ("closed", "ready", "st")

    def __init__(
        self, st: _ClientState, request: bytes, hello: bytes, ready: asyncio.Future[str]
    ) -> None:
        super().__init__(request, hello)
        self.st = st
        self.ready: asyncio.Future[str] | None = ready
        self.closed = False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.is_open and not self.closed:
            self.st.open -= 1
        self.closed = True
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before the first frame"))

    def data_received(self, data: bytes) -> None:
        self.st.nbytes += len(data)
        RawWebSocket.data_received(self, data)

    def fail(self, why: str) -> None:
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(ConnectionError(why))
        self.abort()

    def on_open(self) -> None:
        self.st.open += 1

    def on_close(self, code: int) -> None:
        closes = self.st.closes
        closes[code] = closes.get(code, 0) + 1
        self.abort()

    def on_other(self, first: int, payload: bytes, now: float) -> bool:
        if first & 0x0F in (OP_TEXT, OP_BINARY):  # not sent, but counted as before
            self.on_message(payload, now)
        return True

    def on_message(self, payload: bytes, now: float) -> None:
        message = _decode(payload)
        st = self.st
        st.frames += 1
        items = message.items
        if items:
            st.events += len(items)
            lat = st.lat
            for item in items:
                amount = item.event.amount
                if amount is not None:
                    record = lat.get(amount)
                    if record is None:
                        lat[amount] = [1, now]
                    else:
                        record[0] += 1
                        record[1] = now
        elif message.type == "ack":
            st.acks += 1
        elif message.type == "rejected":
            st.rejected += 1
        if self.ready is not None:
            if not self.ready.done():
                self.ready.set_result(message.type)
            self.ready = None


async def _connect(
    st: _ClientState, port: int, path: str, hellos: list[bytes], n: int, concurrency: int
) -> tuple[int, int, str]:
    from gateway import protocol as p

    loop = asyncio.get_running_loop()
    request = upgrade_request(HOST, port, path, p.Codec.MSGPACK)
    frames = [masked_frame(h) for h in hellos]
    gate = asyncio.Semaphore(concurrency)
    ok = failed = 0
    first_error = ""

    async def one(i: int) -> None:
        nonlocal ok, failed, first_error
        async with gate:
            ready: asyncio.Future[str] = loop.create_future()
            proto = _Ws(st, request, frames[i % len(frames)], ready)
            try:
                await asyncio.wait_for(loop.create_connection(lambda: proto, HOST, port), 20)
                kind = await asyncio.wait_for(ready, 30)
                if kind not in ("welcome", "pong"):
                    raise ConnectionError(f"first frame was {kind!r}")
                st.conns.append(proto)
                ok += 1
            except Exception as exc:
                failed += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
                if proto.transport is not None:
                    proto.transport.abort()

    await asyncio.gather(*(one(i) for i in range(n)))
    return ok, failed, first_error


async def _bids(
    st: _ClientState, rate: float, seconds: float, first_amount: int, prefix: str
) -> dict[str, Any]:
    """Open loop: bid i goes at t0 + i / rate, whatever happened to the others."""
    from gateway import protocol as p

    total = max(1, round(rate * seconds))
    conns = st.conns
    acks0, rejected0 = st.acks, st.rejected
    sends: list[tuple[int, float]] = []
    late = 0.0
    t0 = time.perf_counter() + 0.002
    for i in range(total):
        slot = t0 + i / rate
        delay = slot - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        elif i % 32 == 31:
            await asyncio.sleep(0)  # behind: still read the acks now and then
        proto = conns[i % len(conns)]
        if proto.closed or proto.transport is None:
            break
        amount = first_amount - i
        payload = p.encode_client(p.Bid(amount=amount, bid_id=f"{prefix}-{i}"), p.Codec.MSGPACK)
        assert isinstance(payload, bytes)
        frame = masked_frame(payload)
        now = time.perf_counter()
        proto.transport.write(frame)
        sends.append((amount, now))
        late = max(late, now - slot)
    await asyncio.sleep(0.05)
    return {
        "sends": sends,
        "late_max": late,
        "acks": st.acks - acks0,
        "rejected": st.rejected - rejected0,
    }


def client_process(cpus: set[int], nice: int, ctl: Connection) -> None:
    _child_init(cpus, nice)
    uvloop.run(_client_main(ctl))


async def _client_main(ctl: Connection) -> None:
    st = _ClientState()
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[Any]] = set()

    def reply_when_done(coro: Any) -> None:
        task = loop.create_task(coro)
        tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            tasks.discard(t)
            ctl.send(t.result() if t.exception() is None else ("error", repr(t.exception())))

        task.add_done_callback(done)

    def handle(message: tuple[Any, ...]) -> None:
        command = message[0]
        if command == "connect":
            reply_when_done(_connect(st, *message[1:]))
        elif command == "bids":
            reply_when_done(_bids(st, *message[1:]))
        elif command == "stats":
            ctl.send(
                {
                    "t": time.perf_counter(),
                    "frames": st.frames,
                    "events": st.events,
                    "bytes": st.nbytes,
                    "open": st.open,
                    "closes": dict(st.closes),
                    "cpu": _cpu_seconds(),
                }
            )
        elif command == "lat":
            ctl.send(st.lat)
            st.lat = {}
        elif command == "close":
            for proto in st.conns:
                if proto.transport is not None:
                    proto.transport.abort()
            ctl.send("bye")
            os._exit(0)

    _on_control(ctl, handle)
    await loop.create_future()


# ===================================================================== parent
@dataclass
class Child:
    name: str
    proc: Any
    ctl: Connection

    def send(self, *message: Any) -> None:
        self.ctl.send(message)

    def reply(self, timeout: float = 120.0) -> Any:
        if not self.ctl.poll(timeout):
            raise TimeoutError(f"{self.name} did not answer within {timeout:.0f} s")
        answer = self.ctl.recv()
        if isinstance(answer, tuple) and answer and answer[0] == "error":
            raise RuntimeError(f"{self.name}: {answer[1]}")
        return answer

    def call(self, *message: Any, timeout: float = 120.0) -> Any:
        self.send(*message)
        return self.reply(timeout)


class Children:
    """Every child process of the run; all of them are ended on the way out."""

    def __init__(self) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.children: list[Child] = []

    def spawn(self, name: str, target: Callable[..., None], *args: Any) -> Child:
        parent_end, child_end = self.ctx.Pipe()
        proc = self.ctx.Process(target=target, args=(*args, child_end), name=name, daemon=True)
        proc.start()
        child_end.close()
        child = Child(name, proc, parent_end)
        self.children.append(child)
        return child

    def end(self, child: Child, farewell: str | None = None) -> None:
        if farewell is not None and child.proc.is_alive():
            with contextlib.suppress(Exception):
                child.call(farewell, timeout=10)
        with contextlib.suppress(Exception):
            child.ctl.close()  # a child exits when its control pipe closes
        child.proc.join(5)
        if child.proc.is_alive():
            child.proc.terminate()
            child.proc.join(5)
        if child.proc.is_alive():
            child.proc.kill()
            child.proc.join(5)
        with contextlib.suppress(Exception):
            child.ctl.close()
        if child in self.children:
            self.children.remove(child)

    def end_all(self) -> None:
        for child in self.children:
            with contextlib.suppress(Exception):
                child.ctl.close()
        for child in list(self.children):
            self.end(child)

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        self.end_all()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _core_ticks(cpu: int) -> tuple[int, int]:
    """(irq + softirq, all) clock ticks of one CPU so far (the loopback network
    stack's receive side of the server's writes runs as softirq on its core)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                ticks = [int(x) for x in line.split()[1:]]
                return ticks[5] + ticks[6], sum(ticks[:8])
    raise ValueError(f"no cpu{cpu} in /proc/stat")


def _log(line: str) -> None:
    print(line, flush=True)


@dataclass
class Server:
    kind: str
    child: Child
    pid: int
    ws_port: int
    http_port: int
    watch_path: str
    bid_path: str
    watcher_hello: bytes
    bidder_hellos: list[bytes]
    cpu_id: int

    def rss(self) -> int:
        return _rss(self.pid)

    def cpu(self) -> float:
        return _proc_cpu(self.pid)

    def core(self) -> tuple[int, int]:
        return _core_ticks(self.cpu_id)


def start_server(kids: Children, kind: str, server_cpus: set[int], bidders: int) -> Server:
    from gateway import protocol as p

    cpu_id = min(server_cpus)
    ws_port = _free_port()
    http_port = ws_port if kind == "gateway" else _free_port()
    child = kids.spawn(f"server-{kind}", server_process, kind, ws_port, http_port, server_cpus)
    ready = child.reply(60)
    assert ready[0] == "ready", ready
    hello = p.encode_client(p.Hello(), p.Codec.MSGPACK)
    assert isinstance(hello, bytes)
    if kind == "bare":
        return Server(
            kind, child, ready[1], ws_port, http_port, "/watch", "/bid", hello, [hello], cpu_id
        )
    tokens = _create_auction(http_port, bidders)
    hellos = []
    for token in tokens:
        frame = p.encode_client(p.Hello(token=token), p.Codec.MSGPACK)
        assert isinstance(frame, bytes)
        hellos.append(frame)
    path = f"/ws/auctions/{AUCTION}"
    return Server(kind, child, ready[1], ws_port, http_port, path, path, hello, hellos, cpu_id)


def _create_auction(http_port: int, bidders: int) -> list[str]:
    """Create the open auction with the operator token; one bidder token per bidder."""
    import httpx

    from gateway.tokens import issue_token

    now = time.time_ns() // 1_000_000
    operator = issue_token(
        SECRET.encode(),
        auction="*",
        role="official",
        bidder=None,
        expires_at=now + 3_600_000,
        now=now,
    )
    spec = {
        "id": AUCTION,
        "title": "fan-out benchmark",
        "start_at": now - 1_000,
        "format": "open",
        "start_value": START_VALUE,
        "open": {"duration_s": 604_800, "decrement": 1},
        "bidders": [{"id": f"b{i}"} for i in range(max(2, bidders))],
    }
    base = f"http://{HOST}:{http_port}"
    auth = {"authorization": f"Bearer {operator}"}
    with httpx.Client(base_url=base, headers=auth, timeout=10) as http:
        r = http.post("/api/auctions", json=spec)
        r.raise_for_status()
        tokens = []
        for i in range(bidders):
            r = http.post(
                f"/api/auctions/{AUCTION}/tokens", json={"role": "bidder", "bidder": f"b{i}"}
            )
            r.raise_for_status()
            tokens.append(r.json()["token"])
    return tokens


@dataclass
class Step:
    rate: float
    watchers: int
    seconds: float
    delivered: float
    """Event deliveries to watchers per second."""
    frames: float
    server_cpu: float
    """The server process's CPU time, as a share of one core."""
    softirq: float
    """irq + softirq ticks on the server's core, as a share of it: mostly the loopback
    stack, and (with tick-based accounting) already inside ``server_cpu``."""
    client_cpu: float
    complete: int
    incomplete: int
    latencies_ms: list[float]
    bids_sent: int
    rejected: int
    sent_in_window: float
    """Bids/s the bidder actually sent during the measurement window."""
    late_ms: float
    drain_s: float

    @property
    def offered(self) -> float:
        """Deliveries/s the accepted bids call for (several bidder connections may
        get some bids rejected: sent out of order, not below the best)."""
        accepted = 1 - self.rejected / self.bids_sent if self.bids_sent else 1
        return self.sent_in_window * self.watchers * accepted

    @property
    def keeps_up(self) -> bool:
        return self.delivered >= KEEPS_UP * self.offered

    @property
    def us_per_delivery(self) -> float:
        """The server process's CPU time (system time includes the kernel's TCP
        work for its writes) per delivery; other tenants of the core are left out."""
        return self.server_cpu / self.delivered * 1e6 if self.delivered else math.nan

    def pct(self, q: float) -> float:
        return _percentile(self.latencies_ms, q)

    def line(self) -> str:
        return (
            f"rate {self.rate:7.1f}/s offered {self.offered / 1e3:6.1f}k "
            f"delivered {self.delivered / 1e3:6.1f}k ev/s ({self.frames / 1e3:6.1f}k frames/s) "
            f"server cpu {self.server_cpu:4.0%} (softirq {self.softirq:3.0%}) "
            f"({self.us_per_delivery:5.2f} us/delivery) "
            f"clients cpu {self.client_cpu:4.0%} "
            f"p50 {self.pct(50):7.2f} p99 {self.pct(99):7.2f} ms "
            f"[{self.complete} bids complete, {self.incomplete} not; "
            f"{self.rejected} rejected; sender late <= {self.late_ms:.1f} ms; "
            f"drain {self.drain_s:.1f} s]"
        )


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


@dataclass
class LoadResult:
    kind: str
    watchers: int
    connect_s: float = 0.0
    kib_per_conn: float = math.nan
    latency: dict[float, Step] = field(default_factory=dict)
    """Latency phases by their nominal rate (bids/s at 1,000 watchers)."""
    steps: list[Step] = field(default_factory=list)

    @property
    def best(self) -> Step | None:
        return max(self.steps, key=lambda s: s.delivered) if self.steps else None

    @property
    def saturated(self) -> bool:
        return bool(self.steps) and not self.steps[-1].keeps_up


@dataclass
class IdleResult:
    kind: str
    held: int = 0
    attempted: int = 0
    limit: int = 0
    kib_per_conn: float = math.nan
    stop: str = ""


class Load:
    """One server, its bidder and its watchers."""

    def __init__(self, kids: Children, server: Server, client_cpus: set[int]) -> None:
        self.kids = kids
        self.server = server
        self.client_cpus = client_cpus
        self.bidder = kids.spawn("bidder", client_process, client_cpus, 0)
        self.watchers: list[tuple[Child, int]] = []
        self.amount = START_VALUE - 1
        self.round = 0
        _, failed, error = self.bidder.call(
            "connect",
            server.ws_port,
            server.bid_path,
            server.bidder_hellos,
            len(server.bidder_hellos),
            8,
        )
        if failed:
            raise RuntimeError(f"bidder could not connect: {error}")

    def connect(self, n: int, concurrency: int = 256) -> tuple[int, int, str]:
        """Add n watchers over new client processes (in parallel)."""
        plan: list[tuple[Child, int]] = []
        left = n
        while left > 0:
            take = min(left, PER_CLIENT_PROCESS)
            child = self.kids.spawn("watchers", client_process, self.client_cpus, 5)
            plan.append((child, take))
            left -= take
        s = self.server
        for child, take in plan:
            child.send("connect", s.ws_port, s.watch_path, [s.watcher_hello], take, concurrency)
        ok = failed = 0
        error = ""
        for child, _ in plan:
            got, lost, why = child.reply(600)
            ok += got
            failed += lost
            error = error or why
            self.watchers.append((child, got))
        return ok, failed, error

    def add(self, n: int, concurrency: int = 256) -> tuple[int, int, str]:
        """Add n watchers to the last client process, or a new one if it is full."""
        if not self.watchers or self.watchers[-1][1] + n > PER_CLIENT_PROCESS:
            child = self.kids.spawn("watchers", client_process, self.client_cpus, 5)
            self.watchers.append((child, 0))
        child, held = self.watchers[-1]
        s = self.server
        ok, failed, error = child.call(
            "connect", s.ws_port, s.watch_path, [s.watcher_hello], n, concurrency, timeout=600
        )
        self.watchers[-1] = (child, held + ok)
        return ok, failed, error

    @property
    def count(self) -> int:
        return sum(n for _, n in self.watchers)

    def stats(self) -> list[dict[str, Any]]:
        for child, _ in self.watchers:
            child.send("stats")
        return [child.reply(60) for child, _ in self.watchers]

    def bids(self, rate: float, seconds: float) -> Child:
        self.round += 1
        self.bidder.send("bids", rate, seconds, self.amount, f"r{self.round}")
        self.amount -= max(1, round(rate * seconds)) + 1
        return self.bidder

    def warm(self) -> None:
        self.bids(100, 0.3).reply(60)

    def step(self, rate: float, seconds: float, warm: float = 1.0) -> Step:
        n = self.count
        bidder = self.bids(rate, warm + seconds)
        time.sleep(warm)
        w0, c0, b0 = time.perf_counter(), self.server.cpu(), _proc_cpu(bidder.proc.pid)
        k0 = self.server.core()
        s0 = self.stats()
        time.sleep(seconds)
        s1 = self.stats()
        w1, c1, b1 = time.perf_counter(), self.server.cpu(), _proc_cpu(bidder.proc.pid)
        k1 = self.server.core()
        result = bidder.reply(warm + seconds + 120)
        drain = self._drain()
        lat: dict[int, list[float]] = {}
        for child, _ in self.watchers:
            for amount, (count, last) in child.call("lat").items():
                seen = lat.get(amount)
                if seen is None:
                    lat[amount] = [count, last]
                else:
                    seen[0] += count
                    seen[1] = max(seen[1], last)
        latencies = []
        incomplete = 0
        for amount, sent in result["sends"]:
            if not w0 <= sent <= w1:
                continue
            seen = lat.get(amount)
            if seen is None or seen[0] < n:
                incomplete += 1
            else:
                latencies.append((seen[1] - sent) * 1e3)
        delivered = sum(
            (b["events"] - a["events"]) / (b["t"] - a["t"]) for a, b in zip(s0, s1, strict=True)
        )
        frames = sum(
            (b["frames"] - a["frames"]) / (b["t"] - a["t"]) for a, b in zip(s0, s1, strict=True)
        )
        client_cpu = sum(b["cpu"] - a["cpu"] for a, b in zip(s0, s1, strict=True)) + (b1 - b0)
        return Step(
            rate=rate,
            watchers=n,
            seconds=seconds,
            delivered=delivered,
            frames=frames,
            server_cpu=(c1 - c0) / (w1 - w0),
            softirq=(k1[0] - k0[0]) / max(1, k1[1] - k0[1]),
            client_cpu=client_cpu / (w1 - w0),
            complete=len(latencies),
            incomplete=incomplete,
            latencies_ms=latencies,
            bids_sent=len(result["sends"]),
            sent_in_window=sum(w0 <= t <= w1 for _, t in result["sends"]) / (w1 - w0),
            rejected=result["rejected"],
            late_ms=result["late_max"] * 1e3,
            drain_s=drain,
        )

    def _drain(self, limit: float = 30.0) -> float:
        """Wait until no delivery arrived for a while (longer than one fan-out)."""
        quiet = 0.5 + self.count / 10_000
        start = time.perf_counter()
        last = sum(s["events"] for s in self.stats())
        quiet_since = time.perf_counter()
        while time.perf_counter() - start < limit:
            time.sleep(0.1)
            now = sum(s["events"] for s in self.stats())
            if now != last:
                last = now
                quiet_since = time.perf_counter()
            elif time.perf_counter() - quiet_since >= quiet:
                break
        return time.perf_counter() - start

    def close(self) -> None:
        for child, _ in self.watchers:
            self.kids.end(child, "close")
        self.watchers = []
        self.kids.end(self.bidder, "close")
        self.kids.end(self.server.child, "stop")


def run_load(
    kids: Children,
    kind: str,
    n: int,
    args: argparse.Namespace,
    server_cpus: set[int],
    client_cpus: set[int],
) -> LoadResult:
    result = LoadResult(kind, n)
    server = start_server(kids, kind, server_cpus, args.bidders)
    load = Load(kids, server, client_cpus)
    try:
        load.warm()
        time.sleep(0.5)
        rss0 = server.rss()
        t = time.perf_counter()
        ok, failed, error = load.connect(n)
        result.connect_s = time.perf_counter() - t
        if failed:
            raise RuntimeError(f"{kind}: {failed} of {n} watchers failed to connect: {error}")
        time.sleep(1.0)
        result.kib_per_conn = (server.rss() - rss0) / n / 1024
        _log(
            f"[{kind} x{n}] {ok} watchers connected in {result.connect_s:.1f} s; "
            f"server RSS {rss0 / 2**20:.1f} -> {server.rss() / 2**20:.1f} MiB: "
            f"{result.kib_per_conn:.1f} KiB per idle connection"
        )
        for nominal in args.rates:
            rate = nominal * 1000 / n if n > 1000 else nominal
            step = result.latency[nominal] = load.step(rate, args.seconds)
            _log(f"[{kind} x{n}] latency  {step.line()}")
        if not args.no_sweep:
            for target in SWEEP_TARGETS:
                step = load.step(target / n, args.seconds)
                result.steps.append(step)
                _log(f"[{kind} x{n}] sweep    {step.line()}")
                best = max(s.delivered for s in result.steps[:-1]) if len(result.steps) > 1 else 0
                if step.drain_s > 10 or (not step.keeps_up and step.delivered < GROWS * best):
                    break
        stats = server.child.call("stats")
        _log(f"[{kind} x{n}] server stats {stats}; watcher closes {load.stats()[0]['closes']}")
    finally:
        load.close()
    return result


def run_idle(
    kids: Children,
    kind: str,
    args: argparse.Namespace,
    server_cpus: set[int],
    client_cpus: set[int],
) -> IdleResult:
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]  # the server raises its soft limit
    result = IdleResult(kind, limit=limit)
    server = start_server(kids, kind, server_cpus, 1)
    load = Load(kids, server, client_cpus)
    try:
        time.sleep(0.5)
        in_use = len(os.listdir(f"/proc/{server.pid}/fd"))
        target = result.attempted = args.max_idle or limit - in_use
        _log(
            f"[{kind} idle] {in_use} descriptors in use (listening sockets, loop, pipes, the "
            f"bidder); trying {target:,} more, up to the open-file limit {limit:,}"
        )
        rss0 = server.rss()
        t = time.perf_counter()
        while load.count < target:
            _, failed, error = load.add(min(1000, target - load.count))
            rss = server.rss()
            _log(
                f"[{kind} idle] {load.count:6d} connections in {time.perf_counter() - t:5.1f} s, "
                f"server RSS {rss / 2**20:7.1f} MiB "
                f"({(rss - rss0) / max(1, load.count) / 1024:.1f} KiB each)"
                + (f"; {failed} failed: {error}" if failed else "")
            )
            if failed:
                result.stop = error
                break
        time.sleep(2.0)
        result.held = sum(s["open"] for s in load.stats())
        result.kib_per_conn = (server.rss() - rss0) / max(1, result.held) / 1024
        _log(
            f"[{kind} idle] held {result.held} open after 2 s ({result.kib_per_conn:.1f} KiB each)"
        )
    finally:
        load.close()
    return result


def run_profile(
    kids: Children,
    kind: str,
    n: int,
    rate: float,
    seconds: float,
    args: argparse.Namespace,
    server_cpus: set[int],
    client_cpus: set[int],
) -> None:
    server = start_server(kids, kind, server_cpus, args.bidders)
    load = Load(kids, server, client_cpus)
    path = os.path.join(tempfile.mkdtemp(prefix="fanout-"), f"{kind}.pstats")
    try:
        load.warm()
        load.connect(n)
        time.sleep(1.0)
        bidder = load.bids(rate, seconds + 0.5)
        time.sleep(0.25)
        spy = shutil.which("py-spy") if args.profiler == "py-spy" else None
        if spy:
            path = path.replace(".pstats", ".folded")
            command = [spy, "record", "--pid", str(server.pid), "--duration", f"{seconds:.0f}"]
            command += ["--rate", "100", "--native", "--format", "raw", "--output", path]
            sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(0.5)  # attached
        else:
            server.child.call("profile_start")
        c0, s0 = server.cpu(), load.stats()
        if spy:
            _, err = sampler.communicate(timeout=seconds + 60)
            if sampler.returncode:
                raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
        else:
            time.sleep(seconds)
            server.child.call("profile_stop", path)
        c1, s1 = server.cpu(), load.stats()
        bidder.reply(seconds + 60)
        events = sum(b["events"] - a["events"] for a, b in zip(s0, s1, strict=True))
        _log(
            f"[profile {kind} x{n} at {rate:.0f} bids/s for {seconds:.0f} s] "
            f"{events} deliveries, server cpu {c1 - c0:.2f} s (with the profiler on): "
            f"{(c1 - c0) / max(1, events) * 1e6:.2f} us per delivery; stats in {path}"
        )
        if spy:
            _log(summarize_folded(path))
        else:
            out = io.StringIO()
            stats = pstats.Stats(path, stream=out)
            stats.sort_stats("tottime").print_stats(30)
            _log(out.getvalue())
    finally:
        load.close()


PROFILE_GROUPS = (
    ("garbage collector", ("gc_collect_main",)),
    ("getpid() in asyncio get_running_loop (fork check)", ("getpid",)),
    ("write() syscall: kernel TCP over loopback", ("write (libc", "writev (libc", "send (libc")),
    ("epoll / idle", ("epoll_wait",)),
    ("reading sockets, parsing client frames", ("read (libc", "recv (libc", "data_received")),
    (
        "bid: decode, engine, journal, ack",
        ("_Session.handle", "Runtime.submit", "_Session.receive"),
    ),
    ("hub on_durable: project, encode, push/write", ("Hubs.on_durable", "DirectHubs.on_durable")),
    ("per-connection writer task: Starlette/uvicorn/websockets send", ("Connection.writer",)),
    ("broadcast(): websockets frames + transport.write", ("broadcast (websockets",)),
)


def summarize_folded(path: str, top: int = 20) -> str:
    """py-spy's folded stacks: share of samples by group (first match, most specific
    first) and the top leaf frames."""
    groups: dict[str, int] = {}
    leaves: dict[str, int] = {}
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            n = int(count)
            total += n
            leaf = stack.rsplit(";", 1)[-1]
            leaves[leaf] = leaves.get(leaf, 0) + n
            name = "other: event loop, task steps, callbacks"
            for group, needles in PROFILE_GROUPS:
                if any(needle in stack for needle in needles):
                    name = group
                    break
            groups[name] = groups.get(name, 0) + n
    lines = [f"{total} samples (process running; idle excluded), by group:"]
    for name, n in sorted(groups.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {n / total:6.1%}  {name}")
    lines.append("self time by leaf frame:")
    for leaf, n in sorted(leaves.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {n / total:6.1%}  {leaf}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- report
def _ratio(value: float, base: float) -> str:
    if not base or math.isnan(value) or math.isnan(base):
        return "-"
    return f"{value / base:.2f}x"


def _fmt_rate(step: Step | None, saturated: bool) -> str:
    if step is None:
        return "-"
    prefix = "" if saturated else ">= "
    return f"{prefix}{step.delivered / 1e3:.1f}k"


def report(loads: dict[tuple[str, int], LoadResult], idles: dict[str, IdleResult]) -> str:
    kinds = [k for k in KINDS if any(k == kind for kind, _ in loads) or k in idles]
    names = {"bare": "bare websockets broadcast()"}
    header = ["figure", "watchers", *(names.get(k, k) for k in kinds), "target"]
    rows: list[list[str]] = []
    sizes = sorted({n for _, n in loads})

    def cell(value: str, kind: str, ratio: str) -> str:
        return value if kind == "bare" else f"{value} ({ratio})"

    for n in sizes:
        base = loads.get(("bare", n))
        if any(r.steps for (_, size), r in loads.items() if size == n):
            row = ["deliveries/s at saturation (events)", f"{n:,}"]
            for kind in kinds:
                r = loads.get((kind, n))
                best = r.best if r else None
                ratio = (
                    _ratio(best.delivered, base.best.delivered)
                    if best and base and base.best
                    else "-"
                )
                row.append(cell(_fmt_rate(best, bool(r and r.saturated)), kind, ratio))
            rows.append([*row, ">= 1.5x bare"])
            row = ["frames/s at that step", f"{n:,}"]
            for kind in kinds:
                r = loads.get((kind, n))
                best = r.best if r else None
                b = base.best if base else None
                ratio = _ratio(best.frames, b.frames) if best and b else "-"
                row.append(cell(f"{best.frames / 1e3:.1f}k" if best else "-", kind, ratio))
            rows.append([*row, ""])
            row = ["server CPU per delivery at that step (us)", f"{n:,}"]
            for kind in kinds:
                r = loads.get((kind, n))
                best = r.best if r else None
                b = base.best if base else None
                ratio = _ratio(best.us_per_delivery, b.us_per_delivery) if best and b else "-"
                row.append(cell(f"{best.us_per_delivery:.2f}" if best else "-", kind, ratio))
            rows.append([*row, ""])
        row = ["memory per idle connection (KiB)", f"{n:,}"]
        for kind in kinds:
            r = loads.get((kind, n))
            ratio = _ratio(r.kib_per_conn, base.kib_per_conn) if r and base else "-"
            row.append(cell(f"{r.kib_per_conn:.1f}" if r else "-", kind, ratio))
        rows.append([*row, "<= 16 KiB"])
        nominals = sorted({x for r in loads.values() if r.watchers == n for x in r.latency})
        for nominal in nominals:
            rate = nominal * 1000 / n if n > 1000 else nominal
            row = [f"bid -> last watcher p50 / p99 / max (ms) at {rate:g} bids/s", f"{n:,}"]
            for kind in kinds:
                r = loads.get((kind, n))
                s = r.latency.get(nominal) if r else None
                b = base.latency.get(nominal) if base else None
                if s is None:
                    row.append("-")
                    continue
                worst = max(s.latencies_ms, default=math.nan)
                value = f"{s.pct(50):.1f} / {s.pct(99):.1f} / {worst:.1f}"
                if s.incomplete:
                    value += f" ({s.incomplete} incomplete)"
                if not s.keeps_up:
                    value += " (overloaded)"
                row.append(cell(value, kind, _ratio(s.pct(99), b.pct(99)) if b else "-"))
            rows.append([*row, "p99 <= 20 ms (1,000)" if n == 1000 else ""])
    if idles:
        base_idle = idles.get("bare")
        row = ["idle connections held by one process", ""]
        for kind in kinds:
            r = idles.get(kind)
            if r is None:
                row.append("-")
                continue
            value = f"{r.held:,} of {r.attempted:,}"
            row.append(cell(value, kind, _ratio(r.held, base_idle.held) if base_idle else "-"))
        limit = next(iter(idles.values())).limit
        rows.append([*row, f">= 15,000 (open-file limit {limit:,})"])
        row = ["memory per idle connection at that count (KiB)", ""]
        for kind in kinds:
            r = idles.get(kind)
            if r is None:
                row.append("-")
                continue
            ratio = _ratio(r.kib_per_conn, base_idle.kib_per_conn) if base_idle else "-"
            row.append(cell(f"{r.kib_per_conn:.1f}", kind, ratio))
        rows.append([*row, "<= 16 KiB"])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def json_report(
    loads: dict[tuple[str, int], LoadResult], idles: dict[str, IdleResult]
) -> dict[str, Any]:
    """``--json``: the figures as rows (gateway beside bare) and every step's latencies
    (``curves``: the latency phases and the sweep, for benchmarks/plot.py)."""
    rows: list[dict[str, Any]] = []
    base_name = "bare websockets broadcast()"

    def row(name: str, value: float | None, unit: str, base: float | None, target: str) -> None:
        ok = value is not None and base and not math.isnan(value) and not math.isnan(base)
        rows.append(
            {
                "name": name,
                "value": value,
                "unit": unit,
                "baseline": base_name,
                "baseline_value": base,
                "ratio": value / base if ok else None,  # type: ignore[operator]
                "target": target,
            }
        )

    for kind in [k for k in KINDS if k != "bare"]:
        label = "" if kind == "gateway" else f" [{kind}]"
        for n in sorted({size for k, size in loads if k == kind}):
            r, b = loads[kind, n], loads.get(("bare", n))
            if r.best is not None:
                prefix = "" if r.saturated else "≥ "
                row(
                    f"deliveries/s at saturation, {n:,} watchers{label}",
                    r.best.delivered,
                    "/s",
                    b.best.delivered if b and b.best else None,
                    "≥ 1.5x bare",
                )
                rows[-1]["value_prefix"] = prefix
                row(
                    f"server CPU per delivery, {n:,} watchers{label}",
                    r.best.us_per_delivery,
                    "µs",
                    b.best.us_per_delivery if b and b.best else None,
                    "",
                )
            row(
                f"memory per idle connection, {n:,} watchers{label}",
                r.kib_per_conn,
                "KiB",
                b.kib_per_conn if b else None,
                "≤ 16 KiB",
            )
            for nominal, step in sorted(r.latency.items()):
                rate = nominal * 1000 / n if n > 1000 else nominal
                base_step = b.latency.get(nominal) if b else None
                for q, qname in ((50, "p50"), (99, "p99"), (99.9, "p99.9")):
                    row(
                        f"bid → last watcher {qname}, {n:,} watchers, {rate:g} bids/s{label}",
                        step.pct(q),
                        "ms",
                        base_step.pct(q) if base_step else None,
                        "≤ 20 ms" if q == 99 and n == 1000 else "",
                    )
        if kind in idles:
            r_idle, b_idle = idles[kind], idles.get("bare")
            row(
                f"idle connections held by one process{label}",
                r_idle.held,
                "connections",
                b_idle.held if b_idle else None,
                f"≥ 15,000 (open-file limit {r_idle.limit:,})",
            )
    curves = [
        {
            "server": kind,
            "watchers": n,
            "phase": phase,
            "rate": step.rate,
            "offered": step.offered,
            "delivered": step.delivered,
            "complete": step.complete,
            "incomplete": step.incomplete,
            "keeps_up": step.keeps_up,
            "p50": step.pct(50),
            "p99": step.pct(99),
            "p999": step.pct(99.9),
        }
        for (kind, n), r in loads.items()
        for phase, steps in (("latency", list(r.latency.values())), ("sweep", r.steps))
        for step in steps
    ]
    for curve in curves:  # JSON has no NaN
        for key in ("p50", "p99", "p999"):
            if math.isnan(curve[key]):
                curve[key] = None
    for item in rows:
        for key in ("value", "baseline_value", "ratio"):
            if isinstance(item[key], float) and math.isnan(item[key]):
                item[key] = None
    return {
        "benchmark": "fanout",
        "python": sys.version.split()[0],
        "sections": [{"title": "", "rows": rows}],
        "curves": curves,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--watchers", default="1000", help="comma-separated watcher counts")
    parser.add_argument(
        "--rate", default="20,50", help="bids/s of the latency phases (at 1,000 watchers)"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measurement")
    parser.add_argument("--bidders", type=int, default=1, help="bidder connections (1-50)")
    parser.add_argument("--servers", default="bare,gateway", help=f"some of {','.join(KINDS)}")
    parser.add_argument(
        "--max-idle", type=int, default=0, help="default: up to the open-file limit"
    )
    parser.add_argument("--no-idle", action="store_true", help="skip the idle-connection phase")
    parser.add_argument("--no-sweep", action="store_true", help="skip the saturation sweep")
    parser.add_argument(
        "--profile", type=float, default=0.0, metavar="SECONDS", help="cProfile the gateway"
    )
    parser.add_argument("--profile-rate", type=float, default=30.0, help="bids/s while profiling")
    parser.add_argument(
        "--profile-watchers", type=int, default=1000, help="watchers while profiling"
    )
    parser.add_argument(
        "--profiler",
        choices=("py-spy", "cprofile"),
        default="py-spy",
        help="py-spy (sampling, native frames; if installed) or cProfile in the server",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON rows")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.watchers.split(",") if x.strip()]
    args.rates = [float(x) for x in args.rate.split(",") if x.strip()]
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    if unknown := [k for k in kinds if k not in KINDS]:
        parser.error(f"unknown servers {unknown}; choose from {KINDS}")
    if not 1 <= args.bidders <= 50:
        parser.error("--bidders is 1-50")
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus = {cpus[0]}
    client_cpus = set(cpus[1:]) or {cpus[0]}
    os.sched_setaffinity(0, client_cpus)
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)
    _log(
        f"fan-out benchmark: python {sys.version.split()[0]}, {len(cpus)} CPUs (server on "
        f"{sorted(server_cpus)}, clients on {sorted(client_cpus)}), open files {limit}, "
        f"servers {kinds}, watchers {sizes}, {args.bidders} bidder connection(s)"
    )
    loads: dict[tuple[str, int], LoadResult] = {}
    idles: dict[str, IdleResult] = {}
    started = time.perf_counter()
    with Children() as kids:
        for n in sizes:
            for kind in kinds:
                loads[kind, n] = run_load(kids, kind, n, args, server_cpus, client_cpus)
        if not args.no_idle:
            for kind in kinds:
                idles[kind] = run_idle(kids, kind, args, server_cpus, client_cpus)
        if args.profile:
            for kind in kinds:
                run_profile(
                    kids,
                    kind,
                    args.profile_watchers,
                    args.profile_rate,
                    args.profile,
                    args,
                    server_cpus,
                    client_cpus,
                )
    _log(f"\nfinished in {time.perf_counter() - started:.0f} s\n")
    _log(report(loads, idles))
    for (kind, n), r in loads.items():
        if r.steps:
            _log(
                f"\n{kind} x{n:,} sweep: "
                + "; ".join(
                    f"{s.rate:g}/s -> {s.delivered / 1e3:.1f}k ev/s p99 {s.pct(99):.1f} ms"
                    for s in r.steps
                )
            )
    if args.json:  # machine-readable rows for benchmarks/suite.py
        import json

        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(json_report(loads, idles), fh, indent=2, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
