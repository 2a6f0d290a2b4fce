"""Tokens: scoped to one auction and one role, signed, expiring; every refusal
has its code, and no error message ever carries the token."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.tokens import (
    MAX_TOKEN_CHARS,
    PREFIX,
    Role,
    TokenClaims,
    TokenCode,
    TokenError,
    issue_token,
    verify_token,
)

SECRET = b"s" * 16 + b"-test-secret-0123456789"
OTHER_SECRET = b"o" * 16 + b"-other-secret-0123456789"
NOW = 1_700_000_000_000
EXPIRES = NOW + 3_600_000


def token_for(
    role: Role = "bidder",
    bidder: str | None = "b1",
    *,
    auction: str = "A",
    expires_at: int = EXPIRES,
    secret: bytes = SECRET,
) -> str:
    return issue_token(
        secret, auction=auction, role=role, bidder=bidder, expires_at=expires_at, now=NOW
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def handmade(claims: Any, secret: bytes = SECRET) -> str:
    """A token built from the documented format alone: it pins the format down."""
    signed = PREFIX + b64(msgspec.msgpack.encode(claims))
    return signed + "." + b64(hmac.new(secret, signed.encode(), hashlib.sha256).digest())


def refusal(token: str, *, auction: str = "A", now: int = NOW) -> TokenError:
    with pytest.raises(TokenError) as info:
        verify_token(SECRET, token, auction=auction, now=now)
    if token:
        assert token not in str(info.value)
    return info.value


# ------------------------------------------------------------------ valid
@pytest.mark.parametrize("role, bidder", [("bidder", "b1"), ("official", None), ("observer", None)])
def test_round_trip_each_role(role: Role, bidder: str | None) -> None:
    token = token_for(role, bidder)
    assert token.startswith("ub1.")
    claims = verify_token(SECRET, token, auction="A", now=NOW)
    assert claims == TokenClaims(
        auction="A", role=role, bidder=bidder, expires_at=EXPIRES, issued_at=NOW
    )


def test_the_format_is_the_documented_one() -> None:
    token = token_for()
    assert token == handmade(["A", "bidder", "b1", EXPIRES, NOW])
    assert set(token) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    assert len(token) < 120


def test_tokens_are_url_safe_and_short_enough_for_headers() -> None:
    token = token_for(auction="a" * 128, bidder="b" * 128)
    assert len(token) <= MAX_TOKEN_CHARS
    assert verify_token(SECRET, token, auction="a" * 128, now=NOW).bidder == "b" * 128


# ---------------------------------------------------------------- expiry
def test_valid_until_just_before_expiry() -> None:
    token = token_for()
    assert verify_token(SECRET, token, auction="A", now=EXPIRES - 1).expires_at == EXPIRES
    assert refusal(token, now=EXPIRES).code is TokenCode.TOKEN_EXPIRED
    assert refusal(token, now=EXPIRES + 1).code is TokenCode.TOKEN_EXPIRED


# ----------------------------------------------------------------- refusals
@pytest.mark.parametrize("token", ["", None])
def test_missing(token: Any) -> None:
    assert refusal(token).code is TokenCode.TOKEN_MISSING


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "ub1",
        "ub1.",
        "ub1..",
        "ub2.abc.def",
        "UB1.abc.def",
        "Bearer ub1.abc.def",
        "ub1.abc",
        "ub1..abc",
        "ub1.abc.",
        "ub1.a.b.c",
        "ub1.ab+c.def",
        "ub1.abc.de/f",
        "ub1.abc=.def",
        "ub1.abc.dëf",
        "ub1.abc.def",  # a signature of the wrong length
        "ub1." + "a" * MAX_TOKEN_CHARS,
    ],
)
def test_malformed(token: str) -> None:
    assert refusal(token).code is TokenCode.TOKEN_MALFORMED


def test_non_canonical_base64_is_malformed() -> None:
    prefix, payload, signature = token_for().split(".")
    last = signature[-1]
    # 32 bytes -> 43 characters: the last one carries 2 unused bits that must be zero.
    twin = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = twin.index(last)
    variant = twin[index ^ 1]
    assert refusal(f"{prefix}.{payload}.{signature[:-1]}{variant}").code is (
        TokenCode.TOKEN_MALFORMED
    )


def test_another_secret_is_a_bad_signature() -> None:
    token = token_for(secret=OTHER_SECRET)
    assert refusal(token).code is TokenCode.TOKEN_BAD_SIGNATURE


def test_changed_claims_are_a_bad_signature() -> None:
    _, _, signature = token_for().split(".")
    forged = handmade(["A", "official", None, EXPIRES, NOW]).rsplit(".", 1)[0]
    assert refusal(f"{forged}.{signature}").code is TokenCode.TOKEN_BAD_SIGNATURE
    other = token_for(bidder="b2")
    assert refusal(other.rsplit(".", 1)[0] + "." + signature).code is (
        TokenCode.TOKEN_BAD_SIGNATURE
    )


def test_tampering_any_character_breaks_the_token() -> None:
    token = token_for()
    for i, char in enumerate(token):
        for replacement in {"A", "b", "_", "."} - {char}:
            tampered = token[:i] + replacement + token[i + 1 :]
            error = refusal(tampered)
            assert error.code in (TokenCode.TOKEN_BAD_SIGNATURE, TokenCode.TOKEN_MALFORMED)


@settings(max_examples=100)
@given(st.booleans(), st.integers(min_value=0), st.integers(0, 7))
def test_flipping_any_bit_breaks_the_signature(in_payload: bool, where: int, bit: int) -> None:
    prefix, payload, signature = token_for().split(".")
    raw = bytearray(unb64(payload if in_payload else signature))
    raw[where % len(raw)] ^= 1 << bit
    if in_payload:
        tampered = f"{prefix}.{b64(bytes(raw))}.{signature}"
    else:
        tampered = f"{prefix}.{payload}.{b64(bytes(raw))}"
    assert refusal(tampered).code is TokenCode.TOKEN_BAD_SIGNATURE


def test_a_token_for_one_auction_fails_for_another() -> None:
    token = token_for(auction="A")
    assert refusal(token, auction="B").code is TokenCode.TOKEN_WRONG_AUCTION
    assert refusal(token, auction="a").code is TokenCode.TOKEN_WRONG_AUCTION
    assert verify_token(SECRET, token, auction="A", now=NOW).auction == "A"


@pytest.mark.parametrize(
    "role, bidder",
    [("bidder", None), ("bidder", ""), ("official", "b1"), ("observer", "b1"), ("admin", None)],
)
def test_issuing_an_impossible_role_is_refused(role: Any, bidder: str | None) -> None:
    with pytest.raises(TokenError) as info:
        token_for(role, bidder)
    assert info.value.code is TokenCode.TOKEN_INVALID_ROLE


@pytest.mark.parametrize(
    "claims",
    [
        ["A", "bidder", None, EXPIRES, NOW],
        ["A", "bidder", "", EXPIRES, NOW],
        ["A", "official", "b1", EXPIRES, NOW],
        ["A", "admin", None, EXPIRES, NOW],
    ],
)
def test_a_signed_token_with_an_impossible_role_is_refused(claims: list[Any]) -> None:
    assert refusal(handmade(claims)).code is TokenCode.TOKEN_INVALID_ROLE


@pytest.mark.parametrize(
    "claims",
    [
        {"auction": "A"},
        ["A", "bidder", "b1", EXPIRES],
        ["A", "bidder", "b1", EXPIRES, NOW, "extra"],
        ["A", "bidder", "b1", "soon", NOW],
        "just text",
    ],
)
def test_signed_but_unreadable_claims_are_malformed(claims: Any) -> None:
    assert refusal(handmade(claims)).code is TokenCode.TOKEN_MALFORMED


def test_the_signature_is_checked_before_anything_else_is_told() -> None:
    # An attacker's token for another auction, expired, learns only "bad signature".
    token = token_for(auction="B", expires_at=NOW + 1, secret=OTHER_SECRET)
    assert refusal(token, now=NOW + 5).code is TokenCode.TOKEN_BAD_SIGNATURE


# ------------------------------------------------------------------ secrecy
def test_claims_never_contain_the_secret() -> None:
    token = token_for()
    _, payload, _ = token.split(".")
    decoded = unb64(payload)
    assert SECRET not in decoded
    assert SECRET.decode() not in token
    assert b64(SECRET) not in token
    claims = verify_token(SECRET, token, auction="A", now=NOW)
    assert all(SECRET.decode() not in str(v) for v in msgspec.structs.astuple(claims))


def test_error_messages_never_carry_the_token_or_its_parts() -> None:
    token = token_for(auction="A")
    _, payload, signature = token.split(".")
    cases = [
        (token, "B", NOW),
        (token, "A", EXPIRES),
        (token_for(secret=OTHER_SECRET), "A", NOW),
        (token[:-1], "A", NOW),
        (token + "x", "A", NOW),
    ]
    for candidate, auction, now in cases:
        with pytest.raises(TokenError) as info:
            verify_token(SECRET, candidate, auction=auction, now=now)
        text = str(info.value) + repr(info.value) + info.value.message
        assert payload not in text and signature not in text and candidate not in text
        assert str(info.value).startswith(info.value.code.value + ": ")


# ------------------------------------------------------------ our own misuse
@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": b"short"},
        {"auction": ""},
        {"expires_at": NOW},
        {"expires_at": NOW - 1},
        {"auction": "a" * 1000},
    ],
)
def test_issuing_with_bad_arguments_is_a_value_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as info:
        token_for(**kwargs)
    assert not isinstance(info.value, TokenError)


def test_verifying_with_a_short_secret_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        verify_token(b"short", token_for(), auction="A", now=NOW)
