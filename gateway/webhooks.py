"""Standard Webhooks: every configured endpoint hears of each lot's result.

Messages (``type``, ``timestamp``, ``data``; JSON)::

    lot.ended              data: auction, lot, currency, currency_exponent, the lot's
                           result (docs/record.md) and links to the result and OCDS
    auction.ocds_release   data: the auction's OCDS release package, once every lot ended

Each message gets an id (``msg_`` + 26 base32 characters) derived from the
auction, the lot and the type, so the same message made twice (a retry, a
restart, another node) is the same delivery, never a second one. Deliveries
go to the durable outbox (:mod:`auction.runtime.outbox`, in the journal's
store) first, then out:

- a delivery is a ``POST`` with the Standard Webhooks headers ``webhook-id``
  (the message id: identical on every attempt), ``webhook-timestamp`` (this
  attempt's time, seconds) and ``webhook-signature`` (``v1,`` HMAC-SHA256 of
  ``id.timestamp.body`` with the endpoint's secret, by the ``standardwebhooks``
  package); redirects are not followed;
- any 2xx is delivered; **410 Gone disables the endpoint** (its deliveries wait,
  visible on the dashboard, until an operator enables it again); anything else
  (another status, a timeout, a refused connection) is retried after an
  exponential back-off with jitter (``first_retry_ms`` doubling to at most
  ``max_retry_ms``; a ``Retry-After`` is honoured within that), until the
  message is ``max_age_s`` old (24 h by default): then it is dead, kept for
  the operators;
- with several nodes, each due delivery is claimed by exactly one of them
  (a lease in the outbox); a node that dies mid-delivery lets the lease lapse
  and another node delivers (at least once: receivers deduplicate by
  ``webhook-id``, as the standard says).

Nothing is lost between a lot's end and the outbox: each ended lot is written
as soon as its end is durable, again (idempotently) before the runtime marks
the auction finished (``Runtime.before_finish``: an outbox that cannot be
written keeps the auction active), and every hosted auction is checked again
at start and every ``RECONCILE_S``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Final

import httpx
import msgspec
from standardwebhooks.webhooks import Webhook

from auction.core.events import Event, LotEnded
from auction.core.formats.base import ENDED
from auction.core.record import iso, result
from auction.runtime.journal import JournalUnavailable
from auction.runtime.loop import wait_set
from auction.runtime.outbox import Delivery, EndpointStats, Outbox, delivery_id
from gateway.settings import SettingsError, WebhookEndpoint, WebhooksSettings, check_webhook_secret

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("underbid.webhooks")

LOT_ENDED: Final = "lot.ended"
OCDS_RELEASE: Final = "auction.ocds_release"
RECONCILE_S: Final = 30.0
"""How often hosted auctions are checked for ended lots whose messages are missing."""
CONCURRENCY: Final = 16
"""Deliveries attempted at once by one node."""
STOP_WAIT_S: Final = 5.0
"""How long a stop waits for the sender's tasks to end after cancelling them."""
MAX_BODY_READ: Final = 4096
"""Bytes of an endpoint's answer read (and ignored) before the connection is let go."""
USER_AGENT: Final = "Underbid-Webhooks/1"


def message_id(auction_id: str, lot_id: str, kind: str) -> str:
    """The message's id: stable for (auction, lot, type), unique across them."""
    digest = hashlib.sha256(f"{auction_id}\0{lot_id}\0{kind}".encode()).digest()
    return "msg_" + base64.b32encode(digest).decode("ascii").lower()[:26]


def backoff_ms(attempts: int, settings: WebhooksSettings, rng: random.Random) -> int:
    """The wait after the ``attempts``-th failure (1 = the first): exponential,
    capped, with equal jitter (half fixed, half random) so that endpoints that
    failed together do not retry together."""
    exp: int = settings.first_retry_ms * 2 ** min(max(attempts - 1, 0), 40)
    delay = min(exp, settings.max_retry_ms)
    return delay // 2 + rng.randint(0, delay - delay // 2)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A configured endpoint with its secret resolved."""

    name: str
    url: str
    events: frozenset[str]
    signer: Webhook


