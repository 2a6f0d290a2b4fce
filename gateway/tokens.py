"""Access tokens: standard JSON Web Tokens (RFC 7519), one auction, one role.

A token is a compact JWS (RFC 7515) whose header names the key (``kid``) and
the algorithm (``alg``), and whose claims are::

    aud     the auction it is good for (``*``: an operator, official of every auction)
    role    bidder | official | observer
    bidder  the bidder id (bidder tokens only)
    iat     when it was signed      (NumericDate: seconds since the epoch,
    exp     valid while now < exp    fractions allowed for milliseconds)
    nbf     optional: not valid before
    iss     who signed it (``underbid`` for the server's own tokens)

Any other claim (``jti``, ``sub``...) is allowed and ignored. The server signs
with HMAC-SHA256 (``HS256``) and its shared secret; a platform may sign its
own bidder links with that secret too, or with its own asymmetric key
published as a JWKS (:mod:`gateway.jwks` keeps it fresh). A :class:`Keyring`
holds every key a deployment trusts; **each key has exactly one algorithm**,
so a token can never pick how it is checked: ``alg: none`` and algorithm
confusion (an RSA public key used as an HMAC secret) are refused as bad
signatures. Keys from a JWKS may only mint the roles the deployment allows
platforms (bidders and observers by default), never for the operator ``*``.

The claims are signed, not encrypted: anyone holding a token can read which
auction, role and bidder it names, never a key. The signature is checked
before a single claim is believed. Times are milliseconds since the Unix epoch
and are always handed in: these are pure functions (PyJWT's own clock checks
are switched off).

The retired ``ub1.`` format (HMAC over MessagePack claims) is refused with
``token_old_format`` so that an old link gets a clear answer.

Errors (the exception tree)::

    ValueError
    └── TokenError     a token was refused (the peer's fault), or issuing one was
                       asked with an impossible role; ``code`` is a :class:`TokenCode`

An error message never contains the token nor any part of it: tokens are
credentials, and error messages end up in logs. Asking to issue a token with
a short secret, an empty auction id or an expiry not after ``now`` is our own
bug and raises a plain :class:`ValueError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal, cast, get_args

import jwt
import msgspec
from jwt.api_jws import PyJWS

Role = Literal["bidder", "official", "observer"]
"""Who a connection is: a bidder (with its bidder id), an official, or a watcher."""

ROLES: Final[tuple[str, ...]] = get_args(Role)

OLD_PREFIX: Final = "ub1."
"""The retired format's prefix: such a token is refused with ``token_old_format``."""

ISSUER: Final = "underbid"
"""The ``iss`` of the tokens the server signs."""

SECRET_ALGORITHM: Final = "HS256"
"""How the shared secret signs."""

ASYMMETRIC_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
"""What a platform's published key may sign with (never HMAC: a JWKS is public)."""

MAX_TOKEN_CHARS: Final = 2048
"""Longer strings are refused unread (HS256 tokens are about 200-300 characters,
RS256 with a 4096-bit key about 1000)."""

MIN_SECRET_BYTES: Final = 32
"""HMAC-SHA256 keys shorter than its output weaken it."""

VERIFIED_CACHE: Final = 4096
"""Tokens remembered as well signed (their claims are checked again on every use)."""

PLATFORM_ROLES: Final[tuple[str, ...]] = ("bidder", "observer")
"""The roles a platform's JWKS key may mint unless the deployment says otherwise."""


class TokenCode(StrEnum):
    """Why a token was refused. Stable: never renamed, only added."""

    TOKEN_MISSING = "token_missing"
    """No token at all (and the connection needs one)."""
    TOKEN_MALFORMED = "token_malformed"
    """Not a JWT, or its claims are not the ones a token carries."""
    TOKEN_BAD_SIGNATURE = "token_bad_signature"
    """Not signed by a key this deployment trusts, with that key's algorithm:
    forged, altered, unsigned (``alg: none``), an unknown ``kid``, an algorithm
    confusion, or a platform token from the wrong issuer."""
    TOKEN_EXPIRED = "token_expired"
    """``now`` has reached ``exp``."""
    TOKEN_WRONG_AUCTION = "token_wrong_auction"
    """Signed by a trusted key, for another auction (its ``aud`` is not this one)."""
    TOKEN_INVALID_ROLE = "token_invalid_role"
    """An unknown role, a bidder without a bidder id, another role with one, or a
    role the signing key may not mint."""
    TOKEN_OLD_FORMAT = "token_old_format"
    """A token of the retired ``ub1.`` format: ask for a new link."""
    TOKEN_NOT_YET_VALID = "token_not_yet_valid"
    """The token has an ``nbf`` that ``now`` has not reached."""


