"""Running the gateway: the runtime, the app and uvicorn in one process.

``underbid serve`` calls :func:`serve`. The journal is Redis when
``journal.redis_url`` (``--redis``) names one, else SQLite in
``journal.data_dir`` (``--data``), else (tests, the demo) the in-memory one;
the server says which at start, with the durability settings the runtime logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import uvicorn
from starlette.applications import Starlette

from auction.clock import Clock, SystemClock
from auction.runtime.bus import RedisBus
from auction.runtime.cluster import ClusterRuntime
from auction.runtime.host import Runtime
from auction.runtime.journal import Journal, open_journal
from auction.runtime.redis import RedisJournal
from auction.runtime.sqlite import FILE_NAME
from gateway.app import OPERATOR, Gateway, create_app
from gateway.httpconn import http_protocol
from gateway.integration import start_services, stop_services
from gateway.settings import JournalSettings, Settings, token_secret
from gateway.workers import WORKER_ENV, listening_socket
from gateway.ws import socket_protocol

log = logging.getLogger("underbid.gateway")


def build(
    settings: Settings, clock: Clock | None = None, *, node_id: str | None = None
) -> tuple[Gateway, Starlette]:
    """A gateway and its app; the runtime starts with the app's lifespan."""
    clock = clock or SystemClock()
    journal = open_journal(
        journal_url(settings.journal),
        min_replicas=settings.journal.min_replicas,
        replica_timeout_ms=settings.journal.replica_timeout_ms,
    )
    runtime = _runtime(settings, journal, clock, node_id)
    gateway = Gateway(settings, runtime, token_secret(settings.security), clock)
    app = create_app(gateway)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        await start_services(gateway)  # JWKS, webhooks (docs/integration.md)
        try:
            yield
        finally:
            await stop_services(gateway)
            gateway.sockets.stop()
            await runtime.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(journal.close(), 2.0)

    app.router.lifespan_context = lifespan
    return gateway, app


def journal_url(journal: JournalSettings) -> str | None:
    """The journal the settings name: Redis, else SQLite in ``data_dir``, else memory."""
    if journal.redis_url:
        return journal.redis_url
    if journal.data_dir:
        return f"sqlite:{os.path.abspath(os.path.join(journal.data_dir, FILE_NAME))}"
    return None


def _worker_node_id(worker: str | None) -> str | None:
    """A worker's node id names its machine and number (the others' are random)."""
    if not worker:
        return None
    return f"{socket.gethostname()}-w{worker}-{uuid.uuid4().hex[:8]}"


def _runtime(settings: Settings, journal: Journal, clock: Clock, node_id: str | None) -> Runtime:
    """One node of a cluster on Redis (any node serves any auction), else a
    process of its own (the embedded journal is one process's)."""
    options: dict[str, Any] = {
        "node_id": node_id,
        "lease_ms": settings.journal.lease_ms,
        "snapshot_every": settings.journal.snapshot_every,
    }
    if isinstance(journal, RedisJournal):
        cluster = settings.cluster
        bus = RedisBus(journal.client, prefix=journal.prefix, node_ttl_ms=cluster.node_ttl_ms)
        return ClusterRuntime(
            journal,
            bus,
            clock,
            heartbeat_ms=cluster.heartbeat_ms,
            max_clock_offset_ms=cluster.max_clock_offset_ms,
            may_own=cluster.may_own,
            **options,
        )
    return Runtime(journal, clock, **options)


def uvicorn_config(app: Starlette, settings: Settings, **extra: Any) -> uvicorn.Config:
    """uvicorn's settings from ours; ``extra`` overrides any of them (``port=0``...)."""
    limits = settings.limits
    options: dict[str, Any] = {
        "host": settings.server.host,
        "port": settings.server.port,
        "loop": "uvloop",
        # HTTP connections must deliver each request in time (gateway/httpconn.py).
        "http": http_protocol(limits.http_request_timeout_s),
        # WebSocket upgrades go to the gateway's own protocol (gateway/ws.py),
        # not through ASGI; it applies the limits (frame size, keepalive...).
        "ws": socket_protocol(app.state.gateway),
        "log_level": "warning",
        "lifespan": "on",
        # A stop never waits for ever on a request in flight.
        "timeout_graceful_shutdown": limits.shutdown_timeout_s,
        "h11_max_incomplete_event_size": 16 * 1024,  # request line and headers
    }
    options.update(extra)
    return uvicorn.Config(app, **options)


def bound_port(server: uvicorn.Server) -> int | None:
    """The port uvicorn listens on (``port = 0`` asks the kernel for a free one)."""
    for srv in getattr(server, "servers", []):
        for sock in srv.sockets:
            port: int = sock.getsockname()[1]
            return port
    return None


def learn_address(gateway: Gateway, server: uvicorn.Server) -> str:
    """Once uvicorn has bound: the URL clients use (``server.public_url``, else the
    address actually bound), kept as the gateway's base URL for links, tokens'
    WebSocket URLs, its own origin and the pages' Content-Security-Policy."""
    settings = gateway.settings.server
    port = bound_port(server) or settings.port
    gateway.public_base = settings.public_url or f"http://{settings.host}:{port}"
    return gateway.public_base


def banner(gateway: Gateway) -> list[str]:
    base = gateway.base_url()
    journal = gateway.runtime.journal
    notes = {
        "memory": " (in memory: a restart loses every auction; without --memory they are kept)",
        "sqlite": f" ({getattr(journal, 'path', '')}: auctions survive restarts and crashes)",
    }
    min_replicas = gateway.settings.journal.min_replicas
    lines = [
        f"Underbid serving on {base}",
        f"  journal: {journal.name}"
        + notes.get(
            journal.name,
            f" (acknowledged once {min_replicas} replica(s) confirm)"
            if min_replicas
            else " (acknowledged on the primary's reply: min_replicas 0)",
        ),
        f"  API: {base}/api/auctions   OpenAPI: {base}/openapi.json   health: {base}/readyz",
        f"  WebSocket: {base.replace('http', 'ws', 1)}/ws/auctions/<auction-id>",
        f"  pages: {base}/dashboard (officials)   {base}/watch/<auction-id> (public)",
        gateway.transparency.banner(),
        f"  operator token: {gateway.token(OPERATOR, 'official')}",
    ]
    return lines


async def serve(
    settings: Settings,
    *,
    on_ready: Callable[[Gateway], Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Serve until interrupted. ``on_ready`` runs once the runtime has started."""
    worker = os.environ.get(WORKER_ENV)
    gateway, app = build(settings, node_id=_worker_node_id(worker))
    server = uvicorn.Server(uvicorn_config(app, settings))
    sockets = None
    if worker:  # one of --workers: its own socket on the shared port (SO_REUSEPORT)
        sockets = [listening_socket(settings.server.host, settings.server.port)]
    task = asyncio.create_task(server.serve(sockets=sockets))
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    if task.done():
        await task
        return
    learn_address(gateway, server)
    lines = banner(gateway)
    if worker and worker != "1":  # the first worker says it all; the others who they are
        lines = [f"worker {worker}: node {gateway.runtime.node_id} serving on {gateway.base_url()}"]
    for line in lines:
        print(line, flush=True)
    if on_ready is not None:
        result = on_ready(gateway)
        if asyncio.iscoroutine(result):
            await result
    await task
