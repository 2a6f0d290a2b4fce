"""The journal contract (auction.runtime.journal), run against every implementation.

Each test gets a fresh journal: the in-memory one and the SQLite one (in a
temporary file) on a fake clock; the Redis one against a private
redis-server; against a primary with two replicas and three sentinels, and
against a six-node Cluster, with ``min_replicas = 1`` (every append and
acquisition waits for a replica). The Sentinel and Cluster deployments are
shared by the session (tests/conftest.py); each test has its own key prefix
there. Whatever the runtime may rely on is asserted here, so every journal
behaves the same under it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis, RedisCluster

from auction.clock import FakeClock
from auction.runtime.journal import (
    Append,
    AuctionExists,
    SequenceConflict,
    Snapshot,
    StaleEpoch,
)
from auction.runtime.memory import MemoryJournal
from auction.runtime.redis import RedisJournal
from auction.runtime.sqlite import SqliteJournal
from tests.redis_topology import ClusterDeployment, SentinelDeployment

HELD_MS = 30_000
"""A lease that stays live for the whole test."""
SHORT_MS = 60
"""A lease made to lapse (on Redis, in real time)."""
LAPSE_LIMIT_S = 3.0
"""How long a Redis lease of SHORT_MS may take to be gone before the test fails."""

SPEC = b'{"id": "a1", "lots": []}'
EVENTS = [b"\x81\xa4type\xa5Start", b"\x00\xff binary \r\n", b"", b"\x92\x01\x02"]


Journal = MemoryJournal | SqliteJournal | RedisJournal


class Subject:
    """A journal under test, and how to make one of its leases lapse."""

    def __init__(
        self,
        journal: Journal,
        clock: FakeClock | None,
        raw: Redis | RedisCluster | None,
        prefix: str = "ub",
    ) -> None:
        self.journal = journal
        self._clock = clock
        self._raw = raw
        self._prefix = prefix

    async def lapse(self, auction_id: str, owner: str, epoch: int) -> None:
        """Make ``owner``'s live lease expire (without anyone taking it)."""
        assert await self.journal.renew(auction_id, owner, epoch, SHORT_MS)
        if self._clock is not None:
            self._clock.advance(SHORT_MS)
            return
        assert self._raw is not None
        deadline = time.monotonic() + LAPSE_LIMIT_S
        while await self._raw.exists(f"{self._prefix}:{{{auction_id}}}:lease"):
            assert time.monotonic() < deadline, "the lease did not expire"
            await asyncio.sleep(0.005)  # bounded polling of a real server's clock


@pytest.fixture(params=["memory", "sqlite", "redis", "sentinel", "cluster"])
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Subject]:
    if request.param == "memory":
        clock = FakeClock(1_000_000)
        yield Subject(MemoryJournal(clock), clock, None)
        return
    if request.param == "sqlite":
        clock = FakeClock(1_000_000)
        sqlite = SqliteJournal(tmp_path / "journal.sqlite3", clock=clock)
        try:
            yield Subject(sqlite, clock, None)
        finally:
            await sqlite.close()
        return
    prefix = f"t{uuid.uuid4().hex[:8]}"  # the deployments are shared by the session
    raw: Redis | RedisCluster
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        journal = RedisJournal(url, prefix=prefix)
        raw = Redis.from_url(url)
    elif request.param == "sentinel":
        sentinels: SentinelDeployment = request.getfixturevalue("sentinel_deployment")
        journal = RedisJournal(sentinels.url, prefix=prefix, min_replicas=1)
        raw = Redis.from_url(sentinels.primary().url)
    else:
        cluster: ClusterDeployment = request.getfixturevalue("redis_cluster")
        journal = RedisJournal(cluster.url, prefix=prefix, min_replicas=1)
        raw = RedisCluster.from_url(cluster.servers[0].url.removesuffix("/0"))
    try:
        await journal.connect()
        yield Subject(journal, None, raw, prefix)
    finally:
        await journal.close()
        await raw.aclose()


@pytest.fixture
def journal(subject: Subject) -> Journal:
    return subject.journal


async def created(journal: Journal, auction_id: str = "a1", owner: str = "n1") -> int:
    """Create an auction and take its lease; return the epoch."""
    await journal.create(auction_id, SPEC)
    epoch = await journal.acquire(auction_id, owner, HELD_MS)
    assert epoch is not None
    return epoch


async def append(journal: Journal, append: Append) -> None:
    assert await journal.append_batch([append]) == [None]


# -- auctions --------------------------------------------------------------------


async def test_create_stores_the_spec_and_finish_ends_the_auction(journal: Journal) -> None:
    assert await journal.active_auctions() == []
    await journal.create("b2", b"spec of b2")
    await journal.create("a1", SPEC)
    assert await journal.spec("a1") == SPEC
    assert await journal.spec("b2") == b"spec of b2"
    assert await journal.spec("nope") is None
    assert await journal.active_auctions() == ["a1", "b2"]
    assert await journal.finished_auctions() == []
    await journal.finish("a1")
    assert await journal.active_auctions() == ["b2"]
    assert await journal.finished_auctions() == ["a1"]
    assert await journal.spec("a1") == SPEC  # finished is not forgotten
    await journal.finish("a1")  # idempotent
    assert await journal.active_auctions() == ["b2"]
    assert await journal.finished_auctions() == ["a1"]