class TokenError(ValueError):
    """A token was refused. The message never contains the token."""

    def __init__(self, code: TokenCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        """Machine-readable."""
        self.message = message
        """For humans; safe to log."""


class TokenClaims(msgspec.Struct, frozen=True):
    """What a valid token grants."""

    auction: str
    """The one auction it is good for (``*`` for an operator)."""
    role: Role
    bidder: str | None
    """The bidder id for the ``bidder`` role; ``None`` for the others."""
    expires_at: int
    """Valid while ``now < expires_at`` (ms since epoch)."""
    issued_at: int
    """When it was signed (ms since epoch)."""
    key_id: str = ""
    """The ``kid`` of the key that signed it."""


Seconds = int | float


class _Claims(msgspec.Struct, frozen=True):
    """The claims as read before they are believed: types checked, meaning not yet."""

    aud: str | list[str]
    role: str
    exp: Seconds
    iat: Seconds
    bidder: str | None = None
    nbf: Seconds | None = None
    iss: str | None = None


_claims_decoder: Final = msgspec.json.Decoder(_Claims)


@dataclass(frozen=True, slots=True)
class VerifyKey:
    """One key a deployment trusts."""

    kid: str
    """The key id tokens name in their header."""
    algorithm: str
    """The one algorithm it verifies; a token that names another is refused."""
    key: Any
    """The HMAC secret (bytes) or a ``cryptography`` public key."""
    roles: frozenset[str]
    """Roles it may mint."""
    operator: bool
    """Whether it may mint operator tokens (``aud = *``)."""
    issuer: str | None = None
    """If set, tokens it signs must carry this ``iss``."""


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the token secret must be at least {MIN_SECRET_BYTES} bytes")


def secret_key_id(secret: bytes) -> str:
    """The default ``kid`` of a shared secret: stable for one secret, reveals nothing of it."""
    _check_secret(secret)
    digest = hmac.new(secret, b"underbid token key id", hashlib.sha256).digest()
    return "ub-" + base64.urlsafe_b64encode(digest[:9]).decode("ascii")


def _check_role(role: str, bidder: str | None) -> None:
    if role not in ROLES:
        raise TokenError(TokenCode.TOKEN_INVALID_ROLE, f"the role must be one of {ROLES}")
    if role == "bidder" and not bidder:
        raise TokenError(TokenCode.TOKEN_INVALID_ROLE, "a bidder token needs a bidder id")
    if role != "bidder" and bidder is not None:
        raise TokenError(TokenCode.TOKEN_INVALID_ROLE, f"an {role} token has no bidder id")


def _seconds(ms: int) -> Seconds:
    """ms as a NumericDate: whole seconds stay integers."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def _ms(seconds: Seconds) -> int:
    return round(seconds * 1000)


class Keyring:
    """Every key a deployment trusts, by ``kid``, and the one the server signs with.

    ``secret`` is the shared secret (the server signs with it; a platform may
    too). ``kid`` names it (default :func:`secret_key_id`). Tokens without a
    ``kid`` are checked against the shared secret. :meth:`set_platform_keys`
    replaces the keys of a platform's JWKS (:mod:`gateway.jwks`).
    """

    def __init__(self, secret: bytes, *, kid: str = "") -> None:
        _check_secret(secret)
        self.secret = secret
        """The shared HMAC secret."""
        self.kid = kid or secret_key_id(secret)
        """The ``kid`` of the shared secret, put in every token the server signs."""
        self._own = VerifyKey(
            self.kid, SECRET_ALGORITHM, secret, frozenset(ROLES), operator=True, issuer=None
        )
        self._platform: dict[str, VerifyKey] = {}
        self._verified: dict[str, tuple[_Claims, VerifyKey]] = {}
        """Tokens whose signature checked out, oldest first (bounded): a connection's
        token is checked once, not on every HTTP call; the claims are checked each time."""
        self.on_unknown_kid: Callable[[str], None] | None = None
        """Told of a ``kid`` seen in a token and not found (a JWKS refresher
        fetches keys that were rotated in)."""

    # ---------------------------------------------------------------- keys
    def set_platform_keys(self, keys: Iterable[VerifyKey]) -> None:
        """Replace the platform's keys (a JWKS refresh). A platform key never
        shadows the shared secret's ``kid``."""
        self._platform = {k.kid: k for k in keys if k.kid != self.kid}
        self._verified.clear()  # a key gone from the JWKS signs nothing any more

    def platform_kids(self) -> list[str]:
        return sorted(self._platform)

    def key(self, kid: str | None) -> VerifyKey | None:
        if kid is None or kid == self.kid:
            return self._own
        return self._platform.get(kid)

    # ------------------------------------------------------------- signing
    def issue(
        self,
        *,
        auction: str,
        role: Role,
        bidder: str | None,
        expires_at: int,
        now: int,
    ) -> str:
        """A token for ``role`` in ``auction``, valid from ``now`` until just before
        ``expires_at``, signed with the shared secret.

        Raises :class:`TokenError` ``token_invalid_role`` for a role/bidder
        mismatch, and :class:`ValueError` for an empty auction id or
        ``expires_at <= now``.
        """
        if not auction:
            raise ValueError("a token names its auction")
        if expires_at <= now:
            raise ValueError("a token must expire after it is issued")
        _check_role(role, bidder)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": auction,
            "role": role,
            "iat": _seconds(now),
            "exp": _seconds(expires_at),
        }
        if bidder is not None:
            claims["bidder"] = bidder
        token = jwt.encode(
            claims, self.secret, algorithm=SECRET_ALGORITHM, headers={"kid": self.kid}
        )
        if len(token) > MAX_TOKEN_CHARS:
            raise ValueError("the auction or bidder id is too long for a token")
        return token

    # ----------------------------------------------------------- verifying
    def verify(self, token: str, *, auction: str, now: int) -> TokenClaims:
        """The claims of ``token`` if a trusted key signed it for ``auction`` and it
        is valid at ``now``.

        Checks, in order: present, not the old format, well-formed, a known
        key with its own algorithm, the signature, the claims' types, the
        issuer, the role (and whether the key may mint it), the auction, the
        validity period. Raises :class:`TokenError` with the first failure's code.
        """
        if not token:
            raise TokenError(TokenCode.TOKEN_MISSING, "a token is required")
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.isascii():
            raise TokenError(TokenCode.TOKEN_MALFORMED, "not a token")
        if token.startswith(OLD_PREFIX):
            raise TokenError(
                TokenCode.TOKEN_OLD_FORMAT,
                "this link uses the retired ub1 token format; ask the officials for a new one",
            )
        hit = self._verified.get(token)
        if hit is not None:  # signature checked before: only the claims' checks again
            return self._grant(hit[0], hit[1], auction=auction, now=now)
        header = _header(token)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenError(TokenCode.TOKEN_MALFORMED, "the key id must be text")
        key = self.key(kid)
        if key is None:
            assert kid is not None
            self._note_unknown(kid)
            raise TokenError(
                TokenCode.TOKEN_BAD_SIGNATURE, "signed with a key this server does not know"
            )
        if header.get("alg") != key.algorithm:
            # alg none, or the algorithm of another kind of key: never let a token choose.
            raise TokenError(TokenCode.TOKEN_BAD_SIGNATURE, "not signed with the key's algorithm")
        try:
            signed = PyJWS().decode_complete(token, key.key, algorithms=[key.algorithm])
        except jwt.InvalidSignatureError:
            raise TokenError(
                TokenCode.TOKEN_BAD_SIGNATURE, "the signature does not match"
            ) from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise TokenError(TokenCode.TOKEN_MALFORMED, "not a readable JWT") from None
        try:
            claims = _claims_decoder.decode(signed["payload"])
        except msgspec.DecodeError:
            raise TokenError(TokenCode.TOKEN_MALFORMED, "the claims are not a token's") from None
        granted = self._grant(claims, key, auction=auction, now=now)
        if len(self._verified) >= VERIFIED_CACHE:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = (claims, key)
        return granted

    def _grant(self, claims: _Claims, key: VerifyKey, *, auction: str, now: int) -> TokenClaims:
        if key.issuer is not None and claims.iss != key.issuer:
            raise TokenError(TokenCode.TOKEN_BAD_SIGNATURE, "not issued by the key's issuer")
        _check_role(claims.role, claims.bidder)
        audiences = [claims.aud] if isinstance(claims.aud, str) else claims.aud
        if not audiences or not all(audiences):
            raise TokenError(TokenCode.TOKEN_MALFORMED, "the token names no auction")
        if claims.role not in key.roles:
            raise TokenError(
                TokenCode.TOKEN_INVALID_ROLE, f"this key may not mint {claims.role} tokens"
            )
        if "*" in audiences and not key.operator:
            raise TokenError(TokenCode.TOKEN_INVALID_ROLE, "this key may not mint operator tokens")
        if auction not in audiences:
            raise TokenError(TokenCode.TOKEN_WRONG_AUCTION, "the token is for another auction")
        expires_at = _ms(claims.exp)
        if now >= expires_at:
            raise TokenError(TokenCode.TOKEN_EXPIRED, "the token has expired")
        if claims.nbf is not None and now < _ms(claims.nbf):
            raise TokenError(TokenCode.TOKEN_NOT_YET_VALID, "the token is not valid yet")
        role = cast(Role, claims.role)
        return TokenClaims(auction, role, claims.bidder, expires_at, _ms(claims.iat), key.kid)

    def _note_unknown(self, kid: str) -> None:
        if self.on_unknown_kid is not None:
            self.on_unknown_kid(kid)


