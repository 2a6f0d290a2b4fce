"""The gateway application: HTTP API, WebSocket endpoint, health and metrics.

``create_app(gateway)`` builds the Starlette app around a :class:`Gateway`
(settings, runtime, fan-out hubs, token secret, clock). The HTTP API:

=======  =====================================  =========  ==========================
method   path                                   token      what
=======  =====================================  =========  ==========================
GET      /healthz                               -          the process answers
GET      /readyz                                -          journal reachable, recovered
GET      /metrics                               -          Prometheus text
GET      /openapi.json                          -          this API, described
GET      /api/auctions                          -          auctions with their state
POST     /api/auctions                          operator   create from a spec (JSON)
GET      /api/auctions/{id}                     -/any      the role's view (public if none)
GET      /api/auctions/{id}/result              -          the result, once finished
GET      /api/auctions/{id}/record              official   the audit record (anyone who may
                                                           watch, once finished), signed
POST     /api/auctions/{id}/tokens              official   issue a bidder/observer token
POST     /api/auctions/{id}/controls/{action}   official   pause, resume, extend, cancel,
                                                           disqualify, surrogate_bid,
                                                           reschedule
=======  =====================================  =========  ==========================

The verifiable record's routes (keys, checkpoints, the log, proofs) are in
:mod:`gateway.transparency`.

Tokens go in ``Authorization: Bearer``. The operator token is an official
token for the auction ``*``; ``underbid serve`` prints one at start. Every
error is a JSON problem ``{"type", "title", "status", "code", "detail"}``
(with ``field`` when one field is to blame), never a stack trace. Bodies are
read with a size limit, as strict JSON, into closed typed structs
(:mod:`gateway.bodies`, :mod:`gateway.schemas`). An auction created with
``public = false`` is invisible without a token: absent from the list, its
view and result refused.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from auction.clock import Clock
from auction.core.commands import (
    CancelAuction,
    Disqualify,
    Extend,
    Pause,
    PlaceBid,
    Reschedule,
    Resume,
)
from auction.core.errors import SpecError
from auction.core.events import decode_event
from auction.core.record import audit_record, result
from auction.core.spec import AuctionSpec, parse_spec
from auction.runtime.cluster import ClusterRuntime
from auction.runtime.host import AuctionOver, NotHosted, Runtime, RuntimeError_, Unavailable
from auction.runtime.journal import AuctionExists, JournalUnavailable
from gateway.bodies import BodyError, decode_json, read_body, read_json, typed
from gateway.hub import Hubs
from gateway.integration import routes as integration_routes
from gateway.metrics import CONTENT_TYPE as METRICS_TYPE
from gateway.metrics import Metrics
from gateway.pages import page_routes
from gateway.schemas import (
    CONTROL_BODIES,
    ExtendBody,
    RescheduleBody,
    SurrogateBidBody,
    TokenRequest,
)
from gateway.settings import Settings
from gateway.tokens import Keyring, TokenClaims, TokenError
from gateway.transparency import Transparency
from gateway.transparency import routes as record_routes
from gateway.viewcache import ViewCache
from gateway.ws import Sockets
from gateway.zones import check_time_zone

log = logging.getLogger("underbid.gateway")

OPERATOR = "*"
"""The auction id of operator tokens (create auctions, any auction's controls)."""


@dataclass
class Gateway:
    settings: Settings
    runtime: Runtime
    secret: bytes
    clock: Clock
    hubs: Hubs = field(init=False)
    sockets: Sockets = field(init=False)
    views: ViewCache = field(default_factory=ViewCache)
    transparency: Transparency = field(init=False)
    metrics: Metrics = field(init=False)
    origins: frozenset[str] = field(init=False)
    """``security.allowed_origins``; the server's own origin is allowed besides."""
    public_base: str = ""
    """The URL clients use, once known (a server on port 0 learns its port late)."""
    keyring: Keyring = field(init=False)
    """Every key tokens may be signed with (gateway/tokens.py)."""
    services: list[Any] = field(default_factory=list)
    """Started with the app and stopped before the runtime (gateway/integration.py)."""

    def __post_init__(self) -> None:
        self.keyring = Keyring(self.secret, kid=self.settings.security.token_key_id)
        self.metrics = Metrics(self.runtime.node_id)
        self.hubs = Hubs(self.runtime, self.clock)
        self.sockets = Sockets(self)
        self.transparency = Transparency(self)  # the signed log (docs/record.md)
        self.origins = frozenset(
            o.lower().rstrip("/") for o in self.settings.security.allowed_origins
        )
        self.metrics.gauge(
            "ws_connections_open", lambda: self.hubs.count(), "open WebSocket connections"
        )
        self.metrics.gauge(
            "auctions_hosted", lambda: len(self.runtime.hosted()), "auctions this node owns"
        )
        self.metrics.gauge(
            "journal_batches", lambda: self.runtime.stats["batches"], "journal round trips"
        )
        if isinstance(self.runtime, ClusterRuntime):
            self._cluster_metrics(self.runtime)
        self.metrics.gauge(
            "journal_append_seconds_total",
            lambda: self.runtime.append_seconds,
            "time spent waiting on journal appends (divide by journal_batches for the mean)",
        )
        self.metrics.gauge(
            "fanout_slow_consumers",
            lambda: self.hubs.stats["slow_consumers"],
            "clients dropped for not reading",
        )

    def _cluster_metrics(self, node: ClusterRuntime) -> None:
        stats = node.cluster_stats
        gauge = self.metrics.gauge
        gauge("auctions_followed", lambda: len(node.followed()), "auctions this node follows")
        gauge("follower_lag_events", lambda: node.lag()[0], "events not folded yet, all replicas")
        gauge("follower_lag_ms", lambda: node.lag()[1], "age of the oldest event not folded yet")
        gauge("forwarded_commands", lambda: stats.forwarded, "commands sent to their owner")
        gauge("forward_timeouts", lambda: stats.forward_timeouts, "forwards never answered")
        gauge("forward_resends", lambda: stats.resent, "forwards sent again after a death")
        gauge("takeovers", lambda: stats.takeovers, "auctions this node began to own")
        gauge("steals", lambda: stats.steals, "of which taken from a dead node")
        gauge("handoffs", lambda: stats.handoffs, "auctions this node handed over")
        gauge("live_nodes", lambda: len(node.live), "nodes that may own auctions")
        gauge("clock_offset_ms", lambda: node.clock_offset_ms, "Redis's clock minus this node's")
        gauge("eligible", lambda: float(node.eligible), "1 when this node may own auctions")
        stats.on_forward_answered = lambda ms: self.metrics.observe(
            "forward_seconds", ms / 1000, "forwarded command: sent to answered"
        )

    def is_public(self, auction_id: str) -> bool:
        try:
            return self.runtime.auction(auction_id).spec.public
        except RuntimeError_:
            return False

    def token(
        self, auction: str, role: str, bidder: str | None = None, *, valid_from: int = 0
    ) -> str:
        """A token valid for ``security.token_ttl_s`` from now, or from ``valid_from``
        if that is later (a link handed out days before its auction starts)."""
        now = self.clock.now_ms()
        ttl = self.settings.security.token_ttl_s * 1000
        return self.keyring.issue(
            auction=auction,
            role=role,  # type: ignore[arg-type]
            bidder=bidder,
            expires_at=max(now, valid_from) + ttl,
            now=now,
        )

    def verify(self, token: str, auction_id: str) -> TokenClaims:
        """The claims of a token for ``auction_id``: one issued for it, or an
        operator's (an official of every auction). Raises :class:`TokenError`."""
        now = self.clock.now_ms()
        try:
            return self.keyring.verify(token, auction=auction_id, now=now)
        except TokenError as exc:
            if exc.code.value != "token_wrong_auction":
                raise
            operator = self.keyring.verify(token, auction=OPERATOR, now=now)
            if operator.role != "official":
                raise
            return operator

    def base_url(self) -> str:
        server = self.settings.server
        return self.public_base or server.public_url or f"http://{server.host}:{server.port}"

    def own_origins(self) -> frozenset[str]:
        """The server's own origin: that of ``server.public_url`` when set, else of
        the address it serves on (loopback under both of its names). Never taken
        from the request's ``Host`` header, which a DNS-rebinding page controls."""
        parts = urlsplit(self.base_url())
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        port = parts.port
        default = {"http": 80, "https": 443}.get(scheme)
        names = {host}
        if not self.settings.server.public_url and host in ("127.0.0.1", "localhost", "::1"):
            names = {"127.0.0.1", "localhost", "[::1]"}
        elif ":" in host:
            names = {f"[{host}]"}
        suffix = "" if port is None or port == default else f":{port}"
        return frozenset(f"{scheme}://{name}{suffix}" for name in names)

    def origin_allowed(self, origin: str) -> bool:
        """Whether a page from ``origin`` may open a WebSocket here."""
        origin = origin.lower().rstrip("/")
        return origin in self.origins or origin in self.own_origins()

    def can_see(self, auction: Any, claims: TokenClaims | None) -> bool:
        """Whether a caller may know the auction exists: public, or a token for it."""
        return bool(auction.spec.public) or claims is not None


# ------------------------------------------------------------------ errors
class Problem(Exception):
    def __init__(self, status: int, code: str, detail: str, field: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        """The dotted path of the field to blame (``lots[0].bidders[1].amount``), if one."""


def _problem(
    status: int,
    code: str,
    detail: str,
    field: str = "",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://underbid.dev/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if field:
        body["field"] = field
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return _problem(exc.status, exc.code, exc.detail, exc.field)


async def _on_body(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyError)
    return _problem(exc.status, exc.code, exc.detail, exc.field)


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    # A 405 names the methods the resource has (RFC 9110 15.5.6: Allow).
    return _problem(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))


async def _on_crash(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s", request.url.path)
    return _problem(500, "internal_error", "an internal error; it was logged")


# ------------------------------------------------------------------ helpers
def _gw(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _claims(request: Request, auction: str, *, required: bool = True) -> TokenClaims | None:
    gateway = _gw(request)
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        if required:
            raise Problem(401, "token_missing", "send Authorization: Bearer <token>")
        return None
    try:
        return gateway.verify(header[7:].strip(), auction)
    except TokenError as exc:
        raise Problem(401, exc.code.value, exc.message) from None


def require_official(request: Request, auction: str) -> TokenClaims:
    """The claims of the request's official token for ``auction`` (else a 401/403 problem)."""
    claims = _claims(request, auction)
    assert claims is not None
    if claims.role != "official":
        raise Problem(403, "forbidden", "an official's token is required")
    return claims


async def _json(request: Request) -> dict[str, Any]:
    limits = _gw(request).settings.limits
    return await read_json(
        request, max_bytes=limits.max_body_bytes, max_depth=limits.max_json_depth
    )


async def _auction(request: Request) -> Any:
    """The auction of the path: hosted or followed here, read from the journal
    now if this node has not met it yet (created through another node a moment
    ago), or finished and read back from the journal."""
    gateway = _gw(request)
    auction_id = request.path_params["auction_id"]
    try:
        return await gateway.runtime.find(auction_id)
    except NotHosted:
        raise Problem(404, "unknown_auction", f"no auction {_quoted(auction_id)} here") from None
    except Unavailable as exc:
        raise Problem(503, "unavailable", str(exc)) from None


async def _visible_auction(request: Request) -> tuple[Any, TokenClaims | None]:
    """The auction and the caller's claims; a private auction without a token
    answers exactly like an unknown one (its existence is not revealed)."""
    auction = await _auction(request)
    claims = _claims(request, auction.spec.id, required=False)
    if not _gw(request).can_see(auction, claims):
        raise Problem(404, "unknown_auction", f"no auction {_quoted(auction.spec.id)} here")
    return auction, claims


def _quoted(text: str) -> str:
    return repr(text if len(text) <= 128 else text[:128] + "...")


# ---------------------------------------------------------------- endpoints
async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    gateway = _gw(request)
    try:
        await gateway.runtime.journal.durability()
    except JournalUnavailable as exc:
        return _problem(503, "journal_unavailable", str(exc))
    if not gateway.runtime.ready:
        return _problem(
            503, "recovering", "not every auction is owned or followed and caught up yet"
        )
    return JSONResponse(
        {
            "status": "ready",
            "journal": gateway.runtime.journal.name,
            "node": gateway.runtime.node_id,
        }
    )


async def metrics(request: Request) -> Response:
    return Response(_gw(request).metrics.render(), media_type=METRICS_TYPE)


async def auctions(request: Request) -> Response:
    """``/api/auctions``: GET lists, POST creates (one resource, so a 405 names both)."""
    if request.method == "POST":
        return await create_auction(request)
    return await list_auctions(request)


def _operator(request: Request) -> bool:
    """Whether the request carries a valid operator token (sees private auctions)."""
    try:
        claims = _claims(request, OPERATOR, required=False)
    except Problem:
        return False
    return claims is not None and claims.role == "official"


async def list_auctions(request: Request) -> Response:
    gateway = _gw(request)
    operator = _operator(request)
    items: list[dict[str, Any]] = []
    for auction_id in gateway.runtime.known():
        try:
            auction = gateway.runtime.auction(auction_id)
        except RuntimeError_:
            if operator:
                items.append({"id": auction_id, "state": "unavailable"})
            continue
        if not auction.spec.public and not operator:
            continue  # a private auction is invisible without a token
        state = (
            "halted"
            if auction_id in gateway.runtime.halted
            else "finished"
            if auction.finished
            else "paused"
            if auction.paused
            else "running"
        )
        items.append(
            {
                "id": auction_id,
                "title": auction.spec.title,
                "state": state,
                "formats": sorted({lot.format for lot in auction.spec.lots}),
                "start_at": auction.spec.start_at,
                "next_deadline": auction.next_deadline(),
                "public": auction.spec.public,
                "time_zone": auction.spec.time_zone,
            }
        )
        if operator:  # which node writes it (officials running a cluster ask that)
            items[-1]["owner"] = gateway.runtime.owner_of(auction_id)
    known = set(gateway.runtime.known())
    archive = gateway.runtime.archive  # finished before this process started
    for auction_id in archive.ids():
        summary = archive.summary(auction_id)
        if auction_id not in known and (summary["public"] or operator):
            items.append(summary)
    items.sort(key=lambda item: str(item["id"]))
    return JSONResponse({"server_time": gateway.clock.now_ms(), "auctions": items})


def _decode_spec(body: bytes, max_depth: int) -> AuctionSpec:
    if not body.strip():
        raise BodyError(400, "malformed_json", "send the auction spec as a JSON object")
    data = decode_json(body, max_depth)
    if not isinstance(data, dict):
        raise BodyError(400, "malformed_json", "the body must be a JSON object")
    return parse_spec(data)


async def create_auction(request: Request) -> Response:
    gateway = _gw(request)
    require_official(request, OPERATOR)
    limits = gateway.settings.limits
    body = await read_body(request, limits.max_body_bytes)
    try:
        # Decoding and validating the largest allowed spec takes ~100 ms of
        # Python: in a thread, the event loop keeps serving everyone else.
        spec = await asyncio.to_thread(_decode_spec, body, limits.max_json_depth)
        check_time_zone(spec.time_zone)
        await gateway.runtime.create(spec)
    except SpecError as exc:
        raise Problem(422, "invalid_spec", str(exc), exc.field) from None
    except AuctionExists as exc:
        raise Problem(409, "auction_exists", str(exc)) from None
    except JournalUnavailable as exc:
        raise Problem(503, "unavailable", str(exc)) from None
    return JSONResponse(
        {"id": spec.id, "url": f"{gateway.base_url()}/api/auctions/{spec.id}"}, status_code=201
    )


async def read_auction(request: Request) -> Response:
    auction, claims = await _visible_auction(request)
    gateway = _gw(request)
    if claims is None:
        role, bidder = "public", None
    else:
        role = {"observer": "public"}.get(claims.role, claims.role)
        bidder = claims.bidder
    cached = gateway.views.get(auction, role, bidder)
    body = cached.json_with(server_time=gateway.clock.now_ms())
    return Response(body, media_type="application/json")


async def read_result(request: Request) -> Response:
    auction, _ = await _visible_auction(request)
    if not auction.finished:
        raise Problem(409, "not_finished", "the result is published after the announcement")
    return JSONResponse(result(auction))


async def read_record(request: Request) -> Response:
    auction, claims = await _visible_auction(request)
    if not auction.finished:  # after the announcement the record, names included, is public
        claims = require_official(request, auction.spec.id)
    official = claims is not None and claims.role == "official"
    gateway = _gw(request)
    try:
        stored = await gateway.runtime.journal.read(auction.spec.id)
        events = [decode_event(data) for _, data in stored]
        record = audit_record(auction, events)
        await gateway.transparency.attach(record, auction, official=official)
    except JournalUnavailable as exc:
        raise Problem(503, "unavailable", str(exc)) from None
    return JSONResponse(record)


async def read_people(request: Request) -> Response:
    """The admitted bidders and who is connected now (officials)."""
    auction = await _auction(request)
    require_official(request, auction.spec.id)
    gateway = _gw(request)
    sockets: dict[str, int] = {}
    watchers = {"official": 0, "public": 0}
    for role, bidder in gateway.hubs.present(auction.spec.id):
        if bidder is not None:
            sockets[bidder] = sockets.get(bidder, 0) + 1
        elif role in watchers:
            watchers[role] += 1
    bidders = [
        {"lot": lot.id, "id": b.id, "name": b.name, "connections": sockets.get(b.id, 0)}
        for lot in auction.spec.lots
        for b in lot.bidders
    ]
    return JSONResponse(
        {
            "server_time": gateway.clock.now_ms(),
            "bidders": bidders,
            "officials": watchers["official"],
            "public": watchers["public"],
        }
    )


async def issue_tokens(request: Request) -> Response:
    auction = await _auction(request)
    require_official(request, auction.spec.id)
    gateway = _gw(request)
    try:
        asked = typed(await _json(request), TokenRequest)
    except BodyError as exc:
        raise Problem(
            422, "invalid_role" if exc.field == "role" else exc.code, exc.detail, exc.field
        ) from None
    asked.check_text()
    role, bidder = asked.role, asked.bidder
    if role == "bidder":
        if bidder is None or not any(lot.bidder(bidder) for lot in auction.spec.lots):
            raise Problem(422, "unknown_bidder", "bidder must name an admitted bidder", "bidder")
    elif bidder is not None:
        raise Problem(422, "invalid_role", "only bidder tokens name a bidder", "bidder")
    # A link handed out before the auction starts lasts until token_ttl_s after the start.
    token = gateway.token(auction.spec.id, role, bidder, valid_from=auction.latest_start() or 0)
    ws = gateway.base_url().replace("http", "ws", 1) + f"/ws/auctions/{auction.spec.id}"
    return JSONResponse(
        {"token": token, "role": role, "bidder": bidder, "websocket": ws}, status_code=201
    )


async def control(request: Request) -> Response:
    auction = await _auction(request)
    claims = require_official(request, auction.spec.id)
    gateway = _gw(request)
    action = request.path_params["action"]
    kind = CONTROL_BODIES.get(action)
    if kind is None:
        raise Problem(404, "unknown_action", f"no control {_quoted(action)}")
    body = typed(await _json(request), kind, kind.code)
    body.check_text()
    official = body.official or "official"
    lot = body.lot
    command: Any
    if isinstance(body, ExtendBody):
        command = Extend(lot=lot, official=official, ms=body.ms())
    elif isinstance(body, RescheduleBody):
        command = Reschedule(lot=lot, official=official, start_at=body.start_ms())
    elif isinstance(body, SurrogateBidBody):
        command = PlaceBid(
            lot=lot,
            bidder=body.bidder,
            amount=body.amount,
            bid_id=body.bid_id,
            surrogate_by=official,
        )
    elif action == "pause":
        command = Pause(lot=lot, official=official, reason=getattr(body, "reason", ""))
    elif action == "resume":
        command = Resume(lot=lot, official=official)
    elif action == "cancel":
        command = CancelAuction(lot=lot, official=official, reason=getattr(body, "reason", ""))
    else:
        command = Disqualify(
            lot=lot,
            official=official,
            bidder=getattr(body, "bidder", ""),
            reason=getattr(body, "reason", ""),
        )
    del claims
    try:
        outcome = await gateway.runtime.submit(auction.spec.id, command)
    except AuctionOver as exc:
        raise Problem(409, exc.code, str(exc)) from None
    except RuntimeError_ as exc:  # unavailable, not hosted, halted: typed
        raise Problem(503, exc.code, str(exc)) from None
    if outcome.rejection is not None:
        raise Problem(409, outcome.rejection.code.value, outcome.rejection.message)
    return JSONResponse(
        {
            "ok": True,
            "seq": outcome.seq,
            "duplicate": outcome.duplicate,
        }
    )


async def openapi(request: Request) -> Response:
    from gateway.openapi import OPENAPI

    return JSONResponse(OPENAPI)


def create_app(gateway: Gateway) -> Starlette:
    """The Starlette application serving ``gateway``."""
    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/openapi.json", openapi),
        Route("/api/auctions", auctions, methods=["GET", "POST"]),
        Route("/api/auctions/{auction_id}", read_auction),
        Route("/api/auctions/{auction_id}/result", read_result),
        Route("/api/auctions/{auction_id}/record", read_record),
        Route("/api/auctions/{auction_id}/people", read_people),
        Route("/api/auctions/{auction_id}/tokens", issue_tokens, methods=["POST"]),
        Route("/api/auctions/{auction_id}/controls/{action}", control, methods=["POST"]),
        *record_routes(),  # keys, checkpoints, the log and its proofs (docs/record.md)
        *page_routes(),  # the dashboard, the bidder's page, the public view (docs/pages.md)
        *integration_routes(),  # OCDS export, webhooks (docs/integration.md)
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            Problem: _on_problem,
            BodyError: _on_body,
            HTTPException: _on_http,
            Exception: _on_crash,
        },
    )
    app.state.gateway = gateway
    return app
