"""A platform's signing keys, fetched from its JWKS (RFC 7517) and kept fresh.

A procurement platform that mints its own bidder links publishes its public
keys at a URL (``security.platform_jwks_url``). :class:`JwksRefresher` fetches
the key set at start, every ``security.jwks_refresh_s``, and soon after a
token names a ``kid`` it does not know (a rotation: at most once per
:data:`MIN_REFETCH_S`), and hands the keys to the :class:`~gateway.tokens.Keyring`.

What is accepted, so that a published key can only do what a public key should:

- asymmetric keys only (``RSA``, ``EC``, ``OKP``): a symmetric (``oct``) key in a
  public document is refused;
- each key needs a ``kid``; its algorithm is its ``alg`` if given (one of
  :data:`~gateway.tokens.ASYMMETRIC_ALGORITHMS`), else the one its type implies
  (RSA: RS256, EC P-256/384/521: ES256/384/512, Ed25519: EdDSA);
- ``use``, if given, must be ``sig``; a document larger than
  :data:`MAX_JWKS_BYTES` or with more than :data:`MAX_KEYS` keys is refused whole.

A failed fetch keeps the keys already known (logged, counted in
``underbid_jwks_refresh_failures_total``): a platform's outage does not lock
its bidders out, and a bad document never empties the ring.

The refresher does I/O (httpx); :func:`keys_from_jwks` is pure and is what the
tests drive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import httpx
import jwt

from auction.runtime.loop import wait_set
from gateway.tokens import ASYMMETRIC_ALGORITHMS, Keyring, VerifyKey

log = logging.getLogger("underbid.gateway")

MAX_JWKS_BYTES: Final = 65_536
MAX_KEYS: Final = 32
MIN_REFETCH_S: Final = 10.0
"""An unknown kid triggers a fetch at most this often (a flood of forged kids
cannot turn into a flood of requests to the platform)."""

_IMPLIED: Final[dict[tuple[str, str | None], str]] = {
    ("RSA", None): "RS256",
    ("EC", "P-256"): "ES256",
    ("EC", "P-384"): "ES384",
    ("EC", "P-521"): "ES512",
    ("OKP", "Ed25519"): "EdDSA",
}


class JwksError(ValueError):
    """A key set that cannot be used; the message says which key and why."""


def keys_from_jwks(
    document: Mapping[str, Any],
    *,
    roles: frozenset[str],
    issuer: str | None,
) -> list[VerifyKey]:
    """The verify keys of a JWKS document. Raises :class:`JwksError` on the first bad key."""
    raw_keys = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(raw_keys, list):
        raise JwksError("a JWKS is an object with a 'keys' list")
    if len(raw_keys) > MAX_KEYS:
        raise JwksError(f"more than {MAX_KEYS} keys")
    out: list[VerifyKey] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_keys):
        where = f"keys[{i}]"
        if not isinstance(raw, Mapping):
            raise JwksError(f"{where}: not an object")
        kid = raw.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 128:
            raise JwksError(f"{where}: needs a kid (text, at most 128 characters)")
        if kid in seen:
            raise JwksError(f"{where}: kid {kid!r} appears twice")
        seen.add(kid)
        kty = raw.get("kty")
        if kty not in ("RSA", "EC", "OKP"):
            raise JwksError(f"{where}: kty {kty!r} is not an asymmetric key type")
        if raw.get("use", "sig") != "sig":
            raise JwksError(f"{where}: use must be 'sig'")
        algorithm = raw.get("alg") or _IMPLIED.get((kty, raw.get("crv") if kty != "RSA" else None))
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise JwksError(f"{where}: algorithm {algorithm!r} is not one a platform may sign with")
        try:
            key = jwt.PyJWK(dict(raw), algorithm=algorithm).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            raise JwksError(f"{where}: not a usable {kty} key: {exc}") from None
        if hasattr(key, "private_bytes"):
            raise JwksError(f"{where}: a private key must never be published")
        out.append(VerifyKey(kid, algorithm, key, roles, operator=False, issuer=issuer))
    return out


class JwksRefresher:
    """Keeps ``keyring``'s platform keys equal to the JWKS at ``url``.

    :meth:`start` fetches once (a failure is logged, the server still starts)
    and runs the loop; :meth:`stop` ends it. ``on_failure`` is told of every
    failed refresh (the gateway counts them).
    """

    def __init__(
        self,
        keyring: Keyring,
        url: str,
        *,
        roles: frozenset[str],
        issuer: str | None,
        refresh_s: float = 300.0,
        timeout_s: float = 5.0,
        on_failure: Callable[[str], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.keyring = keyring
        self.url = url
        self.roles = roles
        self.issuer = issuer
        self.refresh_s = refresh_s
        self.timeout_s = timeout_s
        self.on_failure = on_failure
        self._transport = transport
        self._task: asyncio.Task[None] | None = None
        self._last_fetch = 0.0
        self._wake = asyncio.Event()
        self.fetched = 0
        """Successful refreshes."""

    async def refresh(self) -> bool:
        """One fetch; True if the keys were replaced."""
        self._last_fetch = time.monotonic()
        try:
            async with (
                httpx.AsyncClient(
                    timeout=self.timeout_s, transport=self._transport, follow_redirects=False
                ) as client,
                client.stream("GET", self.url, headers={"Accept": "application/json"}) as r,
            ):
                if r.status_code != 200:
                    raise JwksError(f"HTTP {r.status_code}")
                body = b""
                async for chunk in r.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise JwksError(f"larger than {MAX_JWKS_BYTES} bytes")
            keys = keys_from_jwks(_json(body), roles=self.roles, issuer=self.issuer)
        except (httpx.HTTPError, JwksError) as exc:
            log.warning("platform JWKS at %s not refreshed: %s", self.url, exc)
            if self.on_failure is not None:
                self.on_failure(str(exc))
            return False
        self.keyring.set_platform_keys(keys)
        self.fetched += 1
        return True

    def poke(self) -> None:
        """A token named an unknown kid: refresh soon (rate-limited)."""
        self._wake.set()

    async def start(self) -> None:
        self.keyring.on_unknown_kid = lambda kid: self.poke()
        await self.refresh()
        self._task = asyncio.create_task(self._loop(), name="underbid-jwks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.keyring.on_unknown_kid = None

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            await wait_set(self._wake, self.refresh_s)
            wait = MIN_REFETCH_S - (time.monotonic() - self._last_fetch)
            if wait > 0:
                await asyncio.sleep(wait)
            await self.refresh()


def _json(body: bytes) -> Any:
    import json

    try:
        return json.loads(body)
    except ValueError as exc:
        raise JwksError(f"not JSON: {exc}") from None
