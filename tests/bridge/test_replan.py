"""Re-planning and cancellation: a changed ``auctionPeriod.startDate`` moves a
scheduled auction (later or earlier) and its links are written again; a
cancelled lot or tender cancels its auction; a start that has passed waits for
the CDB to plan again; an auction that has started is not moved."""

from __future__ import annotations

from pathlib import Path

from auction.core.spec import parse_time_ms
from bridge.plan import auction_id_of
from bridge.service import running
from tests.bridge.world import iso_in, participation_tokens, reach, until, world
from tests.cdb import seed


async def test_a_new_start_moves_the_auction_and_its_links(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        tid = w.cdb.add(seed.simple(iso_in(60)))
        w.bridge = bridge = w.make_bridge()
        store = bridge.store
        async with running(bridge):
            await until(
                lambda: (r := store.get(tid)) is not None and r.state == "linked", what="linked"
            )
            links = participation_tokens(w.cdb.tenders[tid])
            for seconds in (120, 30):
                start = iso_in(seconds)
                w.cdb.set_start(tid, start)
                await until(
                    lambda s=start: (
                        store.get(tid).start_at == parse_time_ms(s, "s")  # type: ignore[union-attr]
                        and store.get(tid).state == "linked"
                    ),  # type: ignore[union-attr]
                    what=f"the move to +{seconds} s",
                )
                assert w.auction(tid).latest_start() == parse_time_ms(start, "start")
                fresh = participation_tokens(w.cdb.tenders[tid])
                assert fresh.keys() == links.keys() and fresh != links
                links = fresh
            assert bridge.stats == {**bridge.stats, "planned": 1, "moved": 2}


async def test_cancelled_lots_and_tenders_cancel_their_auctions(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        multi = w.cdb.add(seed.multilot(iso_in(60)))
        simple = w.cdb.add(seed.simple(iso_in(60)))
        first, second = auction_id_of(multi, seed.LOT), auction_id_of(multi, seed.LOT_2)
        w.bridge = bridge = w.make_bridge()
        store = bridge.store
        async with running(bridge):
            await until(
                lambda: all(
                    (r := store.get(a)) is not None and r.state == "linked"
                    for a in (first, second, simple)
                ),
                what="all linked",
            )
            w.cdb.cancel(multi, seed.LOT_2)
            await until(lambda: store.get(second).state == "cancelled", what="lot 2 cancelled")  # type: ignore[union-attr]
            assert w.auction(second).state.cancelled and w.auction(second).finished
            assert not w.auction(first).finished
            w.cdb.cancel(simple)
            await until(lambda: store.get(simple).state == "cancelled", what="the tender cancelled")  # type: ignore[union-attr]
            assert w.auction(simple).state.cancelled
            assert store.get(first).state == "linked"  # type: ignore[union-attr]
            assert bridge.stats["cancelled"] == 2


async def test_a_start_in_the_past_waits_for_the_cdb_to_plan_again(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        tid = w.cdb.add(seed.simple(iso_in(-60)))
        w.bridge = bridge = w.make_bridge()
        async with running(bridge):
            await until(lambda: bridge.stats["tenders"] >= 1, what="the tender read")
            assert bridge.store.get(tid) is None and tid not in w.hosted()
            w.cdb.set_start(tid, iso_in(45))
            await reach(bridge, tid, "linked")


async def test_an_auction_that_has_started_is_not_moved_and_still_reports(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        tid = w.cdb.add(seed.simple(iso_in(1.5)))
        w.bridge = bridge = w.make_bridge()
        async with running(bridge):
            await reach(bridge, tid, "linked")
            await until(lambda: w.auction(tid).latest_start() is None, what="the start")
            w.cdb.set_start(tid, iso_in(600))
            await until(lambda: bridge.store.get(tid).state == "done", timeout=30, what="results")  # type: ignore[union-attr]
            assert bridge.stats["moved"] == 0
            assert w.cdb.tenders[tid]["status"] == "active.qualification"


async def test_an_auction_cancelled_in_underbid_sends_no_results(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        tid = w.cdb.add(seed.simple(iso_in(1.5)))
        w.bridge = bridge = w.make_bridge()
        async with running(bridge):
            await reach(bridge, tid, "linked")
            r = await w.server.http.post(
                f"/api/auctions/{tid}/controls/cancel",
                json={"reason": "appeal"},
                headers=w.server.auth(),
            )
            assert r.status_code == 200
            await until(lambda: bridge.store.get(tid).state == "cancelled", what="noted")  # type: ignore[union-attr]
            assert "cancelled in Underbid" in bridge.store.get(tid).error  # type: ignore[union-attr]
            w.cdb.set_start(tid, iso_in(60))  # the CDB plans it again: an id runs once
            await until(
                lambda: "an auction id runs once" in bridge.store.get(tid).error,  # type: ignore[union-attr]
                what="the conflict noted",
            )
            assert bridge.store.get(tid).state == "cancelled"  # type: ignore[union-attr]
        assert w.cdb.tenders[tid]["status"] == "active.auction"
        assert w.cdb.statuses("POST", rf"/tenders/{tid}/auction") == []
