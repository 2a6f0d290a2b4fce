"""Tokens: standard JWTs scoped to one auction and one role, signed, expiring;
minted by the server, by a platform's JWKS key or with the shared secret;
every refusal has its code, and no error message ever carries the token."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.jwks import JwksError, keys_from_jwks
from gateway.tokens import (
    MAX_TOKEN_CHARS,
    PLATFORM_ROLES,
    Keyring,
    Role,
    TokenClaims,
    TokenCode,
    TokenError,
    issue_token,
    secret_key_id,
    verify_token,
)

SECRET = b"s" * 16 + b"-test-secret-0123456789"
OTHER_SECRET = b"o" * 16 + b"-other-secret-0123456789"
NOW = 1_700_000_000_000
EXPIRES = NOW + 3_600_000
PLATFORM = "https://platform.example"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()


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


def jwk_of(private: Any, kid: str, **extra: Any) -> dict[str, Any]:
    """The public JWK of a private key, as a platform publishes it."""
    public = private.public_key()
    algorithm: Any = {
        rsa.RSAPublicKey: jwt.algorithms.RSAAlgorithm,
        ec.EllipticCurvePublicKey: jwt.algorithms.ECAlgorithm,
        ed25519.Ed25519PublicKey: jwt.algorithms.OKPAlgorithm,
    }[
        next(
            t
            for t in (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)
            if isinstance(public, t)
        )
    ]
    jwk = json.loads(algorithm.to_jwk(public))
    jwk.update(kid=kid, use="sig", **extra)
    return dict(jwk)


def platform_ring(*jwks: dict[str, Any], issuer: str | None = PLATFORM) -> Keyring:
    ring = Keyring(SECRET)
    ring.set_platform_keys(
        keys_from_jwks({"keys": list(jwks)}, roles=frozenset(PLATFORM_ROLES), issuer=issuer)
    )
    return ring


def platform_token(
    private: Any,
    algorithm: str,
    kid: str,
    *,
    role: str = "bidder",
    bidder: str | None = "b1",
    aud: Any = "A",
    iss: str | None = PLATFORM,
    exp: float = EXPIRES / 1000,
    **claims: Any,
) -> str:
    body: dict[str, Any] = {"aud": aud, "role": role, "iat": NOW // 1000, "exp": exp, **claims}
    if bidder is not None:
        body["bidder"] = bidder
    if iss is not None:
        body["iss"] = iss
    return jwt.encode(body, private, algorithm=algorithm, headers={"kid": kid})


def refusal(
    token: str, *, auction: str = "A", now: int = NOW, ring: Keyring | None = None
) -> TokenError:
    with pytest.raises(TokenError) as info:
        (ring or Keyring(SECRET)).verify(token, auction=auction, now=now)
    if token:
        assert token not in str(info.value)
    return info.value


# ------------------------------------------------------------------ valid
@pytest.mark.parametrize("role, bidder", [("bidder", "b1"), ("official", None), ("observer", None)])
def test_round_trip_each_role(role: Role, bidder: str | None) -> None:
    token = token_for(role, bidder)
    claims = verify_token(SECRET, token, auction="A", now=NOW)
    assert claims == TokenClaims(
        auction="A",
        role=role,
        bidder=bidder,
        expires_at=EXPIRES,
        issued_at=NOW,
        key_id=secret_key_id(SECRET),
    )


def test_a_token_is_a_standard_jwt_any_library_reads() -> None:
    token = token_for()
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "typ": "JWT", "kid": secret_key_id(SECRET)}
    claims = jwt.decode(
        token, SECRET, algorithms=["HS256"], audience="A", options={"verify_exp": False}
    )
    assert claims == {
        "iss": "underbid",
        "aud": "A",
        "role": "bidder",
        "bidder": "b1",
        "iat": NOW // 1000,
        "exp": EXPIRES // 1000,
    }
    assert set(token) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def test_milliseconds_survive_as_fractional_numeric_dates() -> None:
    token = issue_token(
        SECRET, auction="A", role="observer", bidder=None, expires_at=NOW + 1_500, now=NOW + 7
    )
    claims = verify_token(SECRET, token, auction="A", now=NOW + 7)
    assert (claims.issued_at, claims.expires_at) == (NOW + 7, NOW + 1_500)


def test_the_key_id_is_configurable_and_stable() -> None:
    assert secret_key_id(SECRET) == secret_key_id(SECRET) != secret_key_id(OTHER_SECRET)
    assert SECRET.decode() not in secret_key_id(SECRET)
    ring = Keyring(SECRET, kid="2024-rotation-1")
    token = ring.issue(auction="A", role="observer", bidder=None, expires_at=EXPIRES, now=NOW)
    assert jwt.get_unverified_header(token)["kid"] == "2024-rotation-1"
    assert ring.verify(token, auction="A", now=NOW).key_id == "2024-rotation-1"
    # A ring with the default kid does not know this kid: a key it does not hold.
    assert refusal(token).code is TokenCode.TOKEN_BAD_SIGNATURE


def test_a_platform_with_the_shared_secret_may_mint_without_a_kid() -> None:
    minted = jwt.encode(
        {"aud": "A", "role": "bidder", "bidder": "b7", "iat": NOW // 1000, "exp": EXPIRES // 1000},
        SECRET,
        algorithm="HS256",
    )
    claims = verify_token(SECRET, minted, auction="A", now=NOW)
    assert (claims.role, claims.bidder) == ("bidder", "b7")


@pytest.mark.parametrize(
    "private, algorithm",
    [(RSA_KEY, "RS256"), (RSA_KEY, "PS256"), (EC_KEY, "ES256"), (ED_KEY, "EdDSA")],
)
def test_a_platform_key_from_its_jwks_is_accepted(private: Any, algorithm: str) -> None:
    extra = {"alg": algorithm} if algorithm == "PS256" else {}
    ring = platform_ring(jwk_of(private, "p1", **extra))
    token = platform_token(private, algorithm, "p1", jti="x-1", sub="someone")
    claims = ring.verify(token, auction="A", now=NOW)
    assert (claims.role, claims.bidder, claims.key_id) == ("bidder", "b1", "p1")
    assert len(token) <= MAX_TOKEN_CHARS


def test_an_audience_list_that_names_the_auction_is_accepted() -> None:
    ring = platform_ring(jwk_of(EC_KEY, "p1"))
    token = platform_token(EC_KEY, "ES256", "p1", aud=["A", "B"])
    assert ring.verify(token, auction="B", now=NOW).auction == "B"
    assert refusal(token, auction="C", ring=ring).code is TokenCode.TOKEN_WRONG_AUCTION


# ---------------------------------------------------------------- expiry
def test_valid_until_just_before_expiry() -> None:
    token = token_for()
    assert verify_token(SECRET, token, auction="A", now=EXPIRES - 1).expires_at == EXPIRES
    assert refusal(token, now=EXPIRES).code is TokenCode.TOKEN_EXPIRED
    assert refusal(token, now=EXPIRES + 1).code is TokenCode.TOKEN_EXPIRED


def test_a_platform_token_past_its_expiry_is_expired() -> None:
    ring = platform_ring(jwk_of(RSA_KEY, "p1"))
    token = platform_token(RSA_KEY, "RS256", "p1", exp=(NOW - 1) / 1000)
    assert refusal(token, ring=ring).code is TokenCode.TOKEN_EXPIRED


def test_not_before_is_honoured() -> None:
    ring = platform_ring(jwk_of(RSA_KEY, "p1"))
    token = platform_token(RSA_KEY, "RS256", "p1", nbf=(NOW + 60_000) / 1000)
    assert refusal(token, ring=ring).code is TokenCode.TOKEN_NOT_YET_VALID
    assert ring.verify(token, auction="A", now=NOW + 60_000).bidder == "b1"


# ----------------------------------------------------------------- refusals
@pytest.mark.parametrize("token", ["", None])
def test_missing(token: Any) -> None:
    assert refusal(token).code is TokenCode.TOKEN_MISSING


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b",
        "a.b.c.d",
        "..",
        "Bearer x.y.z",
        "e30.e30.",
        b64(b"[1]") + ".e30.sig",
        b64(b'{"alg":"HS256"') + ".e30.sig",
        "ab+c.e30.sig",
        "eyJ=.e30.sig",
        "ëyJ.e30.sig",
        b64(b'{"alg":"HS256","crit":["exp"]}') + ".e30.sig",
        "x" * (MAX_TOKEN_CHARS + 1),
    ],
)
def test_malformed(token: str) -> None:
    assert refusal(token).code is TokenCode.TOKEN_MALFORMED


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "A", "role": "bidder", "bidder": "b1", "iat": 1},
        {"aud": "A", "role": "bidder", "bidder": "b1", "exp": "soon", "iat": 1},
        {"aud": 7, "role": "bidder", "bidder": "b1", "exp": 9e12, "iat": 1},
        {"aud": [], "role": "observer", "exp": 9e12, "iat": 1},
        {"aud": "A", "role": "observer", "exp": True, "iat": 1},
        {"role": "observer", "exp": 9e12, "iat": 1},
    ],
)
def test_signed_but_unreadable_claims_are_malformed(claims: dict[str, Any]) -> None:
    token = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": secret_key_id(SECRET)})
    assert refusal(token).code is TokenCode.TOKEN_MALFORMED


def test_the_old_format_is_refused_with_its_own_code() -> None:
    error = refusal("ub1.laJhMaZiaWRkZXKiYjHNA-gA.EoThTzer039qgoY52k5nIZPEY8OQoQWzcuLOJOBj4m8")
    assert error.code is TokenCode.TOKEN_OLD_FORMAT
    assert "new one" in error.message


def test_another_secret_is_a_bad_signature() -> None:
    token = jwt.encode(
        {"aud": "A", "role": "official", "iat": 1, "exp": 9e12},
        OTHER_SECRET,
        algorithm="HS256",
        headers={"kid": secret_key_id(SECRET)},
    )
    assert refusal(token).code is TokenCode.TOKEN_BAD_SIGNATURE
    assert refusal(token_for(secret=OTHER_SECRET)).code is TokenCode.TOKEN_BAD_SIGNATURE


def test_a_wrong_platform_key_is_a_bad_signature() -> None:
    ring = platform_ring(jwk_of(RSA_KEY, "p1"))
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert refusal(platform_token(impostor, "RS256", "p1"), ring=ring).code is (
        TokenCode.TOKEN_BAD_SIGNATURE
    )


def test_an_unknown_kid_is_a_bad_signature_and_is_reported() -> None:
    ring = platform_ring(jwk_of(RSA_KEY, "p1"))
    seen: list[str] = []
    ring.on_unknown_kid = seen.append
    assert refusal(platform_token(RSA_KEY, "RS256", "p2"), ring=ring).code is (
        TokenCode.TOKEN_BAD_SIGNATURE
    )
    assert seen == ["p2"]


def test_alg_none_is_refused() -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"aud": "A", "role": "official", "iat": 1, "exp": 9e12}).encode())
    for token in (f"{header}.{claims}.", f"{header}.{claims}.x"):
        assert refusal(token).code is TokenCode.TOKEN_BAD_SIGNATURE
    named = b64(json.dumps({"alg": "none", "kid": "p1"}).encode())
    ring = platform_ring(jwk_of(RSA_KEY, "p1"))
    assert refusal(f"{named}.{claims}.", ring=ring).code is TokenCode.TOKEN_BAD_SIGNATURE


def test_algorithm_confusion_is_refused() -> None:
    """The classic attack: HMAC-sign with the platform's *public* key as the secret."""
    ring = platform_ring(jwk_of(RSA_KEY, "p1"))
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body = {"aud": "A", "role": "bidder", "bidder": "b1", "iss": PLATFORM, "iat": 1, "exp": 9e12}
    signing = (
        b64(json.dumps({"alg": "HS256", "kid": "p1"}).encode())
        + "."
        + b64(json.dumps(body).encode())
    )
    import hashlib
    import hmac

    forged = signing + "." + b64(hmac.new(public_pem, signing.encode(), hashlib.sha256).digest())
    assert refusal(forged, ring=ring).code is TokenCode.TOKEN_BAD_SIGNATURE
    # ... and an RS256 token presented under the shared secret's kid.
    rs = platform_token(RSA_KEY, "RS256", secret_key_id(SECRET))
    assert refusal(rs, ring=ring).code is TokenCode.TOKEN_BAD_SIGNATURE
    # ... and ES256 under an RSA key's kid.
    assert refusal(platform_token(EC_KEY, "ES256", "p1"), ring=ring).code is (
        TokenCode.TOKEN_BAD_SIGNATURE
    )


