"""The CDB double holds the CDB's own rules, over real HTTP: the feed pages,
the session cookie's 412, the auction role, 403 outside ``active.auction``,
422 for arrays that are not aligned, and documents only from the document
service with a valid signature."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.cdb import seed
from tests.cdb.double import API, AUCTION_TOKEN, DS_PASSWORD, DS_USER, CdbDouble
from tests.http_server import serve_app

START = "2031-05-04T10:00:00+03:00"
AUTH = {"authorization": f"Bearer {AUCTION_TOKEN}"}


@pytest.fixture
async def cdb() -> AsyncIterator[tuple[CdbDouble, httpx.AsyncClient]]:
    double = CdbDouble()
    async with serve_app(double.app()) as base:
        double.base = base
        async with httpx.AsyncClient(base_url=base, headers=AUTH) as client:
            yield double, client


def errors(response: httpx.Response) -> str:
    body = response.json()
    assert body["status"] == "error"
    return str(body["errors"])


async def test_the_feed_pages_forward_and_backward(
    cdb: tuple[CdbDouble, httpx.AsyncClient],
) -> None:
    double, client = cdb
    ids = [double.add(seed.simple(START)) for _ in range(5)]
    page = (await client.get(f"{API}/tenders", params={"limit": 2, "opt_fields": "status"})).json()
    assert [i["id"] for i in page["data"]] == ids[:2]
    assert page["data"][0]["status"] == "active.auction" and "bids" not in page["data"][0]
    rest = (
        await client.get(f"{API}/tenders", params={"offset": page["next_page"]["offset"]})
    ).json()
    assert [i["id"] for i in rest["data"]] == ids[2:]
    empty = (
        await client.get(f"{API}/tenders", params={"offset": rest["next_page"]["offset"]})
    ).json()
    assert empty["data"] == [] and empty["next_page"]["offset"] == rest["next_page"]["offset"]
    double.touch(ids[0])  # modified: it comes again, at the end
    again = (
        await client.get(f"{API}/tenders", params={"offset": rest["next_page"]["offset"]})
    ).json()
    assert [i["id"] for i in again["data"]] == [ids[0]]
    newest = (await client.get(f"{API}/tenders", params={"descending": 1, "limit": 1})).json()
    assert newest["data"][0]["id"] == ids[0]
    after = (
        await client.get(f"{API}/tenders", params={"offset": newest["prev_page"]["offset"]})
    ).json()
    assert after["data"] == []
    bad = await client.get(f"{API}/tenders", params={"offset": "soon"})
    assert bad.status_code == 404


async def test_writes_need_the_session_cookie_and_the_auction_role(
    cdb: tuple[CdbDouble, httpx.AsyncClient],
) -> None:
    double, client = cdb
    tid = double.add(seed.simple(START))
    body = {"data": {"auctionUrl": "https://a.example/w", "bids": [{}, {}]}}
    first = await client.patch(f"{API}/tenders/{tid}/auction", json=body)
    assert first.status_code == 412 and "SERVER_ID" in first.headers["set-cookie"]
    assert (await client.patch(f"{API}/tenders/{tid}/auction", json=body)).status_code == 200
    double.new_server()
    assert (await client.patch(f"{API}/tenders/{tid}/auction", json=body)).status_code == 412
    assert (await client.patch(f"{API}/tenders/{tid}/auction", json=body)).status_code == 200
    stranger = await client.get(
        f"{API}/tenders/{tid}/auction", headers={"authorization": "Bearer x"}
    )
    assert stranger.status_code == 403


async def test_auction_writes_are_validated_as_the_cdb_does(
    cdb: tuple[CdbDouble, httpx.AsyncClient],
) -> None:
    double, client = cdb
    tid = double.add(seed.multilot(START))
    await client.get(f"{API}/tenders/{tid}")  # the cookie
    short = {"data": {"lots": [{}, {}], "bids": [{}]}}
    r = await client.patch(f"{API}/tenders/{tid}/auction/{seed.LOT}", json=short)
    assert r.status_code == 422 and "Number of lots" not in errors(r)
    r = await client.patch(f"{API}/tenders/{tid}/auction", json={"data": {"bids": [{}] * 4}})
    assert r.status_code == 422 and "each lot" in errors(r)
    r = await client.post(
        f"{API}/tenders/{tid}/auction/{seed.LOT}", json={"data": {"bids": [{}] * 3}}
    )
    assert r.status_code == 422 and "Number of auction results did not match" in errors(r)
    r = await client.post(f"{API}/tenders/{tid}/auction/nope", json={"data": {"bids": [{}] * 4}})
    assert r.status_code == 404
    double.cancel(tid, seed.LOT_2)
    r = await client.post(
        f"{API}/tenders/{tid}/auction/{seed.LOT_2}", json={"data": {"bids": [{}] * 4}}
    )
    assert r.status_code == 403 and "only in active lot status" in errors(r)
    ok = await client.post(
        f"{API}/tenders/{tid}/auction/{seed.LOT}", json={"data": {"bids": [{}] * 4}}
    )
    assert ok.status_code == 200
    assert ok.json()["data"]["status"] == "active.qualification"  # its only active lot is done
    r = await client.post(
        f"{API}/tenders/{tid}/auction/{seed.LOT}", json={"data": {"bids": [{}] * 4}}
    )
    assert r.status_code == 403 and "active.qualification" in errors(r)
    public = (await client.get(f"{API}/tenders/{tid}")).json()["data"]
    assert public["bids"][0]["lotValues"][0]["value"]["amount"] == 474000.0


async def test_documents_come_only_from_the_document_service(
    cdb: tuple[CdbDouble, httpx.AsyncClient],
) -> None:
    double, client = cdb
    tid = double.add(seed.simple(START))
    await client.get(f"{API}/tenders/{tid}")
    unauthorised = await client.post(
        "/upload", files={"file": ("a.yaml", b"x", "application/yaml")}
    )
    assert unauthorised.status_code == 401
    uploaded = await client.post(
        "/upload",
        files={"file": ("audit.yaml", b"id: x\n", "application/yaml")},
        auth=(DS_USER, DS_PASSWORD),
    )
    assert uploaded.status_code == 201
    doc: dict[str, Any] = uploaded.json()["data"]
    assert (await client.get(doc["url"])).content == b"id: x\n"
    attached = await client.post(f"{API}/tenders/{tid}/documents", json={"data": doc})
    assert attached.status_code == 201, attached.text
    for forged, status in (
        ({**doc, "url": doc["url"].replace(double.base, "https://elsewhere.example")}, 403),
        ({**doc, "hash": "md5:" + "0" * 32}, 422),
        ({**doc, "url": doc["url"].replace("KeyID=", "KeyID=x")}, 422),
        ({**doc, "colour": "red"}, 422),
        ({**doc, "documentOf": "lot", "relatedItem": "nope"}, 422),
    ):
        r = await client.post(f"{API}/tenders/{tid}/documents", json={"data": forged})
        assert r.status_code == status, (forged, r.text)
    version = await client.put(
        f"{API}/tenders/{tid}/documents/{attached.json()['data']['id']}", json={"data": doc}
    )
    assert version.status_code == 200
    held = (await client.get(f"{API}/tenders/{tid}/documents")).json()["data"]
    assert len(held) == 2 and len({d["id"] for d in held}) == 1


async def test_faults_are_served_in_turn(cdb: tuple[CdbDouble, httpx.AsyncClient]) -> None:
    double, client = cdb
    tid = double.add(seed.simple(START))
    double.fail("GET", r"/auction$", 503, 429, retry_after=7)
    r1 = await client.get(f"{API}/tenders/{tid}/auction")
    r2 = await client.get(f"{API}/tenders/{tid}/auction")
    r3 = await client.get(f"{API}/tenders/{tid}/auction")
    assert (r1.status_code, r2.status_code, r3.status_code) == (503, 429, 200)
    assert r2.headers["retry-after"] == "7"
    assert double.statuses("GET", r"/auction$") == [503, 429, 200]