async def test_creating_an_existing_auction_is_refused(journal: Journal) -> None:
    await journal.create("a1", SPEC)
    with pytest.raises(AuctionExists):
        await journal.create("a1", b"another spec")
    assert await journal.spec("a1") == SPEC
    await journal.finish("a1")
    with pytest.raises(AuctionExists):
        await journal.create("a1", b"another spec")
    assert await journal.active_auctions() == []


async def test_an_unknown_auction_is_a_key_error(journal: Journal) -> None:
    with pytest.raises(KeyError):
        await journal.read("nope")
    with pytest.raises(KeyError):
        await journal.last_seq("nope")
    with pytest.raises(KeyError):
        await journal.snapshot("nope")
    with pytest.raises(KeyError):
        await journal.acquire("nope", "n1", HELD_MS)
    with pytest.raises(KeyError):
        await journal.finish("nope")
    with pytest.raises(KeyError):
        await journal.append_batch([Append("nope", 0, 1, [b"x"])])


# -- events ----------------------------------------------------------------------


async def test_appended_events_read_back_as_given_numbered_from_one(journal: Journal) -> None:
    epoch = await created(journal)
    assert await journal.last_seq("a1") == 0
    assert await journal.read("a1") == []
    await append(journal, Append("a1", epoch, 1, EVENTS[:3]))
    await append(journal, Append("a1", epoch, 4, EVENTS[3:]))
    assert await journal.read("a1") == list(enumerate(EVENTS, start=1))
    assert await journal.last_seq("a1") == len(EVENTS)


async def test_read_after_a_seq_returns_only_the_later_events(journal: Journal) -> None:
    epoch = await created(journal)
    await append(journal, Append("a1", epoch, 1, EVENTS))
    assert await journal.read("a1", 0) == list(enumerate(EVENTS, start=1))
    assert await journal.read("a1", 2) == [(3, EVENTS[2]), (4, EVENTS[3])]
    assert await journal.read("a1", 4) == []
    assert await journal.read("a1", 99) == []


async def test_one_batch_appends_to_many_auctions(journal: Journal) -> None:
    e1, e2, e3 = [await created(journal, auction_id) for auction_id in ("a1", "a2", "a3")]
    results = await journal.append_batch(
        [
            Append("a1", e1, 1, [b"a1-1", b"a1-2"]),
            Append("a2", e2, 1, [b"a2-1"]),
            Append("a1", e1, 3, [b"a1-3"]),  # the same auction again, continuing
            Append("a3", e3, 2, [b"a3-2"]),  # a gap: refused
        ]
    )
    assert results[:3] == [None, None, None]
    assert isinstance(results[3], SequenceConflict)
    assert await journal.read("a1") == [(1, b"a1-1"), (2, b"a1-2"), (3, b"a1-3")]
    assert await journal.read("a2") == [(1, b"a2-1")]
    assert await journal.read("a3") == []
    assert await journal.append_batch([]) == []


async def test_a_refused_append_writes_nothing(journal: Journal) -> None:
    epoch = await created(journal)
    await append(journal, Append("a1", epoch, 1, EVENTS[:2], snapshot=b"state@2"))
    for first_seq in (1, 2, 4, 100):  # a replay of old seqs, an overlap, gaps
        [result] = await journal.append_batch(
            [Append("a1", epoch, first_seq, [b"x", b"y"], snapshot=b"bad")]
        )
        assert isinstance(result, SequenceConflict)
    assert await journal.read("a1") == [(1, EVENTS[0]), (2, EVENTS[1])]
    assert await journal.snapshot("a1") == Snapshot(2, b"state@2")
    await append(journal, Append("a1", epoch, 3, [b"z"]))
    assert await journal.last_seq("a1") == 3


async def test_100_000_events_read_back_in_order(journal: Journal) -> None:
    epoch = await created(journal)
    events = [b"event %d" % i for i in range(1, 100_001)]
    began = time.perf_counter()
    await journal.append_batch(
        [Append("a1", epoch, i + 1, events[i : i + 10_000]) for i in range(0, 100_000, 10_000)]
    )
    written = time.perf_counter()
    read = await journal.read("a1")
    done = time.perf_counter()
    assert len(read) == 100_000
    assert [seq for seq, _ in read] == list(range(1, 100_001))
    assert [data for _, data in read] == events
    assert await journal.read("a1", 99_990) == [(s, events[s - 1]) for s in range(99_991, 100_001)]
    print(
        f"\n{journal.name}: 100,000 events appended in {written - began:.3f} s,"
        f" read in {done - written:.3f} s"
    )


# -- snapshots -------------------------------------------------------------------


