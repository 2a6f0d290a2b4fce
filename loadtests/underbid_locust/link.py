"""One protocol v1 connection for a Locust user, kept up across node failures.

A :class:`Link` connects to the first node of its route, says ``hello``,
reads every frame in its own greenlet and hands the events to the user. When
the connection drops (the node died, the server said 1001 or 1013), it
reconnects to the next node of the route with ``hello.last_seq`` and resumes
the stream, resends the commands still waiting for an answer with their
``bid_id`` (the server decides a ``bid_id`` once), and reports:

- ``reconnect`` entries (``bidder``, ``watcher``): the drop to the welcome
  on the next node, or a failure when no node took it back within
  ``--ub-reconnect-timeout`` (a refusal such as ``auth_failed`` from a node
  that does not know the auction yet is retried like a dead node);
- every ``seq`` checked by a :class:`~client.load.streams.SeqTracker`:
  ``event`` / ``gap`` and ``event`` / ``duplicate`` entries are failures;
  ``event`` / ``resync`` says the server sent a fresh view instead of the
  missed events.

The users speak MessagePack with a synchronous client
(``websockets.sync.client``): Locust runs every user on gevent, and an
asyncio client would block its hub.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import gevent
import msgspec
from gevent.event import AsyncResult
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from client.load.streams import Reference, SeqTracker
from underbid_locust.record import Recorder

log = logging.getLogger("underbid.locust")

SUBPROTOCOL = "underbid.v1.msgpack"
OFFSET_SMOOTHING = 0.2
RETRY_UNAVAILABLE_S = 0.1
"""Pause before a command answered ``unavailable`` is sent again (same ``bid_id``)."""
MAX_FRAME = 16 * 2**20

_encode = msgspec.msgpack.encode


def decode(frame: str | bytes) -> dict[str, Any]:
    """One server message; under MessagePack every frame is binary."""
    if isinstance(frame, str):
        raise ValueError("a text frame under underbid.v1.msgpack")
    message = msgspec.msgpack.decode(frame)
    if not isinstance(message, dict):
        raise ValueError("a server message is one map")
    return message


def ws_url(host: str, auction_id: str) -> str:
    base = host.rstrip("/")
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(http):
            base = ws + base[len(http) :]
    return f"{base}/ws/auctions/{quote(auction_id, safe='')}"


def events_of(message: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    kind = message.get("type")
    if kind == "event":
        return [(message["seq"], message["event"])]
    if kind == "events":
        return [(item["seq"], item["event"]) for item in message.get("items", [])]
    return []


@dataclass
class Answer:
    ok: bool
    code: str
    """``""`` for an ack; the server's code, ``timeout`` or ``closed`` otherwise."""
    latency_ms: float | None
    """First send to the answer (None without one)."""
    failed_at_ms: int | None
    """Wall clock of the first failure (a drop, ``unavailable``) before the answer."""


class _Pending:
    __slots__ = ("failed_at", "frame", "result")

    def __init__(self, frame: bytes) -> None:
        self.frame = frame
        self.result: AsyncResult[dict[str, Any]] = AsyncResult()
        self.failed_at: int | None = None


