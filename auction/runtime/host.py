"""The runtime: live auctions in one asyncio process, durable before anyone hears.

One :class:`Runtime` hosts many auctions. For each it is the **single writer**:
every command of an auction is decided by the pure engine inside the event
loop (no awaits in between, so no interleaving), and every event is appended
to the journal before a bidder is acknowledged or a watcher is told.

Group commit: the events decided during one turn of the event loop, across
all auctions, go to the journal in one :meth:`Journal.append_batch` call (one
pipelined round trip with Redis). While a batch is in flight, new events
queue up for the next one, so throughput does not collapse to one round trip
per bid.

If an append fails (journal unreachable, or fenced by a newer writer), every
command waiting on it is answered :class:`Unavailable` (never acknowledged),
the auction's in-memory state is dropped, and it is rebuilt from the journal
(snapshot + tail) once the journal answers again: what the journal holds is
the truth. A command answered ``unavailable`` may or may not have been
written (the append may have reached the store just before the connection
broke): the client retries with the same ``bid_id`` and gets the original
outcome (exactly-once, see docs/engine.md).

Deadlines come from the engine (:meth:`Auction.next_deadline`) and the
injected clock; :meth:`Runtime.tick` fires whatever is due. A deadline that
passes while the journal is down takes effect, dated at its own time, as soon
as the auction is rebuilt: bidders were refused during the outage, and an
official may ``extend`` afterwards (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from auction.clock import Clock, SystemClock
from auction.core.commands import AnyCommand
from auction.core.engine import Auction, Outcome
from auction.core.errors import UnderbidError
from auction.core.events import Event, encode_event
from auction.core.spec import AuctionSpec, parse_spec
from auction.runtime.archive import Archive, read_back
from auction.runtime.journal import (
    Append,
    Journal,
    JournalError,
    JournalUnavailable,
    StaleEpoch,
)
from auction.runtime.loop import wait_set

log = logging.getLogger("underbid.runtime")

Listener = Callable[[str, int, list[Event]], None]
"""Called with (auction id, seq of the first event, events) once they are durable."""
Done = Callable[["RuntimeError_ | None"], None]
"""Told None once a command's events are durable, or why they never will be."""


class RuntimeError_(UnderbidError):
    """Base of the runtime's errors (each has a stable ``code``)."""

    code = "runtime_error"


class Unavailable(RuntimeError_):
    """The journal cannot be reached: nothing was acknowledged. Retry with the same bid_id."""

    code = "unavailable"


class UnknownAuction(RuntimeError_):
    """No such auction in the journal."""

    code = "unknown_auction"


class NotHosted(RuntimeError_):
    """The auction exists but another node is its writer."""

    code = "not_hosted"


class AuctionHalted(RuntimeError_):
    """A bug of ours broke this auction (and only it): it was logged, nothing durable
    was lost, and the auction stays at its last durable state until an operator
    restarts the node."""

    code = "auction_halted"


class AuctionOver(NotHosted):
    """The auction finished before this process started: it is read back from
    the journal, read-only, and takes no commands."""

    code = "auction_closed"


@dataclass
class _Hosted:
    """One auction this process writes."""

    id: str
    auction: Auction
    epoch: int
    durable_seq: int
    """Events up to here are in the journal."""
    last_snapshot_seq: int
    pending: list[Event] = field(default_factory=list)
    """Decided, applied in memory, not yet durable."""
    waiters: list[tuple[int, asyncio.Future[None] | Done]] = field(default_factory=list)
    """(seq that must be durable, future or callback) of commands awaiting their ack."""
    degraded: bool = False
    """In-memory state dropped after a failed append; being rebuilt."""
    finished_marked: bool = False


