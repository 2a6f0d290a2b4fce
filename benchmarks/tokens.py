"""What a token check costs: every WebSocket handshake and every API call pays it.

    python -m benchmarks.tokens [--n 20000] [--repeat 5]

Each figure is printed beside a bare baseline measured in the same run on the
same core, with the ratio (timings on a shared machine are noisy):

- baseline: the irreducible work of any HMAC token, one HMAC-SHA256 of a
  200-byte text and a constant-time compare (``hmac`` alone);
- PyJWT HS256: ``jwt.decode`` of a server token, the library alone;
- Keyring HS256, first time: :meth:`gateway.tokens.Keyring.verify` of a server
  token never seen (the header read, the key and algorithm chosen, the
  signature, the claims decoded and checked): what a new connection pays;
- Keyring HS256, again: the same token once more (an HTTP client's next call:
  the signature is remembered, the claims are checked again);
- Keyring ES256 / RS256, first: a platform's token, verified with its JWKS key;
- issue HS256: :meth:`Keyring.issue` (one per bidder link).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import platform
import time
from collections.abc import Callable

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.jwks import keys_from_jwks
from gateway.tokens import PLATFORM_ROLES, Keyring

SECRET = b"b" * 16 + b"-benchmark-secret-0123456789"
NOW = 1_700_000_000_000
EXPIRES = NOW + 3_600_000


def best_of(repeat: int, n: int, fn: Callable[[], object]) -> float:
    """The best time per call over ``repeat`` runs of ``n`` calls (seconds)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - started) / n)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="calls per run (default 20000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best counts (default 5)")
    args = parser.parse_args(argv)
    n, repeat = args.n, args.repeat

    ring = Keyring(SECRET)
    token = ring.issue(auction="ua-1", role="bidder", bidder="b1", expires_at=EXPIRES, now=NOW)
    signing_text = token.rsplit(".", 1)[0].encode()
    signature = hmac.new(SECRET, signing_text, hashlib.sha256).digest()

    def baseline() -> object:
        return hmac.compare_digest(
            hmac.new(SECRET, signing_text, hashlib.sha256).digest(), signature
        )

    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = []
    for kid, key, algorithm in (
        ("e1", ec_key, jwt.algorithms.ECAlgorithm),
        ("r1", rsa_key, jwt.algorithms.RSAAlgorithm),
    ):
        jwks.append({**json.loads(algorithm.to_jwk(key.public_key())), "kid": kid, "use": "sig"})
    ring.set_platform_keys(
        keys_from_jwks({"keys": jwks}, roles=frozenset(PLATFORM_ROLES), issuer=None)
    )
    claims = {
        "aud": "ua-1",
        "role": "bidder",
        "bidder": "b1",
        "iat": NOW // 1000,
        "exp": EXPIRES // 1000,
    }
    es_token = jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "e1"})
    rs_token = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "r1"})

    def first(candidate: str) -> object:
        ring._verified.clear()  # a token never seen before (a new connection)
        return ring.verify(candidate, auction="ua-1", now=NOW)

    figures: list[tuple[str, Callable[[], object]]] = [
        ("baseline: HMAC-SHA256 + compare", baseline),
        (
            "PyJWT decode HS256",
            lambda: jwt.decode(
                token, SECRET, algorithms=["HS256"], audience="ua-1", options={"verify_exp": False}
            ),
        ),
        ("Keyring.verify HS256, first time", lambda: first(token)),
        ("Keyring.verify HS256, again", lambda: ring.verify(token, auction="ua-1", now=NOW)),
        ("Keyring.verify ES256 (platform), first", lambda: first(es_token)),
        ("Keyring.verify RS256 (platform), first", lambda: first(rs_token)),
        (
            "Keyring.issue HS256",
            lambda: ring.issue(
                auction="ua-1", role="bidder", bidder="b1", expires_at=EXPIRES, now=NOW
            ),
        ),
    ]
    print(
        f"python {platform.python_version()} on {platform.machine()}, load {os.getloadavg()[0]:.2f}"
    )
    base = 0.0
    for name, fn in figures:
        slow = "(platform)" in name
        seconds = best_of(repeat, max(n // 10, 100) if slow else n, fn)
        base = base or seconds
        print(f"{name:40s} {seconds * 1e6:9.2f} µs  {1 / seconds:11,.0f}/s  x{seconds / base:7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
