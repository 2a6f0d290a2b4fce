"""The pages' security headers: a Content-Security-Policy that lets a page's
scripts connect back to its own server only (docs/pages.md).

The header is computed from the gateway's base URL (``server.public_url``,
else the address it bound), so a server on a free port names that port. The
browser test checks what the header is for: in Chromium, the page's own
socket opens (also when the page is reached as ``localhost``), and a script's
socket to any other origin is refused by the policy itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from gateway.pages import security_headers, websocket_origin
from tests.factories import open_spec
from tests.gateway.server_fixture import LiveServer, live_server, now_ms

in_module_loop = pytest.mark.asyncio(loop_scope="module")

AUCTION = "csp-1"


def connect_src(policy: str) -> list[str]:
    """The sources of the policy's ``connect-src`` directive."""
    for directive in policy.split(";"):
        name, *sources = directive.split()
        if name == "connect-src":
            return sources
    raise AssertionError(f"no connect-src in {policy!r}")


@pytest.mark.parametrize(
    ("base_url", "allowed"),
    [
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000"),
        ("https://auctions.example.org", "wss://auctions.example.org"),
        ("https://auctions.example.org:8443/underbid", "wss://auctions.example.org:8443"),
        ("http://[::1]:9000", "ws://[::1]:9000"),
    ],
)
def test_connect_src_names_only_the_servers_own_websocket_origin(
    base_url: str, allowed: str
) -> None:
    assert websocket_origin(base_url) == allowed
    policy = security_headers(base_url)["Content-Security-Policy"]
    assert connect_src(policy) == ["'self'", allowed]
    assert "ws:" not in policy.split() and "wss:" not in policy.split()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server() -> AsyncIterator[LiveServer]:
    async with live_server() as live:
        await live.create(open_spec(2, id=AUCTION, start_at=now_ms() + 500))
        yield live


@in_module_loop
@pytest.mark.parametrize("path", ["/dashboard", f"/dashboard/{AUCTION}", f"/bid/{AUCTION}"])
async def test_every_page_names_the_port_the_server_bound(server: LiveServer, path: str) -> None:
    response = await server.http.get(path)
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert connect_src(policy) == ["'self'", f"ws://127.0.0.1:{server.port}"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"


@in_module_loop
async def test_a_configured_public_url_is_the_allowed_origin() -> None:
    env = {"UNDERBID_SERVER_PUBLIC_URL": "https://auctions.example.org"}
    async with live_server(env) as live:
        response = await live.http.get(f"/watch/{AUCTION}")
    policy = response.headers["content-security-policy"]
    assert connect_src(policy) == ["'self'", "wss://auctions.example.org"]


OPEN_SOCKET = """
async (url) => {
  const violations = [];
  document.addEventListener("securitypolicyviolation", (e) => violations.push(e.blockedURI));
  let outcome;
  try {
    const ws = new WebSocket(url);
    outcome = await new Promise((resolve) => {
      ws.onopen = () => { ws.close(); resolve("open"); };
      ws.onerror = () => resolve("error");
    });
  } catch (err) {
    outcome = `threw ${err.name}`;
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  return { outcome, violations };
}
"""
"""Open a WebSocket from the page; what became of it and the CSP violations."""


@in_module_loop
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_in_a_browser_only_the_servers_own_socket_opens(
    browser: Any, server: LiveServer, host: str
) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"http://{host}:{server.port}/watch/{AUCTION}")
        own = await page.evaluate(OPEN_SOCKET, f"ws://{host}:{server.port}/ws/auctions/{AUCTION}")
        assert own == {"outcome": "open", "violations": []}
        # Another origin, even on this machine, even with a server listening there.
        async with live_server() as other:
            foreign = f"ws://127.0.0.1:{other.port}/ws/auctions/{AUCTION}"
            refused = await page.evaluate(OPEN_SOCKET, foreign)
        assert refused["outcome"] != "open"
        assert refused["violations"], "the policy did not refuse the foreign socket"
        assert refused["violations"][0].startswith(f"ws://127.0.0.1:{other.port}")
    finally:
        await context.close()