def endpoints_of(settings: WebhooksSettings, env: dict[str, str] | None = None) -> list[Endpoint]:
    """The configured endpoints, secrets read (from ``secret_env`` when set).
    Raises :class:`SettingsError` naming the endpoint whose secret is missing or bad."""
    env = dict(os.environ) if env is None else env
    out = []
    for i, endpoint in enumerate(settings.endpoints):
        secret = endpoint.secret or env.get(endpoint.secret_env, "")
        where = f"webhooks.endpoints[{i}] ({endpoint.name})"
        if not secret:
            raise SettingsError(where, f"the variable {endpoint.secret_env} holds no secret")
        problem = check_webhook_secret(secret)
        if problem:
            raise SettingsError(where, f"the secret {problem}")
        out.append(_endpoint(endpoint, secret))
    return out


def _endpoint(endpoint: WebhookEndpoint, secret: str) -> Endpoint:
    text = secret if secret.startswith("whsec_") else "whsec_" + secret
    return Endpoint(endpoint.name, endpoint.url, frozenset(endpoint.events), Webhook(text))


def shown_url(url: str) -> str:
    """The URL without its query (which may carry a credential), for people and logs."""
    return url.split("?", 1)[0].split("#", 1)[0]


_encode: Final = msgspec.json.Encoder(decimal_format="number").encode


