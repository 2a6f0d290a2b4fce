"""A platform's JWKS, served for real: its bidder links work on the server,
a rotated key is fetched when a token names it, and a broken JWKS keeps the
keys already known."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import gateway.jwks
from client import AuctionClient, ConnectError
from tests.factories import open_spec
from tests.gateway.server_fixture import eventually, live_server, now_ms
from tests.http_server import serve_app

ISSUER = "https://platform.example"


class Platform:
    """A platform that publishes its keys and mints bidder links with them."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.broken = False
        self.fetches = 0

    def add_key(self, kid: str, private: Any) -> None:
        self.keys[kid] = private

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, private in self.keys.items():
            public = private.public_key()
            if isinstance(public, rsa.RSAPublicKey):
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
            else:
                jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public))
            out.append({**jwk, "kid": kid, "use": "sig"})
        return {"keys": out}

    def mint(self, kid: str, auction: str, bidder: str, *, role: str = "bidder") -> str:
        private = self.keys[kid]
        algorithm = "RS256" if isinstance(private, rsa.RSAPrivateKey) else "ES256"
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": auction, "role": role, "iat": now, "exp": now + 600}
        if role == "bidder":
            claims["bidder"] = bidder
        return jwt.encode(claims, private, algorithm=algorithm, headers={"kid": kid})

    def app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            self.fetches += 1
            if self.broken:
                return Response("<html>oops</html>", status_code=200)
            return JSONResponse(self.jwks())

        return Starlette(routes=[Route("/.well-known/jwks.json", endpoint)])


async def welcomed(base_url: str, auction: str, token: str) -> str:
    """The role the server welcomed the token's holder as (raises ConnectError)."""
    async with AuctionClient(base_url, auction, token=token) as client:
        assert client.welcome is not None
        return client.welcome.role


async def test_a_platforms_keys_mint_links_and_rotation_is_picked_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gateway.jwks, "MIN_REFETCH_S", 0.05)
    platform = Platform()
    platform.add_key("p1", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    async with serve_app(platform.app()) as jwks_base:
        env = {
            "UNDERBID_SECURITY_PLATFORM_JWKS_URL": f"{jwks_base}/.well-known/jwks.json",
            "UNDERBID_SECURITY_PLATFORM_ISSUER": ISSUER,
        }
        async with live_server(env) as server:
            await server.create(open_spec(2, id="plat", start_at=now_ms() + 60_000))
            # The server's own link, and one the platform minted, both work.
            assert await welcomed(server.base_url, "plat", await server.issue("plat", bidder="b1"))
            assert await welcomed(server.base_url, "plat", platform.mint("p1", "plat", "b2")) == (
                "bidder"
            )
            # ... but a platform may not make officials.
            with pytest.raises(ConnectError) as refused:
                await welcomed(
                    server.base_url, "plat", platform.mint("p1", "plat", "", role="official")
                )
            assert refused.value.code == "token_invalid_role"

            # A rotation: the new key is published, then used.
            platform.add_key("p2", ec.generate_private_key(ec.SECP256R1()))
            token = platform.mint("p2", "plat", "b1")
            with pytest.raises(ConnectError) as refused:
                await welcomed(server.base_url, "plat", token)
            assert refused.value.code == "token_bad_signature"
            await eventually(
                lambda: "p2" in server.gateway.keyring.platform_kids(),
                timeout=5,
                what="the rotated key to be fetched",
            )
            assert await welcomed(server.base_url, "plat", token) == "bidder"

            # A broken JWKS keeps the keys already known, and is counted.
            platform.broken = True
            fetches = platform.fetches
            with pytest.raises(ConnectError):
                await welcomed(
                    server.base_url, "plat", platform.mint("p2", "plat", "b1")[:-3] + "AAA"
                )
            forged = jwt.encode(
                {"aud": "plat", "role": "bidder", "bidder": "b1", "iat": 1, "exp": 2**40},
                ec.generate_private_key(ec.SECP256R1()),
                algorithm="ES256",
                headers={"kid": "p3"},
            )
            with pytest.raises(ConnectError):
                await welcomed(server.base_url, "plat", forged)
            await eventually(lambda: platform.fetches > fetches, what="another fetch")
            await eventually(
                lambda: b"underbid_jwks_refresh_failures_total" in server.gateway.metrics.render(),
                what="the failure to be counted",
            )
            assert server.gateway.keyring.platform_kids() == ["p1", "p2"]
            assert await welcomed(server.base_url, "plat", platform.mint("p1", "plat", "b2"))


async def test_the_http_api_takes_platform_tokens_too() -> None:
    platform = Platform()
    platform.add_key("p1", ec.generate_private_key(ec.SECP256R1()))
    async with serve_app(platform.app()) as jwks_base:
        env = {"UNDERBID_SECURITY_PLATFORM_JWKS_URL": f"{jwks_base}/.well-known/jwks.json"}
        async with live_server(env) as server:
            await server.create(
                open_spec(2, id="plat-http", public=False, start_at=now_ms() + 60_000)
            )
            token = platform.mint("p1", "plat-http", "b1")
            r = await server.http.get("/api/auctions/plat-http", headers=server.auth(token))
            assert r.status_code == 200, r.text
            assert r.json()["role"] == "bidder"
            # a platform's bidder token is no official's
            r = await server.http.get("/api/auctions/plat-http/record", headers=server.auth(token))
            assert r.status_code == 403
