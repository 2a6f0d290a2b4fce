"""The pages people use: the officials' dashboard, the bidder's page, the public view.

Three hand-written pages (HTML, CSS and JavaScript in ``static/``, shipped in
the package: no build step, nothing fetched from the internet at run time)
that speak the documented HTTP API (docs/api.md) and the WebSocket protocol
with the ``underbid.v1.json`` subprotocol (docs/protocol.md), like any other
client. What each page shows is in docs/pages.md.

=====================================  ===============================================
path                                   page
=====================================  ===============================================
``/dashboard``                         the officials' dashboard: every auction
``/dashboard/{auction_id}``            the officials' live view of one auction
``/bid/{auction_id}#token=...``        the bidder's page (the token stays in the
                                       fragment: browsers never send it to a server)
``/watch/{auction_id}``                the public, anonymised view and the result
``/pages/static/...``                  the pages' scripts and styles
=====================================  ===============================================

:func:`page_routes` returns the routes; ``gateway.app.create_app`` mounts them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
"""The pages' files, shipped as package data."""


def websocket_origin(base_url: str) -> str:
    """The ``ws://`` (``wss://`` for https) origin of the server at ``base_url``."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}"


def security_headers(base_url: str) -> dict[str, str]:
    """The headers of every page served from ``base_url`` (the gateway's base URL:
    ``server.public_url``, else the address it bound).

    Everything a page loads comes from this server, and its scripts may connect
    only back to it: ``connect-src`` names the page's own origin (``'self'``) and
    the server's own WebSocket origin, never any ``ws:`` host.
    """
    return {
        "Content-Security-Policy": (
            f"default-src 'self'; connect-src 'self' {websocket_origin(base_url)}; "
            "img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
    }


def _page(name: str) -> Any:
    async def endpoint(request: Request) -> Response:
        headers = security_headers(request.app.state.gateway.base_url())
        return FileResponse(STATIC / name, media_type="text/html", headers=headers)

    endpoint.__name__ = f"page_{name.removesuffix('.html')}"
    return endpoint


def page_routes() -> list[BaseRoute]:
    """The routes of the three pages and their files."""
    return [
        Route("/dashboard", _page("dashboard.html"), methods=["GET"]),
        Route("/dashboard/{auction_id}", _page("dashboard.html"), methods=["GET"]),
        Route("/bid/{auction_id}", _page("bidder.html"), methods=["GET"]),
        Route("/watch/{auction_id}", _page("public.html"), methods=["GET"]),
        Mount("/pages/static", app=StaticFiles(directory=STATIC), name="pages-static"),
    ]