class WebhookSender:
    """Writes each ended lot's messages to the outbox and delivers them (see the
    module docstring). Owned by the gateway: :meth:`start`, :meth:`stop`."""

    def __init__(
        self,
        gateway: Gateway,
        outbox: Outbox,
        endpoints: Sequence[Endpoint],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        seed: int | None = None,
    ) -> None:
        self.gateway = gateway
        self.outbox = outbox
        self.endpoints = {e.name: e for e in endpoints}
        self.settings = gateway.settings.webhooks
        self.owner = gateway.runtime.node_id
        """This node's name on its outbox leases."""
        self.stats: dict[str, EndpointStats] = {name: EndpointStats() for name in self.endpoints}
        """The outbox's counts per endpoint, as last read (the dashboard and metrics)."""
        self._rng = random.Random(seed)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._writes: set[asyncio.Task[None]] = set()
        self._attempts: set[asyncio.Task[None]] = set()
        """Deliveries in flight (cancelled at stop: their leases lapse, another node retries)."""
        self._written: set[tuple[str, str, str]] = set()
        """(auction, lot, kind) this process wrote to the outbox already."""
        self._wake = asyncio.Event()
        self._unsubscribe: Any = None
        self._running = False
        """Until stop: the loops end by themselves too, not only when cancelled
        (a cancellation lost inside a library would keep a loop, and the
        server's shutdown, going for ever)."""

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        runtime = self.gateway.runtime
        self._client = httpx.AsyncClient(
            transport=self._transport,
            timeout=self.settings.timeout_ms / 1000,
            follow_redirects=False,
            trust_env=False,
            headers={"user-agent": USER_AGENT},
        )
        self._unsubscribe = runtime.subscribe(self._on_events)
        runtime.before_finish.append(self.write_auction)
        self._register_metrics()
        self._running = True
        self._tasks = [
            asyncio.create_task(self._deliver_loop(), name="underbid-webhooks"),
            asyncio.create_task(self._reconcile_loop(), name="underbid-webhooks-reconcile"),
        ]

    async def stop(self) -> None:
        runtime = self.gateway.runtime
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with contextlib.suppress(ValueError):
            runtime.before_finish.remove(self.write_auction)
        self._running = False
        self._wake.set()
        tasks = [*self._tasks, *self._writes, *self._attempts]
        for task in tasks:
            task.cancel()
        if tasks:
            ended, stuck = await asyncio.wait(tasks, timeout=STOP_WAIT_S)
            for task in ended:
                if not task.cancelled() and task.exception() is not None:
                    log.error("webhook task %s failed", task.get_name(), exc_info=task.exception())
            for task in stuck:  # left behind rather than hang the shutdown
                log.error("webhook task %s did not stop in %s s", task.get_name(), STOP_WAIT_S)
        self._tasks.clear()
        if self._client is not None:
            await self._client.aclose()
        await self.outbox.close()

    def poke(self) -> None:
        """Look for due deliveries now (an endpoint was enabled)."""
        self._wake.set()

    # ---------------------------------------------------------- the outbox
    def _on_events(self, auction_id: str, first_seq: int, events: list[Event]) -> None:
        if any(isinstance(ev, LotEnded) for ev in events):
            task = asyncio.get_running_loop().create_task(self._write_retrying(auction_id))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _write_retrying(self, auction_id: str) -> None:
        delay = 0.2
        while self._running:
            try:
                await self.write_auction(auction_id)
                return
            except JournalUnavailable as exc:
                log.warning("webhooks for %s not written yet: %s", auction_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            except Exception:  # our bug: logged; the reconciliation tries again
                log.exception("webhooks for %s could not be made", auction_id)
                return

    async def write_auction(self, auction_id: str) -> None:
        """Write the messages of every ended lot of a hosted auction (and its OCDS
        release once all have ended) that this process has not written yet.
        Idempotent; raises :class:`JournalUnavailable` if the outbox is down."""
        runtime = self.gateway.runtime
        try:
            auction = runtime.auction(auction_id)
        except Exception:  # not hosted here (any more): its writer does it
            return
        made: list[tuple[tuple[str, str, str], list[Delivery]]] = []
        outcome: dict[str, Any] | None = None
        for lot in auction.spec.lots:
            key = (auction_id, lot.id, LOT_ENDED)
            if key in self._written or auction.lot_states[lot.id].status != ENDED:
                continue
            outcome = outcome or result(auction)
            lot_result = next(x for x in outcome["lots"] if x["lot"] == lot.id)
            data = {
                "auction": auction_id,
                "lot": lot.id,
                "currency": outcome["currency"],
                "currency_exponent": outcome["currency_exponent"],
                "result": lot_result,
                "links": self._links(auction_id),
            }
            at = lot_result["ended_at"] or iso(self.gateway.clock.now_ms())
            made.append((key, self._deliveries(auction_id, lot.id, LOT_ENDED, at, data)))
        ocds_key = (auction_id, "", OCDS_RELEASE)
        if auction.finished and ocds_key not in self._written:
            from gateway.integration import ocds_package, record_of

            package = ocds_package(self.gateway, await record_of(self.gateway, auction))
            date = package["releases"][0]["date"]
            made.append((ocds_key, self._deliveries(auction_id, "", OCDS_RELEASE, date, package)))
        for key, deliveries in made:
            if deliveries:
                await self.outbox.add(deliveries)
            self._written.add(key)
        if any(deliveries for _, deliveries in made):
            self._wake.set()

    def _links(self, auction_id: str) -> dict[str, str]:
        base = f"{self.gateway.base_url()}/api/auctions/{auction_id}"
        return {"result": f"{base}/result", "ocds": f"{base}/ocds"}

    def _deliveries(
        self, auction_id: str, lot_id: str, kind: str, at: str, data: dict[str, Any]
    ) -> list[Delivery]:
        msg = message_id(auction_id, lot_id, kind)
        body = _encode({"type": kind, "timestamp": at, "data": data})
        now = self.gateway.clock.now_ms()
        return [
            Delivery(
                id=delivery_id(msg, e.name),
                message_id=msg,
                endpoint=e.name,
                kind=kind,
                payload=body,
                created_at=now,
                due_at=now,
            )
            for e in self.endpoints.values()
            if kind in e.events
        ]

    async def _reconcile_loop(self) -> None:
        while self._running:
            for auction_id in self.gateway.runtime.hosted():
                try:
                    await self.write_auction(auction_id)
                except JournalUnavailable:
                    break
                except Exception:
                    log.exception("webhooks for %s could not be made", auction_id)
            await asyncio.sleep(RECONCILE_S)

    # ----------------------------------------------------------- delivering
    async def _deliver_loop(self) -> None:
        poll = min(1.0, self.settings.first_retry_ms / 1000)
        sem = asyncio.Semaphore(CONCURRENCY)
        running = self._attempts
        while self._running:
            self._wake.clear()
            claimed: list[Delivery] = []
            try:
                free = CONCURRENCY - len(running)
                if free > 0:
                    claimed = await self.outbox.claim(
                        self.owner,
                        now=self.gateway.clock.now_ms(),
                        lease_ms=self.settings.lease_ms,
                        limit=free,
                        endpoints=list(self.endpoints),
                    )
                await self._read_stats()
            except JournalUnavailable as exc:
                log.warning("webhook outbox unreachable: %s", exc)
            except Exception:  # our bug: logged, and the loop goes on
                log.exception("webhook outbox: claiming failed")
            for delivery in claimed:
                task = asyncio.create_task(self._attempt_with(sem, delivery))
                running.add(task)
                task.add_done_callback(running.discard)
            if claimed and len(claimed) == free:
                await asyncio.sleep(0)  # more may be due: claim again at once
                continue
            await wait_set(self._wake, poll)

    async def _read_stats(self) -> None:
        self.stats = await self.outbox.stats(list(self.endpoints))

    async def _attempt_with(self, sem: asyncio.Semaphore, delivery: Delivery) -> None:
        async with sem:
            try:
                await self.attempt(delivery)
            except JournalUnavailable as exc:  # the result is lost: the lease lapses, retried
                log.warning(
                    "webhook %s: outbox unreachable after the attempt: %s", delivery.id, exc
                )
            except Exception:
                log.exception("webhook %s: delivery failed unexpectedly", delivery.id)

    async def attempt(self, delivery: Delivery) -> None:
        """One try of a claimed delivery, and its result written to the outbox."""
        endpoint = self.endpoints.get(delivery.endpoint)
        assert self._client is not None
        metrics = self.gateway.metrics
        now = self.gateway.clock.now_ms()
        if endpoint is None:  # an endpoint removed from the settings: its messages wait
            await self.outbox.retry(
                delivery.id,
                self.owner,
                due_at=now + self.settings.max_retry_ms,
                error="endpoint not configured on this node",
                now=now,
            )
            return
        status, error, retry_after = await self._post(endpoint, delivery)
        now = self.gateway.clock.now_ms()
        if status is not None and 200 <= status < 300:
            await self.outbox.delivered(delivery.id, now=now)
            metrics.inc("webhook_attempts_total", endpoint=endpoint.name, result="delivered")
            return
        metrics.inc("webhook_attempts_total", endpoint=endpoint.name, result="failed")
        if status == 410:
            log.warning("webhook endpoint %s answered 410 Gone: disabled", endpoint.name)
            await self.outbox.disable(endpoint.name, reason=f"HTTP 410 Gone at {iso(now)}", now=now)
            metrics.inc("webhook_endpoints_disabled_total", endpoint=endpoint.name)
        if now - delivery.created_at >= self.settings.max_age_s * 1000:
            await self.outbox.dead(delivery.id, self.owner, error=f"given up: {error}", now=now)
            metrics.inc("webhook_given_up_total", endpoint=endpoint.name)
            log.warning(
                "webhook %s to %s dead after %d attempts: %s",
                delivery.message_id,
                endpoint.name,
                delivery.attempts + 1,
                error,
            )
            return
        wait = backoff_ms(delivery.attempts + 1, self.settings, self._rng)
        if retry_after is not None:
            wait = min(max(wait, retry_after), self.settings.max_retry_ms)
        await self.outbox.retry(delivery.id, self.owner, due_at=now + wait, error=error, now=now)

    async def _post(
        self, endpoint: Endpoint, delivery: Delivery
    ) -> tuple[int | None, str, int | None]:
        """(status or None, what went wrong, Retry-After in ms) of one POST."""
        assert self._client is not None
        sent_at = datetime.now(tz=UTC)
        body = delivery.payload.decode("utf-8")
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": endpoint.signer.sign(delivery.message_id, sent_at, body),
        }
        try:
            async with self._client.stream(
                "POST", endpoint.url, content=delivery.payload, headers=headers
            ) as response:
                read = 0
                async for chunk in response.aiter_bytes():
                    read += len(chunk)
                    if read >= MAX_BODY_READ:
                        break
                status = response.status_code
                retry_after = _retry_after_ms(response.headers.get("retry-after"))
        except httpx.TimeoutException:
            return None, f"timed out after {self.settings.timeout_ms} ms", None
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:200], None
        return status, f"HTTP {status}", retry_after

    # --------------------------------------------------------------- views
    def _register_metrics(self) -> None:
        metrics = self.gateway.metrics

        def read(field: str) -> dict[tuple[tuple[str, str], ...], float]:
            return {(("endpoint", n),): float(getattr(s, field)) for n, s in self.stats.items()}

        metrics.labelled_gauge("webhook_pending", lambda: read("pending"), "deliveries waiting")
        metrics.labelled_gauge("webhook_delivered", lambda: read("delivered"), "deliveries made")
        metrics.labelled_gauge("webhook_dead", lambda: read("dead"), "deliveries given up")
        metrics.labelled_gauge(
            "webhook_endpoint_disabled",
            lambda: {(("endpoint", n),): float(bool(s.disabled)) for n, s in self.stats.items()},
            "1 while an endpoint is disabled (it answered 410 Gone)",
        )


def _retry_after_ms(value: str | None) -> int | None:
    """A Retry-After header (seconds or an HTTP date) in ms, or None."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text) * 1000
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0, int((moment - datetime.now(tz=UTC)).total_seconds() * 1000))
