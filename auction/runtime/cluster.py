"""A node of a cluster: it writes the auctions it owns and follows all the others.

Several processes (``underbid serve --workers N``, or ``underbid serve`` on
several machines) on one Redis form a cluster; any node serves any auction.
:class:`ClusterRuntime` is the :class:`~auction.runtime.host.Runtime` of one
node, with three more duties:

- **Follow.** For every active auction it does not own, the node keeps a
  replica: the engine folded from the journal (snapshot, then the tail), kept
  current from the feed (:mod:`auction.runtime.bus`): one blocking reader per
  node for every auction, then one pipelined ``XRANGE`` for those that moved.
  Its listeners (the gateway's fan-out) hear of a replica's events exactly as
  of an owned auction's, with the same sequence numbers, so welcomes, resumes
  and resyncs are the same on every node.
- **Forward.** A command for an auction it does not own goes to the owner's
  inbox; the owner decides it like its own clients' and answers, once durable,
  into the sender's inbox. The sender answers its client with exactly that
  answer. A command whose owner dies before answering is sent again to the new
  owner when it carries a ``bid_id`` (the engine decides a ``bid_id`` once,
  across nodes, so a resend can only repeat the original outcome); an
  official's command, which has no such id, is answered ``unavailable``
  instead, never applied twice.
- **Own its share.** Every node computes the same assignment of auctions to
  the live nodes (:mod:`auction.runtime.assign`) and takes what is its own: a
  free lease, or the lease of a node whose registration lapsed (a steal,
  fenced by the epoch); it hands over what is no longer its own (drain,
  release, announce) to the node that should have it, which takes it at once.
  A node whose clock is off Redis's by more than ``max_clock_offset_ms`` owns
  nothing (it hands its auctions over and keeps serving them as a follower).

Takeover time after ``kill -9`` of an owner: its registration lapses after
``node_ttl_ms`` (1 s), the survivors notice within a heartbeat (200 ms), and
the one the assignment names steals the lease and reads the tail its replica
has not folded yet (none, usually): about 1.2 s. See docs/operations.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from auction.clock import Clock
from auction.core.commands import AnyCommand
from auction.core.engine import Auction, Outcome
from auction.core.errors import BidRejected, Code
from auction.core.events import decode_event, encode_event
from auction.core.spec import AuctionSpec, parse_spec
from auction.runtime.archive import read_back
from auction.runtime.assign import assign
from auction.runtime.bus import Notice, Owner, RedisBus
from auction.runtime.host import (
    AuctionHalted,
    NotHosted,
    Runtime,
    RuntimeError_,
    Unavailable,
    UnknownAuction,
    _Hosted,
)
from auction.runtime.journal import Journal, JournalError, JournalUnavailable
from auction.runtime.redis import RedisJournal

log = logging.getLogger("underbid.cluster")

Answer = Callable[[Outcome, RuntimeError_ | None], None]

READY_LAG_MS = 2_000
"""A node is not ready while a replica has had events waiting this long."""
OWNER_ASK_S = 0.2
"""A forward waiting for an owner reads who it is at most this often (the
periodic check reads every owner every 2 s besides)."""


# ------------------------------------------------------------ the messages
class _Message(msgspec.Struct, frozen=True, tag_field="k"):
    pass


class _Command(_Message, frozen=True, tag="c"):
    id: str
    """Unique per sender: ``<node>:<n>``."""
    reply_to: str
    auction: str
    command: msgspec.Raw
    """The command, MessagePack (an :data:`~auction.core.commands.AnyCommand`)."""


class _Answer(_Message, frozen=True, tag="a"):
    id: str
    seq: int = 0
    rejection: str = ""
    """The engine's code when refused; empty when accepted."""
    message: str = ""
    duplicate: bool = False
    error: str = ""
    """A runtime error's code (``unavailable``, ``not_hosted``...) when it was not decided."""
    events: list[msgspec.Raw] = []
    """The events the call caused (its receipt is among them), as the journal holds them."""


_encode = msgspec.msgpack.Encoder().encode
_decode_message = msgspec.msgpack.Decoder(_Command | _Answer).decode
_decode_command = msgspec.msgpack.Decoder(AnyCommand).decode

_ERRORS: dict[str, type[RuntimeError_]] = {
    "unavailable": Unavailable,
    "not_hosted": NotHosted,
    "auction_halted": AuctionHalted,
    "unknown_auction": UnknownAuction,
}


# ---------------------------------------------------------- local records
@dataclass
class _Replica:
    """An auction this node follows: the engine folded from the journal."""

    auction: Auction
    seq: int
    """Events up to here are folded (and were fanned out to this node's clients)."""
    known: int = 0
    """The highest seq the journal is known to hold (from the feed)."""
    behind_since: float | None = None
    """time.monotonic() when ``known`` first passed ``seq`` (None: caught up)."""

    def learn(self, seq: int) -> None:
        if seq > self.known:
            self.known = seq
        if self.known > self.seq and self.behind_since is None:
            self.behind_since = time.monotonic()