def test_wrong_audience_is_the_wrong_auction() -> None:
    assert refusal(token_for(auction="A"), auction="B").code is TokenCode.TOKEN_WRONG_AUCTION
    assert refusal(token_for(auction="A"), auction="a").code is TokenCode.TOKEN_WRONG_AUCTION
    ring = platform_ring(jwk_of(ED_KEY, "p1"))
    token = platform_token(ED_KEY, "EdDSA", "p1", aud="B")
    assert refusal(token, ring=ring).code is TokenCode.TOKEN_WRONG_AUCTION


def test_a_platform_token_from_another_issuer_is_refused() -> None:
    ring = platform_ring(jwk_of(RSA_KEY, "p1"))
    for iss in ("https://evil.example", None):
        token = platform_token(RSA_KEY, "RS256", "p1", iss=iss)
        assert refusal(token, ring=ring).code is TokenCode.TOKEN_BAD_SIGNATURE
    open_ring = platform_ring(jwk_of(RSA_KEY, "p1"), issuer=None)
    assert open_ring.verify(platform_token(RSA_KEY, "RS256", "p1", iss=None), auction="A", now=NOW)


def test_a_platform_key_mints_only_the_roles_it_is_allowed() -> None:
    ring = platform_ring(jwk_of(RSA_KEY, "p1"))
    official = platform_token(RSA_KEY, "RS256", "p1", role="official", bidder=None)
    assert refusal(official, ring=ring).code is TokenCode.TOKEN_INVALID_ROLE
    operator = platform_token(RSA_KEY, "RS256", "p1", role="observer", bidder=None, aud="*")
    assert refusal(operator, auction="*", ring=ring).code is TokenCode.TOKEN_INVALID_ROLE
    observer = platform_token(RSA_KEY, "RS256", "p1", role="observer", bidder=None)
    assert ring.verify(observer, auction="A", now=NOW).role == "observer"


