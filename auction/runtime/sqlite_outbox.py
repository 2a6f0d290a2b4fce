"""The outbox in SQLite, beside the SQLite journal (:mod:`auction.runtime.outbox`).

A file of its own next to the journal's (``DIR/journal.sqlite3`` ->
``DIR/journal-outbox.sqlite3``): the same durability (WAL, ``synchronous =
FULL``: a delivery written is on disk when the call returns, so a ``kill -9``
loses nothing), yet its writes never wait behind the journal's group commits,
nor the journal's behind its own. One process holds it (an exclusive ``flock``
on ``PATH.lock``, as the journal's file is held), so the leases are this
process's: leases found in the file at open are a dead process's and are
cleared, and delivery resumes at once. Every sqlite3 call runs on one
dedicated thread; the event loop is never blocked by the disk.

Schema::

    deliveries  id, message_id, endpoint, kind, payload, created_at, due_at,
                attempts, last_error, state, finished_at, owner, lease_until
    endpoints   name, delivered, dead (counts), disabled (reason), disabled_at

Every sqlite3 error becomes :class:`~auction.runtime.journal.JournalUnavailable`
(the transaction rolled back).
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
from typing import Any, TypeVar

from auction.runtime.journal import JournalUnavailable
from auction.runtime.outbox import (
    DEAD,
    DELIVERED,
    MAX_ERROR_CHARS,
    MAX_KEPT,
    PENDING,
    Delivery,
    EndpointStats,
    State,
)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id          TEXT PRIMARY KEY,
    message_id  TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    payload     BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    due_at      INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL DEFAULT 'pending',
    finished_at INTEGER NOT NULL DEFAULT 0,
    owner       TEXT NOT NULL DEFAULT '',
    lease_until INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (endpoint, state, due_at);
CREATE INDEX IF NOT EXISTS deliveries_done ON deliveries (endpoint, state, finished_at);
CREATE TABLE IF NOT EXISTS endpoints (
    name        TEXT PRIMARY KEY,
    delivered   INTEGER NOT NULL DEFAULT 0,
    dead        INTEGER NOT NULL DEFAULT 0,
    disabled    TEXT NOT NULL DEFAULT '',
    disabled_at INTEGER NOT NULL DEFAULT 0
);
"""

_COLUMNS = (
    "id, message_id, endpoint, kind, payload, created_at, due_at, attempts, last_error, "
    "state, finished_at"
)


def outbox_path(journal_path: str | os.PathLike[str]) -> Path:
    """The outbox file beside a journal file."""
    path = Path(journal_path)
    return path.with_name(f"{path.stem}-outbox{path.suffix or '.sqlite3'}")


def _row(row: Sequence[Any]) -> Delivery:
    state: State = row[9] if row[9] in (PENDING, DELIVERED, DEAD) else PENDING
    return Delivery(
        id=row[0],
        message_id=row[1],
        endpoint=row[2],
        kind=row[3],
        payload=bytes(row[4]),
        created_at=row[5],
        due_at=row[6],
        attempts=row[7],
        last_error=row[8],
        state=state,
        finished_at=row[10],
    )


