"""The server's integration endpoints: the OCDS release package of an auction's
outcome (open data, once it is over) and the bidder links that last until
their auction has run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import jwt

from tests.factories import open_spec
from tests.gateway.server_fixture import LiveServer, now_ms
from tests.ocds_schema import assert_valid


async def finished_open_auction(server: LiveServer, auction_id: str, **kw: Any) -> dict[str, Any]:
    spec = open_spec(
        2, id=auction_id, start_at=now_ms() + 100, open={"duration_s": 1.5, "decrement": 100}, **kw
    )
    await server.create(spec)
    # Read over HTTP: in a cluster the node asked may not be the one that owns it.
    await view_until(server, auction_id, lambda v: v["lots"][0]["status"] != "scheduled", 5.0)
    for bidder, amount in (("b1", 99_000), ("b2", 98_500)):
        r = await server.http.post(
            f"/api/auctions/{auction_id}/controls/surrogate_bid",
            json={"bidder": bidder, "amount": amount, "bid_id": f"{bidder}-1"},
            headers=server.auth(),
        )
        assert r.status_code == 200, r.text
    await view_until(server, auction_id, lambda v: bool(v["finished"]), 5.0)
    return spec


async def view_until(
    server: LiveServer, auction_id: str, done: Callable[[dict[str, Any]], bool], timeout: float
) -> None:
    """Poll the official's view of an auction until ``done`` holds of it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        r = await server.http.get(f"/api/auctions/{auction_id}", headers=server.auth())
        if r.status_code == 200 and done(r.json()):
            return
        if loop.time() > deadline:
            raise AssertionError(f"{auction_id}: timed out after {timeout} s; last {r.text[:300]}")
        await asyncio.sleep(0.02)


async def test_the_ocds_package_of_a_finished_auction(server: LiveServer) -> None:
    await server.create(open_spec(2, id="later", start_at=now_ms() + 600_000))
    early = await server.http.get("/api/auctions/later/ocds")
    assert early.status_code == 409 and early.json()["code"] == "not_finished"
    assert (await server.http.get("/api/auctions/nowhere/ocds")).status_code == 404

    await finished_open_auction(server, "ocds-1")
    r = await server.http.get("/api/auctions/ocds-1/ocds")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    package = json.loads(r.content)
    assert_valid(package)
    assert package["uri"] == f"{server.base_url}/api/auctions/ocds-1/ocds"
    (release,) = package["releases"]
    assert release["ocid"] == "ocds-underbid-ocds-1"
    assert release["tender"]["techniques"]["electronicAuction"]["url"] == (
        f"{server.base_url}/watch/ocds-1"
    )
    (award,) = release["awards"]
    assert award["relatedBid"] == "b2" and award["value"]["amount"] == 985.0
    assert '"amount":985.00' in r.text
    # The same bytes every time: publishedDate is the end, not the time of asking.
    assert (await server.http.get("/api/auctions/ocds-1/ocds")).content == r.content


async def test_a_private_auctions_outcome_needs_a_token_of_its_own(server: LiveServer) -> None:
    await finished_open_auction(server, "ocds-private", public=False)
    hidden = await server.http.get("/api/auctions/ocds-private/ocds")
    assert hidden.status_code == 404 and hidden.json()["code"] == "unknown_auction"
    observer = await server.issue("ocds-private", role="observer")
    r = await server.http.get("/api/auctions/ocds-private/ocds", headers=server.auth(observer))
    assert r.status_code == 200
    assert_valid(json.loads(r.content))


async def test_a_bidder_link_issued_days_ahead_lasts_through_its_auction(
    server: LiveServer,
) -> None:
    start = now_ms() + 3 * 86_400_000
    await server.create(open_spec(2, id="ahead", start_at=start))
    token = await server.issue("ahead", bidder="b1")
    claims = jwt.decode(token, options={"verify_signature": False})
    ttl = server.settings.security.token_ttl_s
    assert claims["exp"] >= start // 1000 + ttl - 1
    r = await server.http.post(
        "/api/auctions/ahead/controls/reschedule",
        json={"start_at": start + 86_400_000},
        headers=server.auth(),
    )
    assert r.status_code == 200, r.text
    moved = jwt.decode(
        await server.issue("ahead", bidder="b1"), options={"verify_signature": False}
    )
    assert moved["exp"] >= (start + 86_400_000) // 1000 + ttl - 1
    bad = await server.http.post(
        "/api/auctions/ahead/controls/reschedule", json={"start_at": "soon"}, headers=server.auth()
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_control"
    past = await server.http.post(
        "/api/auctions/ahead/controls/reschedule", json={"start_at": 5}, headers=server.auth()
    )
    assert past.status_code == 409 and past.json()["code"] == "invalid_start"
