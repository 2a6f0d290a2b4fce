"""Receipts for a bidder's own bids, fetched and checked (docs/record.md).

The ``ack`` of a bid carries its ``leaf_index`` (:attr:`client.BidResult.leaf_index`).
With it, :func:`fetch_receipt` asks the server for the bid's own log entry
(the bidder's token sees its own events in full, with their salts) and the
RFC 9162 inclusion proof against the latest signed checkpoint, and
:func:`check_receipt` checks the whole receipt against the server's public
keys (:func:`fetch_keys`) without trusting the server for anything else::

    result = await client.bid(4_750_000)
    receipt = await fetch_receipt(base_url, auction_id, result.leaf_index, token=token)
    check_receipt(receipt, await fetch_keys(base_url))     # raises ReceiptError if not
    Path("bid.receipt.json").write_text(json.dumps(receipt))  # underbid verify --receipt

After the end, ``underbid verify RECORD --receipt bid.receipt.json`` proves
that the published record still holds that very bid.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from auction.transparency.keys import TrustedKey, parse_key_list
from auction.transparency.receipts import Receipt, ReceiptError, check_receipt, make_receipt

__all__ = ["Receipt", "ReceiptError", "check_receipt", "fetch_keys", "fetch_receipt"]


async def _get(http: httpx.AsyncClient, path: str, token: str | None) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.get(path, headers=headers)
    if response.status_code != 200:
        raise ReceiptError(f"GET {path}: HTTP {response.status_code}: {response.text[:200]}")
    return response.json()


async def fetch_keys(base_url: str) -> list[TrustedKey]:
    """The server's published keys (``/.well-known/underbid-keys.json``)."""
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=30) as http:
        data = await _get(http, "/.well-known/underbid-keys.json", None)
    return parse_key_list(data, f"{base_url}/.well-known/underbid-keys.json")


async def fetch_receipt(
    base_url: str, auction_id: str, leaf_index: int, *, token: str | None = None
) -> dict[str, Any]:
    """The receipt of the event at ``leaf_index``, proven against the latest checkpoint.

    The role of ``token`` must see that event in full (a bidder: its own
    events; anyone, after the announcement), else :class:`ReceiptError`.
    """
    base = f"/api/auctions/{quote(auction_id, safe='')}"
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=30) as http:
        page = await _get(http, f"{base}/log?from={leaf_index + 1}&limit=1", token)
        entries = page.get("entries") or []
        if not entries or entries[0].get("index") != leaf_index:
            raise ReceiptError(f"the log has no leaf {leaf_index} yet")
        entry = entries[0]
        if entry.get("hidden"):
            raise ReceiptError(f"leaf {leaf_index} is not this role's to see in full")
        proof = await _get(http, f"{base}/proof/inclusion?index={leaf_index}", token)
    return make_receipt(auction_id, entry, proof["size"], proof["proof"], proof["checkpoint"])
