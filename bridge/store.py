"""The bridge's durable state: where it is in the feed, and every lot it planned.

One SQLite file (``bridge.state``; stdlib ``sqlite3``, WAL, ``synchronous =
FULL``: a write is on disk when the call returns, so a ``kill -9`` loses
nothing that was recorded). Two tables::

    feed(key, value)        the CDB feed offset (opaque text, as the CDB gave it)
    lots(auction_id, ...)   one row per lot: the tender and lot ids, the start
                            planned, the state, the last error, attempts, times

A lot's states::

    planned ──► linked ──► (the auction ends) ──► protocol ──► done
       │           │                                  (results accepted)
       └───────────┴──► cancelled                  failed: an error no retry
                                                   fixes (kept, with the reason)

Every step the bridge takes towards the CDB or Underbid is idempotent there
(an auction id exists once; links are replaced; a protocol document of the
same title gets a new version; results are checked before being posted
again), and a step is recorded only after it succeeded: a bridge killed
between the two does the step again, harmlessly.

A second bridge on the same file refuses to start (an exclusive lock held
for the process's life), so two bridges can never follow one feed at once.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Literal

from auction.core.errors import UnderbidError

LotState = Literal["planned", "linked", "protocol", "done", "cancelled", "failed"]
OPEN_STATES: Final = ("planned", "linked", "protocol")
"""States of a lot the bridge still has work for."""

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS feed (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lots (
    auction_id TEXT PRIMARY KEY,
    tender_id TEXT NOT NULL,
    lot_id TEXT NOT NULL,
    tender_code TEXT NOT NULL,
    start_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS lots_by_tender ON lots (tender_id);
"""


class StoreError(UnderbidError):
    """The state file cannot be opened or used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class LotRecord:
    auction_id: str
    tender_id: str
    lot_id: str
    tender_code: str
    """The tender's ``tenderID`` (for the protocol)."""
    start_at: int
    state: LotState
    error: str = ""
    attempts: int = 0
    updated_at: int = 0

    def but(self, **changes: object) -> LotRecord:
        return replace(self, **changes)  # type: ignore[arg-type]


class BridgeStore:
    """The state file at ``path`` (created if absent). :meth:`close` when done."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._lock = open(self.path.with_name(self.path.name + ".lock"), "w")  # noqa: SIM115
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open the state's lock: {exc.strerror}") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise StoreError(
                f"{self.path}: another bridge is using this state file; one bridge per feed"
            ) from None
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self._lock.close()
            raise StoreError(f"{self.path}: not a usable state file: {exc}") from None

    def close(self) -> None:
        self._db.close()
        self._lock.close()

    # ---------------------------------------------------------------- feed
    def offset(self) -> str | None:
        row = self._db.execute("SELECT value FROM feed WHERE key = 'offset'").fetchone()
        return row[0] if row else None

    def set_offset(self, offset: str) -> None:
        self._db.execute(
            "INSERT INTO feed (key, value) VALUES ('offset', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (offset,),
        )

    # ---------------------------------------------------------------- lots
    def get(self, auction_id: str) -> LotRecord | None:
        row = self._db.execute(
            "SELECT auction_id, tender_id, lot_id, tender_code, start_at, state, error, attempts, "
            "updated_at FROM lots WHERE auction_id = ?",
            (auction_id,),
        ).fetchone()
        return LotRecord(*row) if row else None

    def put(self, record: LotRecord) -> None:
        self._db.execute(
            "INSERT INTO lots (auction_id, tender_id, lot_id, tender_code, start_at, state, "
            "error, attempts, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (auction_id) DO UPDATE SET start_at = excluded.start_at, "
            "state = excluded.state, error = excluded.error, attempts = excluded.attempts, "
            "updated_at = excluded.updated_at, tender_code = excluded.tender_code",
            (
                record.auction_id,
                record.tender_id,
                record.lot_id,
                record.tender_code,
                record.start_at,
                record.state,
                record.error[:500],
                record.attempts,
                record.updated_at,
            ),
        )

    def open_lots(self) -> list[LotRecord]:
        """Lots with work left, the earliest start first."""
        return list(self._select("WHERE state IN ('planned', 'linked', 'protocol')"))

    def all_lots(self) -> list[LotRecord]:
        return list(self._select(""))

    def of_tender(self, tender_id: str) -> list[LotRecord]:
        return list(self._select("WHERE tender_id = ?", (tender_id,)))

    def _select(self, where: str, args: tuple[object, ...] = ()) -> Iterator[LotRecord]:
        query = (
            "SELECT auction_id, tender_id, lot_id, tender_code, start_at, state, error, "
            f"attempts, updated_at FROM lots {where} ORDER BY start_at, auction_id"
        )
        for row in self._db.execute(query, args):
            yield LotRecord(*row)
