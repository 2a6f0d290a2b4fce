"""A real gateway for end-to-end tests: uvicorn on 127.0.0.1, in this process.

:func:`live_server` builds the gateway exactly as ``underbid serve`` does
(:func:`gateway.server.build`, :func:`gateway.server.uvicorn_config`), on a
socket bound to a free port of 127.0.0.1 before the server starts (so there is
no race for the port), with a fixed token secret and an extra allowed origin.
Being in-process, a test can look inside (``server.gateway``: the runtime, the
hubs, the metrics) while clients talk to it over real sockets.

Waiting is always on a condition with a bound (:func:`eventually`), never a
fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from auction.clock import Clock
from auction.runtime.journal import JournalUnavailable
from client import AuctionClient
from gateway.app import OPERATOR, Gateway
from gateway.server import build, uvicorn_config
from gateway.settings import Settings, load_settings

SECRET = "e2e-test-secret-0123456789abcdef-0123456789"
"""The token secret of every test server (tests sign their own bad tokens with it)."""
TEST_ORIGIN = "https://bids.example"
"""An origin every test server allows (besides the server's own)."""
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


async def eventually(
    predicate: Callable[[], bool], *, timeout: float = 5.0, what: str = "the condition"
) -> None:
    """Poll ``predicate`` (every few ms) until true; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class LiveServer:
    """A running gateway and helpers to talk to it."""

    gateway: Gateway
    settings: Settings
    server: uvicorn.Server
    port: int
    http: httpx.AsyncClient
    clients: list[AuctionClient] = field(default_factory=list)
    owner: LiveServer | None = None
    """In a cluster test, the node that owns the auctions (None: this one)."""

    @property
    def writer(self) -> LiveServer:
        """The node whose runtime writes the journal (this one, or its owner)."""
        return self.owner or self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, auction_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/auctions/{auction_id}"

    @property
    def operator_token(self) -> str:
        return self.gateway.token(OPERATOR, "official")

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {token or self.operator_token}"}

    async def create(self, spec: Mapping[str, Any]) -> str:
        """Create an auction over HTTP with the operator token; returns its id."""
        response = await self.http.post("/api/auctions", json=dict(spec), headers=self.auth())
        assert response.status_code == 201, response.text
        auction_id: str = response.json()["id"]
        return auction_id

    async def issue(self, auction_id: str, role: str = "bidder", bidder: str | None = None) -> str:
        """A token from the HTTP tokens endpoint (operator-authorised)."""
        body: dict[str, Any] = {"role": role}
        if bidder is not None:
            body["bidder"] = bidder
        response = await self.http.post(
            f"/api/auctions/{auction_id}/tokens", json=body, headers=self.auth()
        )
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token

    def client(self, auction_id: str, token: str | None = None, **kw: Any) -> AuctionClient:
        """An :class:`AuctionClient` closed when the server stops (not yet connected)."""
        client = AuctionClient(self.base_url, auction_id, token=token, **kw)
        self.clients.append(client)
        return client

    async def connect(self, auction_id: str, token: str | None = None, **kw: Any) -> AuctionClient:
        client = self.client(auction_id, token, **kw)
        await client.connect()
        return client

    async def journal_events(self, auction_id: str) -> list[tuple[int, bytes]]:
        """The journal's events, read as the runtime reads them: a read that finds
        a connection the store closed (a Redis restarted by the test) is retried."""
        for _ in range(4):
            try:
                return await self.gateway.runtime.journal.read(auction_id)
            except JournalUnavailable:
                await asyncio.sleep(0.1)
        return await self.gateway.runtime.journal.read(auction_id)


def _listening_socket(sndbuf: int | None) -> socket.socket:
    # proto=IPPROTO_TCP, or asyncio does not set TCP_NODELAY on the accepted
    # sockets, and Nagle's algorithm holds an ack behind its event for ~40 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if sndbuf is not None:  # accepted sockets inherit it (Linux)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def live_server(
    env: Mapping[str, str] | None = None,
    *,
    redis_url: str | None = None,
    history: int | None = None,
    sndbuf: int | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[LiveServer]:
    """Start a gateway on a free 127.0.0.1 port; stop it (and its clients) after.

    ``env`` adds ``UNDERBID_*`` overrides (e.g. ``UNDERBID_LIMITS_BURST``);
    ``redis_url`` selects the Redis journal; ``history`` sets how many events
    the hubs keep for resuming clients; ``sndbuf`` shrinks the kernel send
    buffer of the server's sockets (to make a non-reading client back up fast);
    ``clock`` replaces the wall clock (a test that jumps to the next deadline).
    """
    sock = _listening_socket(sndbuf)
    port = sock.getsockname()[1]
    overrides = {
        "UNDERBID_SERVER_HOST": "127.0.0.1",
        "UNDERBID_SERVER_PORT": str(port),
        "UNDERBID_SECURITY_TOKEN_SECRET": SECRET,
        "UNDERBID_SECURITY_ALLOWED_ORIGINS": f"{TEST_ORIGIN},http://127.0.0.1:{port}",
    }
    if redis_url is not None:
        overrides["UNDERBID_JOURNAL_REDIS_URL"] = redis_url
    overrides.update(env or {})
    settings = load_settings(None, overrides)
    gateway, app = build(settings, clock)
    if history is not None:
        gateway.hubs.history = history
    server = uvicorn.Server(uvicorn_config(app, settings))
    task = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    try:
        await eventually(
            lambda: server.started or task.done(),
            timeout=START_TIMEOUT_S,
            what="uvicorn to start",
        )
        if task.done():
            await task
            raise AssertionError("uvicorn stopped during start-up")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as http:
            live = LiveServer(gateway, settings, server, port, http)
            try:
                yield live
            finally:
                for client in live.clients:
                    await client.close()
    finally:
        server.should_exit = True
        try:
            await _stopped(task)
        finally:
            sock.close()


async def _stopped(task: asyncio.Task[None]) -> None:
    """Wait for the server's task to end; past the timeout, fail naming every task
    still pending and where it waits (a stop that hangs is a bug to find)."""
    done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
    if done:
        await task
        return
    stuck = []
    for pending in asyncio.all_tasks():
        if pending is asyncio.current_task():
            continue
        where = io.StringIO()
        pending.print_stack(file=where)
        stuck.append(where.getvalue())
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise AssertionError(f"the server did not stop in {STOP_TIMEOUT_S} s:\n" + "\n".join(stuck))


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a ``/metrics`` text (the ``node`` label and any
    label not given are ignored; several matching samples are summed)."""
    from prometheus_client.parser import text_string_to_metric_families

    total: float | None = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name != name:
                continue
            if all(sample.labels.get(k) == v for k, v in labels.items()):
                total = (total or 0.0) + sample.value
    return total
