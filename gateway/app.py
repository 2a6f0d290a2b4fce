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
GET      /api/auctions/{id}/record              official   the audit record
POST     /api/auctions/{id}/tokens              official   issue a bidder/observer token
POST     /api/auctions/{id}/controls/{action}   official   pause, resume, extend, cancel,
                                                           disqualify, surrogate_bid
=======  =====================================  =========  ==========================

Tokens go in ``Authorization: Bearer``. The operator token is an official
token for the auction ``*``; ``underbid serve`` prints one at start. Every
error is a JSON problem ``{"type", "title", "status", "code", "detail"}``,
never a stack trace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from auction.clock import Clock
from auction.core.commands import (
    CancelAuction,
    Disqualify,
    Extend,
    Pause,
    PlaceBid,
    Resume,
)
from auction.core.errors import SpecError
from auction.core.events import decode_event
from auction.core.record import audit_record, result
from auction.core.views import auction_view
from auction.runtime.host import NotHosted, Runtime, RuntimeError_, Unavailable
from auction.runtime.journal import AuctionExists, JournalUnavailable
from gateway.hub import Hubs
from gateway.metrics import Metrics
from gateway.pages import page_routes
from gateway.settings import Settings
from gateway.tokens import TokenClaims, TokenError, issue_token, verify_token
from gateway.ws import Sockets

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
    metrics: Metrics = field(default_factory=Metrics)
    origins: frozenset[str] = field(init=False)
    public_base: str = ""
    """The URL clients use, once known (a server on port 0 learns its port late)."""

    def __post_init__(self) -> None:
        self.hubs = Hubs(self.runtime, self.clock)
        self.sockets = Sockets(self)
        self.origins = frozenset(
            o.lower().rstrip("/") for o in self.settings.security.allowed_origins
        )
        self.metrics.gauge(
            "ws_connections", lambda: self.hubs.count(), "open WebSocket connections"
        )
        self.metrics.gauge("auctions_hosted", lambda: len(self.runtime.hosted()), "auctions hosted")
        self.metrics.gauge(
            "journal_batches", lambda: self.runtime.stats["batches"], "journal round trips"
        )
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

    def is_public(self, auction_id: str) -> bool:
        try:
            return self.runtime.auction(auction_id).spec.public
        except RuntimeError_:
            return False

    def token(self, auction: str, role: str, bidder: str | None = None) -> str:
        now = self.clock.now_ms()
        ttl = self.settings.security.token_ttl_s * 1000
        return issue_token(
            self.secret,
            auction=auction,
            role=role,  # type: ignore[arg-type]
            bidder=bidder,
            expires_at=now + ttl,
            now=now,
        )

    def verify(self, token: str, auction_id: str) -> TokenClaims:
        """The claims of a token for ``auction_id``: one issued for it, or an
        operator's (an official of every auction). Raises :class:`TokenError`."""
        now = self.clock.now_ms()
        try:
            return verify_token(self.secret, token, auction=auction_id, now=now)
        except TokenError as exc:
            if exc.code.value != "token_wrong_auction":
                raise
            operator = verify_token(self.secret, token, auction=OPERATOR, now=now)
            if operator.role != "official":
                raise
            return operator

    def base_url(self) -> str:
        server = self.settings.server
        return self.public_base or server.public_url or f"http://{server.host}:{server.port}"


