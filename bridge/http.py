"""Requests that keep trying through another system's bad moments.

:func:`request` sends one HTTP request and, when the answer is one that a
later try can change, tries again after an exponential back-off with jitter
(``first_s`` doubling to ``max_s``), for as long as it takes (until the task
is cancelled):

=====================  ====================================================
answer                 what it means for a ProZorro-style CDB, and what we do
=====================  ====================================================
2xx (or ``ok``)        done
409 Conflict           a concurrent write to the same tender: retry
412 Precondition       the server our session cookie named is gone; the answer
                       sets a new cookie (the client keeps it): retry at once
429 Too Many Requests  retry after its ``Retry-After`` (at least the back-off)
5xx, a timeout, a      the system is down or overloaded: retry
refused connection
any other 4xx          our request is wrong as it is: :class:`Refused`, with
                       the status and the system's own error text
=====================  ====================================================

Each retry is logged (never with a token) and counted in :data:`RETRIES`.

Errors (the exception tree)::

    UnderbidError
    └── Refused     a 4xx that no retry changes; ``status``, ``detail``, ``body``
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, Final, overload

import httpx

from auction.core.errors import UnderbidError

log = logging.getLogger("underbid.bridge")

RETRIES: Final[Counter[str]] = Counter()
"""Retries by reason (``409``, ``timeout``...), for the status line and the tests."""

RETRY_STATUSES: Final = frozenset({409, 412, 429})


class Refused(UnderbidError):
    """The other system refused the request; retrying as it is will not help."""

    def __init__(self, what: str, status: int, detail: str, body: Any) -> None:
        super().__init__(f"{what}: HTTP {status}: {detail}")
        self.status = status
        self.detail = detail
        self.body = body
        """The decoded JSON answer (or its text)."""


@dataclass(frozen=True, slots=True)
class Backoff:
    first_s: float = 0.5
    max_s: float = 60.0

    def wait(self, attempt: int, rng: random.Random) -> float:
        """Equal jitter: half the exponential wait, plus up to the other half."""
        base: float = min(self.first_s * 2.0 ** min(attempt, 30), self.max_s)
        return base / 2 + rng.uniform(0, base / 2)


_rng = random.Random()


def _detail(response: httpx.Response) -> tuple[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300], response.text[:2000]
    if isinstance(body, dict):
        if isinstance(body.get("errors"), list):  # the CDB's {"status": "error", "errors": [...]}
            parts = []
            for error in body["errors"][:5]:
                if isinstance(error, dict):
                    parts.append(f"{error.get('name', '')}: {error.get('description', '')}")
            return "; ".join(parts)[:500], body
        if "detail" in body:  # Underbid's problems
            return f"{body.get('code', '')}: {body['detail']}"[:500], body
    return str(body)[:300], body


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    try:
        return min(float(value), 3600.0) if value else None
    except ValueError:
        return None


Landed = Callable[[], Awaitable[bool]]


@overload
async def request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    ok: Collection[int] = ...,
    backoff: Backoff | None = ...,
    landed: None = ...,
    retry: Collection[int] = ...,
    **kwargs: Any,
) -> httpx.Response: ...


@overload
async def request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    ok: Collection[int] = ...,
    backoff: Backoff | None = ...,
    landed: Landed,
    retry: Collection[int] = ...,
    **kwargs: Any,
) -> httpx.Response | None: ...


async def request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    ok: Collection[int] = (200, 201),
    backoff: Backoff | None = None,
    landed: Landed | None = None,
    retry: Collection[int] = RETRY_STATUSES,
    **kwargs: Any,
) -> httpx.Response | None:
    """``method url`` until it succeeds (see the module docstring). ``what``
    names the step in logs and errors ("PATCH links of UA-...").

    A write that is not idempotent (attaching a document) passes ``landed``:
    after a try that failed without an answer that says so (a timeout, a
    lost connection, a 5xx), ``landed()`` tells whether the write was done all
    the same; if so, no second try is made and None is returned. ``retry``
    are the 4xx statuses worth another try (the CDB's by default)."""
    backoff = backoff or Backoff()
    attempt = 0
    while True:
        if attempt and landed is not None and await landed():
            log.info("%s: it had landed; not sent again", what)
            return None
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            reason, wait = "timeout", backoff.wait(attempt, _rng)
        except httpx.TransportError as exc:
            reason, wait = type(exc).__name__, backoff.wait(attempt, _rng)
        else:
            status = response.status_code
            if status in ok:
                return response
            if status not in retry and status < 500:
                detail, body = _detail(response)
                raise Refused(what, status, detail, body)
            reason = str(status)
            # a 412 came with a new session cookie: the first retry goes at once
            wait = 0.0 if status == 412 and attempt == 0 else backoff.wait(attempt, _rng)
            after = _retry_after(response)
            if after is not None:
                wait = max(wait, after)
        RETRIES[reason] += 1
        attempt += 1
        log.warning("%s: %s; try %d in %.1f s", what, reason, attempt + 1, wait)
        await asyncio.sleep(wait)