class SqliteOutbox:
    """The outbox in one SQLite file; see the module docstring."""

    name = "sqlite"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock_fd = _lock(self.path)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="underbid-outbox")
        self._closed = False
        try:
            self._db = self._thread.submit(self._open).result()
        except BaseException:
            self._thread.shutdown()
            os.close(self._lock_fd)
            raise

    # -- plumbing (below ``_call``, everything runs on the outbox's thread) ----
    def _open(self) -> sqlite3.Connection:
        where = f"SQLite outbox at {self.path}"
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise JournalUnavailable(f"{where}: cannot switch to WAL (journal_mode={mode})")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            # The lock says nobody else runs: every lease in the file is a dead process's.
            db.execute("UPDATE deliveries SET owner = '', lease_until = 0 WHERE owner != ''")
        except sqlite3.Error as exc:
            raise JournalUnavailable(f"{where}: cannot open: {exc}") from exc
        return db

    async def _call(self, what: str, fn: Callable[..., T], *args: object) -> T:
        if self._closed:
            raise JournalUnavailable(f"SQLite outbox at {self.path}: {what}: closed")
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
                f"SQLite outbox at {self.path}: {what} failed: {type(exc).__name__}: {exc}"
            ) from exc
        except BaseException:
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise

    def _transaction(self, fn: Callable[[], T]) -> T:
        self._db.execute("BEGIN IMMEDIATE")
        result = fn()
        self._db.execute("COMMIT")
        return result

    # -- the interface ---------------------------------------------------------
    async def add(self, deliveries: Sequence[Delivery]) -> int:
        def run() -> int:
            added = 0
            for d in deliveries:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO deliveries (id, message_id, endpoint, kind, payload, "
                    "created_at, due_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (d.id, d.message_id, d.endpoint, d.kind, d.payload, d.created_at, d.due_at),
                )
                added += cursor.rowcount
            return added

        return await self._call("add", self._transaction, run)

    async def claim(
        self, owner: str, *, now: int, lease_ms: int, limit: int, endpoints: Sequence[str]
    ) -> list[Delivery]:
        if not endpoints or limit <= 0:
            return []

        def run() -> list[Delivery]:
            marks = ",".join("?" * len(endpoints))
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE state = 'pending' "
                f"AND endpoint IN ({marks}) "
                "AND endpoint NOT IN (SELECT name FROM endpoints WHERE disabled != '') "
                "AND MAX(due_at, lease_until) <= ? "
                "ORDER BY MAX(due_at, lease_until), id LIMIT ?",
                (*endpoints, now, limit),
            ).fetchall()
            self._db.executemany(
                "UPDATE deliveries SET owner = ?, lease_until = ? WHERE id = ?",
                [(owner, now + lease_ms, row[0]) for row in rows],
            )
            return [_row(row) for row in rows]

        return await self._call("claim", self._transaction, run)

    def _finish(self, delivery_id: str, state: State, owner: str, error: str, now: int) -> bool:
        where = "id = ? AND state = 'pending'" + (" AND owner = ?" if owner else "")
        args: tuple[object, ...] = (delivery_id, owner) if owner else (delivery_id,)
        row = self._db.execute(f"SELECT endpoint FROM deliveries WHERE {where}", args).fetchone()
        if row is None:
            return False
        endpoint = row[0]
        self._db.execute(
            "UPDATE deliveries SET state = ?, attempts = attempts + 1, last_error = ?, "
            "finished_at = ?, owner = '', lease_until = 0 WHERE id = ?",
            (state, error[:MAX_ERROR_CHARS], now, delivery_id),
        )
        self._db.execute("INSERT OR IGNORE INTO endpoints (name) VALUES (?)", (endpoint,))
        self._db.execute(
            f"UPDATE endpoints SET {state} = {state} + 1 WHERE name = ?",  # state: a constant
            (endpoint,),
        )
        self._db.execute(
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE endpoint = ? "
            "AND state != 'pending' ORDER BY finished_at DESC, id DESC LIMIT -1 OFFSET ?)",
            (endpoint, MAX_KEPT),
        )
        return True

    async def delivered(self, delivery_id: str, *, now: int) -> None:
        await self._call(
            "delivered",
            self._transaction,
            lambda: self._finish(delivery_id, DELIVERED, "", "", now),
        )

    async def retry(
        self, delivery_id: str, owner: str, *, due_at: int, error: str, now: int
    ) -> bool:
        def run() -> bool:
            cursor = self._db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, due_at = ?, last_error = ?, "
                "owner = '', lease_until = 0 WHERE id = ? AND state = 'pending' AND owner = ?",
                (due_at, error[:MAX_ERROR_CHARS], delivery_id, owner),
            )
            return cursor.rowcount == 1

        return await self._call("retry", self._transaction, run)

    async def dead(self, delivery_id: str, owner: str, *, error: str, now: int) -> bool:
        return await self._call(
            "dead", self._transaction, lambda: self._finish(delivery_id, DEAD, owner, error, now)
        )

    async def disable(self, endpoint: str, *, reason: str, now: int) -> None:
        def run() -> None:
            self._db.execute("INSERT OR IGNORE INTO endpoints (name) VALUES (?)", (endpoint,))
            self._db.execute(
                "UPDATE endpoints SET disabled = ?, disabled_at = ? WHERE name = ? "
                "AND disabled = ''",
                (reason[:MAX_ERROR_CHARS] or "disabled", now, endpoint),
            )

        await self._call("disable", self._transaction, run)

    async def enable(self, endpoint: str) -> bool:
        def run() -> bool:
            cursor = self._db.execute(
                "UPDATE endpoints SET disabled = '', disabled_at = 0 WHERE name = ? "
                "AND disabled != ''",
                (endpoint,),
            )
            return cursor.rowcount == 1

        return await self._call("enable", self._transaction, run)

    async def stats(self, endpoints: Sequence[str]) -> dict[str, EndpointStats]:
        def run() -> dict[str, EndpointStats]:
            out: dict[str, EndpointStats] = {}
            for name in endpoints:
                pending = self._db.execute(
                    "SELECT COUNT(*) FROM deliveries WHERE endpoint = ? AND state = 'pending'",
                    (name,),
                ).fetchone()[0]
                row = self._db.execute(
                    "SELECT delivered, dead, disabled, disabled_at FROM endpoints WHERE name = ?",
                    (name,),
                ).fetchone() or (0, 0, "", 0)
                out[name] = EndpointStats(int(pending), row[0], row[1], row[2], row[3])
            return out

        return await self._call("stats", run)

    async def recent(self, endpoint: str, state: State, limit: int) -> list[Delivery]:
        order = "due_at DESC" if state == PENDING else "finished_at DESC"
        rows = await self._call(
            "recent",
            lambda: self._db.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE endpoint = ? AND state = ? "
                f"ORDER BY {order}, id DESC LIMIT ?",
                (endpoint, state, limit),
            ).fetchall(),
        )
        return [_row(row) for row in rows]

    async def get(self, delivery_id: str) -> Delivery | None:
        row = await self._call(
            "get",
            lambda: self._db.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE id = ?", (delivery_id,)
            ).fetchone(),
        )
        return _row(row) if row is not None else None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._thread, self._db.close)
        self._thread.shutdown()
        os.close(self._lock_fd)


def _lock(path: Path) -> int:
    """Create the directory, open ``PATH.lock`` and flock it (one process per file)."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise JournalUnavailable(f"SQLite outbox at {path}: cannot create {lock_path}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalUnavailable(
            f"the SQLite outbox {path} is in use by another process: one file, one process"
        ) from None
    return fd