# ------------------------------------------------------------------ errors
class Problem(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def _problem(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {
            "type": f"https://underbid.dev/problems/{code}",
            "title": code.replace("_", " "),
            "status": status,
            "code": code,
            "detail": detail,
        },
        status_code=status,
        media_type="application/problem+json",
    )


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return _problem(exc.status, exc.code, exc.detail)


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return _problem(exc.status_code, code, str(exc.detail))


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
    body = await request.body()
    if len(body) > 1_000_000:
        raise Problem(413, "too_large", "the body is larger than 1 MB")
    try:
        data = msgspec.json.decode(body) if body else {}
    except msgspec.DecodeError as exc:
        raise Problem(400, "malformed_json", str(exc)) from None
    if not isinstance(data, dict):
        raise Problem(400, "malformed_json", "the body must be a JSON object")
    return data


def _auction(request: Request) -> Any:
    gateway = _gw(request)
    auction_id = request.path_params["auction_id"]
    try:
        return gateway.runtime.auction(auction_id)
    except NotHosted:
        raise Problem(404, "unknown_auction", f"no auction {auction_id!r} here") from None
    except Unavailable as exc:
        raise Problem(503, "unavailable", str(exc)) from None


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
        return _problem(503, "recovering", "auctions are still being recovered")
    return JSONResponse({"status": "ready", "journal": gateway.runtime.journal.name})


async def metrics(request: Request) -> Response:
    return PlainTextResponse(_gw(request).metrics.render(), media_type="text/plain; version=0.0.4")


async def list_auctions(request: Request) -> Response:
    gateway = _gw(request)
    items: list[dict[str, Any]] = []
    for auction_id in gateway.runtime.hosted():
        try:
            auction = gateway.runtime.auction(auction_id)
        except RuntimeError_:
            items.append({"id": auction_id, "state": "unavailable"})
            continue
        state = "finished" if auction.finished else "paused" if auction.paused else "running"
        items.append(
            {
                "id": auction_id,
                "title": auction.spec.title,
                "state": state,
                "formats": sorted({lot.format for lot in auction.spec.lots}),
                "start_at": auction.spec.start_at,
                "next_deadline": auction.next_deadline(),
                "public": auction.spec.public,
            }
        )
    return JSONResponse({"server_time": gateway.clock.now_ms(), "auctions": items})


async def create_auction(request: Request) -> Response:
    gateway = _gw(request)
    require_official(request, OPERATOR)
    data = await _json(request)
    try:
        spec = await gateway.runtime.create(data)
    except SpecError as exc:
        raise Problem(422, "invalid_spec", str(exc)) from None
    except AuctionExists as exc:
        raise Problem(409, "auction_exists", str(exc)) from None
    except JournalUnavailable as exc:
        raise Problem(503, "unavailable", str(exc)) from None
    return JSONResponse(
        {"id": spec.id, "url": f"{gateway.base_url()}/api/auctions/{spec.id}"}, status_code=201
    )


async def read_auction(request: Request) -> Response:
    auction = _auction(request)
    claims = _claims(request, auction.spec.id, required=False)
    gateway = _gw(request)
    if claims is None:
        if not auction.spec.public:
            raise Problem(401, "token_missing", "this auction is not public")
        role, bidder = "public", None
    else:
        role = {"observer": "public"}.get(claims.role, claims.role)
        bidder = claims.bidder
    view = auction_view(auction, role, bidder)
    view["server_time"] = gateway.clock.now_ms()
    return JSONResponse(view)


async def read_result(request: Request) -> Response:
    auction = _auction(request)
    if not auction.finished:
        raise Problem(409, "not_finished", "the result is published after the announcement")
    return JSONResponse(result(auction))


async def read_record(request: Request) -> Response:
    auction = _auction(request)
    require_official(request, auction.spec.id)
    gateway = _gw(request)
    try:
        stored = await gateway.runtime.journal.read(auction.spec.id)
    except JournalUnavailable as exc:
        raise Problem(503, "unavailable", str(exc)) from None
    events = [decode_event(data) for _, data in stored]
    return JSONResponse(audit_record(auction, events))


async def read_people(request: Request) -> Response:
    """The admitted bidders and who is connected now (officials)."""
    auction = _auction(request)
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
    auction = _auction(request)
    require_official(request, auction.spec.id)
    gateway = _gw(request)
    data = await _json(request)
    role = data.get("role", "bidder")
    bidder = data.get("bidder")
    if role not in ("bidder", "observer", "official"):
        raise Problem(422, "invalid_role", "role is bidder, observer or official")
    if role == "bidder":
        known = {b.id for lot in auction.spec.lots for b in lot.bidders}
        if bidder not in known:
            raise Problem(422, "unknown_bidder", "bidder must name an admitted bidder")
    elif bidder is not None:
        raise Problem(422, "invalid_role", "only bidder tokens name a bidder")
    token = gateway.token(auction.spec.id, role, bidder)
    ws = gateway.base_url().replace("http", "ws", 1) + f"/ws/auctions/{auction.spec.id}"
    return JSONResponse(
        {"token": token, "role": role, "bidder": bidder, "websocket": ws}, status_code=201
    )


async def control(request: Request) -> Response:
    auction = _auction(request)
    claims = require_official(request, auction.spec.id)
    gateway = _gw(request)
    action = request.path_params["action"]
    data = await _json(request)
    official = str(data.get("official") or "official")
    lot = str(data.get("lot") or "")
    reason = str(data.get("reason") or "")
    command: Any
    try:
        if action == "pause":
            command = Pause(lot=lot, official=official, reason=reason)
        elif action == "resume":
            command = Resume(lot=lot, official=official)
        elif action == "extend":
            command = Extend(lot=lot, official=official, ms=int(data["seconds"] * 1000))
        elif action == "cancel":
            command = CancelAuction(lot=lot, official=official, reason=reason)
        elif action == "disqualify":
            command = Disqualify(
                lot=lot, official=official, bidder=str(data["bidder"]), reason=reason
            )
        elif action == "surrogate_bid":
            command = PlaceBid(
                lot=lot,
                bidder=str(data["bidder"]),
                amount=int(data["amount"]),
                bid_id=str(data.get("bid_id") or ""),
                surrogate_by=official,
            )
        else:
            raise Problem(404, "unknown_action", f"no control {action!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise Problem(422, "invalid_control", f"missing or invalid field: {exc}") from None
    del claims
    try:
        outcome = await gateway.runtime.submit(auction.spec.id, command)
    except RuntimeError_ as exc:  # unavailable, not hosted, halted: typed
        raise Problem(503, exc.code, str(exc)) from None
    if outcome.rejection is not None:
        raise Problem(409, outcome.rejection.code.value, outcome.rejection.message)
    return JSONResponse(
        {
            "ok": True,
            "seq": gateway.runtime.durable_seq(auction.spec.id),
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
        Route("/api/auctions", list_auctions, methods=["GET"]),
        Route("/api/auctions", create_auction, methods=["POST"]),
        Route("/api/auctions/{auction_id}", read_auction),
        Route("/api/auctions/{auction_id}/result", read_result),
        Route("/api/auctions/{auction_id}/record", read_record),
        Route("/api/auctions/{auction_id}/people", read_people),
        Route("/api/auctions/{auction_id}/tokens", issue_tokens, methods=["POST"]),
        Route("/api/auctions/{auction_id}/controls/{action}", control, methods=["POST"]),
        *page_routes(),  # the dashboard, the bidder's page, the public view (docs/pages.md)
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            Problem: _on_problem,
            HTTPException: _on_http,
            Exception: _on_crash,
        },
    )
    app.state.gateway = gateway
    return app
