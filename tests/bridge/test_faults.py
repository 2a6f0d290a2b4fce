"""The CDB failing at every step the bridge takes, and recovering: 5xx,
timeouts, 409 write conflicts, 412 (its server gone, a new session cookie),
429 with Retry-After, and answers lost after the write was done. The bridge
keeps its place, retries with back-off, and everything lands exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.http import RETRIES
from bridge.plan import auction_id_of
from bridge.service import running
from tests.bridge.test_e2e import check_landed
from tests.bridge.world import bid_through_links, iso_in, participation_tokens, until, world
from tests.cdb import seed


async def test_the_cdb_fails_at_every_step_and_everything_still_lands_once(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        cdb = w.cdb
        simple = cdb.add(seed.simple(iso_in(12)))
        multi = cdb.add(seed.multilot(iso_in(12)))
        lots = [(simple, ""), (multi, seed.LOT), (multi, seed.LOT_2)]
        # the feed: down, slow, then rate-limited
        cdb.fail("GET", r"/tenders$", 500, "timeout", 503, delay_s=1.5)
        cdb.fail("GET", r"/tenders$", 429, retry_after=1)
        # the auction views
        cdb.fail("GET", r"/auction$", 503, 409, "timeout", delay_s=1.5)
        # the links: a write conflict, a server gone, an answer lost after the write
        cdb.fail("PATCH", r"/auction", 409, 502)
        cdb.fail("PATCH", r"/auction", "lost", delay_s=1.5)
        # the protocol: the document service down, then a document attached with its answer lost
        cdb.fail("POST", r"^/upload$", 500, "timeout", delay_s=1.5)
        cdb.fail("POST", r"/documents$", 409, "lost", delay_s=1.5)
        # the results: down, rate-limited, and accepted with the answer lost
        cdb.fail("POST", r"/auction(/|$)", 500, 429, retry_after=1)
        cdb.fail("POST", rf"/tenders/{simple}/auction$", "lost", delay_s=1.5)
        before = dict(RETRIES)
        w.bridge = bridge = w.make_bridge()
        async with running(bridge):
            await until(
                lambda: all(
                    (r := bridge.store.get(auction_id_of(t, lot))) is not None
                    and r.state == "linked"
                    for t, lot in lots
                ),
                timeout=30,
                what="every lot linked through the faults",
            )
            # the server the bridge's session names is gone: its next write is a 412
            cdb.new_server()
            for t, lot in lots:
                await bid_through_links(
                    w.server, auction_id_of(t, lot), participation_tokens(cdb.tenders[t], lot)
                )
            await until(
                lambda: all(
                    bridge.store.get(auction_id_of(t, lot)).state == "done" for t, lot in lots
                ),  # type: ignore[union-attr]
                timeout=40,
                what="results through the faults",
            )
        for tender_id, lot_id in lots:
            await check_landed(w, tender_id, lot_id)
        retried = {k: RETRIES[k] - before.get(k, 0) for k in RETRIES}
        for reason in ("500", "503", "409", "412", "429", "timeout"):
            assert retried.get(reason, 0) >= 1, (reason, retried)
        lost = [r for r in cdb.requests if r.body == "lost"]
        assert {(r.method, r.path.rsplit("/", 1)[-1]) for r in lost} >= {("POST", "documents")}
        # every document once: a lost answer was checked, not sent again
        for tender_id in (simple, multi):
            titles = [d["title"] for d in cdb.tenders[tender_id]["documents"]]
            assert len(titles) == len(set(titles)), titles
        assert bridge.stats["planned"] == 3 and bridge.stats["done"] == 3
        assert cdb.faults == [], "every fault was met"


async def test_a_refusal_is_noted_and_tried_again_later_not_in_a_loop(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        tid = w.cdb.add(seed.simple(iso_in(60)))
        w.cdb.fail("PATCH", r"/auction", 422, 422)
        w.bridge = bridge = w.make_bridge(poll_s=0.05)
        async with running(bridge):
            await until(
                lambda: (r := bridge.store.get(tid)) is not None and r.attempts >= 1, what="refused"
            )
            record = bridge.store.get(tid)
            assert record is not None and record.state == "planned" and "HTTP 422" in record.error
            await until(
                lambda: bridge.store.get(tid).state == "linked", timeout=10, what="linked later"
            )  # type: ignore[union-attr]
            patches = w.cdb.statuses("PATCH", rf"/tenders/{tid}/auction")
            assert patches.count(422) == 2 and patches[-1] == 200
            assert len(patches) <= 5  # back-off, not a tight loop
            assert bridge.store.get(tid).error == ""  # type: ignore[union-attr]


async def test_a_bug_on_one_tender_keeps_its_place_a_while_then_lets_the_feed_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bridge.service

    async with world(tmp_path) as w:
        poison = w.cdb.add(seed.simple(iso_in(60)))
        healthy = w.cdb.add(seed.simple(iso_in(60)))
        real = bridge.service.lot_plans
        tries: list[str] = []

        def flaky(view: Any, timings: Any) -> Any:
            if view["id"] == poison:
                tries.append(poison)
                raise KeyError("a bug of ours")
            return real(view, timings)

        monkeypatch.setattr(bridge.service, "lot_plans", flaky)
        w.bridge = b = w.make_bridge(poll_s=0.05)
        async with running(b):
            await until(lambda: b.store.get(healthy) is not None, what="the healthy tender planned")
            await until(lambda: b.store.offset() is not None, what="the page done")
        assert len(tries) == bridge.service.MAX_TENDER_FAILURES
        assert b.store.get(poison) is None