class Link:
    """A bidder's or watcher's connection (see the module docstring)."""

    def __init__(
        self,
        recorder: Recorder,
        role: str,
        route: tuple[str, ...],
        auction: str,
        token: str,
        *,
        on_view: Callable[[dict[str, Any]], None] | None = None,
        on_event: Callable[[int, dict[str, Any], bool], None] | None = None,
        reconnect_s: float = 30.0,
        reference: Reference | None = None,
        tracker: SeqTracker | None = None,
        resume_from: int | None = None,
        on_resync: Callable[[int], None] | None = None,
    ) -> None:
        self.recorder = recorder
        self.role = role
        self.route = route
        self.auction = auction
        self.token = token
        self.on_view = on_view
        self.on_event = on_event
        """``on_event(seq, event, replayed)``: replayed events came after a resume."""
        self.reconnect_s = reconnect_s
        self.node = 0
        self.ws: ClientConnection | None = None
        self.stack = contextlib.ExitStack()
        self.tracker = tracker if tracker is not None else SeqTracker(reference)
        """Judges every ``seq`` (against ``reference`` when one is given)."""
        self.resume_from = resume_from
        """First connection only: ask for the events after this seq (0: all)."""
        self.on_resync = on_resync
        self.reported = (0, 0)
        """(gaps, duplicates) already reported as entries."""
        self.reported_missing = 0
        self.offset_ms = 0.0
        self.offset_samples = 0
        self.ping_sent: float | None = None
        self.offset_from_pong = False
        """Once a ping's round trip measured the offset, frames no longer move it."""
        self.welcome: dict[str, Any] = {}
        self.pending: dict[str, _Pending] = {}
        self.reader: gevent.Greenlet[Any, Any] | None = None
        self.closing = False
        self.dead = False
        """No node took the connection back: the user gives its seat up."""
        self.replay_until = 0
        """Events up to this seq are replays of a resume."""
        self.dropped_at: int | None = None
        """Wall clock (ms) of the latest drop."""

    # ---------------------------------------------------------------- time
    def server_now(self) -> int:
        return int(time.time() * 1000 + self.offset_ms)

    def sample_offset(self, server_time: Any) -> None:
        if not isinstance(server_time, int) or self.offset_from_pong:
            return
        sample = server_time - time.time() * 1000
        if self.offset_samples == 0:
            self.offset_ms = sample
        else:
            self.offset_ms += OFFSET_SMOOTHING * (sample - self.offset_ms)
        self.offset_samples += 1

    # ------------------------------------------------------------ connecting
    def _handshake(self, url: str, last_seq: int | None) -> tuple[ClientConnection, dict[str, Any]]:
        ws = self.stack.enter_context(
            connect(
                ws_url(url, self.auction),
                subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                compression=None,
                open_timeout=30,
                max_size=MAX_FRAME,
                proxy=None,
                close_timeout=2,
            )
        )
        ws.send(_encode({"type": "hello", "token": self.token, "last_seq": last_seq}))
        resynced: dict[str, Any] | None = None
        while True:
            message = decode(ws.recv(timeout=30))
            kind = message.get("type")
            if kind == "welcome":
                if resynced is not None:
                    message["_resync"] = resynced
                return ws, message
            if kind == "resync":
                resynced = message
            elif kind == "error":
                raise ConnectionError(f"{message.get('code')}: {message.get('message')}")

    def open(self) -> bool:
        """Connect to the route's first node that answers (a dead one is skipped);
        False, after a ``connect`` failure, if none took the connection."""
        started = time.perf_counter()
        if self.resume_from is not None:
            self.tracker.last = self.resume_from
        found: tuple[ClientConnection, dict[str, Any]] | None = None
        error: Exception = ConnectionError("no node to connect to")
        for node, url in enumerate(self.route):
            self.node = node
            try:
                found = self._handshake(url, self.resume_from)
                break
            except InvalidStatus as exc:
                error = ConnectionError(f"handshake refused: HTTP {exc.response.status_code}")
            except Exception as exc:
                error = exc
            self.stack.close()
            self.stack = contextlib.ExitStack()
        if found is None:
            self.recorder.fire("connect", self.role, started, failure=error, series="connect")
            return False
        ws, welcome = found
        self.recorder.fire("connect", self.role, started, series="connect")
        self._adopt(ws, welcome, resumed=self.resume_from is not None)
        self.reader = gevent.spawn(self._read)
        return True

    def _adopt(self, ws: ClientConnection, welcome: dict[str, Any], resumed: bool) -> None:
        self.ws = ws
        self.welcome = welcome
        self.sample_offset(welcome.get("server_time"))
        seq = int(welcome.get("seq", 0))
        resync = welcome.pop("_resync", None)
        if resync is not None:
            self._resynced(int(resync.get("seq", seq)))
        elif resumed:
            self.replay_until = seq
        else:
            self.tracker.start(seq)
        if self.on_view is not None and (not resumed or resync is not None):
            self.on_view(welcome.get("view") or {})
        for pending in list(self.pending.values()):  # resent: the server decides a bid_id once
            with contextlib.suppress(Exception):
                ws.send(pending.frame)

    def _reconnect(self) -> bool:
        """Resume on the next node of the route, until ``reconnect_s`` passed."""
        self.ws = None  # commands sent from now wait for the next node
        dropped = time.perf_counter()
        dropped_wall = self.dropped_at = int(time.time() * 1000)
        for pending in self.pending.values():
            if pending.failed_at is None:
                pending.failed_at = dropped_wall
        deadline = time.monotonic() + self.reconnect_s
        delay = 0.05
        attempts = 0
        last_error = ""
        while not self.closing and time.monotonic() < deadline:
            self.node = (self.node + 1) % len(self.route)
            attempts += 1
            self.stack.close()
            self.stack = contextlib.ExitStack()
            try:
                ws, welcome = self._handshake(self.route[self.node], self.tracker.last)
            except Exception as exc:
                last_error = f"{self.route[self.node]}: {exc}"[:300]
                gevent.sleep(random.uniform(delay / 2, delay))
                delay = min(1.0, delay * 2)
                continue
            self.recorder.fire(
                "reconnect", self.role, dropped, series="reconnect", counts=("reconnects",)
            )
            self.recorder.count("resumed")
            self._adopt(ws, welcome, resumed=True)
            return True
        if not self.closing:
            why = ConnectionError(
                f"no node took the connection back ({attempts} tries): {last_error}"
            )
            self.recorder.fire(
                "reconnect", self.role, dropped, failure=why, counts=("reconnect_failures",)
            )
        return False

    def _resynced(self, seq: int) -> None:
        self.tracker.resync(seq)
        if self.on_resync is not None:
            self.on_resync(seq)
        self.recorder.count("resyncs")
        self.recorder.fire("event", "resync", 0.0, response_time=0.0)

    def report_stream(self, seq: int | None = None) -> None:
        """Gaps and duplicates found since the last report, as failed entries."""
        t = self.tracker
        gaps, dups = self.reported
        at = f" at seq {seq}" if seq is not None else ""
        for name, new, why in (
            ("gap", t.gaps - gaps, f"events missing{at}"),
            ("duplicate", t.duplicates - dups, f"an event again{at}"),
        ):
            for _ in range(new):
                self.recorder.fire(
                    "event",
                    name,
                    0.0,
                    failure=RuntimeError(why),
                    response_time=0.0,
                    counts=(f"{name}s",),
                )
        if t.missing > self.reported_missing:
            self.recorder.count("missing", t.missing - self.reported_missing)
            self.reported_missing = t.missing
        self.reported = (t.gaps, t.duplicates)

    def close(self) -> None:
        if not self.closing:
            self.tracker.settle(final=True)
            self.report_stream()
            if self.tracker.unverified:
                self.recorder.count("unverified", self.tracker.unverified)
        self.closing = True
        self.stack.close()
        self.ws = None
        if self.reader is not None:
            self.reader.kill(block=False)
        for pending in self.pending.values():
            pending.result.set({"type": "closed"})
        self.pending.clear()

    # -------------------------------------------------------------- reading
    def _read(self) -> None:
        while not self.closing:
            ws = self.ws
            try:
                assert ws is not None
                for frame in ws:
                    self._dispatch(decode(frame))
            except ConnectionClosed:
                pass
            except Exception:
                if not self.closing:
                    log.exception("%s of %s: reader failed", self.role, self.auction)
            if self.closing or not self._reconnect():
                break
        self.dead = not self.closing
        for pending in self.pending.values():
            pending.result.set({"type": "closed"})
        self.pending.clear()

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        self.sample_offset(message.get("server_time"))
        if kind in ("ack", "rejected"):
            waiting = self.pending.get(message.get("bid_id", ""))
            if waiting is not None:
                waiting.result.set(message)
            return
        if kind == "resync":
            self._resynced(int(message.get("seq", 0)))
            if self.on_view is not None:
                self.on_view(message.get("view") or {})
            return
        if kind in ("error", "slow_consumer"):
            self.recorder.protocol_error(self.role, message)
            return
        if kind == "pong" and self.ping_sent is not None:
            now = time.time() * 1000
            self.offset_ms = float(message.get("server_time", now)) - (self.ping_sent + now) / 2
            self.offset_from_pong = True
            self.ping_sent = None
            return
        for seq, event in events_of(message):
            verdict = self.tracker.see(seq)
            self.tracker.settle()
            self.report_stream(seq)
            if verdict == "duplicate":
                continue
            replayed = seq <= self.replay_until
            if replayed:
                self.recorder.count("replayed")
            if self.on_event is not None:
                self.on_event(seq, event, replayed)

    # ------------------------------------------------------------- commands
    def command(self, kind: str, lot: str, amount: int | None, timeout: float) -> Answer:
        """Send a command and wait for its answer (resent across reconnects and
        ``unavailable``, with the same ``bid_id``, until ``timeout``)."""
        bid_id = uuid.uuid4().hex
        message: dict[str, Any] = {"type": kind, "lot": lot, "bid_id": bid_id}
        if kind == "bid":
            message["amount"] = amount
        pending = _Pending(_encode(message))
        if self.ws is None:  # sent while the connection is down: held up from the start
            pending.failed_at = self.dropped_at
        self.pending[bid_id] = pending
        started = time.perf_counter()
        deadline = started + timeout
        try:
            if self.ws is not None:
                with contextlib.suppress(Exception):  # dropped: resent after the reconnect
                    self.ws.send(pending.frame)
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    return Answer(False, "timeout", None, pending.failed_at)
                try:
                    answer = pending.result.get(timeout=remaining)
                except gevent.Timeout:
                    return Answer(False, "timeout", None, pending.failed_at)
                latency = (time.perf_counter() - started) * 1000
                if answer.get("type") == "closed":
                    return Answer(False, "closed", None, pending.failed_at)
                if answer.get("type") == "ack":
                    return Answer(True, "", latency, pending.failed_at)
                code = str(answer.get("code", "rejected"))
                if code != "unavailable":
                    return Answer(False, code, latency, pending.failed_at)
                # The journal or the owner could not confirm: report it, then retry.
                if pending.failed_at is None:
                    pending.failed_at = int(time.time() * 1000)
                self.recorder.fire(
                    "command",
                    "unavailable",
                    started,
                    failure=RuntimeError("unavailable: retried with the same bid_id"),
                    response_time=latency,
                )
                pending.result = AsyncResult()
                gevent.sleep(RETRY_UNAVAILABLE_S)
                if self.ws is not None:
                    with contextlib.suppress(Exception):
                        self.ws.send(pending.frame)
        finally:
            self.pending.pop(bid_id, None)

    def ping(self) -> None:
        """Measure the clock offset with one round trip (the reader reads the pong)."""
        if self.ws is not None:
            self.ping_sent = time.time() * 1000
            with contextlib.suppress(Exception):
                self.ws.send(_encode({"type": "ping", "nonce": 1}))


__all__ = ["Answer", "Link", "decode", "events_of", "ws_url"]