def _header(token: str) -> Mapping[str, Any]:
    """The JOSE header, strictly: three parts, base64url, a JSON object."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise TokenError(TokenCode.TOKEN_MALFORMED, "a token has three dot-separated parts")
    try:
        raw = base64.b64decode(parts[0] + "=" * (-len(parts[0]) % 4), altchars=b"-_", validate=True)
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise TokenError(TokenCode.TOKEN_MALFORMED, "the header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise TokenError(TokenCode.TOKEN_MALFORMED, "the header is not a JSON object")
    if not isinstance(header.get("alg"), str):
        raise TokenError(TokenCode.TOKEN_MALFORMED, "the header names no algorithm")
    if "crit" in header:  # RFC 7515 4.1.11: extensions we do not understand must fail
        raise TokenError(TokenCode.TOKEN_MALFORMED, "critical header extensions are not supported")
    return header


def issue_token(
    secret: bytes,
    *,
    auction: str,
    role: Role,
    bidder: str | None,
    expires_at: int,
    now: int,
    kid: str = "",
) -> str:
    """:meth:`Keyring.issue` with a keyring of just ``secret``."""
    return Keyring(secret, kid=kid).issue(
        auction=auction, role=role, bidder=bidder, expires_at=expires_at, now=now
    )


def verify_token(secret: bytes, token: str, *, auction: str, now: int) -> TokenClaims:
    """:meth:`Keyring.verify` with a keyring of just the shared ``secret``."""
    return Keyring(secret).verify(token, auction=auction, now=now)


__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "ISSUER",
    "MAX_TOKEN_CHARS",
    "MIN_SECRET_BYTES",
    "OLD_PREFIX",
    "PLATFORM_ROLES",
    "ROLES",
    "Keyring",
    "Role",
    "TokenClaims",
    "TokenCode",
    "TokenError",
    "VerifyKey",
    "issue_token",
    "secret_key_id",
    "verify_token",
]
