"""The HTTP API fuzzed against its own published OpenAPI with Schemathesis.

For every operation of ``/openapi.json`` Schemathesis generates requests from
the schema (valid bodies with extreme values inside the bounds, and the
parameters' edge cases); half of them carry the operator's token and most aim
at auctions that exist (public and private, every format), so the handlers
run past the 401 and the 404. Against a real ``underbid serve`` on 127.0.0.1,
every response must be no 5xx, a documented status, of the documented content
type, and of the documented schema (problems included).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks

from gateway.openapi import OPENAPI
from gateway.tokens import issue_token
from tests.factories import dutch_spec, japanese_spec, open_spec, rounds_spec
from tests.gateway.server_fixture import SECRET, now_ms

SCHEMA = schemathesis.openapi.from_dict(OPENAPI)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
EXAMPLES = int(os.environ.get("UNDERBID_FUZZ_EXAMPLES", "40"))
"""Examples per operation (more with ``UNDERBID_FUZZ_EXAMPLES`` for a long run)."""


@dataclass
class Served:
    url: str
    operator: str
    auctions: list[str]
    tokens: list[str]
    http: httpx.Client


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    port = _free_port()
    env = {
        **os.environ,
        "UNDERBID_SERVER_PORT": str(port),
        "UNDERBID_SECURITY_TOKEN_SECRET": SECRET,
        "UNDERBID_LIMITS_HTTP_REQUEST_TIMEOUT_S": "5",
    }
    url = f"http://127.0.0.1:{port}"
    # In a directory of its own: serve keeps its SQLite journal in ./underbid-data.
    with tempfile.TemporaryFile() as log, tempfile.TemporaryDirectory() as home:
        process = subprocess.Popen(
            [sys.executable, "-m", "auction.cli", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=home,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise AssertionError(f"serve did not start: {log.read()[-2000:]!r}")
                time.sleep(0.05)  # polling a real process's start-up
            now = now_ms()
            operator = issue_token(
                SECRET.encode(),
                auction="*",
                role="official",
                bidder=None,
                expires_at=now + 3_600_000,
                now=now,
            )
            headers = {"authorization": f"Bearer {operator}"}
            specs = [
                open_spec(3, id="fz-open", start_at=now),
                rounds_spec(3, id="fz-rounds", start_at=now + 600_000),
                japanese_spec(3, id="fz-japanese", start_at=now, public=False),
                dutch_spec(3, id="fz-dutch", start_at=now),
            ]
            for spec in specs:
                created = httpx.post(f"{url}/api/auctions", json=spec, headers=headers)
                assert created.status_code == 201, created.text
            auctions = [spec["id"] for spec in specs]
            tokens = [
                issue_token(
                    SECRET.encode(),
                    auction=a,
                    role="bidder",
                    bidder="b1",
                    expires_at=now + 3_600_000,
                    now=now,
                )
                for a in auctions
            ]
            with httpx.Client(base_url=url, timeout=30) as http:
                yield Served(url, operator, auctions, tokens, http)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.seek(0)
            errors = [
                line
                for line in log.read().decode(errors="replace").splitlines()
                if "Traceback" in line
            ]
            assert not errors, "the server logged a traceback while fuzzed"


def test_the_fuzzed_schema_is_the_published_one(served: Served) -> None:
    assert httpx.get(f"{served.url}/openapi.json").json() == OPENAPI


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
def test_every_operation_keeps_its_contract(operation: Any, served: Served) -> None:
    @settings(
        max_examples=EXAMPLES,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the same cases on every run: a failure can be replayed
        database=None,
    )
    @given(
        case=operation.as_strategy(),
        credential=st.sampled_from(["operator", "bidder", "none", "garbage"]),
        target=st.integers(min_value=-1, max_value=3),
    )
    def run(case: Any, credential: str, target: int) -> None:
        if target >= 0 and "auction_id" in (case.path_parameters or {}):
            case.path_parameters["auction_id"] = served.auctions[target]
        headers = dict(case.headers or {})
        token = {
            "operator": served.operator,
            "bidder": served.tokens[max(target, 0)],
            "garbage": "ub1.not-a-token",
        }.get(credential)
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        else:
            headers.pop("authorization", None)
        case.headers = headers
        response = case.call(base_url=served.url, timeout=30)
        case.validate_response(response, checks=CHECKS)

    run()


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=40,
)
RAW_BODIES = st.sampled_from(
    [
        b"",
        b"{",
        b"null",
        b'{"a":NaN}',
        b'{"seconds":1e999}',
        b"[" * 5000 + b"]" * 5000,
        b'{"reason":"\\ud800"}',
        b"\xff\xfe\x00",
        b'{"x":1,"x":2}',
        b'{"amount":' + b"9" * 5000 + b"}",
    ]
)
POSTS = [
    "/api/auctions",
    "/api/auctions/{aid}/tokens",
    *(
        f"/api/auctions/{{aid}}/controls/{action}"
        for action in ("pause", "resume", "extend", "cancel", "disqualify", "surrogate_bid")
    ),
]


@settings(
    max_examples=EXAMPLES * 5,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
@given(
    path=st.sampled_from(POSTS),
    target=st.integers(min_value=0, max_value=3),
    body=JSON_VALUES.map(lambda v: json.dumps(v).encode()) | RAW_BODIES,
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded"]
    ),
)
def test_any_body_on_any_endpoint_is_a_typed_answer(
    served: Served, path: str, target: int, body: bytes, content_type: str
) -> None:
    """Not from the schema: any JSON at all, and bytes that are not JSON."""
    response = served.http.post(
        path.format(aid=served.auctions[target]),
        content=body,
        headers={"authorization": f"Bearer {served.operator}", "content-type": content_type},
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"]
