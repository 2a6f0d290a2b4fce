"""The server's side of integration with other systems (docs/integration.md).

What a procurement platform or any other system gets from the server, beside
the auction API itself:

=======  =====================================  =========  ==========================
method   path                                   token      what
=======  =====================================  =========  ==========================
GET      /api/auctions/{id}/ocds                -          the OCDS 1.1 release package
                                                           of the outcome, once finished
GET      /api/webhooks                          operator   endpoints, their state, the
                                                           outbox (pending, dead)
POST     /api/webhooks/{endpoint}/enable        operator   re-enable a disabled endpoint
=======  =====================================  =========  ==========================

and the services that run with the app (:func:`start_services`): the
platform's JWKS refresher (:mod:`gateway.jwks`) and the webhook sender
(:mod:`gateway.webhooks`). ``gateway.app.create_app`` mounts :func:`routes`;
``gateway.server.build`` calls :func:`start_services` and :func:`stop_services` in the app's
lifespan. The procurement bridge is not here: it is a client of this server
(``bridge/``), started beside it by ``underbid serve`` when configured.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from auction.core.events import decode_event
from auction.core.record import audit_record, iso
from auction.exporters import encode, release_package
from auction.runtime.journal import JournalUnavailable
from auction.runtime.outbox import DEAD, PENDING, open_outbox
from gateway.jwks import JwksRefresher
from gateway.webhooks import WebhookSender, endpoints_of, shown_url

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("underbid.gateway")


class Service(Protocol):
    """Something that runs beside the app: started after the runtime, stopped before it."""

    async def stop(self) -> None: ...


def routes() -> list[BaseRoute]:
    """The integration endpoints (see the module docstring)."""
    return [
        Route("/api/auctions/{auction_id}/ocds", read_ocds, methods=["GET"]),
        Route("/api/webhooks", list_webhooks, methods=["GET"]),
        Route("/api/webhooks/{endpoint}/enable", enable_webhook, methods=["POST"]),
    ]


def webhook_sender(gateway: Gateway) -> WebhookSender | None:
    """The running webhook sender, if any endpoint is configured."""
    return next((s for s in gateway.services if isinstance(s, WebhookSender)), None)


async def list_webhooks(request: Request) -> Response:
    """Every endpoint with its state and the outbox's counts, and the latest
    waiting and dead deliveries (what the dashboard shows)."""
    from starlette.responses import JSONResponse

    from gateway.app import OPERATOR, Problem, _gw, require_official

    gateway = _gw(request)
    require_official(request, OPERATOR)
    sender = webhook_sender(gateway)
    items: list[dict[str, Any]] = []
    if sender is not None:
        try:
            stats = await sender.outbox.stats(list(sender.endpoints))
            for name, endpoint in sender.endpoints.items():
                s = stats[name]
                waiting = await sender.outbox.recent(name, PENDING, 10)
                dead = await sender.outbox.recent(name, DEAD, 10)
                items.append(
                    {
                        "name": name,
                        "url": shown_url(endpoint.url),
                        "events": sorted(endpoint.events),
                        "disabled": s.disabled,
                        "disabled_at": s.disabled_at or None,
                        "pending": s.pending,
                        "delivered": s.delivered,
                        "dead": s.dead,
                        "waiting": [_delivery_view(d) for d in waiting],
                        "dead_recent": [_delivery_view(d) for d in dead],
                    }
                )
        except JournalUnavailable as exc:
            raise Problem(503, "unavailable", str(exc)) from None
    return JSONResponse(
        {
            "server_time": gateway.clock.now_ms(),
            "outbox": sender.outbox.name if sender else None,
            "endpoints": items,
        }
    )


def _delivery_view(d: Any) -> dict[str, Any]:
    return {
        "id": d.message_id,
        "kind": d.kind,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "created_at": d.created_at,
        "due_at": d.due_at if d.state == PENDING else None,
        "finished_at": d.finished_at or None,
    }


async def enable_webhook(request: Request) -> Response:
    """An operator enables an endpoint that answered 410 Gone; its waiting
    deliveries go out again."""
    from starlette.responses import JSONResponse

    from gateway.app import OPERATOR, Problem, _gw, require_official

    gateway = _gw(request)
    require_official(request, OPERATOR)
    sender = webhook_sender(gateway)
    name = request.path_params["endpoint"]
    if sender is None or name not in sender.endpoints:
        raise Problem(404, "unknown_endpoint", f"no webhook endpoint {name!r}")
    try:
        was_disabled = await sender.outbox.enable(name)
    except JournalUnavailable as exc:
        raise Problem(503, "unavailable", str(exc)) from None
    sender.poke()
    return JSONResponse({"endpoint": name, "enabled": True, "was_disabled": was_disabled})


async def record_of(gateway: Gateway, auction: Any) -> dict[str, Any]:
    """The audit record of a hosted auction, from the journal (raises
    :class:`JournalUnavailable`)."""
    stored = await gateway.runtime.journal.read(auction.spec.id)
    return audit_record(auction, [decode_event(data) for _, data in stored])


def ocds_package(gateway: Gateway, record: dict[str, Any]) -> dict[str, Any]:
    """The OCDS release package of a finished auction's record, as this server publishes it."""
    ocds = gateway.settings.ocds
    base = gateway.base_url()
    auction_id = record["auction"]
    ended = [lot["ended_at"] for lot in record["result"]["lots"] if lot.get("ended_at")]
    return release_package(
        record,
        uri=f"{base}/api/auctions/{auction_id}/ocds",
        published_at=max(ended, default=iso(gateway.clock.now_ms())),
        auction_url=f"{base}/watch/{auction_id}",
        ocid_prefix=ocds.ocid_prefix,
        publisher_name=ocds.publisher_name,
        publisher_uri=ocds.publisher_uri,
        license=ocds.license,
    )


async def read_ocds(request: Request) -> Response:
    """The outcome as open data, once the auction is over; seen by whoever may see
    its result (a private auction needs a token of its own)."""
    from gateway.app import Problem, _gw, _visible_auction

    auction, _ = await _visible_auction(request)
    if not auction.finished:
        raise Problem(409, "not_finished", "the outcome is published after the announcement")
    gateway = _gw(request)
    try:
        record = await record_of(gateway, auction)
    except JournalUnavailable as exc:
        raise Problem(503, "unavailable", str(exc)) from None
    return Response(encode(ocds_package(gateway, record)), media_type="application/json")


async def start_services(gateway: Gateway) -> None:
    """Start the services the settings ask for; each is appended to ``gateway.services``."""
    security = gateway.settings.security
    if security.platform_jwks_url:
        refresher = JwksRefresher(
            gateway.keyring,
            security.platform_jwks_url,
            roles=frozenset(security.platform_roles),
            issuer=security.platform_issuer or None,
            refresh_s=security.jwks_refresh_s,
            on_failure=lambda _: gateway.metrics.inc("jwks_refresh_failures_total"),
        )
        await refresher.start()
        gateway.services.append(refresher)
    webhooks = gateway.settings.webhooks
    if webhooks.endpoints:
        endpoints = endpoints_of(webhooks)  # a missing secret stops the start, named
        from gateway.server import journal_url

        outbox = open_outbox(journal_url(gateway.settings.journal))
        sender = WebhookSender(gateway, outbox, endpoints)
        await sender.start()
        gateway.services.append(sender)


async def stop_services(gateway: Gateway) -> None:
    """Stop every service, the last started first."""
    while gateway.services:
        service = gateway.services.pop()
        try:
            await service.stop()
        except Exception:  # one service's bug must not keep the others running
            log.exception("stopping %s failed", type(service).__name__)
