"""Fetching an auction's audit record from a server, for tools that work on it
(``underbid export-ocds``). Synchronous: a command-line tool's one request."""

from __future__ import annotations

from typing import Any

import httpx

from auction.core.errors import UnderbidError

MAX_RECORD_BYTES = 64 * 1024 * 1024
"""A record larger than this is refused (a 1,000-bid auction's is under 1 MB)."""


class RecordError(UnderbidError):
    """The record could not be fetched; the message says why (never the token)."""


def fetch_record(url: str, token: str, *, timeout_s: float = 30.0) -> dict[str, Any]:
    """The record at ``url`` (``.../api/auctions/{id}/record``), read with an official's token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.stream("GET", url, headers=headers, timeout=timeout_s) as response:
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_RECORD_BYTES:
                    raise RecordError(f"{url}: the record is larger than {MAX_RECORD_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise RecordError(f"{url}: {type(exc).__name__}: {exc}") from None
    try:
        data = httpx.Response(response.status_code, content=body).json()
    except ValueError:
        raise RecordError(f"{url}: HTTP {response.status_code}, not JSON") from None
    if response.status_code != 200:
        detail = data.get("detail") if isinstance(data, dict) else None
        code = data.get("code") if isinstance(data, dict) else None
        raise RecordError(
            f"{url}: HTTP {response.status_code} {code or ''}: {detail or ''}".strip()
        )
    if not isinstance(data, dict):
        raise RecordError(f"{url}: not a record")
    return data
