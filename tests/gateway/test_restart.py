"""A gateway on the SQLite journal keeps every auction across a restart:
running ones carry on with their bids, finished ones are listed and readable
(view, result, record, a watcher's welcome) and take no more commands."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from auction.runtime.host import AuctionOver
from tests.factories import open_spec
from tests.gateway.server_fixture import LiveServer, eventually, live_server, now_ms


async def surrogate(server: LiveServer, auction_id: str, amount: int, bid_id: str) -> Any:
    return await server.http.post(
        f"/api/auctions/{auction_id}/controls/surrogate_bid",
        json={"bidder": "b1", "amount": amount, "bid_id": bid_id},
        headers=server.auth(),
    )


async def test_serve_on_sqlite_keeps_every_auction_across_a_restart(tmp_path: Path) -> None:
    env = {"UNDERBID_JOURNAL_DATA_DIR": str(tmp_path / "data")}
    before: dict[str, Any] = {}
    async with live_server(env) as server:
        assert server.gateway.runtime.journal.name == "sqlite"
        short = open_spec(2, id="done", start_at=now_ms(), open={"duration_s": 1, "decrement": 1})
        await server.create(short)
        await server.create(open_spec(2, id="live", start_at=now_ms()))
        for aid in ("done", "live"):
            await eventually(
                lambda aid=aid: server.gateway.runtime.durable_seq(aid) >= 2,
                what=f"{aid} to open",
            )
            assert (await surrogate(server, aid, 90_000, f"{aid}-1")).status_code == 200
        journal = server.gateway.runtime.journal
        deadline = asyncio.get_running_loop().time() + 15
        while await journal.finished_auctions() != ["done"]:  # the 1 s auction ends
            assert asyncio.get_running_loop().time() < deadline, "done never finished"
            await asyncio.sleep(0.02)
        for path in ("", "/result"):
            response = await server.http.get(f"/api/auctions/done{path}")
            assert response.status_code == 200, response.text
            before[path] = response.json()
        before["record"] = (
            await server.http.get("/api/auctions/done/record", headers=server.auth())
        ).json()
        before["list"] = (await server.http.get("/api/auctions")).json()["auctions"]

    async with live_server(env) as server:
        listed = (await server.http.get("/api/auctions")).json()["auctions"]
        assert [a["id"] for a in listed] == ["done", "live"]
        assert {a["id"]: a["state"] for a in listed} == {"done": "finished", "live": "running"}
        assert [a for a in listed if a["id"] == "done"] == [
            {k: v for k, v in a.items() if k != "next_deadline"} | {"next_deadline": None}
            for a in before["list"]
            if a["id"] == "done"
        ]
        assert server.gateway.runtime.hosted() == ["live"]  # the finished one is read back

        view = await server.http.get("/api/auctions/done")
        assert view.status_code == 200
        assert _without_clock(view.json()) == _without_clock(before[""])
        result = await server.http.get("/api/auctions/done/result")
        assert result.json() == before["/result"]
        record = await server.http.get("/api/auctions/done/record", headers=server.auth())
        assert _unsigned(record.json()) == _unsigned(before["record"])

        watcher = await server.connect("done")  # public, loaded: welcomed at once
        assert watcher.view is not None
        assert watcher.view["lots"][0]["status"] == before[""]["lots"][0]["status"]

        late = await surrogate(server, "done", 80_000, "late")
        assert late.status_code == 409
        assert late.json()["code"] == AuctionOver.code

        # The running auction kept its bid and takes new ones.
        assert (await surrogate(server, "live", 90_000, "live-1")).json()["duplicate"] is True
        assert (await surrogate(server, "live", 89_000, "live-2")).status_code == 200
        assert len(await server.journal_events("live")) >= 4


def _unsigned(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its signatures: without ``record.keys`` each process
    signs its checkpoints with a key of its own (the tree is the same)."""
    log = {k: v for k, v in record["log"].items() if k not in ("checkpoints", "keys")}
    return {**record, "log": log}


def _without_clock(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k != "server_time"}
