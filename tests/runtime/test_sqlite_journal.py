"""What only the SQLite journal promises (the contract is in test_journal_contract.py):
one process per file, data and epochs across reopening, leases of the dead
cleared, a full disk as ``unavailable`` with nothing written, the event loop
free while the disk works."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auction.clock import FakeClock
from auction.runtime.journal import Append, JournalUnavailable, Snapshot, open_journal
from auction.runtime.sqlite import SCHEMA_VERSION, JournalInUse, SqliteJournal
from tests.runtime.test_redis_journal import populated

TTL_MS = 30_000


async def test_everything_is_still_there_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = SqliteJournal(path)
    epoch = await populated(journal)
    await populated(journal, "a2")
    await journal.finish("a2")
    await journal.close()
    await journal.close()  # idempotent

    again = SqliteJournal(path)
    try:
        assert await again.read("a1") == [(1, b"e1"), (2, b"e2")]
        assert await again.snapshot("a1") == Snapshot(2, b"s2")
        assert await again.spec("a1") == b"spec"
        assert await again.active_auctions() == ["a1"]
        assert await again.finished_auctions() == ["a2"]
        assert await again.read("a2") == [(1, b"e1"), (2, b"e2")]
        # The old process's lease is gone (the lock proves it dead); its epoch is not.
        fresh = await again.acquire("a1", "n2", TTL_MS)
        assert fresh == epoch + 1
        [stale] = await again.append_batch([Append("a1", epoch, 3, [b"stale"])])
        assert stale is not None and "fenced" in str(stale)
    finally:
        await again.close()


async def test_a_second_journal_on_the_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    first = SqliteJournal(path)
    try:
        with pytest.raises(JournalInUse, match=r"in use by another process \(pid \d+\)"):
            SqliteJournal(path)
    finally:
        await first.close()
    second = SqliteJournal(path)  # the lock goes with close()
    await second.close()


def test_a_second_process_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    code = (
        "import sys\n"
        "from auction.runtime.sqlite import SqliteJournal\n"
        f"SqliteJournal({str(path)!r})\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"locked\n"
        with pytest.raises(JournalInUse, match=f"pid {holder.pid}"):
            SqliteJournal(path)
    finally:
        holder.kill()  # kill -9: the kernel drops the lock
        holder.communicate()
    journal = SqliteJournal(path)
    asyncio.run(journal.close())


async def test_a_full_disk_is_unavailable_and_writes_nothing(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    try:
        epoch = await populated(journal)
        pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
        journal._db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now full
        big = [b"x" * 4096] * 50
        with pytest.raises(JournalUnavailable, match="full"):
            await journal.append_batch(
                [Append("a1", epoch, 3, [b"e3"]), Append("a1", epoch, 4, big, snapshot=b"s")]
            )
        assert await journal.read("a1") == [(1, b"e1"), (2, b"e2")]  # the whole batch undone
        assert await journal.snapshot("a1") == Snapshot(2, b"s2")
        journal._db.execute("PRAGMA max_page_count = 1073741823")
        assert await journal.append_batch([Append("a1", epoch, 3, [b"e3"])]) == [None]
    finally:
        await journal.close()


async def test_a_file_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(JournalUnavailable, match="schema version"):
        SqliteJournal(path)
    with pytest.raises(JournalUnavailable, match="schema version"):
        SqliteJournal(path)  # a second try: the refused one did not keep the lock


async def test_a_directory_that_cannot_be_made_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(JournalUnavailable, match="cannot create"):
        SqliteJournal(blocker / "data" / "j.sqlite3")


async def test_durability_says_wal_and_full(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    try:
        report = await journal.durability()
    finally:
        await journal.close()
    assert report["journal_mode"] == "wal"
    assert report["synchronous"] == "full"
    assert "machine crash" in report["survives"]
    assert report["sqlite_version"] == sqlite3.sqlite_version


async def test_the_event_loop_runs_while_the_disk_works(tmp_path: Path) -> None:
    """The sqlite3 calls run on the journal's thread: a loop turn stays short."""
    journal = SqliteJournal(tmp_path / "j.sqlite3", clock=FakeClock(0))
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    try:
        epoch = await populated(journal)
        task = asyncio.create_task(ticker())
        events = [b"event %d" % i for i in range(200_000)]
        began = time.perf_counter()
        assert await journal.append_batch([Append("a1", epoch, 3, events)]) == [None]
        assert len(await journal.read("a1")) == 200_002
        elapsed = time.perf_counter() - began
        done.set()
        await task
    finally:
        await journal.close()
    # The work took a while; the loop turned all along it, never stuck for most of it.
    assert len(gaps) > 100
    assert max(gaps) < elapsed / 2, (max(gaps), elapsed)
    print(
        f"\n200,000 events written and read in {elapsed:.3f} s; longest loop turn "
        f"{max(gaps) * 1000:.1f} ms over {len(gaps):,} turns"
    )


def test_a_sqlite_url_opens_the_sqlite_journal(tmp_path: Path) -> None:
    for url in (f"sqlite://{tmp_path}/a.sqlite3", f"sqlite:{tmp_path}/b.sqlite3"):
        journal = open_journal(url)
        assert isinstance(journal, SqliteJournal)
        assert journal.name == "sqlite"
        asyncio.run(journal.close())
    assert (tmp_path / "a.sqlite3").exists() and (tmp_path / "b.sqlite3").exists()
    with pytest.raises(ValueError, match="needs a path"):
        open_journal("sqlite:")
