"""Locust load test for an Underbid server: bidders and watchers over WebSocket.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 \\
        --ub-token "$UNDERBID_OPERATOR_TOKEN"          # web UI on :8089
    locust -f loadtests/locustfile.py --headless -u 50 -r 10 -t 1m \\
        --host http://127.0.0.1:8000 --csv out/ub --html out/ub.html

docs/loadtesting.md has the whole story (distributed mode, options, reading
the reports). The users speak protocol v1 (docs/protocol.md) in MessagePack
with a **synchronous** WebSocket client (``websockets.sync.client``): Locust
runs every user on gevent, and an asyncio client would block the hub.

- :class:`BidderUser` takes a bidder id of the auction, gets its token over the
  HTTP API, connects, and bids by a strategy (``--ub-strategy``) at
  ``--ub-bid-rate`` bids/s. Its bid entries (type ``bid``) are round trips, send
  to ``ack`` or ``rejected``: ``ack``, or ``rejected <code>`` for each engine
  code (``step_too_small``...). Engine rejections are answers, so they count as
  successes unless ``--ub-rejections-fail``; ``unavailable``,
  ``rate_limited`` (the server's per-connection limit), a timeout or a
  dropped connection are failures.
- :class:`WatcherUser` holds a public connection and reports, for every event
  it receives, how late it arrived (type ``event``, name ``delivery``): its
  arrival on the local clock, corrected by the server's clock offset measured
  with ``ping``, minus the event's ``at`` (the engine's time of the event).
  Events older than the connection (replays) are not counted.
- ``connect`` entries time the handshake up to ``welcome``; ``http`` entries the
  API calls.

The auction is created by the test itself (on the master, or the only process)
through ``POST /api/auctions`` with the operator token that ``underbid serve``
prints (``--ub-token`` or ``UNDERBID_OPERATOR_TOKEN``): an ``open`` auction,
live at once, ``--ub-bidders`` bidders, ``--ub-duration`` seconds long. Its id
travels to the workers with the other options. ``--ub-auction ID`` joins an
existing auction instead (the token must be an official's of it, or the
operator's).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import random
import time
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import quote

import gevent
import msgspec
from gevent.event import AsyncResult
from locust import User, constant, constant_pacing, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

log = logging.getLogger("underbid.locust")

SUBPROTOCOL = "underbid.v1.msgpack"
START_VALUE = 10**12
"""Start value (minor units) of the auctions the test creates: room for billions of bids."""
DECREMENT = 100
"""Minimum decrement of the auctions the test creates."""
STRATEGIES = ("undercut", "random")
_JOIN: str | None = None
"""The ``--ub-auction`` given at the first start; when empty, each start creates an auction."""
FAILING_CODES = frozenset({"unavailable", "forbidden", "closed", "timeout", "rate_limited"})
"""Answers that mean the server did not do its job, never an auction outcome."""

_encode = msgspec.msgpack.encode


def _decode(frame: str | bytes) -> dict[str, Any]:
    """One server message; under MessagePack every frame is binary."""
    if isinstance(frame, str):
        raise ValueError("a text frame under underbid.v1.msgpack")
    message = msgspec.msgpack.decode(frame)
    if not isinstance(message, dict):
        raise ValueError("a server message is one map")
    return message


# ------------------------------------------------------------------ options
@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser  # Locust's own parser: is_secret and the web UI work there only
    group.add_argument(
        "--ub-token",
        env_var="UNDERBID_OPERATOR_TOKEN",
        default="",
        is_secret=True,
        help="operator token printed by `underbid serve` (env UNDERBID_OPERATOR_TOKEN)",
    )
    group.add_argument("--ub-auction", default="", help="join this auction instead of creating one")
    group.add_argument(
        "--ub-bidders",
        type=int,
        default=100,
        help="bidders of the created auction (each may hold 3 connections: "
        "limits.connections_per_bidder)",
    )
    group.add_argument(
        "--ub-duration", type=int, default=3600, help="seconds the created auction runs"
    )
    group.add_argument(
        "--ub-against",
        choices=("best", "own"),
        default="best",
        help="created auction: bids improve on the best bid (contention) or one's own",
    )
    group.add_argument("--ub-bid-rate", type=float, default=1.0, help="bids/s per bidder user")
    group.add_argument(
        "--ub-strategy",
        choices=STRATEGIES,
        default="undercut",
        help="undercut: the largest allowed amount; random: 0-9 decrements below it",
    )
    group.add_argument(
        "--ub-timeout", type=float, default=10.0, help="seconds to wait for an answer"
    )
    group.add_argument(
        "--ub-rejections-fail",
        action="store_true",
        default=False,
        help="count engine rejections (step_too_small...) as failures",
    )


def _opt(environment: Environment, name: str) -> Any:
    options = environment.parsed_options
    if options is None:
        raise RuntimeError("the Underbid users need Locust's command-line options")
    return getattr(options, name)


# ------------------------------------------------------------ the auction
def auction_spec(
    auction_id: str, bidders: int, duration_s: int, against: str, now_ms: int
) -> dict[str, Any]:
    """The open auction a load test creates: live now, ``bidders`` bidders b0..b{n-1}."""
    return {
        "id": auction_id,
        "title": "Locust load test",
        "start_at": now_ms - 1_000,
        "format": "open",
        "start_value": START_VALUE,
        "open": {"duration_s": duration_s, "decrement": DECREMENT, "against": against},
        "bidders": [{"id": f"b{i}", "name": f"Load bidder {i}"} for i in range(bidders)],
    }


def _fire(
    environment: Environment,
    request_type: str,
    name: str,
    started: float,
    length: int = 0,
    exception: BaseException | None = None,
    response_time: float | None = None,
) -> None:
    elapsed = (time.perf_counter() - started) * 1000 if response_time is None else response_time
    environment.events.request.fire(
        request_type=request_type,
        name=name,
        response_time=elapsed,
        response_length=length,
        exception=exception,
        context={},
    )


@events.test_start.add_listener
def _create_auction(environment: Environment, **_: Any) -> None:
    """On the master (or the only process): create the auction unless one was named."""
    if isinstance(environment.runner, WorkerRunner):
        return
    global _JOIN
    if _JOIN is None:  # the first start: remember whether the user named an auction
        _JOIN = _opt(environment, "ub_auction")
    if _JOIN:
        return
    token = _opt(environment, "ub_token")
    if not token:
        log.error("no operator token: pass --ub-token or set UNDERBID_OPERATOR_TOKEN")
        _abort(environment)
        return
    auction_id = f"locust-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    spec = auction_spec(
        auction_id,
        _opt(environment, "ub_bidders"),
        _opt(environment, "ub_duration"),
        _opt(environment, "ub_against"),
        int(time.time() * 1000),
    )
    try:
        post_json(environment.host or "", "/api/auctions", spec, token)
    except HttpError as exc:
        log.error("could not create the auction at %s: %s", environment.host, exc)
        _abort(environment)
        return
    environment.parsed_options.ub_auction = auction_id  # type: ignore[union-attr]
    log.info("created auction %s with %d bidders", auction_id, len(spec["bidders"]))


class HttpError(Exception):
    """An API call failed: unreachable, or an error status (with the problem's detail)."""


def post_json(host: str, path: str, body: dict[str, Any], token: str) -> dict[str, Any]:
    """POST JSON to the HTTP API with a bearer token (stdlib: gevent-friendly)."""
    request = urllib.request.Request(
        host.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise HttpError(f"HTTP {exc.code} on POST {path}: {detail}") from None
    except (OSError, ValueError) as exc:
        raise HttpError(f"POST {path}: {exc}") from None


def get_json(host: str, path: str, token: str) -> dict[str, Any]:
    """GET JSON from the HTTP API with a bearer token."""
    request = urllib.request.Request(
        host.rstrip("/") + path, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        raise HttpError(f"HTTP {exc.code} on GET {path}") from None
    except (OSError, ValueError) as exc:
        raise HttpError(f"GET {path}: {exc}") from None


_BIDDERS: dict[str, list[str]] = {}
"""Bidder ids of each auction, read once per process."""


def bidder_ids(environment: Environment) -> list[str]:
    """The auction's bidder ids, from an official's view (``b0``... if it cannot be read)."""
    auction = _opt(environment, "ub_auction")
    if auction not in _BIDDERS:
        ids: list[str] = []
        try:
            view = get_json(
                environment.host or "",
                f"/api/auctions/{quote(auction, safe='')}",
                _opt(environment, "ub_token"),
            )
            for lot in view.get("lots", []):
                for entry in lot.get("ladder", []):
                    bidder = entry.get("bidder")
                    if isinstance(bidder, str) and bidder not in ids:
                        ids.append(bidder)
        except HttpError as exc:
            log.warning("could not read the bidders of %s: %s", auction, exc)
        _BIDDERS[auction] = ids or [f"b{i}" for i in range(max(1, _opt(environment, "ub_bidders")))]
    return _BIDDERS[auction]


def _protocol_error(environment: Environment, request_type: str, message: dict[str, Any]) -> None:
    """An ``error`` (``rate_limited``...) or ``slow_consumer`` frame: always a failure."""
    if message.get("type") == "slow_consumer":
        name, why = "slow consumer", f"dropped {message.get('dropped')} frames"
    else:
        name, why = f"error {message.get('code')}", str(message.get("message", ""))
    _fire(environment, request_type, name, 0.0, 0, RuntimeError(why), response_time=0.0)


def _abort(environment: Environment) -> None:
    environment.process_exit_code = 1
    if environment.runner is not None:
        gevent.spawn_later(0.1, environment.runner.quit)


# --------------------------------------------------------------- the users
def _ws_url(host: str, auction_id: str) -> str:
    base = host.rstrip("/")
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(http):
            base = ws + base[len(http) :]
    return f"{base}/ws/auctions/{quote(auction_id, safe='')}"


def _events_of(message: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    kind = message.get("type")
    if kind == "event":
        return [(message["seq"], message["event"])]
    if kind == "events":
        return [(item["seq"], item["event"]) for item in message.get("items", [])]
    return []


class _Connection:
    """One protocol v1 connection in MessagePack: connect, hello, welcome."""

    def __init__(self, user: User, role: str, token: str) -> None:
        self.environment = user.environment
        self.role = role
        self.token = token
        self.url = _ws_url(user.host or "", _opt(user.environment, "ub_auction"))
        self.ws: ClientConnection | None = None
        self.stack = contextlib.ExitStack()
        self.welcome: dict[str, Any] = {}
        self.offset_ms = 0.0
        """``server clock - local clock``, from a ping round trip."""

    def open(self) -> dict[str, Any] | None:
        started = time.perf_counter()
        try:
            ws = self.stack.enter_context(  # the context-manager form: no deprecation
                connect(
                    self.url,
                    subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                    compression=None,
                    open_timeout=30,
                    max_size=16 * 2**20,
                    proxy=None,
                )
            )
            ws.send(_encode({"type": "hello", "token": self.token, "last_seq": None}))
            while True:
                message = _decode(ws.recv(timeout=30))
                if message.get("type") == "welcome":
                    break
                if message.get("type") == "error":
                    raise ConnectionError(f"{message.get('code')}: {message.get('message')}")
        except InvalidStatus as exc:
            self.stack.close()
            refused = ConnectionError(f"handshake refused: HTTP {exc.response.status_code}")
            _fire(self.environment, "connect", self.role, started, exception=refused)
            return None
        except Exception as exc:
            self.stack.close()
            _fire(self.environment, "connect", self.role, started, exception=exc)
            return None
        _fire(self.environment, "connect", self.role, started)
        self.ws = ws
        self.welcome = message
        self.offset_ms = message.get("server_time", 0) - time.time() * 1000
        return message

    def close(self) -> None:
        self.stack.close()
        self.ws = None


class BidderUser(User):
    """Joins as one of the auction's bidders and bids at ``--ub-bid-rate``."""

    weight = 1
    _numbers = itertools.count()

    def wait_time(self) -> float:
        return constant_pacing(1.0 / max(0.001, _opt(self.environment, "ub_bid_rate")))(self)

    def on_start(self) -> None:
        self.conn: _Connection | None = None
        self.pending: dict[str, AsyncResult[tuple[dict[str, Any], float]]] = {}
        self.limit: int | None = None
        """The largest amount this bidder may bid now, as far as it knows."""
        self.reference: int | None = None
        self.decrement: int | None = DECREMENT
        self.percent: float | None = None
        self.against = "best"
        self.reader: gevent.Greenlet[Any, Any] | None = None
        self.bidder = self._bidder_id()
        token = self._token()
        if token is not None:
            self._connect(token)

    def on_stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.reader is not None:
            self.reader.kill(block=False)

    def _bidder_id(self) -> str:
        """Spread the users over the bidder ids, each worker on its own slice."""
        environment = self.environment
        ids = bidder_ids(environment)
        workers = max(1, getattr(environment.parsed_options, "expect_workers", 1) or 1)
        index = getattr(environment.runner, "worker_index", 0) if environment.runner else 0
        share = max(1, len(ids) // workers)
        first = (index % workers) * share if len(ids) >= workers else 0
        return ids[first + next(self._numbers) % share]

    def _token(self) -> str | None:
        auction = _opt(self.environment, "ub_auction")
        path = f"/api/auctions/{quote(auction, safe='')}/tokens"
        started = time.perf_counter()
        token = _opt(self.environment, "ub_token")
        try:
            answer = post_json(
                self.host or "", path, {"role": "bidder", "bidder": self.bidder}, token
            )
        except HttpError as exc:
            _fire(self.environment, "http", "POST /api/auctions/{id}/tokens", started, 0, exc)
            gevent.sleep(1.0)  # do not spin on a refusal
            return None
        _fire(self.environment, "http", "POST /api/auctions/{id}/tokens", started, 0)
        issued: str = answer["token"]
        return issued

    def _connect(self, token: str) -> None:
        conn = _Connection(self, "bidder", token)
        welcome = conn.open()
        if welcome is None:
            return
        self.conn = conn
        self._adopt_view(welcome.get("view") or {})
        self.reader = gevent.spawn(self._read, conn)

    def _adopt_view(self, view: dict[str, Any]) -> None:
        lots = view.get("lots") or [{}]
        lot = lots[0]
        self.limit = lot.get("max_bid")
        self.against = lot.get("against", "best")
        self.decrement = lot.get("decrement")
        percent = lot.get("decrement_percent")
        self.percent = float(percent) if percent is not None else None

    def _step(self, reference: int) -> int:
        if self.decrement is not None:
            return int(self.decrement)
        return math.ceil(reference * (self.percent or 0) / 100)

    def _seen(self, amount: int) -> None:
        """A better price was accepted: the next bid must be below it."""
        if self.reference is None or amount < self.reference:
            self.reference = amount
            limit = amount - self._step(amount)
            self.limit = limit if self.limit is None else min(self.limit, limit)

    def _read(self, conn: _Connection) -> None:
        ws = conn.ws
        assert ws is not None
        try:
            for frame in ws:
                received = time.perf_counter()
                message = _decode(frame)
                kind = message.get("type")
                if kind in ("ack", "rejected"):
                    waiting = self.pending.pop(message.get("bid_id", ""), None)
                    if waiting is not None:
                        waiting.set((message, received))
                elif kind == "resync":
                    self._adopt_view(message.get("view") or {})
                elif kind in ("error", "slow_consumer"):
                    _protocol_error(self.environment, "bid", message)
                for _, event in _events_of(message):
                    if event.get("type") == "bid_placed" and (
                        self.against == "best" or event.get("bidder") == self.bidder
                    ):
                        self._seen(int(event["amount"]))
                    elif event.get("type") in ("lot_ended", "auction_finished"):
                        self.limit = None
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("bidder %s: reader failed", self.bidder)
        for waiting in list(self.pending.values()):
            waiting.set(({"type": "closed"}, time.perf_counter()))
        self.pending.clear()

    @task
    def bid(self) -> None:
        conn = self.conn
        if conn is None or conn.ws is None or self.reader is None or self.reader.dead:
            token = self._token()
            if token is not None:
                self._connect(token)
            return
        if self.limit is None or self.limit <= 0:
            return  # not live (yet), or over
        amount = self.limit
        if _opt(self.environment, "ub_strategy") == "random":
            amount -= random.randint(0, 9) * self._step(amount)
        if amount <= 0:
            return
        bid_id = uuid.uuid4().hex
        waiting: AsyncResult[tuple[dict[str, Any], float]] = AsyncResult()
        self.pending[bid_id] = waiting
        frame = _encode({"type": "bid", "lot": "", "amount": amount, "bid_id": bid_id})
        started = time.perf_counter()
        try:
            conn.ws.send(frame)
            answer, received = waiting.get(timeout=_opt(self.environment, "ub_timeout"))
        except gevent.Timeout:
            self.pending.pop(bid_id, None)
            _fire(self.environment, "bid", "timeout", started, exception=TimeoutError("no answer"))
            return
        except ConnectionClosed as exc:
            self.pending.pop(bid_id, None)
            _fire(self.environment, "bid", "closed", started, exception=exc)
            return
        elapsed = (received - started) * 1000
        kind = answer.get("type")
        if kind == "ack":
            if self.against == "own":
                self._seen(amount)
            _fire(self.environment, "bid", "ack", started, len(frame), response_time=elapsed)
            return
        code = str(answer.get("code", kind))
        failure: Exception | None = None
        if code in FAILING_CODES or kind == "closed":
            failure = RuntimeError(f"{code}: {answer.get('message', 'connection closed')}")
        elif _opt(self.environment, "ub_rejections_fail"):
            failure = RuntimeError(f"rejected: {code}")
        name = "closed" if kind == "closed" else f"rejected {code}"
        _fire(self.environment, "bid", name, started, len(frame), failure, elapsed)


class WatcherUser(User):
    """Holds a public connection and reports how late each event arrives."""

    weight = 1
    wait_time = constant(0)

    def on_start(self) -> None:
        self.conn: _Connection | None = None
        self.last_seq = 0
        self._connect()

    def on_stop(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def _connect(self) -> None:
        conn = _Connection(self, "watcher", "")
        welcome = conn.open()
        if welcome is None:
            gevent.sleep(1.0)  # refused or unreachable: do not spin
            return
        self.conn = conn
        self.last_seq = int(welcome.get("seq", 0))
        self._sync_clock(conn)

    def _sync_clock(self, conn: _Connection) -> None:
        """Estimate the server's clock offset with one ping (events are skipped meanwhile)."""
        ws = conn.ws
        assert ws is not None
        sent = time.time() * 1000
        ws.send(_encode({"type": "ping", "nonce": 1}))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = _decode(ws.recv(timeout=10))
            if message.get("type") == "pong":
                now = time.time() * 1000
                conn.offset_ms = message["server_time"] - (sent + now) / 2
                return
            for seq, _ in _events_of(message):
                self.last_seq = max(self.last_seq, seq)

    @task
    def watch(self) -> None:
        conn = self.conn
        if conn is None or conn.ws is None:
            self._connect()
            return
        try:
            frame = conn.ws.recv(timeout=1.0)
        except TimeoutError:
            return
        except ConnectionClosed as exc:
            started = time.perf_counter()
            _fire(self.environment, "event", "connection closed", started, exception=exc)
            conn.close()
            self.conn = None
            return
        arrived = time.time() * 1000 + conn.offset_ms
        message = _decode(frame)
        items = _events_of(message)
        for seq, event in items:
            if seq <= self.last_seq:
                continue
            self.last_seq = seq
            late = max(0.0, arrived - float(event.get("at", arrived)))
            _fire(
                self.environment,
                "event",
                "delivery",
                0.0,
                len(frame) // max(1, len(items)),
                response_time=late,
            )
        if message.get("type") in ("error", "slow_consumer"):
            _protocol_error(self.environment, "event", message)


@events.quitting.add_listener
def _summary(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner | WorkerRunner):
        return
    total = environment.stats.total
    log.info(
        "underbid: %d requests, %d failures, auction %s",
        total.num_requests,
        total.num_failures,
        _opt(environment, "ub_auction") if environment.parsed_options else "?",
    )


__all__ = ["BidderUser", "WatcherUser", "auction_spec"]
