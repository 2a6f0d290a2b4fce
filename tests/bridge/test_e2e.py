"""End to end: tenders appear on the CDB double's feed, the bridge plans their
auctions in Underbid, writes the links back, bots bid through those links over
WebSockets, and the results and the audit protocol land in the CDB exactly as
it requires, compared field by field with what Underbid decided."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from bridge.plan import auction_id_of
from bridge.service import running
from tests.bridge.world import World, bid_through_links, iso_in, participation_tokens, until, world
from tests.cdb import seed


def lot_holders(tender: dict[str, Any], lot_id: str) -> dict[str, dict[str, Any]]:
    """Bid id -> where the CDB keeps its value for the lot (the bid, or its lot value)."""
    out = {}
    for bid in tender["bids"]:
        if not lot_id:
            out[bid["id"]] = bid
        for value in bid.get("lotValues", []):
            if value["relatedLot"] == lot_id:
                out[bid["id"]] = value
    return out


async def check_landed(w: World, tender_id: str, lot_id: str) -> dict[str, Any]:
    """Everything Underbid decided for the lot is in the CDB as it must be."""
    auction_id = auction_id_of(tender_id, lot_id)
    tender = w.cdb.tenders[tender_id]
    record = (
        await w.server.http.get(f"/api/auctions/{auction_id}/record", headers=w.server.auth())
    ).json()
    (lot,) = record["result"]["lots"]
    holders = lot_holders(tender, lot_id)
    placed = {
        (e["bidder"], e["amount"]): e["time"] for e in record["events"] if e["type"] == "bid_placed"
    }
    for entry in lot["ranking"]:
        held = holders[entry["bidder"]]
        assert Decimal(str(held["value"]["amount"])) == Decimal(entry["amount"]).scaleb(-2)
        if (entry["bidder"], entry["amount"]) in placed:
            assert held["date"] == placed[(entry["bidder"], entry["amount"])]
    # the protocol: the YAML and the JSON record, once each, from the document service
    titles = [d["title"] for d in tender["documents"]]
    assert sorted(t for t in set(titles) if auction_id in t) == [
        f"audit_{auction_id}.json",
        f"audit_{auction_id}.yaml",
    ]
    ids = {d["id"] for d in tender["documents"] if auction_id in d["title"]}
    assert len(ids) == 2, "one document per title (new versions keep their id)"
    by_title = {d["title"]: d for d in tender["documents"]}
    protocol = yaml.safe_load(w.cdb.document_bytes(by_title[f"audit_{auction_id}.yaml"]["url"]))
    assert protocol["id"] == auction_id and protocol["tender_id"] == tender_id
    assert protocol["tenderId"] == tender["tenderID"]
    if lot_id:
        assert protocol["lot_id"] == lot_id
        assert by_title[f"audit_{auction_id}.yaml"]["relatedItem"] == lot_id
    turns = [e for e in record["events"] if e["type"] == "turn_ended"]
    in_yaml = [
        (r, t, v)
        for r, section in protocol["timeline"].items()
        if r.startswith("round_")
        for t, v in section.items()
    ]
    assert len(in_yaml) == len(turns)
    for event in turns:
        turn = next(
            v
            for r, t, v in in_yaml
            if r == f"round_{event['round']}" and v["bidder"] == event["bidder"]
        )
        assert Decimal(str(turn["amount"])) == Decimal(event["amount"]).scaleb(-2)
        assert turn["time"] == event["time"]
        assert ("bid_time" in turn) == event["changed"]
    results = {b["bidder"]: b for b in protocol["timeline"]["results"]["bids"]}
    for entry in lot["ranking"]:
        assert Decimal(str(results[entry["bidder"]]["amount"])) == Decimal(entry["amount"]).scaleb(
            -2
        )
    record_doc = json.loads(w.cdb.document_bytes(by_title[f"audit_{auction_id}.json"]["url"]))
    assert record_doc["state_hash"] == record["state_hash"]
    return record


async def test_tenders_from_the_feed_are_auctioned_and_everything_lands_in_the_cdb(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        start = iso_in(4)
        simple = w.cdb.add(seed.simple(start))
        features = w.cdb.add(seed.features(start))
        lifecycle = w.cdb.add(seed.lifecycle(start))
        multi = w.cdb.add(seed.multilot(start))
        lots = [
            (simple, ""),
            (features, ""),
            (lifecycle, ""),
            (multi, seed.LOT),
            (multi, seed.LOT_2),
        ]
        w.bridge = w.make_bridge()
        async with running(w.bridge):
            await until(
                lambda: all(
                    (r := w.bridge.store.get(auction_id_of(t, lot))) is not None
                    and r.state == "linked"
                    for t, lot in lots
                ),
                what="every lot planned and linked",
            )
            # the links, position-aligned, as the CDB holds them
            tender = w.cdb.tenders[multi]
            assert tender["lots"][0]["auctionUrl"].endswith(f"/watch/{multi}_{seed.LOT}")
            assert tender["lots"][1]["auctionUrl"].endswith(f"/watch/{multi}_{seed.LOT_2}")
            values = {b["id"]: b["lotValues"] for b in tender["bids"]}
            assert (
                "participationUrl" in values[seed.BID_A][0]
                and "participationUrl" in values[seed.BID_A][1]
            )
            assert "participationUrl" in values[seed.BID_B][0]
            assert "participationUrl" in values[seed.BID_C][0]
            assert "participationUrl" not in values[seed.BID_D][0]
            assert f"/bid/{simple}#token=" in w.cdb.tenders[simple]["bids"][0]["participationUrl"]
            bots = [
                bid_through_links(
                    w.server, auction_id_of(t, lot), participation_tokens(w.cdb.tenders[t], lot)
                )
                for t, lot in lots
            ]
            await asyncio.gather(*bots)
            await until(
                lambda: all(
                    w.bridge.store.get(auction_id_of(t, lot)).state == "done" for t, lot in lots
                ),
                timeout=30,
                what="results back in the CDB",
            )
        for tender_id, lot_id in lots:
            record = await check_landed(w, tender_id, lot_id)
            assert any(e["type"] == "bid_placed" for e in record["events"]), "the bots bid"
        assert all(w.cdb.tenders[t]["status"] == "active.qualification" for t, _ in lots)
        # features and life-cycle cost went through the importer
        spec = w.auction(features).spec.lots[0]
        assert spec.scoring == "features"
        assert w.auction(lifecycle).spec.lots[0].scoring == "lifecycle"
        lcc = [b for b in w.cdb.tenders[lifecycle]["bids"] if "weightedValue" in b]
        assert len(lcc) == 2
        # nothing was planned twice though the feed showed every tender again after each write
        assert w.bridge.stats["planned"] == len(lots)
        assert sorted(w.hosted()) == sorted(auction_id_of(t, lot) for t, lot in lots)
