"""The SQLite journal: one file, durable on one machine, nothing to install.

The default of ``underbid serve`` when no Redis is named (``--data DIR``, the
file ``DIR/journal.sqlite3``). It follows the same contract as the memory and
Redis journals (tests/runtime/test_journal_contract.py), leases and fencing
included, so the runtime behaves the same on all of them.

Schema (``PRAGMA user_version`` = :data:`SCHEMA_VERSION`)::

    auctions   n (integer key), id, spec, finished (0/1), epoch, owner, lease_until
    events     (auction n, seq) -> data          one row per event, WITHOUT ROWID
    snapshots  auction n -> seq, data            the latest snapshot only

What is guaranteed, and how:

- **Durable before the acknowledgement.** WAL mode with ``synchronous=FULL``:
  a transaction's commit fsyncs the write-ahead log before
  :meth:`SqliteJournal.append_batch` returns, so an acknowledged event survives
  ``kill -9`` of the process and a power loss of the machine (on a disk that
  honours fsync). ``NORMAL`` would survive ``kill -9`` only; the extra fsync
  costs little because of the next point.
- **Group commit.** One :meth:`~SqliteJournal.append_batch` is one transaction:
  every append of the batch and one fsync. Each append is checked (epoch,
  first seq) before anything is written, so a refused append writes nothing
  while the others of the batch commit.
- **One process.** The constructor takes an exclusive ``flock`` on
  ``PATH.lock`` (with the holder's pid in it) and keeps it until
  :meth:`~SqliteJournal.close` or the process's death (the kernel drops it on
  ``kill -9``). A second process, or a second journal in the same process, is
  refused with :class:`JournalInUse`. Because the lock proves that whoever held
  a lease before is gone, leases found in the file at open are cleared: a
  restarted process recovers its auctions at once instead of waiting for the
  old leases to lapse. Epochs are kept, so fencing still holds.
- **The event loop is not blocked by the disk.** Every sqlite3 call runs on
  one dedicated thread, which owns the connection; the loop awaits it.
- **Nothing from sqlite3 escapes.** Disk full, I/O errors, a corrupt file:
  :class:`~auction.runtime.journal.JournalUnavailable`, with the transaction
  rolled back (nothing of the batch written).
- **Unknown auctions** raise :class:`KeyError`, as in the other journals,
  except :meth:`~SqliteJournal.spec`, which returns None.

Exceptions (beside the journal's own, :mod:`auction.runtime.journal`)::

    JournalError
    └── JournalInUse    another process (or journal) holds the file's lock
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from auction.clock import Clock, SystemClock
from auction.runtime.journal import (
    Append,
    AuctionExists,
    JournalError,
    JournalUnavailable,
    SequenceConflict,
    Snapshot,
    StaleEpoch,
)

T = TypeVar("T")

SCHEMA_VERSION = 1
"""``PRAGMA user_version`` of a journal file made by this code."""
FILE_NAME = "journal.sqlite3"
"""The journal's file inside a ``--data`` directory."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS auctions (
    n           INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    spec        BLOB NOT NULL,
    finished    INTEGER NOT NULL DEFAULT 0,
    epoch       INTEGER NOT NULL DEFAULT 0,
    owner       TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    auction INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (auction, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
    auction INTEGER PRIMARY KEY,
    seq     INTEGER NOT NULL,
    data    BLOB NOT NULL
);
"""


class JournalInUse(JournalError):
    """The journal file is locked by another process (or another journal object)."""


class SqliteJournal:
    """Journal in one SQLite file; see the module docstring for the guarantees.

    ``clock`` times the leases (a fake one in tests).
    """

    name = "sqlite"

    def __init__(self, path: str | os.PathLike[str], *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        """The database file."""
        self._clock = clock or SystemClock()
        self._lock_fd = _lock(self.path)
        """The open lock file, flock'ed until :meth:`close`."""
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="underbid-sqlite")
        """The one thread that runs every sqlite3 call."""
        self._closed = False
        try:
            self._db = self._thread.submit(self._open).result()
        except BaseException:
            self._thread.shutdown()
            os.close(self._lock_fd)
            raise

    # -- plumbing (everything below ``_call`` runs on the journal's thread) ------

    def _open(self) -> sqlite3.Connection:
        where = f"SQLite journal at {self.path}"
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise JournalUnavailable(f"{where}: cannot open: {exc}") from exc
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise JournalUnavailable(
                    f"{where}: schema version {version}, this underbid reads "
                    f"{SCHEMA_VERSION}: the file was written by another version"
                )
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise JournalUnavailable(f"{where}: cannot switch to WAL (journal_mode={mode})")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=OFF")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            # The lock says nobody else runs: every lease in the file is a dead
            # process's (epochs stay, so fencing still holds).
            db.execute("UPDATE auctions SET owner = NULL, lease_until = 0 WHERE owner IS NOT NULL")
        except sqlite3.Error as exc:
            db.close()
            raise JournalUnavailable(f"{where}: cannot open: {exc}") from exc
        except BaseException:
            db.close()
            raise
        return db

    async def _call(self, what: str, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` on the journal's thread; sqlite3 errors become
        :class:`JournalUnavailable` (the transaction rolled back)."""
        if self._closed:
            raise JournalUnavailable(f"SQLite journal at {self.path}: {what}: closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._guarded, what, fn, args)

    def _guarded(self, what: str, fn: Callable[..., T], args: tuple[object, ...]) -> T:
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise JournalUnavailable(
                f"SQLite journal at {self.path}: {what} failed: {type(exc).__name__}: {exc}"
            ) from exc
        except BaseException:
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise

    def _row(self, auction_id: str) -> tuple[int, int, str | None, int]:
        """(n, epoch, owner, lease_until) of an auction; KeyError if unknown."""
        row = self._db.execute(
            "SELECT n, epoch, owner, lease_until FROM auctions WHERE id = ?", (auction_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no auction {auction_id!r} in the journal")
        return row  # type: ignore[no-any-return]

    def _last_seq(self, n: int) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM events WHERE auction = ?", (n,)).fetchone()
        return int(row[0] or 0)

    # -- auctions --------------------------------------------------------------

    async def create(self, auction_id: str, spec: bytes) -> None:
        def create() -> bool:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO auctions (id, spec) VALUES (?, ?)", (auction_id, spec)
            )
            return cursor.rowcount == 1

        if not await self._call("create", create):
            raise AuctionExists(f"auction {auction_id!r} already exists")

    async def spec(self, auction_id: str) -> bytes | None:
        def spec() -> bytes | None:
            row = self._db.execute(
                "SELECT spec FROM auctions WHERE id = ?", (auction_id,)
            ).fetchone()
            return bytes(row[0]) if row else None

        return await self._call("spec", spec)

    async def active_auctions(self) -> list[str]:
        return await self._call("active_auctions", self._ids, 0)

    async def finished_auctions(self) -> list[str]:
        return await self._call("finished_auctions", self._ids, 1)

    def _ids(self, finished: int) -> list[str]:
        rows = self._db.execute(
            "SELECT id FROM auctions WHERE finished = ? ORDER BY id", (finished,)
        ).fetchall()
        return [row[0] for row in rows]

    async def finish(self, auction_id: str) -> None:
        def finish() -> None:
            self._row(auction_id)
            self._db.execute("UPDATE auctions SET finished = 1 WHERE id = ?", (auction_id,))

        await self._call("finish", finish)

    # -- events ----------------------------------------------------------------

    async def append_batch(self, appends: Sequence[Append]) -> list[JournalError | None]:
        """One transaction (one fsync) for the whole batch; see the module docstring."""
        if not appends:
            return []
        return await self._call("append", self._append_batch, appends)

    def _append_batch(self, appends: Sequence[Append]) -> list[JournalError | None]:
        db = self._db
        results: list[JournalError | None] = []
        db.execute("BEGIN IMMEDIATE")
        for append in appends:
            n, epoch, _, _ = self._row(append.auction_id)
            if append.epoch != epoch:
                results.append(
                    StaleEpoch(
                        f"auction {append.auction_id!r}: epoch {append.epoch} is not "
                        f"the current epoch {epoch} (fenced)"
                    )
                )
                continue
            last = self._last_seq(n)
            if append.first_seq != last + 1:
                results.append(
                    SequenceConflict(
                        f"auction {append.auction_id!r}: first_seq {append.first_seq}, last {last}"
                    )
                )
                continue
            db.executemany(
                "INSERT INTO events (auction, seq, data) VALUES (?, ?, ?)",
                [(n, append.first_seq + i, data) for i, data in enumerate(append.events)],
            )
            if append.snapshot is not None:
                db.execute(
                    "INSERT OR REPLACE INTO snapshots (auction, seq, data) VALUES (?, ?, ?)",
                    (n, append.first_seq + len(append.events) - 1, append.snapshot),
                )
            results.append(None)
        db.execute("COMMIT")
        return results

    async def read(self, auction_id: str, after_seq: int = 0) -> list[tuple[int, bytes]]:
        def read() -> list[tuple[int, bytes]]:
            n = self._row(auction_id)[0]
            rows = self._db.execute(
                "SELECT seq, data FROM events WHERE auction = ? AND seq > ? ORDER BY seq",
                (n, after_seq),
            ).fetchall()
            return [(seq, bytes(data)) for seq, data in rows]

        return await self._call("read", read)

    async def last_seq(self, auction_id: str) -> int:
        return await self._call("last_seq", lambda: self._last_seq(self._row(auction_id)[0]))

    async def snapshot(self, auction_id: str) -> Snapshot | None:
        def snapshot() -> Snapshot | None:
            n = self._row(auction_id)[0]
            row = self._db.execute(
                "SELECT seq, data FROM snapshots WHERE auction = ?", (n,)
            ).fetchone()
            return Snapshot(int(row[0]), bytes(row[1])) if row else None

        return await self._call("snapshot", snapshot)

    # -- the writer's lease ----------------------------------------------------

    async def acquire(self, auction_id: str, owner: str, ttl_ms: int) -> int | None:
        now = self._clock.now_ms()

        def acquire() -> int | None:
            _, epoch, holder, until = self._row(auction_id)
            if holder not in (None, owner) and until > now:
                return None
            self._db.execute(
                "UPDATE auctions SET epoch = ?, owner = ?, lease_until = ? WHERE id = ?",
                (epoch + 1, owner, now + ttl_ms, auction_id),
            )
            return epoch + 1

        return await self._call("acquire", acquire)

    async def renew(self, auction_id: str, owner: str, epoch: int, ttl_ms: int) -> bool:
        now = self._clock.now_ms()

        def renew() -> bool:
            _, current, holder, until = self._row(auction_id)
            if holder != owner or current != epoch or until <= now:
                return False
            self._db.execute(
                "UPDATE auctions SET lease_until = ? WHERE id = ?", (now + ttl_ms, auction_id)
            )
            return True

        return await self._call("renew", renew)

    async def release(self, auction_id: str, owner: str, epoch: int) -> None:
        def release() -> None:
            _, current, holder, _ = self._row(auction_id)
            if holder == owner and current == epoch:
                self._db.execute(
                    "UPDATE auctions SET owner = NULL, lease_until = 0 WHERE id = ?",
                    (auction_id,),
                )

        await self._call("release", release)

    # -- the store -------------------------------------------------------------

    async def durability(self) -> dict[str, str]:
        def settings() -> dict[str, str]:
            mode = self._db.execute("PRAGMA journal_mode").fetchone()[0]
            sync = self._db.execute("PRAGMA synchronous").fetchone()[0]
            return {"journal_mode": str(mode), "synchronous": _SYNC_NAMES.get(sync, str(sync))}

        report = {"store": f"sqlite at {self.path}", "sqlite_version": sqlite3.sqlite_version}
        report.update(await self._call("durability", settings))
        report["survives"] = (
            "a process or machine crash: every acknowledged event is fsynced"
            if report["synchronous"] == "full"
            else "a process crash; a machine crash may lose the last transactions"
        )
        return report

    async def close(self) -> None:
        """Close the file and drop the lock (idempotent)."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        with contextlib.suppress(sqlite3.Error):
            await loop.run_in_executor(self._thread, self._db.close)
        self._thread.shutdown()
        os.close(self._lock_fd)


_SYNC_NAMES = {0: "off", 1: "normal", 2: "full", 3: "extra"}


def _lock(path: Path) -> int:
    """Create the directory, open ``PATH.lock`` and flock it; JournalInUse if taken."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise JournalUnavailable(
            f"SQLite journal at {path}: cannot create {lock_path}: {exc.strerror}"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise JournalInUse(
            f"the SQLite journal {path} is in use by another process (pid {holder}): "
            "one journal file serves one process; stop the other `underbid serve` "
            "or give this one another --data directory"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