@pytest.mark.parametrize(
    "role, bidder",
    [("bidder", None), ("bidder", ""), ("official", "b1"), ("observer", "b1"), ("admin", None)],
)
def test_issuing_an_impossible_role_is_refused(role: Any, bidder: str | None) -> None:
    with pytest.raises(TokenError) as info:
        token_for(role, bidder)
    assert info.value.code is TokenCode.TOKEN_INVALID_ROLE


@pytest.mark.parametrize(
    "role, bidder", [("bidder", None), ("bidder", ""), ("official", "b1"), ("admin", None)]
)
def test_a_signed_token_with_an_impossible_role_is_refused(role: str, bidder: Any) -> None:
    body: dict[str, Any] = {"aud": "A", "role": role, "iat": 1, "exp": 9e12}
    if bidder is not None:
        body["bidder"] = bidder
    token = jwt.encode(body, SECRET, algorithm="HS256")
    assert refusal(token).code is TokenCode.TOKEN_INVALID_ROLE


def test_tampering_any_character_breaks_the_token() -> None:
    token = token_for()
    for i, char in enumerate(token):
        for replacement in {"A", "b", "_", "."} - {char}:
            tampered = token[:i] + replacement + token[i + 1 :]
            try:
                claims = verify_token(SECRET, tampered, auction="A", now=NOW)
            except TokenError as error:
                assert error.code in (TokenCode.TOKEN_BAD_SIGNATURE, TokenCode.TOKEN_MALFORMED)
                continue
            # base64url's last character carries spare bits: the same bytes, the same claims
            assert claims == verify_token(SECRET, token, auction="A", now=NOW)


