"""Standard Webhooks against a real receiving server on 127.0.0.1: it times out,
answers 500, then 200; every try carries the same webhook-id and a signature
the ``standardwebhooks`` library verifies; delivery goes on after the sender
restarts; 410 disables an endpoint until an operator enables it; a message
too old is given up; with two nodes, each message goes out once."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.settings import SettingsError, WebhooksSettings, load_settings
from gateway.webhooks import (
    LOT_ENDED,
    OCDS_RELEASE,
    _retry_after_ms,
    backoff_ms,
    endpoints_of,
    message_id,
)
from tests.gateway.server_fixture import LiveServer, eventually, live_server, metric
from tests.gateway.test_integration import finished_open_auction
from tests.http_server import serve_app
from tests.ocds_schema import assert_valid

SECRET = "whsec_" + base64.b64encode(b"receiver-secret-0123456789abcdef").decode()


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes
    answered: int | str


@dataclass
class Receiver:
    """A webhook receiver whose answers are scripted per message type: a list of
    statuses (or ``"timeout"``: it does not answer in time), then ``default``."""

    script: dict[str, list[int | str]] = field(default_factory=dict)
    default: int | str = 200
    hits: list[Hit] = field(default_factory=list)

    def app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            queue = self.script.get(json.loads(body)["type"]) or []
            answer = queue.pop(0) if queue else self.default
            self.hits.append(Hit(dict(request.headers), body, answer))
            if answer == "timeout":
                await asyncio.sleep(0.8)  # slow on purpose: the sender gave up after 0.3 s
                return Response(status_code=200)
            assert isinstance(answer, int)
            headers = {"retry-after": "0"} if answer == 503 else {}
            return Response(status_code=answer, headers=headers)

        return Starlette(routes=[Route("/hooks", endpoint, methods=["POST"])])

    def of(self, kind: str) -> list[Hit]:
        return [h for h in self.hits if json.loads(h.body)["type"] == kind]

    def verified(self, hit: Hit) -> Any:
        """The body, if the signature verifies with the standardwebhooks library."""
        return Webhook(SECRET).verify(hit.body, hit.headers)


def webhook_env(url: str, **extra: str) -> dict[str, str]:
    endpoints = [{"name": "erp", "url": url, "secret_env": "TEST_WEBHOOK_SECRET"}]
    env = {
        "UNDERBID_WEBHOOKS_ENDPOINTS": json.dumps(endpoints),
        "UNDERBID_WEBHOOKS_TIMEOUT_MS": "300",
        "UNDERBID_WEBHOOKS_FIRST_RETRY_MS": "100",
        "UNDERBID_WEBHOOKS_MAX_RETRY_MS": "400",
        "UNDERBID_WEBHOOKS_LEASE_MS": "2000",
    }
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", SECRET)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hooks = Receiver()
    async with serve_app(hooks.app()) as base:
        yield hooks, f"{base}/hooks?key=in-the-query"


async def end_an_auction(server: LiveServer, auction_id: str) -> None:
    """An open auction with two surrogate bids, to its end about a second from now."""
    await finished_open_auction(server, auction_id)


# ------------------------------------------------------------ delivery
async def test_timeout_then_500_then_200_delivered_with_one_id_and_valid_signatures(
    receiver: tuple[Receiver, str],
) -> None:
    hooks, url = receiver
    hooks.script = {LOT_ENDED: ["timeout", 500]}
    async with live_server(webhook_env(url)) as server:
        await end_an_auction(server, "wh-1")
        await eventually(lambda: len(hooks.of(LOT_ENDED)) >= 3, timeout=10, what="three tries")
        await eventually(lambda: len(hooks.of(OCDS_RELEASE)) >= 1, timeout=10, what="the release")
        tries = hooks.of(LOT_ENDED)
        assert [t.answered for t in tries[:3]] == ["timeout", 500, 200]
        ids = {t.headers["webhook-id"] for t in tries}
        assert ids == {message_id("wh-1", "1", LOT_ENDED)}
        for hit in hooks.hits:
            body = hooks.verified(hit)  # raises on a bad signature
            assert hit.headers["content-type"] == "application/json"
        message = hooks.verified(tries[-1])
        assert message["type"] == "lot.ended"
        data = message["data"]
        assert (data["auction"], data["lot"]) == ("wh-1", "1")
        assert data["result"]["winner"]["bidder"] == "b2"
        assert data["result"]["winner"]["amount"] == 98_500
        assert data["links"]["ocds"].endswith("/api/auctions/wh-1/ocds")
        release = hooks.verified(hooks.of(OCDS_RELEASE)[0])
        assert release["type"] == OCDS_RELEASE
        assert_valid(json.loads(json.dumps(release["data"])))
        sender = server.gateway.services[-1]
        await eventually(lambda: sender.stats["erp"].delivered == 2, what="both delivered")
        assert sender.stats["erp"].pending == 0
        metrics = server.gateway.metrics.render().decode()
        assert metric(metrics, "underbid_webhook_delivered", endpoint="erp") == 2
        failed = metric(metrics, "underbid_webhook_attempts_total", endpoint="erp", result="failed")
        assert failed == 2
        # The query of the endpoint URL is never shown.
        listing = (await server.http.get("/api/webhooks", headers=server.auth())).json()
        (erp,) = listing["endpoints"]
        assert "key=" not in json.dumps(listing)
        assert (erp["name"], erp["delivered"], erp["pending"], erp["disabled"]) == ("erp", 2, 0, "")
        del body


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_delivery_goes_on_after_the_sender_restarts(
    receiver: tuple[Receiver, str], store: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    hooks, url = receiver
    hooks.default = 500
    env = webhook_env(url)
    redis_url = None
    if store == "redis":
        redis_url = request.getfixturevalue("redis_url")
    else:
        env["UNDERBID_JOURNAL_DATA_DIR"] = str(tmp_path / "data")
    async with live_server(env, redis_url=redis_url) as server:
        await end_an_auction(server, "wh-restart")
        await eventually(lambda: len(hooks.hits) >= 2, timeout=10, what="failing tries")
    before = len(hooks.hits)
    hooks.default = 200
    async with live_server(env, redis_url=redis_url) as again:
        await eventually(
            lambda: (
                {json.loads(h.body)["type"] for h in hooks.hits[before:] if h.answered == 200}
                == {LOT_ENDED, OCDS_RELEASE}
            ),
            timeout=15,
            what="the restarted sender to deliver",
        )
        lot_ids = {h.headers["webhook-id"] for h in hooks.of(LOT_ENDED)}
        assert lot_ids == {message_id("wh-restart", "1", LOT_ENDED)}
        sender = again.gateway.services[-1]
        await eventually(lambda: sender.stats["erp"].delivered == 2, what="counted")
        assert sender.outbox.name == store


async def test_410_disables_the_endpoint_until_an_operator_enables_it(
    receiver: tuple[Receiver, str],
) -> None:
    hooks, url = receiver
    hooks.script = {LOT_ENDED: [410], OCDS_RELEASE: [410]}
    hooks.default = 200
    async with live_server(webhook_env(url)) as server:
        await end_an_auction(server, "wh-gone")
        sender = server.gateway.services[-1]
        await eventually(lambda: sender.stats["erp"].disabled != "", timeout=10, what="disabled")
        assert "410" in sender.stats["erp"].disabled
        await eventually(lambda: sender.stats["erp"].pending == 2, what="both waiting")
        assert len(hooks.hits) <= 2  # the endpoint is tried no more once it said 410
        metrics = server.gateway.metrics.render().decode()
        assert metric(metrics, "underbid_webhook_endpoint_disabled", endpoint="erp") == 1
        listing = (await server.http.get("/api/webhooks", headers=server.auth())).json()
        (erp,) = listing["endpoints"]
        assert "410" in erp["disabled"] and erp["pending"] == 2
        assert {w["kind"] for w in erp["waiting"]} == {LOT_ENDED, OCDS_RELEASE}
        # only an operator may enable it, and only a known endpoint
        r = await server.http.post("/api/webhooks/erp/enable")
        assert r.status_code == 401
        r = await server.http.post("/api/webhooks/nope/enable", headers=server.auth())
        assert r.status_code == 404 and r.json()["code"] == "unknown_endpoint"
        r = await server.http.post("/api/webhooks/erp/enable", headers=server.auth())
        assert r.json() == {"endpoint": "erp", "enabled": True, "was_disabled": True}
        await eventually(lambda: sender.stats["erp"].delivered == 2, timeout=10, what="delivered")
        assert sender.stats["erp"].disabled == ""


async def test_a_message_too_old_is_given_up_and_shown(receiver: tuple[Receiver, str]) -> None:
    hooks, url = receiver
    hooks.default = 503
    env = webhook_env(url, UNDERBID_WEBHOOKS_MAX_AGE_S="1")
    async with live_server(env) as server:
        await end_an_auction(server, "wh-dead")
        sender = server.gateway.services[-1]
        await eventually(lambda: sender.stats["erp"].dead == 2, timeout=10, what="given up")
        listing = (await server.http.get("/api/webhooks", headers=server.auth())).json()
        (erp,) = listing["endpoints"]
        assert erp["dead"] == 2 and erp["pending"] == 0
        assert all(d["last_error"].startswith("given up: HTTP 503") for d in erp["dead_recent"])
        assert all(d["attempts"] >= 2 for d in erp["dead_recent"])
        metrics = server.gateway.metrics.render().decode()
        assert metric(metrics, "underbid_webhook_given_up_total", endpoint="erp") == 2


async def test_two_nodes_deliver_each_message_once(
    receiver: tuple[Receiver, str], redis_url: str
) -> None:
    hooks, url = receiver
    env = webhook_env(url)
    async with (
        live_server(env, redis_url=redis_url) as a,
        live_server(env, redis_url=redis_url) as b,
    ):
        for i in range(3):
            await end_an_auction(a if i % 2 else b, f"wh-two-{i}")
        await eventually(lambda: len(hooks.hits) >= 6, timeout=15, what="six messages")
        sender = a.gateway.services[-1]
        await eventually(lambda: sender.stats["erp"].delivered == 6, what="all six recorded")
        counts = Counter(h.headers["webhook-id"] for h in hooks.hits)
        assert len(counts) == 6 and set(counts.values()) == {1}


async def test_no_endpoints_no_sender(server: LiveServer) -> None:
    listing = (await server.http.get("/api/webhooks", headers=server.auth())).json()
    assert listing["endpoints"] == [] and listing["outbox"] is None


# --------------------------------------------------------------- units
def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    settings = WebhooksSettings(first_retry_ms=1000, max_retry_ms=60_000)
    rng = random.Random(7)
    for attempts, base in ((1, 1000), (2, 2000), (3, 4000), (7, 60_000), (50, 60_000)):
        waits = {backoff_ms(attempts, settings, rng) for _ in range(50)}
        assert min(waits) >= base // 2 and max(waits) <= base
        assert len(waits) > 1  # jitter


def test_message_ids_are_stable_and_distinct() -> None:
    a = message_id("A", "1", LOT_ENDED)
    assert a == message_id("A", "1", LOT_ENDED) and a.startswith("msg_") and len(a) == 30
    assert len({a, message_id("A", "2", LOT_ENDED), message_id("A", "1", OCDS_RELEASE)}) == 3


def test_retry_after_in_seconds_or_a_date() -> None:
    assert _retry_after_ms("7") == 7000
    assert _retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert _retry_after_ms("soon") is None and _retry_after_ms(None) is None


@pytest.mark.parametrize(
    "endpoints, env, message",
    [
        ([{"name": "e", "url": "https://x.example/h", "secret_env": "NOPE"}], {}, "holds no"),
        ([{"name": "e", "url": "https://x.example/h", "secret_env": "S"}], {"S": "!!"}, "base64"),
    ],
)
def test_a_missing_or_bad_secret_is_named(
    endpoints: list[dict[str, Any]], env: dict[str, str], message: str
) -> None:
    settings = load_settings(None, {"UNDERBID_WEBHOOKS_ENDPOINTS": json.dumps(endpoints)})
    with pytest.raises(SettingsError) as info:
        endpoints_of(settings.webhooks, env)
    assert message in str(info.value) and "webhooks.endpoints[0] (e)" in info.value.key


@pytest.mark.parametrize(
    "endpoint, message",
    [
        ({"name": "Bad Name", "url": "https://x.example", "secret": SECRET}, "name must be"),
        ({"name": "e", "url": "ftp://x.example", "secret": SECRET}, "url must be"),
        ({"name": "e", "url": "https://x.example"}, "exactly one of secret"),
        ({"name": "e", "url": "https://x.example", "secret": "whsec_QUJD"}, "24 bytes"),
        ({"name": "e", "url": "https://x.example", "secret": SECRET, "events": ["x"]}, "events"),
        ({"name": "e", "url": "https://x.example", "secret": SECRET, "colour": 1}, "colour"),
    ],
)
def test_bad_endpoints_are_refused_at_start(endpoint: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(None, {"UNDERBID_WEBHOOKS_ENDPOINTS": json.dumps([endpoint])})
    assert message in str(info.value)
    assert info.value.key == "UNDERBID_WEBHOOKS_ENDPOINTS"


def test_endpoints_from_a_file(tmp_path: Any) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[[webhooks.endpoints]]\nname = "erp"\nurl = "https://erp.example/h"\n'
        f'secret = "{SECRET}"\n'
        '[[webhooks.endpoints]]\nname = "audit"\nurl = "http://127.0.0.1:9/h"\n'
        'secret_env = "AUDIT_SECRET"\nevents = ["auction.ocds_release"]\n',
        encoding="utf-8",
    )
    settings = load_settings(str(path), {})
    assert [e.name for e in settings.webhooks.endpoints] == ["erp", "audit"]
    with pytest.raises(SettingsError):
        load_settings(None, {"UNDERBID_WEBHOOKS_ENDPOINTS": "not json"})
    assert msgspec.structs.asdict(settings.webhooks.endpoints[1])["events"] == (OCDS_RELEASE,)
