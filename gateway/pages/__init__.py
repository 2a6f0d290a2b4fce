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

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
"""The pages' files, shipped as package data."""

SECURITY_HEADERS = {
    # Everything the pages load comes from this server; sockets go back to it.
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def _page(name: str) -> Any:
    async def endpoint(request: Request) -> Response:
        return FileResponse(STATIC / name, media_type="text/html", headers=SECURITY_HEADERS)

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