@settings(max_examples=100)
@given(st.integers(min_value=0), st.integers(0, 7))
def test_flipping_any_bit_of_the_claims_breaks_the_signature(where: int, bit: int) -> None:
    header, payload, signature = token_for().split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[where % len(raw)] ^= 1 << bit
    error = refusal(f"{header}.{b64(bytes(raw))}.{signature}")
    assert error.code in (TokenCode.TOKEN_BAD_SIGNATURE, TokenCode.TOKEN_MALFORMED)


def test_the_signature_is_checked_before_anything_else_is_told() -> None:
    token = token_for(auction="B", expires_at=NOW + 1, secret=OTHER_SECRET)
    assert refusal(token, now=NOW + 5).code is TokenCode.TOKEN_BAD_SIGNATURE


# ------------------------------------------------------------------ secrecy
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


def test_claims_never_contain_the_secret() -> None:
    token = token_for()
    assert SECRET.decode() not in token and b64(SECRET) not in token


# ------------------------------------------------------------------- JWKS
def test_a_jwks_with_a_symmetric_key_is_refused() -> None:
    with pytest.raises(JwksError, match="asymmetric"):
        keys_from_jwks(
            {"keys": [{"kty": "oct", "kid": "k", "k": b64(SECRET)}]},
            roles=frozenset(PLATFORM_ROLES),
            issuer=None,
        )