async def test_a_snapshot_is_stored_with_its_append(journal: Journal) -> None:
    epoch = await created(journal)
    assert await journal.snapshot("a1") is None
    await append(journal, Append("a1", epoch, 1, EVENTS[:3], snapshot=b"state@3"))
    assert await journal.snapshot("a1") == Snapshot(3, b"state@3")
    await append(journal, Append("a1", epoch, 4, EVENTS[3:]))
    assert await journal.snapshot("a1") == Snapshot(3, b"state@3")  # kept until replaced
    await append(journal, Append("a1", epoch, 5, [b"e5"], snapshot=b"\x00state@5\xff"))
    assert await journal.snapshot("a1") == Snapshot(5, b"\x00state@5\xff")


# -- leases and fencing ----------------------------------------------------------


async def test_epochs_strictly_increase(journal: Journal, subject: Subject) -> None:
    await journal.create("a1", SPEC)
    epochs = []
    for owner in ("n1", "n1", "n2", "n3", "n1"):
        epoch = await journal.acquire("a1", owner, HELD_MS)
        assert epoch is not None
        epochs.append(epoch)
        await journal.release("a1", owner, epoch)
    assert epochs == sorted(set(epochs))
    assert epochs[0] >= 1


async def test_a_live_lease_keeps_others_out_until_it_lapses(
    journal: Journal, subject: Subject
) -> None:
    first = await created(journal, owner="n1")
    assert await journal.acquire("a1", "n2", HELD_MS) is None
    assert await journal.acquire("a1", "n2", HELD_MS) is None
    await subject.lapse("a1", "n1", first)
    second = await journal.acquire("a1", "n2", HELD_MS)
    assert second is not None and second > first
    assert await journal.acquire("a1", "n1", HELD_MS) is None


async def test_the_owner_may_acquire_again_with_a_new_epoch(journal: Journal) -> None:
    first = await created(journal, owner="n1")
    again = await journal.acquire("a1", "n1", HELD_MS)
    assert again is not None and again > first
    assert not await journal.renew("a1", "n1", first, HELD_MS)
    assert await journal.renew("a1", "n1", again, HELD_MS)


async def test_a_stale_writer_can_write_neither_events_nor_a_snapshot(
    journal: Journal, subject: Subject
) -> None:
    old = await created(journal, owner="n1")
    await append(journal, Append("a1", old, 1, [b"e1"], snapshot=b"state@1"))
    await subject.lapse("a1", "n1", old)  # n1 is paused past its lease...
    new = await journal.acquire("a1", "n2", HELD_MS)  # ...and n2 takes over
    assert new is not None and new > old

    [result] = await journal.append_batch([Append("a1", old, 2, [b"stale"], snapshot=b"stale")])
    assert isinstance(result, StaleEpoch)
    [result] = await journal.append_batch([Append("a1", new + 1, 2, [b"future"])])
    assert isinstance(result, StaleEpoch)  # only the current epoch writes
    assert await journal.read("a1") == [(1, b"e1")]
    assert await journal.snapshot("a1") == Snapshot(1, b"state@1")

    await append(journal, Append("a1", new, 2, [b"e2"], snapshot=b"state@2"))
    assert await journal.read("a1") == [(1, b"e1"), (2, b"e2")]
    assert await journal.snapshot("a1") == Snapshot(2, b"state@2")


async def test_renew_extends_a_live_lease_and_fails_once_it_is_lost(
    journal: Journal, subject: Subject
) -> None:
    first = await created(journal, owner="n1")
    assert await journal.renew("a1", "n1", first, HELD_MS)
    assert not await journal.renew("a1", "n2", first, HELD_MS)  # not n2's lease
    assert not await journal.renew("a1", "n1", first + 1, HELD_MS)  # not that epoch
    await subject.lapse("a1", "n1", first)
    assert not await journal.renew("a1", "n1", first, HELD_MS)  # lapsed, though nobody took it
    second = await journal.acquire("a1", "n2", HELD_MS)
    assert second is not None
    assert not await journal.renew("a1", "n1", first, HELD_MS)  # lapsed and taken
    assert await journal.renew("a1", "n2", second, HELD_MS)


async def test_release_frees_the_lease_only_for_its_holder(journal: Journal) -> None:
    first = await created(journal, owner="n1")
    await journal.release("a1", "n2", first)  # not n2's: ignored
    await journal.release("a1", "n1", first + 1)  # not that epoch: ignored
    assert await journal.acquire("a1", "n2", HELD_MS) is None
    await journal.release("a1", "n1", first)
    assert not await journal.renew("a1", "n1", first, HELD_MS)
    second = await journal.acquire("a1", "n2", HELD_MS)
    assert second is not None and second > first
    await journal.release("a1", "n1", first)  # an old holder cannot free the new lease
    assert await journal.acquire("a1", "n3", HELD_MS) is None


# -- the store -------------------------------------------------------------------


async def test_durability_is_reported_as_text(journal: Journal) -> None:
    report = await journal.durability()
    assert report
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in report.items())
    assert journal.name in ("memory", "sqlite", "redis", "redis-sentinel", "redis-cluster")
