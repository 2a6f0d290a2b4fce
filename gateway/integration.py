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
from typing import TYPE_CHECKING, Protocol

from starlette.routing import BaseRoute

from gateway.jwks import JwksRefresher

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("underbid.gateway")


class Service(Protocol):
    """Something that runs beside the app: started after the runtime, stopped before it."""

    async def stop(self) -> None: ...


def routes() -> list[BaseRoute]:
    """The integration endpoints (see the module docstring)."""
    return []


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


async def stop_services(gateway: Gateway) -> None:
    """Stop every service, the last started first."""
    while gateway.services:
        service = gateway.services.pop()
        try:
            await service.stop()
        except Exception:  # one service's bug must not keep the others running
            log.exception("stopping %s failed", type(service).__name__)
