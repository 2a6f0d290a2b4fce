"""Underbid's HTTP API as the bridge uses it (docs/api.md).

The bridge is an ordinary client with an operator token: it creates auctions,
reschedules and cancels them, issues bidder links, and reads results and
records. Every call retries through 503 (journal unavailable) and 5xx like any
other system's (:func:`bridge.http.request`); a refusal (409, 422...) is a
:class:`~bridge.http.Refused` with Underbid's problem code in ``body``.

The operator token is the configured one, or minted here with the shared
secret (``security.token_secret``) for a few minutes at a time: a long-running
bridge never holds a long-lived credential.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from bridge.http import Backoff, Refused, request

# Underbid's own 409s are answers (auction_exists, not_finished, an engine's
# refusal), never a write conflict: only 429 and 5xx are tried again.
from bridge.plan import encode


def problem_code(error: Refused) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    return str(body.get("code", ""))


class Underbid:
    """A connection to an Underbid server. ``token`` gives the operator token
    for each call (a fresh one when minted)."""

    def __init__(
        self,
        base_url: str,
        token: Callable[[], str],
        *,
        timeout_s: float = 30.0,
        backoff: Backoff | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.backoff = backoff or Backoff()
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout_s, transport=transport, trust_env=False
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        body: Mapping[str, Any] | None = None,
        ok: tuple[int, ...] = (200, 201),
    ) -> Any:
        headers = {"authorization": f"Bearer {self._token()}", "accept": "application/json"}
        kw: dict[str, Any] = {"headers": headers}
        if body is not None:
            kw["content"] = encode(body)
            headers["content-type"] = "application/json"
        response = await request(
            self._client, method, path, what=what, backoff=self.backoff, ok=ok, retry=(429,), **kw
        )
        return response.json()

    async def create(self, spec: Mapping[str, Any]) -> bool:
        """Create the auction; False if it exists already (planned before)."""
        created = await self._unless(
            "auction_exists", "POST", "/api/auctions", f"create {spec['id']}", spec
        )
        return created is not None

    async def view(self, auction_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._call(
            "GET", f"/api/auctions/{auction_id}", f"view of {auction_id}"
        )
        return data

    async def bidder_token(self, auction_id: str, bidder: str) -> str:
        data = await self._call(
            "POST",
            f"/api/auctions/{auction_id}/tokens",
            f"token for {bidder} of {auction_id}",
            {"role": "bidder", "bidder": bidder},
        )
        return str(data["token"])

    async def control(self, auction_id: str, action: str, body: Mapping[str, Any]) -> None:
        await self._call(
            "POST",
            f"/api/auctions/{auction_id}/controls/{action}",
            f"{action} {auction_id}",
            {"official": "procurement bridge", **body},
        )

    async def result(self, auction_id: str) -> dict[str, Any] | None:
        """The result once finished; None before."""
        data: dict[str, Any] | None = await self._unless(
            "not_finished", "GET", f"/api/auctions/{auction_id}/result", f"result of {auction_id}"
        )
        return data

    async def _unless(self, code: str, *call: Any) -> Any | None:
        """The call's answer, or None when Underbid refuses it with ``code``."""
        try:
            return await self._call(*call)
        except Refused as exc:
            if problem_code(exc) == code:
                return None
            raise

    async def record(self, auction_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._call(
            "GET", f"/api/auctions/{auction_id}/record", f"record of {auction_id}"
        )
        return data
