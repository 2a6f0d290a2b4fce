"""Signed access tokens: one auction, one role, an expiry.

A token is ``ub1.<claims>.<signature>``:

- ``ub1`` names the format (a new format gets a new prefix; an unknown one is
  ``token_malformed``);
- ``<claims>`` is base64url (unpadded) of the MessagePack array
  ``[auction, role, bidder, expires_at, issued_at]``;
- ``<signature>`` is base64url (unpadded) of HMAC-SHA256 over the ASCII text
  ``ub1.<claims>`` with the server's secret.

The claims are signed, not encrypted: anyone holding a token can read which
auction, role and bidder it names, never the secret. The signature is checked
(in constant time) before the claims are even decoded. Times are milliseconds
since the Unix epoch and are always handed in: these are pure functions.

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
from enum import StrEnum
from typing import Final, Literal, cast, get_args

import msgspec

Role = Literal["bidder", "official", "observer"]
"""Who a connection is: a bidder (with its bidder id), an official, or a watcher."""

ROLES: Final[tuple[str, ...]] = get_args(Role)

PREFIX: Final = "ub1."
"""The format's version prefix; it is part of the signed text."""

MAX_TOKEN_CHARS: Final = 1024
"""Longer strings are refused unread (real tokens are about 100-250 characters)."""

MIN_SECRET_BYTES: Final = 32
"""HMAC-SHA256 keys shorter than its output weaken it."""

_SIGNATURE_BYTES: Final = 32


class TokenCode(StrEnum):
    """Why a token was refused. Stable: never renamed, only added."""

    TOKEN_MISSING = "token_missing"
    """No token at all (and the connection needs one)."""
    TOKEN_MALFORMED = "token_malformed"
    """Not a token of a format this server knows."""
    TOKEN_BAD_SIGNATURE = "token_bad_signature"
    """Not signed with this server's secret: forged, altered, or from another deployment."""
    TOKEN_EXPIRED = "token_expired"
    """``now`` has reached ``expires_at``."""
    TOKEN_WRONG_AUCTION = "token_wrong_auction"
    """Signed by us, for another auction."""
    TOKEN_INVALID_ROLE = "token_invalid_role"
    """An unknown role, a bidder without a bidder id, or another role with one."""


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
    """The one auction it is good for."""
    role: Role
    bidder: str | None
    """The bidder id for the ``bidder`` role; ``None`` for the others."""
    expires_at: int
    """Valid while ``now < expires_at`` (ms since epoch)."""
    issued_at: int
    """When it was signed (ms since epoch)."""


class _SignedClaims(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """The claims as signed: the role is read as text, then checked by :func:`_check_role`."""

    auction: str
    role: str
    bidder: str | None
    expires_at: int
    issued_at: int


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(_SignedClaims)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict unpadded base64url; raises ``ValueError`` on anything else."""
    if "=" in text or not text.isascii():
        raise ValueError("not unpadded base64url")
    padded = text + "=" * (-len(text) % 4)
    data = base64.b64decode(padded, altchars=b"-_", validate=True)
    if _b64encode(data) != text:  # non-canonical trailing bits: one token, one spelling
        raise ValueError("not canonical base64url")
    return data


def _sign(secret: bytes, signed_text: str) -> bytes:
    return hmac.new(secret, signed_text.encode("ascii"), hashlib.sha256).digest()


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the token secret must be at least {MIN_SECRET_BYTES} bytes")


def _check_role(role: str, bidder: str | None) -> None:
    if role not in ROLES:
        raise TokenError(TokenCode.TOKEN_INVALID_ROLE, f"the role must be one of {ROLES}")
    if role == "bidder" and not bidder:
        raise TokenError(TokenCode.TOKEN_INVALID_ROLE, "a bidder token needs a bidder id")
    if role != "bidder" and bidder is not None:
        raise TokenError(TokenCode.TOKEN_INVALID_ROLE, f"an {role} token has no bidder id")


def issue_token(
    secret: bytes,
    *,
    auction: str,
    role: Role,
    bidder: str | None,
    expires_at: int,
    now: int,
) -> str:
    """A token for ``role`` in ``auction``, valid from ``now`` until just before ``expires_at``.

    Raises :class:`TokenError` ``token_invalid_role`` for a role/bidder
    mismatch, and :class:`ValueError` for a short secret, an empty auction id
    or ``expires_at <= now``.
    """
    _check_secret(secret)
    if not auction:
        raise ValueError("a token names its auction")
    if expires_at <= now:
        raise ValueError("a token must expire after it is issued")
    _check_role(role, bidder)
    claims = _SignedClaims(auction, role, bidder, expires_at, now)
    signed_text = PREFIX + _b64encode(_encoder.encode(claims))
    token = signed_text + "." + _b64encode(_sign(secret, signed_text))
    if len(token) > MAX_TOKEN_CHARS:
        raise ValueError("the auction or bidder id is too long for a token")
    return token


def verify_token(secret: bytes, token: str, *, auction: str, now: int) -> TokenClaims:
    """The claims of ``token`` if it is ours, for ``auction``, and not expired at ``now``.

    Checks, in order: present, well-formed, signature, claims decode, role,
    auction, expiry. Raises :class:`TokenError` with the first failure's code.
    """
    _check_secret(secret)
    if not token:
        raise TokenError(TokenCode.TOKEN_MISSING, "a token is required")
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise TokenError(TokenCode.TOKEN_MALFORMED, "not a token")
    if not token.startswith(PREFIX):
        raise TokenError(TokenCode.TOKEN_MALFORMED, "not a token of a known format")
    payload_text, dot, signature_text = token[len(PREFIX) :].partition(".")
    if not dot or not payload_text or not signature_text or "." in signature_text:
        raise TokenError(TokenCode.TOKEN_MALFORMED, "a token has three dot-separated parts")
    signed_text = PREFIX + payload_text
    try:
        signature = _b64decode(signature_text)
        payload = _b64decode(payload_text)
    except (ValueError, binascii.Error):
        raise TokenError(TokenCode.TOKEN_MALFORMED, "a token part is not base64url") from None
    if len(signature) != _SIGNATURE_BYTES:
        raise TokenError(TokenCode.TOKEN_MALFORMED, "the signature has the wrong length")
    if not hmac.compare_digest(signature, _sign(secret, signed_text)):
        raise TokenError(TokenCode.TOKEN_BAD_SIGNATURE, "the token was not signed by this server")
    try:
        signed = _decoder.decode(payload)
    except msgspec.DecodeError:  # signed by us yet unreadable: a key shared with another format
        raise TokenError(TokenCode.TOKEN_MALFORMED, "the claims are not readable") from None
    _check_role(signed.role, signed.bidder)
    if signed.auction != auction:
        raise TokenError(TokenCode.TOKEN_WRONG_AUCTION, "the token is for another auction")
    if now >= signed.expires_at:
        raise TokenError(TokenCode.TOKEN_EXPIRED, "the token has expired")
    role = cast(Role, signed.role)
    return TokenClaims(signed.auction, role, signed.bidder, signed.expires_at, signed.issued_at)


__all__ = [
    "MAX_TOKEN_CHARS",
    "MIN_SECRET_BYTES",
    "PREFIX",
    "ROLES",
    "Role",
    "TokenClaims",
    "TokenCode",
    "TokenError",
    "issue_token",
    "verify_token",
]