class Runtime:
    """Hosts auctions; see the module docstring for the guarantees."""

    def __init__(
        self,
        journal: Journal,
        clock: Clock | None = None,
        *,
        node_id: str | None = None,
        lease_ms: int = 5_000,
        snapshot_every: int = 1_000,
        retry_ms: int = 200,
    ) -> None:
        self.journal = journal
        """Where events become durable."""
        self.clock: Clock = clock or SystemClock()
        """The only source of time."""
        self.node_id = node_id or f"node-{uuid.uuid4().hex[:12]}"
        """This process's name as a lease owner."""
        self.lease_ms = lease_ms
        """How long a writer's lease lasts without renewal (renewed every third of it)."""
        self.snapshot_every = snapshot_every
        """A snapshot rides along with the append every this many events (at
        least; the interval grows to a quarter of the stream's length)."""
        self.retry_ms = retry_ms
        """Back-off between attempts to rebuild an auction while the journal is down."""
        self.archive = Archive(journal)
        """Finished auctions nobody hosts, read back from the journal (read-only)."""
        self._hosts: dict[str, _Hosted] = {}
        self._listeners: list[Listener] = []
        self._dirty: dict[str, _Hosted] = {}
        self._flush_task: asyncio.Task[None] | None = None
        self._flush_scheduled = False
        self._tasks: list[asyncio.Task[None]] = []
        self._recovering: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._running = False
        self.ready = False
        """True once the journal answered and every auction was recovered."""
        self.halted: dict[str, str] = {}
        """Auctions stopped by a bug of ours, with the reason (logged once each)."""
        self.command_timeout_s = 10.0
        """How long :meth:`submit` waits for durability before answering unavailable."""
        self.before_finish: list[Callable[[str], Awaitable[None]]] = []
        """Awaited with an auction's id once all of it is durable and over, before the
        journal marks it finished (and stops recovering it): what must be written
        because it ended (the webhook outbox) is written first. A hook that raises
        :class:`JournalUnavailable` leaves the auction unmarked, to be retried."""
        self.stats: dict[str, int] = {"appends": 0, "batches": 0, "events": 0, "degraded": 0}
        self.append_seconds = 0.0
        """Total time spent waiting on append batches (journal latency, with ``batches``)."""

    # ------------------------------------------------------------ lifecycle
    async def start(self, *, background: bool = True) -> None:
        """Recover every unfinished auction, then (with ``background``) run the
        timer, lease and adoption loops. Tests on a fake clock pass
        ``background=False`` and call :meth:`tick` themselves."""
        self._running = True
        try:
            settings = await self.journal.durability()
            log.info(
                "journal %s; durability: %s",
                self.journal.name,
                ", ".join(f"{k}={v}" for k, v in settings.items()),
            )
        except JournalUnavailable as exc:
            log.warning("journal %s unreachable at start: %s", self.journal.name, exc)
        await self.adopt()
        await self._open_archive()
        self.ready = True
        if background:
            self._tasks = [
                asyncio.create_task(self._timer_loop(), name="underbid-timers"),
                asyncio.create_task(self._lease_loop(), name="underbid-leases"),
            ]

    async def stop(self) -> None:
        """Finish the in-flight batch, stop the loops and release the leases."""
        self._running = False
        for task in [*self._tasks, *self._recovering.values()]:
            task.cancel()
        for task in [*self._tasks, *self._recovering.values()]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._recovering.clear()
        # Bounded: a journal that stopped answering must not keep the process alive.
        with contextlib.suppress(JournalError, TimeoutError):
            await asyncio.wait_for(self.drain(), self.command_timeout_s)
        for host in list(self._hosts.values()):
            with contextlib.suppress(JournalError, TimeoutError, KeyError):
                await asyncio.wait_for(self.journal.release(host.id, self.node_id, host.epoch), 2.0)

    async def adopt(self) -> list[str]:
        """Take over every active auction whose lease is free; returns their ids.

        At start this recovers this node's own auctions after a crash; run
        periodically it is the takeover of a dead node's auctions.
        """
        adopted: list[str] = []
        try:
            active = await self.journal.active_auctions()
        except JournalUnavailable as exc:
            log.warning("cannot list auctions: %s", exc)
            return adopted
        for auction_id in active:
            if auction_id in self._hosts:
                continue
            try:
                epoch = await self.journal.acquire(auction_id, self.node_id, self.lease_ms)
                if epoch is None:
                    continue
                self._hosts[auction_id] = await self._load(auction_id, epoch)
            except JournalUnavailable as exc:
                log.warning("cannot recover %s now: %s", auction_id, exc)
                continue
            adopted.append(auction_id)
            log.info("hosting %s (epoch %d)", auction_id, epoch)
        if adopted:
            self._wake.set()
        return adopted

    async def _load(self, auction_id: str, epoch: int) -> _Hosted:
        restored = await read_back(self.journal, auction_id)
        if restored is None:
            raise UnknownAuction(f"no auction {auction_id!r}")
        auction, after = restored
        seq = auction.state.seq
        return _Hosted(auction_id, auction, epoch, durable_seq=seq, last_snapshot_seq=after)

    async def _open_archive(self) -> None:
        """List the finished auctions (retried by the lease loop until it works)."""
        if not self.archive.opened:
            try:
                await self.archive.open()
            except JournalUnavailable as exc:
                log.warning("cannot list finished auctions now: %s", exc)

    # -------------------------------------------------------------- queries
    def hosted(self) -> list[str]:
        """The auctions this process writes."""
        return sorted(self._hosts)

    def known(self) -> list[str]:
        """Every auction this process can serve now."""
        return self.hosted()

    def owner_of(self, auction_id: str) -> str | None:
        """The node that writes ``auction_id`` (None: nobody, as far as this node knows)."""
        return self.node_id if auction_id in self._hosts else None

    def auction(self, auction_id: str) -> Auction:
        """The live engine of a hosted auction, or a finished one's if the
        archive has it loaded (read it, never mutate it). A finished auction
        not loaded yet raises :class:`Unavailable` and starts loading it."""
        if auction_id not in self._hosts:
            return self._archived(auction_id)
        host = self._host(auction_id)
        if host.degraded:
            raise Unavailable(f"auction {auction_id} is being rebuilt from the journal")
        return host.auction

    async def find(self, auction_id: str) -> Auction:
        """:meth:`auction`, waiting for a finished auction to be read back."""
        if auction_id in self._hosts:
            return self.auction(auction_id)
        try:
            archived = await self.archive.load(auction_id)
        except JournalUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        if archived is None:
            raise NotHosted(f"auction {auction_id!r} is not hosted here")
        return archived

    def _archived(self, auction_id: str) -> Auction:
        archived = self.archive.get(auction_id)
        if archived is not None:
            return archived
        if auction_id in self.archive:
            self.archive.prefetch(auction_id)
            raise Unavailable(f"auction {auction_id} has finished; it is being read back: retry")
        raise NotHosted(f"auction {auction_id!r} is not hosted here")

    def durable_seq(self, auction_id: str) -> int:
        if auction_id not in self._hosts:
            return self._archived(auction_id).state.seq
        return self._host(auction_id).durable_seq

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Be told of every durable event; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _host(self, auction_id: str) -> _Hosted:
        host = self._hosts.get(auction_id)
        if host is None:
            if auction_id in self.archive:
                raise AuctionOver(f"auction {auction_id!r} is over: it takes no more commands")
            raise NotHosted(f"auction {auction_id!r} is not hosted here")
        return host

    # ------------------------------------------------------------- commands
    async def create(self, spec_data: Mapping[str, Any] | AuctionSpec) -> AuctionSpec:
        """Validate a spec (unless already parsed), store it, and host the new auction."""
        spec = spec_data if isinstance(spec_data, AuctionSpec) else parse_spec(spec_data)
        await self.journal.create(spec.id, msgspec.json.encode(spec.raw))
        epoch = await self.journal.acquire(spec.id, self.node_id, self.lease_ms)
        if epoch is None:
            raise NotHosted(f"auction {spec.id!r} was taken by another node")
        self._hosts[spec.id] = _Hosted(spec.id, Auction(spec), epoch, 0, 0)
        self._wake.set()
        log.info("created %s (%d lots)", spec.id, len(spec.lots))
        return spec

    async def submit(self, auction_id: str, command: AnyCommand) -> Outcome:
        """Decide a command and return its outcome once its events are durable.

        Raises :class:`Unavailable` when the journal could not confirm it.
        """
        answered: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

        def answer(outcome: Outcome, error: RuntimeError_ | None) -> None:
            if answered.done():
                return
            if error is None:
                answered.set_result(outcome)
            else:
                answered.set_exception(error)

        self.decide_then(auction_id, command, answer)
        try:
            return await asyncio.wait_for(asyncio.shield(answered), self.command_timeout_s)
        except TimeoutError:
            # Its answer may still come (and is then nobody's business): retrieve it.
            answered.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise Unavailable(
                "the journal did not confirm in time: retry with the same bid_id"
            ) from None

    def decide_then(
        self,
        auction_id: str,
        command: AnyCommand,
        answer: Callable[[Outcome, RuntimeError_ | None], None],
    ) -> None:
        """Decide a command now; ``answer(outcome, None)`` once it is durable (at
        once if nothing is in flight), ``answer(outcome, Unavailable)`` if the
        journal failed it. ``answer`` runs inside the commit, before the
        listeners hear of the events: an acknowledgement goes out before the
        fan-out, with no loop turn in between. Raises :class:`Unavailable` or
        :class:`NotHosted` when the command cannot be decided at all.
        """
        host = self._host(auction_id)
        self._check_halted(auction_id)
        if host.degraded:
            raise Unavailable("the journal is unreachable: retry with the same bid_id")
        try:
            outcome = host.auction.handle(command, self.clock.now_ms())
        except Exception as exc:  # a bug of ours, in this auction only
            self._halt(host, f"deciding {type(command).__name__}", exc)
            raise AuctionHalted(self.halted[auction_id]) from None
        if outcome.events:
            self._enqueue(host, outcome.events)
            self._wake.set()
        seq = host.auction.state.seq  # a duplicate's original may still be in flight
        if host.durable_seq >= seq:
            answer(outcome, None)
        else:
            host.waiters.append((seq, lambda error: answer(outcome, error)))

    def settled(self, auction_id: str) -> asyncio.Future[None] | None:
        """A future that ends once everything decided so far for this auction is
        durable (None: it already is), or raises :class:`Unavailable`."""
        if auction_id not in self._hosts:
            self._archived(auction_id)  # a finished auction read back is all durable
            return None
        host = self._host(auction_id)
        return self._durable_future(host, host.auction.state.seq)

    async def tick(self) -> int:
        """Fire every deadline due by the clock's now; returns how many events."""
        now = self.clock.now_ms()
        fired = 0
        for host in list(self._hosts.values()):
            if not self._fires(host):
                continue
            try:
                deadline = host.auction.next_deadline()
                if deadline is None or deadline > now:
                    continue
                events = host.auction.advance(now)
            except Exception as exc:  # a bug of ours, in this auction only
                self._halt(host, "firing its deadlines", exc)
                continue
            if events:
                fired += len(events)
                self._enqueue(host, events)
        return fired

    # ------------------------------------------------------------- failures
    def _check_halted(self, auction_id: str) -> None:
        reason = self.halted.get(auction_id)
        if reason is not None:
            raise AuctionHalted(reason)

    def _halt(self, host: _Hosted, doing: str, exc: BaseException) -> None:
        """Contain a bug of ours to one auction: log it once (with the auction id),
        refuse its waiters, drop what is not durable and reload the durable state,
        which stays readable; the auction takes no more commands or deadlines."""
        if host.id not in self.halted:
            log.error(
                "auction %s halted by an internal error while %s; its other auctions' "
                "neighbours go on, nothing durable was lost",
                host.id,
                doing,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            self.halted[host.id] = (
                f"auction {host.id} was halted by an internal error ({type(exc).__name__}); "
                "it was logged, nothing acknowledged was lost"
            )
            self.stats["halted"] = len(self.halted)
        self._degrade(host, JournalUnavailable(f"halted: {type(exc).__name__}"), quiet=True)

    async def drain(self) -> None:
        """Wait until everything decided so far is durable (or has failed)."""
        while self._flush_task is not None or self._flush_scheduled:
            if self._flush_task is not None:
                with contextlib.suppress(JournalError):
                    await asyncio.shield(self._flush_task)
            else:
                await asyncio.sleep(0)

    # --------------------------------------------------------- group commit
    def _enqueue(self, host: _Hosted, events: list[Event]) -> None:
        host.pending.extend(events)
        self._dirty[host.id] = host
        if self._flush_task is None and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._start_flush)

    def _start_flush(self) -> None:
        self._flush_scheduled = False
        if self._flush_task is None and self._dirty:
            self._flush_task = asyncio.get_running_loop().create_task(self._flush())

    def _durable_future(self, host: _Hosted, seq: int) -> asyncio.Future[None] | None:
        if host.durable_seq >= seq:
            return None
        if host.degraded:
            raise Unavailable("the journal is unreachable: retry with the same bid_id")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        host.waiters.append((seq, future))
        return future

    async def _flush(self) -> None:
        try:
            while self._dirty:
                batch = list(self._dirty.values())
                self._dirty = {}
                appends: list[Append] = []
                inflight: list[list[Event]] = []
                hosts: list[_Hosted] = []
                for host in batch:
                    events, host.pending = host.pending, []
                    try:
                        append = self._append_of(host, events)
                    except Exception as exc:  # a bug of ours, in this auction only
                        self._halt(host, "encoding its events", exc)
                        continue
                    appends.append(append)
                    inflight.append(events)
                    hosts.append(host)
                if not appends:
                    continue
                started = time.perf_counter()
                try:
                    results: list[JournalError | None] = await self.journal.append_batch(appends)
                except JournalUnavailable as exc:
                    results = [exc] * len(appends)
                except Exception as exc:  # a bug of ours, or of the store's client
                    log.exception("journal append of %d auctions failed", len(appends))
                    results = [JournalUnavailable(f"{type(exc).__name__}: {exc}")] * len(appends)
                self.stats["batches"] += 1
                self.append_seconds += time.perf_counter() - started
                # Events decided while the batch was in flight went to
                # host.pending and host is in _dirty again: the next batch.
                for host, append, events, result in zip(
                    hosts, appends, inflight, results, strict=True
                ):
                    if result is None:
                        self._committed(host, append, events)
                    elif isinstance(result, StaleEpoch) and append.epoch != host.epoch:
                        # Fenced by this node's own newer epoch (the lease was
                        # re-acquired meanwhile, _renewed_after_loss): rebuild, not drop.
                        self._degrade(host, JournalUnavailable(str(result)))
                    else:
                        self._degrade(host, result)
        finally:
            self._flush_task = None
            if self._dirty and not self._flush_scheduled:
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._start_flush)

    def _append_of(self, host: _Hosted, events: list[Event]) -> Append:
        snapshot = None
        last = host.durable_seq + len(events)
        # The interval grows with the stream (a quarter of it), so the cost of
        # encoding snapshots stays constant per event while recovery replays
        # at most a quarter of the stream after one.
        interval = max(self.snapshot_every, host.durable_seq // 4)
        if last - host.last_snapshot_seq >= interval:
            snapshot = host.auction.snapshot()  # state after ``last``
        return Append(
            host.id, host.epoch, host.durable_seq + 1, [encode_event(ev) for ev in events], snapshot
        )

    def _committed(self, host: _Hosted, append: Append, events: list[Event]) -> None:
        first = append.first_seq
        host.durable_seq = first + len(events) - 1
        if append.snapshot is not None:
            host.last_snapshot_seq = host.durable_seq
        self.stats["appends"] += 1
        self.stats["events"] += len(events)
        still: list[tuple[int, asyncio.Future[None] | Done]] = []
        for seq, waiter in host.waiters:
            if seq > host.durable_seq:
                still.append((seq, waiter))
            elif isinstance(waiter, asyncio.Future):
                if not waiter.done():
                    waiter.set_result(None)
            else:
                _tell(waiter, None)
        host.waiters = still
        for listener in list(self._listeners):
            try:
                listener(host.id, first, events)
            except Exception:  # a listener's bug must not break the writer
                log.exception("listener failed for %s", host.id)
        if host.auction.finished and not host.finished_marked and not host.pending:
            host.finished_marked = True
            asyncio.get_running_loop().create_task(self._mark_finished(host))

    async def _mark_finished(self, host: _Hosted) -> None:
        try:
            for hook in list(self.before_finish):
                try:
                    await hook(host.id)
                except JournalUnavailable:
                    raise
                except Exception:  # a hook's bug must not keep the auction open
                    log.exception("a before-finish hook failed for %s", host.id)
            await self.journal.finish(host.id)
            await self.journal.release(host.id, self.node_id, host.epoch)
        except JournalUnavailable:
            host.finished_marked = False  # retried on the next commit or restart

    def _degrade(self, host: _Hosted, error: JournalError, *, quiet: bool = False) -> None:
        """Drop the in-memory state; refuse its waiters; rebuild from the journal."""
        self.stats["degraded"] += 1
        host.degraded = True
        host.pending = []
        self._dirty.pop(host.id, None)
        halted = self.halted.get(host.id)
        for _, waiter in host.waiters:
            failed: RuntimeError_ = (
                AuctionHalted(halted)
                if halted is not None
                else Unavailable("the journal did not confirm: retry with the same bid_id")
            )
            if not isinstance(waiter, asyncio.Future):
                _tell(waiter, failed)
            elif not waiter.done():
                waiter.set_exception(failed)
        host.waiters = []
        if isinstance(error, StaleEpoch):
            log.warning("%s: fenced by a newer writer; no longer hosted here", host.id)
            if self._hosts.get(host.id) is host:
                del self._hosts[host.id]
                self._lost(host)
            return
        if not quiet:
            log.warning("%s: append failed (%s); rebuilding from the journal", host.id, error)
        if host.id not in self._recovering:
            self._recovering[host.id] = asyncio.get_running_loop().create_task(
                self._rebuild(host.id)
            )

    async def _rebuild(self, auction_id: str) -> None:
        try:
            while self._running and not await self.rebuild(auction_id):
                await asyncio.sleep(self.retry_ms / 1000)
        finally:
            self._recovering.pop(auction_id, None)

    async def rebuild(self, auction_id: str) -> bool:
        """One attempt to rebuild a degraded auction from the journal.

        True when done (rebuilt, or found taken by another node); False while
        the journal is still unreachable. The background task retries every
        ``retry_ms``; tests call this directly instead of waiting.
        """
        host = self._hosts.get(auction_id)
        if host is None or not host.degraded:
            return True
        try:
            epoch = await self.journal.acquire(auction_id, self.node_id, self.lease_ms)
            if epoch is None:
                log.warning("%s: taken over by another node", auction_id)
                lost = self._hosts.pop(auction_id, None)
                if lost is not None:
                    self._lost(lost)
                return True
            self._hosts[auction_id] = await self._load(auction_id, epoch)
        except JournalUnavailable:
            return False
        log.info("%s: rebuilt from the journal (epoch %d)", auction_id, epoch)
        self._wake.set()
        return True

    def _lost(self, host: _Hosted) -> None:
        """Another node writes ``host``'s auction now (a cluster follows it from here)."""

    def _fires(self, host: _Hosted) -> bool:
        """Whether ``host``'s deadlines are this runtime's to fire now."""
        return not host.degraded and host.id not in self.halted

    # -------------------------------------------------------- background loops
    async def _timer_loop(self) -> None:
        while True:
            now = self.clock.now_ms()
            upcoming = [
                d
                for h in self._hosts.values()
                if self._fires(h) and (d := h.auction.next_deadline()) is not None
            ]
            nxt = min(upcoming, default=None)
            if nxt is not None and nxt <= now:
                await self.tick()
                await asyncio.sleep(0)
                continue
            self._wake.clear()
            delay = 60.0 if nxt is None else (nxt - now) / 1000
            await wait_set(self._wake, delay)

    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            for host in list(self._hosts.values()):
                if host.finished_marked or host.degraded:
                    continue
                try:
                    if await self.journal.renew(host.id, self.node_id, host.epoch, self.lease_ms):
                        continue
                    # Lost the lease: only safe to go on if nobody took it meanwhile.
                    epoch = await self.journal.acquire(host.id, self.node_id, self.lease_ms)
                except JournalUnavailable:
                    continue
                except Exception:  # a bug, or an auction deleted under us: not the others'
                    log.exception("%s: lease renewal failed", host.id)
                    continue
                if epoch is None:
                    log.warning("%s: lease taken by another node; dropping it", host.id)
                    self._degrade(host, StaleEpoch("lease lost"))
                else:
                    self._renewed_after_loss(host, epoch)
            await self.adopt()
            await self._open_archive()

    def _renewed_after_loss(self, host: _Hosted, epoch: int) -> None:
        # Nobody wrote under a newer epoch (we got the next one), so the
        # in-memory state still matches the journal; appends in flight under
        # the old epoch will be refused and rebuild the auction, which is safe.
        log.info("%s: lease re-acquired (epoch %d)", host.id, epoch)
        host.epoch = epoch


def _tell(done: Done, error: RuntimeError_ | None) -> None:
    try:
        done(error)
    except Exception:  # a caller's bug must not break the writer
        log.exception("a durability callback failed")