@dataclass
class _Forward:
    """A command sent to another node, waiting for its answer."""

    id: str
    auction: str
    command: AnyCommand
    answer: Answer
    started: float
    """time.monotonic() when the client's command arrived (for the latency)."""
    deadline: float
    to: str | None = None
    """The node it was last sent to (None: waiting for an owner)."""
    resendable: bool = False
    """A bidder's command with a bid_id: decided at most once wherever it lands."""


def _resendable(command: AnyCommand) -> bool:
    return bool(getattr(command, "bid_id", "")) and not getattr(command, "surrogate_by", "")


@dataclass
class ClusterStats:
    """What a node counts, for /metrics."""

    forwarded: int = 0
    forward_latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    takeovers: int = 0
    handoffs: int = 0
    steals: int = 0
    resent: int = 0
    forward_timeouts: int = 0
    on_forward_answered: Callable[[float], None] | None = None
    """Told each forwarded command's latency in ms (the gateway's histogram)."""


class ClusterRuntime(Runtime):
    """One node of a cluster on Redis (see the module docstring)."""

    def __init__(
        self,
        journal: Journal,
        bus: RedisBus,
        clock: Clock | None = None,
        *,
        node_id: str | None = None,
        lease_ms: int = 5_000,
        snapshot_every: int = 1_000,
        retry_ms: int = 200,
        heartbeat_ms: int = 200,
        max_clock_offset_ms: int = 250,
        may_own: bool = True,
        local_time: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            journal,
            clock,
            node_id=node_id,
            lease_ms=lease_ms,
            snapshot_every=snapshot_every,
            retry_ms=retry_ms,
        )
        self.bus = bus
        """The cluster's keys: registry, feed, inboxes."""
        self.heartbeat_ms = heartbeat_ms
        """How often the node renews its registration and reconsiders ownership."""
        self.max_clock_offset_ms = max_clock_offset_ms
        """Past this offset from Redis's clock the node owns no auction."""
        self.may_own = may_own
        """False: this node never owns an auction (a serving-only node)."""
        self._local_time = local_time
        self.clock_offset_ms = 0.0
        """Redis's clock minus this node's, measured at each heartbeat."""
        self.eligible = may_own
        """Whether this node may own auctions (``may_own``, and its clock agrees with Redis's)."""
        self.live: list[str] = []
        """The nodes that may own auctions, as of the last heartbeat."""
        self.cluster_stats = ClusterStats()
        self._replicas: dict[str, _Replica] = {}
        self._owners: dict[str, Owner | None] = {}
        self._active: set[str] = set()
        self._forwards: dict[str, _Forward] = {}
        self._handing_off: set[str] = set()
        self._taking: set[str] = set()
        self._ids = itertools.count(1)
        self._outgoing: list[tuple[str, bytes]] = []
        self._notices: list[Notice] = []
        self._sending: asyncio.Task[None] | None = None
        self._loaded = False
        self._stopping = False
        self._last_full_check = 0.0
        self._feed_after = b"$"
        self._died: set[str] = set()
        self._parked: dict[str, list[tuple[int, _Forward, Outcome]]] = {}
        """Answers waiting for the replica to reach their seq, by auction."""
        self._fetching: set[str] = set()
        self._helpers: set[asyncio.Task[None]] = set()
        self._refollowing: set[str] = set()
        """Auctions this node was fenced from, their replica being read again."""
        self._owner_asked: dict[str, float] = {}
        """time.monotonic() when each auction's owner was last read for a waiting forward."""
        self._unsent: dict[str, tuple[int, list[Any]]] = {}
        """Folded events not told to the listeners yet (they are, at the end of the loop turn)."""
        self._fanout_scheduled = False
        """Nodes whose registration lapsed since the control loop last looked."""

    @property
    def journal_of_redis(self) -> RedisJournal:
        """The journal, which a cluster keeps in Redis (steals are its scripts)."""
        assert isinstance(self.journal, RedisJournal)
        return self.journal

    # ------------------------------------------------------------ lifecycle
    async def start(self, *, background: bool = True) -> None:
        await super().start(background=background)
        self.ready = False  # until every active auction is owned or followed, caught up
        with contextlib.suppress(JournalUnavailable):
            self._feed_after = await self.bus.feed_tip()
        await self._beat()
        if background:
            self._tasks += [
                asyncio.create_task(self._heartbeat_loop(), name="underbid-heartbeat"),
                asyncio.create_task(self._control_loop(), name="underbid-cluster"),
                asyncio.create_task(self._feed_loop(), name="underbid-feed"),
                asyncio.create_task(self._inbox_loop(), name="underbid-inbox"),
            ]

    async def stop(self) -> None:
        """Hand every owned auction over (drain, release, announce), leave the
        registry, answer what is still waiting, then stop."""
        self._stopping = True
        with contextlib.suppress(JournalError, TimeoutError):
            await asyncio.wait_for(self.bus.leave(self.node_id), 2.0)
        for auction_id in list(self._hosts):
            with contextlib.suppress(JournalError, TimeoutError, KeyError):
                await asyncio.wait_for(self._hand_off(auction_id), 5.0)
        await self._flush_outgoing()
        for forward in list(self._forwards.values()):
            self._settle(forward, None, Unavailable("this node is stopping: retry elsewhere"))
        for helper in list(self._helpers):  # owner reads, re-follows: nothing outlives the node
            helper.cancel()
        await super().stop()

    async def adopt(self) -> list[str]:
        """Ownership is the assignment's business here (see :meth:`_rebalance`)."""
        return []

    # -------------------------------------------------------------- queries
    def auction(self, auction_id: str) -> Auction:
        replica = self._replicas.get(auction_id)
        if replica is not None and auction_id not in self._hosts:
            return replica.auction
        if auction_id in self._refollowing and auction_id not in self._hosts:
            raise Unavailable(f"auction {auction_id} is being read again from the journal: retry")
        return super().auction(auction_id)

    def durable_seq(self, auction_id: str) -> int:
        replica = self._replicas.get(auction_id)
        if replica is not None and auction_id not in self._hosts:
            return replica.seq
        return super().durable_seq(auction_id)

    def settled(self, auction_id: str) -> asyncio.Future[None] | None:
        if auction_id in self._replicas and auction_id not in self._hosts:
            return None  # a replica holds only what the journal holds
        return super().settled(auction_id)

    def followed(self) -> list[str]:
        return sorted(a for a in self._replicas if a not in self._hosts)

    def known(self) -> list[str]:
        """Every auction this node can serve now (owned or followed)."""
        return sorted(set(self._hosts) | set(self._replicas))

    def owner_of(self, auction_id: str) -> str | None:
        if auction_id in self._hosts:
            return self.node_id
        owner = self._owners.get(auction_id)
        return owner.node if owner is not None else None

    def lag(self) -> tuple[int, float]:
        """Replicas behind the journal: (events not folded yet, ms since the
        oldest of them was announced)."""
        now = time.monotonic()
        events = 0
        oldest = now
        for auction_id, replica in self._replicas.items():
            if auction_id in self._hosts or replica.known <= replica.seq:
                continue
            events += replica.known - replica.seq
            if replica.behind_since is not None:
                oldest = min(oldest, replica.behind_since)
        return events, (now - oldest) * 1000

    async def find(self, auction_id: str) -> Auction:
        """The auction, read from the journal now if this node has not met it yet
        (created on another node a moment ago, or finished before this start)."""
        if auction_id in self._hosts or auction_id in self._replicas:
            return self.auction(auction_id)
        if auction_id in self.archive:  # finished: read back, read-only, LRU-bounded
            return await super().find(auction_id)
        try:
            if await self._follow(auction_id):
                return self.auction(auction_id)
        except JournalUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return await super().find(auction_id)

    # ------------------------------------------------------------- commands
    async def create(self, spec_data: Mapping[str, Any] | AuctionSpec) -> AuctionSpec:
        if not self.eligible:  # stored for an owner to take; served here as a follower
            spec = spec_data if isinstance(spec_data, AuctionSpec) else parse_spec(spec_data)
            await self.journal.create(spec.id, msgspec.json.encode(spec.raw))
            self._active.add(spec.id)
            await self._follow(spec.id)
            self._announce(Notice("created", spec.id, node=self.node_id))
            log.info("created %s (%d lots) for an owner to take", spec.id, len(spec.lots))
            return spec
        spec = await super().create(spec_data)
        host = self._hosts[spec.id]
        self._active.add(spec.id)
        self._owners[spec.id] = Owner(self.node_id, host.epoch)
        self._announce(Notice("created", spec.id, node=self.node_id))
        self._announce(Notice("acquired", spec.id, node=self.node_id, epoch=host.epoch))
        return spec

    def decide_then(self, auction_id: str, command: AnyCommand, answer: Answer) -> None:
        owned = auction_id in self._hosts
        if owned and auction_id not in self._handing_off:
            super().decide_then(auction_id, command, answer)
            return
        if not owned and auction_id not in self._replicas and auction_id not in self._refollowing:
            super().decide_then(auction_id, command, answer)  # not hosted, archived...
            return
        # Followed, or being handed over (it waits for the next owner): forward.
        self._check_halted(auction_id)
        now = time.monotonic()
        forward = _Forward(
            id=f"{self.node_id}:{next(self._ids)}",
            auction=auction_id,
            command=command,
            answer=answer,
            started=now,
            deadline=now + self.command_timeout_s,
            resendable=_resendable(command),
        )
        self._forwards[forward.id] = forward
        self.cluster_stats.forwarded += 1
        self._send_forward(forward)

    def _send_forward(self, forward: _Forward) -> None:
        owner = self.owner_of(forward.auction)
        waiting = owner is None or owner == self.node_id or forward.auction in self._handing_off
        if waiting or owner not in self.live:
            forward.to = None  # sent when a live owner is known (an acquired notice)
            if owner is None and forward.auction not in self._handing_off:
                self._ask_owner(forward.auction)
            return
        forward.to = owner
        message = _Command(
            id=forward.id,
            reply_to=self.node_id,
            auction=forward.auction,
            command=msgspec.Raw(_encode(forward.command)),
        )
        self._queue(owner, _encode(message))

    def _settle_now(self, forward: _Forward, outcome: Outcome) -> None:
        """An answer that waited for the replica (its forward was settled already)."""
        try:
            forward.answer(outcome, None)
        except Exception:  # a caller's bug must not break the node
            log.exception("an answer callback failed")

    def _settle(
        self, forward: _Forward, outcome: Outcome | None, error: RuntimeError_ | None
    ) -> None:
        if self._forwards.pop(forward.id, None) is None:
            return
        latency_ms = (time.monotonic() - forward.started) * 1000
        self.cluster_stats.forward_latency_ms.append(latency_ms)
        if self.cluster_stats.on_forward_answered is not None:
            self.cluster_stats.on_forward_answered(latency_ms)
        try:
            forward.answer(outcome or Outcome([]), error)
        except Exception:  # a caller's bug must not break the node
            log.exception("an answer callback failed")

    # ------------------------------------------------------ sending, batched
    def _queue(self, node: str, payload: bytes) -> None:
        self._outgoing.append((node, payload))
        self._kick()

    def _announce(self, notice: Notice) -> None:
        self._notices.append(notice)
        self._kick()

    def _kick(self) -> None:
        if self._sending is None or self._sending.done():
            self._sending = asyncio.get_running_loop().create_task(self._flush_outgoing())

    async def _flush_outgoing(self) -> None:
        """Everything queued (answers and commands first, then notices) in one
        round trip, until nothing is left."""
        while self._outgoing or self._notices:
            outgoing, self._outgoing = self._outgoing, []
            notices, self._notices = self._notices, []
            try:
                await self.bus.post(outgoing, notices)
            except JournalUnavailable as exc:
                # Forwards time out or are resent; notices are hints (the periodic
                # check finds what they would have said).
                log.warning("cluster bus unreachable: %s", exc)
                await asyncio.sleep(self.retry_ms / 1000)

    # --------------------------------------------------- the owner's side
    def _committed(self, host: _Hosted, append: Any, events: list[Any]) -> None:
        super()._committed(host, append, events)
        self._announce(Notice("appended", host.id, seq=host.durable_seq))

    def _on_command(self, message: _Command) -> None:
        """A command forwarded by another node."""
        reply_to, command_id = message.reply_to, message.id

        def answer(outcome: Outcome, error: RuntimeError_ | None) -> None:
            if error is not None:
                reply = _Answer(id=command_id, error=error.code, message=str(error))
            else:
                rejection = outcome.rejection
                reply = _Answer(
                    id=command_id,
                    seq=outcome.seq,
                    rejection=rejection.code.value if rejection is not None else "",
                    message=rejection.message if rejection is not None else "",
                    duplicate=outcome.duplicate,
                    events=[msgspec.Raw(encode_event(e)) for e in outcome.events],
                )
            self._queue(reply_to, _encode(reply))

        auction_id = message.auction
        if auction_id not in self._hosts or auction_id in self._handing_off:
            answer(Outcome([]), NotHosted(f"{self.node_id} does not own {auction_id!r}"))
            return
        try:
            command = _decode_command(message.command)
        except msgspec.DecodeError:
            log.error("a forwarded command for %s could not be decoded", auction_id)
            answer(Outcome([]), Unavailable("garbled forward"))
            return
        try:
            super().decide_then(auction_id, command, answer)
        except RuntimeError_ as exc:
            answer(Outcome([]), exc)

    def _on_answer(self, message: _Answer) -> None:
        forward = self._forwards.get(message.id)
        if forward is None:
            return  # answered already (a duplicate reply after a resend), or timed out
        if message.error == "not_hosted":
            # The one it went to does not own the auction (any more): it decided
            # nothing, so sending it again, to whoever owns it now, is safe.
            self._owners.pop(forward.auction, None)
            forward.to = None
            asyncio.get_running_loop().create_task(self._refresh_owner(forward.auction))
            return
        if message.error:
            kind = _ERRORS.get(message.error, Unavailable)
            self._settle(forward, None, kind(message.message or message.error))
            return
        rejection = (
            BidRejected(Code(message.rejection), message.message) if message.rejection else None
        )
        events = [decode_event(bytes(raw)) for raw in message.events]
        outcome = Outcome(events, rejection, duplicate=message.duplicate, seq=message.seq)
        replica = self._replicas.get(forward.auction)
        if replica is not None and forward.auction not in self._hosts and message.events:
            # The answer carries its events as the journal holds them (durable:
            # the owner answers only then): when they continue the replica,
            # fold them now rather than read them back.
            first = outcome.seq - len(message.events) + 1
            if first <= replica.seq + 1:
                self._fold(
                    forward.auction,
                    [(first + i, bytes(raw)) for i, raw in enumerate(message.events)],
                )
        told = replica is not None and forward.auction not in self._unsent
        if (
            replica is None
            or forward.auction in self._hosts
            or (told and replica.seq >= outcome.seq)
        ):
            self._settle(forward, outcome, None)
            return
        # As on the owner, the answer and the events reach the client together
        # (there they leave in one callback): the answer waits for this node's
        # replica to fold the events and fan them out, at the end of this inbox
        # batch, or when a read of the journal brings them.
        self._parked.setdefault(forward.auction, []).append((outcome.seq, forward, outcome))
        if replica.seq < outcome.seq:
            replica.learn(outcome.seq)
            self._fetch_now(forward.auction)

    def _helper(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A background task of this node, cancelled when it stops."""
        task = asyncio.get_running_loop().create_task(work)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)
        task.add_done_callback(_logged)
        return task

    def _ask_owner(self, auction_id: str) -> None:
        """Read the owner of ``auction_id`` now (at most every OWNER_ASK_S): a
        forward waiting for an owner that this node missed the notice of (it was
        fenced after the new owner announced itself) goes out in a round trip,
        not at the next periodic check."""
        now = time.monotonic()
        if now - self._owner_asked.get(auction_id, -OWNER_ASK_S) < OWNER_ASK_S:
            return
        self._owner_asked[auction_id] = now
        self._helper(self._refresh_owner(auction_id))

    async def _refresh_owner(self, auction_id: str) -> None:
        with contextlib.suppress(JournalUnavailable):
            self._owners.update(await self.bus.owners([auction_id]))
        self._resend(auction_id)

    def _resend(self, auction_id: str) -> None:
        """Send the forwards of ``auction_id`` that wait for an owner (decide them
        here if this node owns it now)."""
        for forward in list(self._forwards.values()):
            if forward.auction != auction_id:
                continue
            if forward.auction in self._hosts and auction_id not in self._handing_off:
                # This node owns it now: decide here.
                del self._forwards[forward.id]
                try:
                    super().decide_then(auction_id, forward.command, forward.answer)
                except RuntimeError_ as exc:
                    forward.answer(Outcome([]), exc)
                continue
            if forward.to is None:
                self._send_forward(forward)

    def _orphaned(self, forward: _Forward) -> None:
        """The node ``forward`` went to died before answering: a bidder's command
        waits for the next owner (its bid_id makes a resend safe); an official's
        is answered, since it may or may not have been applied."""
        if forward.resendable:
            self.cluster_stats.resent += 1
            forward.to = None  # sent to the next owner as soon as it is known
            return
        self._settle(
            forward,
            None,
            Unavailable(
                "the node deciding it stopped: it may or may not have been applied; "
                "look at the auction before you repeat it"
            ),
        )

    # ------------------------------------------------------------ following
    async def _follow(self, auction_id: str) -> bool:
        """Load a replica from the journal; False if there is no such auction."""
        if auction_id in self._replicas or auction_id in self._hosts:
            return True
        if auction_id in self._refollowing:
            return True  # _refollow loads it (and tells the listeners what they missed)
        read = await read_back(self.journal, auction_id)
        if read is None:
            return False
        auction = read[0]
        if auction_id in self._replicas or auction_id in self._hosts:
            return True  # loaded meanwhile
        seq = auction.state.seq
        self._replicas[auction_id] = _Replica(auction, seq, known=seq)
        return True

    def _fold(self, auction_id: str, entries: list[tuple[int, bytes]]) -> None:
        """Apply a replica's new events in order (idempotent by seq) and tell the
        listeners, exactly as the owner's commit does."""
        replica = self._replicas.get(auction_id)
        if replica is None or auction_id in self._hosts:
            return
        events = []
        first = replica.seq + 1
        for seq, data in entries:
            if seq <= replica.seq:
                continue
            if seq != replica.seq + 1:
                break  # a gap: the next fetch reads from replica.seq again
            event = decode_event(data)
            replica.auction.apply(event)
            replica.seq = seq
            events.append(event)
        replica.known = max(replica.known, replica.seq)
        if replica.seq >= replica.known:
            replica.behind_since = None
        if not events:
            return
        # Told once per loop turn, like the owner's group commit: the events of
        # a burst of answers go to each socket as one frame, not one each.
        unsent = self._unsent.get(auction_id)
        if unsent is None:
            self._unsent[auction_id] = (first, events)
        else:
            unsent[1].extend(events)
        if not self._fanout_scheduled:
            self._fanout_scheduled = True
            asyncio.get_running_loop().call_soon(self._fan_out)

    def _fan_out(self) -> None:
        """Tell the listeners the replicas' new events, then send the answers
        that waited for them (a client hears of its events before their answer)."""
        self._fanout_scheduled = False
        unsent, self._unsent = self._unsent, {}
        for auction_id, (first, events) in unsent.items():
            for listener in list(self._listeners):
                try:
                    listener(auction_id, first, events)
                except Exception:  # a listener's bug must not break the follower
                    log.exception("listener failed for %s", auction_id)
            self._release_parked(auction_id, first + len(events) - 1)

    def _release_parked(self, auction_id: str, upto: int | None = None) -> None:
        """Send the answers that waited for the replica (all of them when ``upto`` is None)."""
        parked = self._parked.get(auction_id)
        if not parked:
            return
        still = []
        for seq, forward, outcome in parked:
            if upto is None or seq <= upto:
                self._settle_now(forward, outcome)
            else:
                still.append((seq, forward, outcome))
        if still:
            self._parked[auction_id] = still
        else:
            del self._parked[auction_id]

    def _fetch_now(self, auction_id: str) -> None:
        """Read the replica's tail at once (not waiting for the feed's notice)."""
        if auction_id in self._fetching:
            return
        self._fetching.add(auction_id)

        async def fetch() -> None:
            try:
                await self._catch_up([auction_id])
            except JournalUnavailable:
                pass
            finally:
                self._fetching.discard(auction_id)

        asyncio.get_running_loop().create_task(fetch())

    async def _catch_up(self, auction_ids: list[str]) -> None:
        wanted = {
            a: self._replicas[a].seq
            for a in auction_ids
            if a in self._replicas and a not in self._hosts
        }
        while wanted:
            tails = await self.bus.tails(wanted)
            again = {}
            for auction_id, entries in tails.items():
                self._fold(auction_id, entries)
                replica = self._replicas.get(auction_id)
                if entries and replica is not None and replica.seq < replica.known:
                    again[auction_id] = replica.seq  # more than one chunk behind
            wanted = again

    async def _feed_loop(self) -> None:
        while self._running:
            try:
                self._feed_after, notices = await self.bus.read_feed(self._feed_after, block_ms=500)
                behind: set[str] = set()
                for notice in notices:
                    await self._on_notice(notice, behind)
                if behind:
                    # A notice and the answer that carried its events arrive
                    # together (one pipeline): let the inbox fold them first,
                    # and read the journal only for what is still missing.
                    await asyncio.sleep(0)
                    behind = {a for a in behind if self._still_behind(a)}
                if behind:
                    await self._catch_up(sorted(behind))
            except JournalUnavailable as exc:
                log.warning("feed unreachable: %s", exc)
                await asyncio.sleep(self.retry_ms / 1000)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug of ours: logged, the loop goes on
                log.exception("feed loop failed")
                await asyncio.sleep(self.retry_ms / 1000)

    def _still_behind(self, auction_id: str) -> bool:
        replica = self._replicas.get(auction_id)
        return replica is not None and replica.seq < replica.known

    async def _on_notice(self, notice: Notice, behind: set[str]) -> None:
        auction_id = notice.auction
        if notice.kind == "appended":
            replica = self._replicas.get(auction_id)
            if replica is None:
                if auction_id not in self._hosts and not self._stopping:
                    await self._follow(auction_id)
                return
            replica.learn(notice.seq)
            if replica.seq < notice.seq:
                behind.add(auction_id)
        elif notice.kind == "created":
            self._active.add(auction_id)
            await self._follow(auction_id)
            free = self._owners.get(auction_id) is None and self.eligible and not self._stopping
            if free and self._target(auction_id) == self.node_id:
                await self._take(auction_id, dead=None)  # created by a serving-only node
        elif notice.kind == "acquired":
            if notice.node != self.node_id:
                self._owners[auction_id] = Owner(notice.node, notice.epoch)
            self._resend(auction_id)
        elif notice.kind == "released":
            self._owners[auction_id] = None
            if self._target(auction_id) == self.node_id and self.eligible and not self._stopping:
                await self._take(auction_id, dead=None)

    # -------------------------------------------------------------- inbox
    async def _inbox_loop(self) -> None:
        after = b"$"
        while self._running:
            try:
                after, messages = await self.bus.receive(self.node_id, after, block_ms=500)
            except JournalUnavailable as exc:
                log.warning("inbox unreachable: %s", exc)
                await asyncio.sleep(self.retry_ms / 1000)
                continue
            for payload in messages:
                try:
                    message = _decode_message(payload)
                except msgspec.DecodeError:
                    log.error("a message of the inbox could not be decoded")
                    continue
                try:
                    if isinstance(message, _Command):
                        self._on_command(message)
                    else:
                        self._on_answer(message)
                except Exception:  # a bug of ours: logged, the loop goes on
                    log.exception("inbox message failed")
            if self._unsent:
                # The events the batch's answers carried, told now (one frame per
                # socket for the batch), and then the answers: no loop turn between.
                try:
                    self._fan_out()
                except Exception:  # a bug of ours: logged, the loop goes on
                    log.exception("inbox fan-out failed")

    # ----------------------------------------------------------- ownership
    def _target(self, auction_id: str) -> str | None:
        return assign(self._active, self.live).get(auction_id)

    async def _heartbeat_loop(self) -> None:
        """The registration is renewed on its own clock: however long the control
        work takes (loading many replicas at start), the node stays alive."""
        await self._every_heartbeat(self._beat, "heartbeat")

    async def _every_heartbeat(self, work: Callable[[], Awaitable[None]], what: str) -> None:
        """``work`` once per heartbeat interval while the node runs: Redis out of
        reach is a warning, a bug of ours an error, and either way it goes on."""
        while self._running:
            began = time.monotonic()
            try:
                await work()
            except JournalUnavailable as exc:
                log.warning("%s: %s", what, exc)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug of ours: logged, the loop goes on
                log.exception("%s failed", what)
            elapsed = time.monotonic() - began
            await asyncio.sleep(max(0.0, self.heartbeat_ms / 1000 - elapsed))

    async def _beat(self) -> None:
        """Heartbeat: renew the registration, measure the clock, learn who lives."""
        sent = self._local_time() * 1000
        redis_now, live = await self.bus.heartbeat(
            self.node_id, eligible=self.eligible and not self._stopping
        )
        back = self._local_time() * 1000
        self.clock_offset_ms = redis_now - (sent + back) / 2
        eligible = abs(self.clock_offset_ms) <= self.max_clock_offset_ms
        if not self.may_own:
            self.eligible = False
        elif eligible != self.eligible:
            if eligible:
                log.info(
                    "clock within %d ms of Redis's again: may own auctions",
                    self.max_clock_offset_ms,
                )
            else:
                log.warning(
                    "clock %.0f ms off Redis's (more than %d ms): this node owns no auction "
                    "until it is set right",
                    self.clock_offset_ms,
                    self.max_clock_offset_ms,
                )
            self.eligible = eligible
        self._died.update(n for n in self.live if n not in live)
        self.live = live

    async def _control_loop(self) -> None:
        await self._every_heartbeat(self._control, "cluster control")

    async def _control(self) -> None:
        died, self._died = self._died, set()
        now = time.monotonic()
        full = now - self._last_full_check >= 2.0 or not self._loaded or bool(died)
        if full:
            self._last_full_check = now
            await self._check_everything()
        for forward in list(self._forwards.values()):
            if now >= forward.deadline:
                self.cluster_stats.forward_timeouts += 1
                self._settle(
                    forward, None, Unavailable("no answer in time: retry with the same bid_id")
                )
        for dead in died:
            log.warning("node %s stopped answering: its auctions are taken over", dead)
        for forward in list(self._forwards.values()):
            if forward.to is not None and forward.to in died:
                self._orphaned(forward)
        await self._rebalance()
        # Forwards still waiting for an owner: the periodic check may know one now.
        for auction_id in {f.auction for f in self._forwards.values() if f.to is None}:
            self._resend(auction_id)
        # Ready: every active auction is owned or followed, and no replica has
        # had events waiting for long (a follower is always a few ms behind).
        lagging = self.lag()[1] > READY_LAG_MS
        self.ready = (
            self._loaded
            and not lagging
            and all(a in self._hosts or a in self._replicas for a in self._active)
        )

    async def _check_everything(self) -> None:
        """The periodic check: active auctions, their owners, and every replica's
        tail (what a lost notice would have said)."""
        active = set(await self.journal.active_auctions())
        self._active = active
        for auction_id in sorted(active):
            if auction_id not in self._hosts and auction_id not in self._replicas:
                await self._follow(auction_id)
        ids = sorted(active)
        self._owners.update(await self.bus.owners(ids))
        for auction_id in ids:
            if auction_id in self._hosts:
                self._owners[auction_id] = Owner(self.node_id, self._hosts[auction_id].epoch)
        followed = [a for a in self._replicas if a not in self._hosts]
        last = await self.bus.last_seqs(followed)
        behind = []
        for auction_id, seq in last.items():
            replica = self._replicas[auction_id]
            replica.learn(seq)
            if replica.seq < seq:
                behind.append(auction_id)
        await self._catch_up(behind)
        self._loaded = True

    async def _rebalance(self) -> None:
        if self._stopping:
            return
        targets = assign(self._active, self.live)
        handed = 0
        for auction_id in list(self._hosts):
            if auction_id not in self._active or auction_id in self.halted:
                continue
            target = targets.get(auction_id)
            if not self.eligible or (target is not None and target != self.node_id):
                if target is None or handed >= 2:
                    continue
                handed += 1
                await self._hand_off(auction_id)
        if not self.eligible:
            return
        steals: dict[str, str] = {}
        for auction_id, target in targets.items():
            if target != self.node_id or auction_id in self._hosts:
                continue
            owner = self._owners.get(auction_id)
            if owner is None:
                await self._take(auction_id, dead=None)
            elif owner.node not in self.live:
                steals[auction_id] = owner.node
        if not steals:
            return
        # Not on this node's list is not dead: the list is as old as the last
        # heartbeat, and a node that joined since may own (and just created) it.
        alive = await self.bus.registered(sorted(set(steals.values())))
        for auction_id, dead in steals.items():
            if dead not in alive:
                await self._take(auction_id, dead=dead)

    async def _take(self, auction_id: str, *, dead: str | None) -> None:
        """Own ``auction_id``: acquire its free lease, or steal a dead node's, then
        read the tail the replica has not folded and write from there."""
        if (
            auction_id in self._hosts
            or auction_id in self._taking
            or auction_id in self._refollowing
        ):
            return  # (being read again after a fence: the next check takes it if it should)
        self._taking.add(auction_id)
        try:
            if not await self._follow(auction_id):
                return
            if dead is None:
                epoch = await self.journal.acquire(auction_id, self.node_id, self.lease_ms)
            else:
                epoch = await self.journal_of_redis.steal(
                    auction_id, self.node_id, dead, self.lease_ms
                )
            if epoch is None:
                self._owners.update(await self.bus.owners([auction_id]))
                return
            # Nobody can append any more under an older epoch: the tail is final.
            replica = self._replicas[auction_id]
            self._fold(auction_id, await self.journal.read(auction_id, replica.seq))
            self._fan_out()  # what the replica folded goes out before the owner's own
            replica = self._replicas[auction_id]
            self._hosts[auction_id] = _Hosted(
                auction_id,
                replica.auction,
                epoch,
                durable_seq=replica.seq,
                last_snapshot_seq=replica.seq,
            )
            self._owners[auction_id] = Owner(self.node_id, epoch)
            self.cluster_stats.takeovers += 1
            if dead is not None:
                self.cluster_stats.steals += 1
            log.info(
                "owning %s (epoch %d)%s", auction_id, epoch, f", taken from {dead}" if dead else ""
            )
            self._announce(Notice("acquired", auction_id, node=self.node_id, epoch=epoch))
            self._wake.set()
            self._resend(auction_id)
        finally:
            self._taking.discard(auction_id)

    def _fires(self, host: _Hosted) -> bool:
        # An auction being handed over fires nothing: what is due is the next
        # owner's to fire (an event decided after the drain would follow the
        # release, and be fenced or reach the journal behind the replica's back).
        return super()._fires(host) and host.id not in self._handing_off

    async def _hand_off(self, auction_id: str) -> None:
        """Give ``auction_id`` up: what was decided becomes durable first, commands
        arriving meanwhile wait for the next owner, then release and announce."""
        host = self._hosts.get(auction_id)
        if host is None or auction_id in self._handing_off:
            return
        self._handing_off.add(auction_id)
        try:
            durable = self.settled(auction_id)
            if durable is not None:
                with contextlib.suppress(RuntimeError_):
                    await asyncio.wait_for(asyncio.shield(durable), self.command_timeout_s)
            host = self._hosts.get(auction_id)
            if host is None or host.degraded or host.auction.state.seq != host.durable_seq:
                return  # (not all durable: the next check hands it over)
            await self.journal.release(auction_id, self.node_id, host.epoch)
            del self._hosts[auction_id]
            self._replicas[auction_id] = _Replica(host.auction, host.durable_seq, host.durable_seq)
            self._owners[auction_id] = None
            self.cluster_stats.handoffs += 1
            log.info("handed %s over", auction_id)
            self._announce(Notice("released", auction_id, node=self.node_id))
        finally:
            self._handing_off.discard(auction_id)
            self._wake.set()  # still hosted (not all durable): its deadlines are due again
        self._resend(auction_id)

    def _lost(self, host: _Hosted) -> None:
        """Fenced: another node writes it now. Follow it again from the journal
        (the in-memory state may hold what never became durable)."""
        owner = self._owners.get(host.id)
        if owner is None or owner.node == self.node_id:
            self._owners.pop(host.id, None)  # else it names the newer writer already
        self._replicas.pop(host.id, None)
        self._refollowing.add(host.id)  # its commands are forwarded meanwhile
        task = self._helper(self._refollow(host.id, host.durable_seq))
        task.add_done_callback(lambda _: self._refollowing.discard(host.id))

    async def _refollow(self, auction_id: str, told: int) -> None:
        """Reload a replica and tell the listeners what they have not heard since
        ``told`` (the new owner's first events)."""
        for _ in range(50):
            try:
                read = await read_back(self.journal, auction_id)
                if read is None:
                    return
                auction = read[0]
                missed = await self.journal.read(auction_id, told)
            except JournalUnavailable:
                await asyncio.sleep(self.retry_ms / 1000)
                continue
            if auction_id in self._hosts:
                return
            self._replicas[auction_id] = _Replica(auction, auction.state.seq, auction.state.seq)
            events = [decode_event(data) for seq, data in missed if seq <= auction.state.seq]
            if events:
                for listener in list(self._listeners):
                    try:
                        listener(auction_id, told + 1, events)
                    except Exception:
                        log.exception("listener failed for %s", auction_id)
            return


def _logged(task: asyncio.Task[None]) -> None:
    """A background task's bug goes to the log (not "exception never retrieved")."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())
