"""The CDB's API as the auction module uses it (``openprocurement.api``).

=======  =======================================================  ===============
method   path (below ``bridge.cdb_url``, e.g. ``.../api/2.5``)     what
=======  =======================================================  ===============
GET      /tenders?feed=changes&offset=&descending=&opt_fields=    the changes feed
GET      /tenders/{id}/auction                                    the auction view
                                                                  (bids with values)
PATCH    /tenders/{id}/auction[/{lot}]                            the links
POST     /tenders/{id}/auction[/{lot}]                            the results
GET      /tenders/{id}                                            the public tender
POST     /tenders/{id}/documents                                  attach a document
PUT      /tenders/{id}/documents/{doc}                            its new version
POST     {bridge.ds_url}  (multipart ``file``)                    upload to the DS
=======  =======================================================  ===============

Every call goes through :func:`bridge.http.request` (retries through
409/412/429/5xx/timeouts). The client keeps the CDB's cookies (its session
cookie, renewed by a 412) and sends the auction role's token as ``Bearer``.
Bodies with amounts are encoded with exact decimals (:func:`bridge.plan.encode`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from bridge.http import Backoff, request
from bridge.plan import encode

FEED_FIELDS: Final = "status,auctionPeriod,lots,procurementMethodType,tenderID"
"""The ``opt_fields`` the bridge asks of the feed: enough to know what to read."""
FEED_LIMIT: Final = 100
MAX_TENDER_BYTES: Final = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FeedPage:
    items: list[Mapping[str, Any]]
    next_offset: str
    """Where the next page starts (the same offset when this page was empty)."""
    prev_offset: str = ""
    """Where the other direction starts (a descending page's first item, read forward)."""


class Cdb:
    """A connection to one CDB (and its document service)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        ds_url: str = "",
        ds_auth: str = "",
        timeout_s: float = 30.0,
        backoff: Backoff | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.ds_url = ds_url
        self.backoff = backoff or Backoff()
        headers = {"user-agent": "Underbid-Bridge/1", "accept": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._client = httpx.AsyncClient(
            headers=headers, timeout=timeout_s, transport=transport, trust_env=False
        )
        auth = None
        if ds_auth:
            user, _, password = ds_auth.partition(":")
            auth = httpx.BasicAuth(user, password)
        self._ds = httpx.AsyncClient(
            auth=auth, timeout=timeout_s, transport=transport, trust_env=False
        )

    async def close(self) -> None:
        await self._client.aclose()
        await self._ds.aclose()

    async def _json(self, method: str, path: str, what: str, **kw: Any) -> Any:
        response = await request(
            self._client, method, self.base_url + path, what=what, backoff=self.backoff, **kw
        )
        if len(response.content) > MAX_TENDER_BYTES:
            raise ValueError(f"{what}: the answer is larger than {MAX_TENDER_BYTES} bytes")
        return response.json()

    def _body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {"content": encode(body), "headers": {"content-type": "application/json"}}

    # ------------------------------------------------------------- feed
    async def feed(self, offset: str | None, *, descending: bool = False) -> FeedPage:
        params: dict[str, Any] = {"feed": "changes", "opt_fields": FEED_FIELDS, "limit": FEED_LIMIT}
        if offset:
            params["offset"] = offset
        if descending:
            params["descending"] = 1
        data = await self._json("GET", "/tenders", "GET the tenders feed", params=params)
        items = [i for i in data.get("data", []) if isinstance(i, Mapping) and i.get("id")]
        next_offset = str((data.get("next_page") or {}).get("offset") or offset or "")
        prev_offset = str((data.get("prev_page") or {}).get("offset") or "")
        return FeedPage(items, next_offset, prev_offset)

    # ----------------------------------------------------------- tenders
    async def auction_view(self, tender_id: str) -> dict[str, Any]:
        """The tender as the auction role sees it (bids with their values)."""
        data = await self._json(
            "GET", f"/tenders/{tender_id}/auction", f"GET auction of {tender_id}"
        )
        view: dict[str, Any] = data["data"]
        return view

    async def tender(self, tender_id: str) -> dict[str, Any]:
        data = await self._json("GET", f"/tenders/{tender_id}", f"GET tender {tender_id}")
        tender: dict[str, Any] = data["data"]
        return tender

    def _auction_path(self, tender_id: str, lot_id: str) -> str:
        return f"/tenders/{tender_id}/auction" + (f"/{lot_id}" if lot_id else "")

    async def patch_links(self, tender_id: str, lot_id: str, body: Mapping[str, Any]) -> Any:
        return await self._json(
            "PATCH",
            self._auction_path(tender_id, lot_id),
            f"PATCH links of {tender_id} {lot_id}".strip(),
            **self._body(body),
        )

    async def post_results(self, tender_id: str, lot_id: str, body: Mapping[str, Any]) -> Any:
        return await self._json(
            "POST",
            self._auction_path(tender_id, lot_id),
            f"POST results of {tender_id} {lot_id}".strip(),
            **self._body(body),
        )

    # --------------------------------------------------------- documents
    async def upload(self, name: str, content: bytes, content_type: str) -> dict[str, Any]:
        """Upload a file to the document service; returns what to attach (url, hash, ...)."""
        md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
        response = await request(
            self._ds,
            "POST",
            self.ds_url,
            what=f"upload {name}",
            backoff=self.backoff,
            files={"file": (name, content, content_type)},
        )
        data: dict[str, Any] = response.json()["data"]
        if data.get("hash") not in (None, f"md5:{md5}"):
            raise ValueError(f"upload {name}: the document service stored other bytes")
        data.setdefault("hash", f"md5:{md5}")
        return data

    async def attach(
        self, tender_id: str, document: Mapping[str, Any], *, replaces: str = ""
    ) -> dict[str, Any]:
        """Attach an uploaded document to the tender, or a new version of ``replaces``."""
        if replaces:
            path, method = f"/tenders/{tender_id}/documents/{replaces}", "PUT"
        else:
            path, method = f"/tenders/{tender_id}/documents", "POST"

        async def find() -> dict[str, Any] | None:
            for held in await self.documents(tender_id):
                if held.get("title") == document["title"] and held.get("hash") == document["hash"]:
                    return held
            return None

        async def landed() -> bool:
            return await find() is not None

        response = await request(
            self._client,
            method,
            self.base_url + path,
            what=f"{method} document {document.get('title')} of {tender_id}",
            backoff=self.backoff,
            landed=landed,
            **self._body({"data": dict(document)}),
        )
        if response is None:
            found = await find()
            assert found is not None
            return found
        attached: dict[str, Any] = response.json()["data"]
        return attached

    async def documents(self, tender_id: str) -> list[dict[str, Any]]:
        """The tender's documents (every version)."""
        data = await self._json(
            "GET", f"/tenders/{tender_id}/documents", f"GET documents of {tender_id}"
        )
        docs: list[dict[str, Any]] = [d for d in data.get("data", []) if isinstance(d, dict)]
        return docs
