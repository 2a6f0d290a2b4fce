"""The bridge at work: follow the CDB's feed, plan lots, write everything back.

Two loops share the durable :class:`~bridge.store.BridgeStore`:

**The feed** (:meth:`Bridge.follow_feed`). Page after page of the CDB's changes
feed, from the stored offset. For each tender of a type the bridge serves:

- ``active.auction``: read its auction view and, for each lot
  (:func:`bridge.plan.lot_plans`), plan it (create the Underbid auction
  ``{tender}_{lot}``, then PATCH the links back), move it if its
  ``auctionPeriod.startDate`` changed and it has not started (reschedule, new
  links), or cancel it if the lot was cancelled; a lot planned already with
  the same start is left alone (a tender seen twice is planned once);
- ``cancelled`` / ``unsuccessful``: cancel its auctions that have not ended.

The offset is stored only once every tender of the page was dealt with, so a
bridge killed mid-page reads the page again (every step is idempotent, see
:mod:`bridge.store`). A CDB that fails is retried with back-off where it failed
(:mod:`bridge.http`): the bridge never skips ahead of a tender it could not read.

**The results** (:meth:`Bridge.watch_results`). Every ``poll``: lots whose
links failed are linked again; lots that have started are asked for their
result. Once a lot has ended: its protocol (ProZorro's YAML,
``audit_{id}.yaml``, and Underbid's JSON record, ``audit_{id}.json``) is
uploaded to the document service and attached to the tender (a new version
of a document of the same title, never a second one), then the results are
POSTed in the tender's bid order, until the CDB accepts them. A lot cancelled
in Underbid by an official gets no results (the CDB re-plans it).

A lot's steps are serialised by a lock per lot, so the loops never race.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auction.clock import Clock, SystemClock
from bridge.cdb import Cdb
from bridge.http import Refused
from bridge.plan import (
    LotPlan,
    PlanError,
    Timings,
    final_bids,
    links_patch,
    lot_plans,
    results_post,
)
from bridge.protocol import audit_yaml, file_name
from bridge.store import OPEN_STATES, BridgeStore, LotRecord
from bridge.underbid import Underbid, problem_code

log = logging.getLogger("underbid.bridge")

MAX_TENDER_FAILURES = 5
"""Times a tender whose handling fails unexpectedly is tried before it is skipped."""


@dataclass
class Bridge:
    cdb: Cdb
    underbid: Underbid
    store: BridgeStore
    public_url: str
    """Where bidders and the public reach Underbid (links point there)."""
    timings: Timings = field(default_factory=Timings)
    types: frozenset[str] = frozenset()
    """The ``procurementMethodType`` values served."""
    poll_s: float = 10.0
    since: str = "start"
    """Where to start a feed never followed before: ``start`` (every tender the
    feed holds) or ``now`` (only changes from now on)."""
    clock: Clock = field(default_factory=SystemClock)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    stats: dict[str, int] = field(
        default_factory=lambda: {"tenders": 0, "planned": 0, "moved": 0, "cancelled": 0, "done": 0}
    )
    """What the bridge did (for its status line and the tests)."""

    def _lock(self, auction_id: str) -> asyncio.Lock:
        return self._locks.setdefault(auction_id, asyncio.Lock())

    async def run(self) -> None:
        """Both loops, until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.follow_feed(), name="bridge-feed")
            group.create_task(self.watch_results(), name="bridge-results")

    # ---------------------------------------------------------------- feed
    async def _first_offset(self) -> str | None:
        stored = self.store.offset()
        if stored is not None or self.since == "start":
            return stored
        page = await self.cdb.feed(None, descending=True)
        offset = page.prev_offset or None
        if offset is not None:
            self.store.set_offset(offset)
        return offset

    async def follow_feed(self) -> None:
        offset = await self._first_offset()
        failures: dict[str, int] = {}
        while True:
            page = await self.cdb.feed(offset)
            for item in page.items:
                tender_id = str(item.get("id"))
                try:
                    await self.handle(item)
                except Exception:
                    # A bug of ours on one tender: the page is read again (its place is
                    # kept) a few times, then that tender is skipped, loudly.
                    failed = failures[tender_id] = failures.get(tender_id, 0) + 1
                    log.exception("tender %s: failed (%d)", tender_id, failed)
                    if failed < MAX_TENDER_FAILURES:
                        break
                    log.error(
                        "tender %s: skipped after %d failures", tender_id, failures[tender_id]
                    )
                failures.pop(tender_id, None)
            else:
                if page.next_offset and page.next_offset != offset:
                    self.store.set_offset(page.next_offset)
                    offset = page.next_offset
                if page.items:
                    continue
            await asyncio.sleep(self.poll_s)

    async def handle(self, item: Mapping[str, Any]) -> None:
        """One tender of the feed."""
        tender_id = str(item.get("id"))
        if item.get("procurementMethodType") not in self.types:
            return
        status = item.get("status")
        if status in ("cancelled", "unsuccessful"):
            for record in self.store.of_tender(tender_id):
                await self._cancel(record, f"tender {status} in the CDB")
            return
        if status != "active.auction":
            return
        self.stats["tenders"] += 1
        try:
            view = await self.cdb.auction_view(tender_id)
        except Refused as exc:  # 403: no longer in active.auction; the feed will say more
            log.info("tender %s: %s", tender_id, exc)
            return
        try:
            plans = lot_plans(view, self.timings)
        except PlanError as exc:
            log.error("tender %s cannot be auctioned: %s", tender_id, exc)
            return
        for plan in plans:
            async with self._lock(plan.auction_id):
                await self._apply(plan, view)

    async def _apply(self, plan: LotPlan, view: Mapping[str, Any]) -> None:
        record = self.store.get(plan.auction_id)
        if plan.action == "cancel":
            if record is not None:
                await self._cancel(record, plan.reason)
            return
        if plan.action == "wait":
            if record is None:
                log.info("%s: not auctioned yet: %s", plan.auction_id, plan.reason)
            return
        assert plan.spec is not None
        now = self.clock.now_ms()
        if record is None:
            if plan.start_at <= now:
                log.warning(
                    "%s: its start %s has passed; waiting for the CDB to plan it again",
                    plan.auction_id,
                    plan.spec["start_at"],
                )
                return
            created = await self.underbid.create(plan.spec)
            log.info(
                "%s: %s for %s", plan.auction_id, "planned" if created else "found", plan.start_at
            )
            record = LotRecord(
                plan.auction_id,
                plan.tender_id,
                plan.lot_id,
                str(view.get("tenderID", "")),
                plan.start_at,
                "planned",
                updated_at=now,
            )
            self.store.put(record)
            self.stats["planned"] += 1
        elif record.state in ("planned", "linked") and record.start_at != plan.start_at:
            record = await self._move(record, plan)
        elif record.state not in OPEN_STATES and record.start_at != plan.start_at:
            message = (
                f"the CDB planned it again for {plan.spec['start_at']} after it was "
                f"{record.state}; an auction id runs once: an official must decide"
            )
            if record.error != message:
                log.error("%s: %s", plan.auction_id, message)
                self.store.put(record.but(error=message, updated_at=now))
            return
        if record.state == "planned":
            await self._link(record, view, [b["id"] for b in plan.spec["bidders"]])

    async def _move(self, record: LotRecord, plan: LotPlan) -> LotRecord:
        try:
            await self.underbid.control(
                record.auction_id, "reschedule", {"start_at": plan.start_at}
            )
        except Refused as exc:
            log.warning("%s: not moved to %s: %s", record.auction_id, plan.start_at, exc)
            return record
        log.info("%s: moved from %s to %s", record.auction_id, record.start_at, plan.start_at)
        self.stats["moved"] += 1
        moved = record.but(start_at=plan.start_at, state="planned", updated_at=self.clock.now_ms())
        self.store.put(moved)  # links again: they last until token_ttl_s after the new start
        return moved

    async def _link(
        self, record: LotRecord, view: Mapping[str, Any], bidders: list[str] | None = None
    ) -> None:
        try:
            if bidders is None:
                bidders = await self._bidders(record)
            urls = {}
            for bidder in bidders:
                token = await self.underbid.bidder_token(record.auction_id, bidder)
                urls[bidder] = f"{self.public_url}/bid/{record.auction_id}#token={token}"
            body = links_patch(
                view,
                record.lot_id,
                auction_url=f"{self.public_url}/watch/{record.auction_id}",
                participation_urls=urls,
            )
            await self.cdb.patch_links(record.tender_id, record.lot_id, body)
        except (Refused, PlanError) as exc:
            log.error("%s: links not written: %s", record.auction_id, exc)
            self._failed(record, exc)
            return
        log.info("%s: links written (%d bidders)", record.auction_id, len(urls))
        self.store.put(record.but(state="linked", error="", updated_at=self.clock.now_ms()))

    async def _bidders(self, record: LotRecord) -> list[str]:
        """The admitted bidders of the lot's auction, from its audit record's spec."""
        spec = (await self.underbid.record(record.auction_id))["spec"]
        raw = (spec.get("lots") or [spec])[0]
        return [b["id"] for b in raw.get("bidders", [])]

    async def _cancel(self, record: LotRecord, reason: str) -> None:
        if record.state not in ("planned", "linked"):
            return
        try:
            await self.underbid.control(record.auction_id, "cancel", {"reason": reason})
        except Refused as exc:
            if problem_code(exc) != "auction_closed":
                log.error("%s: not cancelled: %s", record.auction_id, exc)
                return
        log.info("%s: cancelled (%s)", record.auction_id, reason)
        self.stats["cancelled"] += 1
        self.store.put(record.but(state="cancelled", error=reason, updated_at=self.clock.now_ms()))

    # ------------------------------------------------------------- results
    async def watch_results(self) -> None:
        while True:
            for record in self.store.open_lots():
                async with self._lock(record.auction_id):
                    current = self.store.get(record.auction_id)
                    if current is not None and current.state in OPEN_STATES:
                        try:
                            await self.step(current)
                        except Exception as exc:  # our bug: noted on the lot, tried later
                            log.exception("%s: the next step failed", current.auction_id)
                            self._failed(current, exc)
            await asyncio.sleep(self.poll_s)

    async def step(self, record: LotRecord) -> None:
        """The next step of one open lot, if it is due."""
        now = self.clock.now_ms()
        if self._resting(record, now):
            return
        try:
            if record.state == "planned" and record.start_at > now:
                await self._link(record, await self.cdb.auction_view(record.tender_id))
                return
            if record.start_at > now:
                return
            if record.state in ("planned", "linked"):
                outcome = await self.underbid.result(record.auction_id)
                if outcome is None:
                    return
                if outcome.get("cancelled"):
                    self.store.put(
                        record.but(state="cancelled", error="cancelled in Underbid by an official")
                    )
                    log.warning("%s: cancelled in Underbid: no results go back", record.auction_id)
                    return
                record = await self._post_protocol(record)
            if record.state == "protocol":
                await self._post_results(record)
        except Refused as exc:
            log.error("%s: %s", record.auction_id, exc)
            self._failed(record, exc)

    def _failed(self, record: LotRecord, error: Exception) -> None:
        """A step was refused: note why; :meth:`step` tries again after a back-off."""
        current = self.store.get(record.auction_id) or record
        self.store.put(
            current.but(
                error=str(error), attempts=current.attempts + 1, updated_at=self.clock.now_ms()
            )
        )

    def _resting(self, record: LotRecord, now: int) -> bool:
        """A refused step waits ``poll`` x 2^attempts (at most an hour) before the next try."""
        if not record.error:
            return False
        wait: float = min(self.poll_s * 1000 * 2.0 ** min(record.attempts, 20), 3_600_000.0)
        return now < record.updated_at + wait

    async def _post_protocol(self, record: LotRecord) -> LotRecord:
        audit = await self.underbid.record(record.auction_id)
        yaml_bytes = audit_yaml(
            audit, tender_id=record.tender_id, tender_code=record.tender_code, lot_id=record.lot_id
        )
        json_bytes = json.dumps(audit, ensure_ascii=False, indent=1).encode("utf-8")
        existing: dict[str, dict[str, Any]] = {}
        for held in await self.cdb.documents(record.tender_id):  # every version, oldest first
            existing[str(held.get("title"))] = held
        for name, content, kind in (
            (file_name(record.auction_id, "yaml"), yaml_bytes, "application/yaml"),
            (file_name(record.auction_id, "json"), json_bytes, "application/json"),
        ):
            uploaded = await self.cdb.upload(name, content, kind)
            old = existing.get(name)
            if old is not None and old.get("hash") == uploaded.get("hash"):
                continue  # attached already (a bridge killed after attaching)
            document = {
                "title": name,
                "url": uploaded["url"],
                "hash": uploaded["hash"],
                "format": uploaded.get("format", kind),
            }
            if record.lot_id:
                document.update(documentOf="lot", relatedItem=record.lot_id)
            await self.cdb.attach(
                record.tender_id, document, replaces=str(old["id"]) if old is not None else ""
            )
        log.info("%s: protocol attached", record.auction_id)
        done = record.but(state="protocol", error="", updated_at=self.clock.now_ms())
        self.store.put(done)
        return done

    async def _post_results(self, record: LotRecord) -> None:
        audit = await self.underbid.record(record.auction_id)
        finals = final_bids(audit, "")
        try:
            view = await self.cdb.auction_view(record.tender_id)
            body = results_post(view, record.lot_id, finals)
            await self.cdb.post_results(record.tender_id, record.lot_id, body)
        except Refused as exc:
            if exc.status != 403 or not await self._results_already_there(record, finals):
                raise
            log.info("%s: the CDB already holds these results", record.auction_id)
        log.info("%s: results accepted", record.auction_id)
        self.stats["done"] += 1
        self.store.put(record.but(state="done", error="", updated_at=self.clock.now_ms()))

    async def _results_already_there(self, record: LotRecord, finals: Mapping[str, Any]) -> bool:
        """Whether the CDB's tender holds exactly these results (a bridge killed
        after the CDB accepted them, before it noted so)."""
        from decimal import Decimal

        tender = await self.cdb.tender(record.tender_id)
        for bid in tender.get("bids", []):
            final = finals.get(bid.get("id"))
            if final is None:
                continue
            holders = (
                [bid]
                if not record.lot_id
                else [v for v in bid.get("lotValues", []) if v.get("relatedLot") == record.lot_id]
            )
            for holder in holders:
                amount = (holder.get("value") or {}).get("amount")
                if amount is None or Decimal(str(amount)) != Decimal(final.amount).scaleb(-2):
                    return False
        return True


@contextlib.asynccontextmanager
async def running(bridge: Bridge) -> Any:
    """Run ``bridge`` in the background for the block's duration."""
    task = asyncio.create_task(bridge.run(), name="bridge")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
