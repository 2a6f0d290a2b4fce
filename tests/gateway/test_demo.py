"""``underbid demo``: a real server, bots bidding over WebSockets, a result."""

from __future__ import annotations

import io

import msgspec

from gateway.demo import live_demo
from gateway.settings import load_settings


async def test_the_live_demo_runs_an_auction_to_a_result_over_websockets() -> None:
    settings = load_settings(None, {"UNDERBID_SECURITY_TOKEN_SECRET": "s" * 40})
    # Port 0 (a free port) is what `underbid demo --port 0` passes on.
    server = msgspec.structs.replace(settings.server, port=0)
    settings = msgspec.structs.replace(settings, server=server)
    out = io.StringIO()
    outcome = await live_demo(settings, fmt="dutch", pace=20, seed=1, exit_when_done=True, out=out)
    (lot,) = outcome["lots"]
    assert lot["outcome"] == "completed"
    assert lot["winner"] is not None
    text = out.getvalue()
    assert "ws://127.0.0.1:" in text and "operator token" in text
    assert "ANNOUNCEMENT" in text