@pytest.mark.parametrize(
    "document, match",
    [
        ({}, "keys"),
        ({"keys": "x"}, "keys"),
        ({"keys": [jwk_of(RSA_KEY, "")]}, "kid"),
        ({"keys": [jwk_of(RSA_KEY, "a"), jwk_of(EC_KEY, "a")]}, "twice"),
        ({"keys": [jwk_of(RSA_KEY, "a", alg="HS256")]}, "algorithm"),
        ({"keys": [{**jwk_of(RSA_KEY, "a"), "use": "enc"}]}, "use"),
        ({"keys": [{"kty": "RSA", "kid": "a", "n": "AQAB"}]}, "usable"),
        ({"keys": [jwk_of(RSA_KEY, f"k{i}") for i in range(33)]}, "more than"),
    ],
)
def test_a_bad_jwks_is_refused_naming_the_problem(document: dict[str, Any], match: str) -> None:
    with pytest.raises(JwksError, match=match):
        keys_from_jwks(document, roles=frozenset(PLATFORM_ROLES), issuer=None)


def test_a_published_private_key_is_refused() -> None:
    private_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY))
    with pytest.raises(JwksError, match="private"):
        keys_from_jwks(
            {"keys": [{**private_jwk, "kid": "p"}]}, roles=frozenset(PLATFORM_ROLES), issuer=None
        )


def test_a_platform_key_cannot_shadow_the_shared_secret() -> None:
    ring = platform_ring(jwk_of(RSA_KEY, secret_key_id(SECRET)))
    assert ring.platform_kids() == []
    assert ring.verify(token_for(), auction="A", now=NOW).bidder == "b1"


# ------------------------------------------------------------ our own misuse
@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": b"short"},
        {"auction": ""},
        {"expires_at": NOW},
        {"expires_at": NOW - 1},
        {"auction": "a" * 2000},
    ],
)
def test_issuing_with_bad_arguments_is_a_value_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as info:
        token_for(**kwargs)
    assert not isinstance(info.value, TokenError)


def test_verifying_with_a_short_secret_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        verify_token(b"short", token_for(), auction="A", now=NOW)


def test_a_token_checked_before_is_remembered_but_its_claims_are_checked_each_time() -> None:
    ring = platform_ring(jwk_of(RSA_KEY, "p1"))
    token = platform_token(RSA_KEY, "RS256", "p1", exp=(NOW + 60_000) / 1000)
    assert ring.verify(token, auction="A", now=NOW).bidder == "b1"
    assert ring.verify(token, auction="A", now=NOW + 1).bidder == "b1"  # remembered
    assert refusal(token, auction="B", ring=ring).code is TokenCode.TOKEN_WRONG_AUCTION
    assert refusal(token, now=NOW + 60_000, ring=ring).code is TokenCode.TOKEN_EXPIRED
    # the platform's JWKS no longer has the key: nothing it signed is taken any more
    ring.set_platform_keys([])
    assert refusal(token, ring=ring).code is TokenCode.TOKEN_BAD_SIGNATURE


def test_the_memory_of_checked_tokens_is_bounded() -> None:
    from gateway.tokens import VERIFIED_CACHE

    ring = Keyring(SECRET)
    tokens = [
        ring.issue(auction=f"a{i}", role="observer", bidder=None, expires_at=EXPIRES, now=NOW)
        for i in range(VERIFIED_CACHE + 10)
    ]
    for i, token in enumerate(tokens):
        ring.verify(token, auction=f"a{i}", now=NOW)
    assert len(ring._verified) == VERIFIED_CACHE
    assert tokens[0] not in ring._verified and tokens[-1] in ring._verified
