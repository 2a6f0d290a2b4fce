"""``underbid bridge``, and the bridge that ``underbid serve`` runs when
``bridge.enabled`` is set.

Options (each overrides the ``[bridge]`` setting of the same meaning; tokens
are better given by the environment, ``UNDERBID_BRIDGE_CDB_TOKEN``, than on a
command line that other users of the machine can read)::

    --config FILE       settings file ([bridge], [security], [server])
    --cdb URL           bridge.cdb_url: the CDB's API, e.g. https://cdb.example/api/2.5
    --cdb-token TOKEN   bridge.cdb_token: the auction role's token
    --ds URL            bridge.ds_url: the document service's upload URL
    --ds-auth USER:PASS bridge.ds_auth
    --underbid URL      bridge.underbid_url: Underbid's API
    --token TOKEN       bridge.underbid_token: an operator token (default: minted
                        with security.token_secret)
    --public-url URL    where bidders reach Underbid (default: server.public_url,
                        else --underbid)
    --state PATH        bridge.state: the SQLite state file
    --since start|now   a new state file follows the whole feed, or only changes from now
    --poll SECONDS      bridge.poll_ms / 1000
    --status            print the feed offset and every lot's state, then exit
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from auction.core.errors import UnderbidError
from bridge.cdb import Cdb
from bridge.plan import Timings
from bridge.service import Bridge
from bridge.store import BridgeStore
from bridge.underbid import Underbid
from gateway.settings import BridgeSettings, Settings

log = logging.getLogger("underbid.bridge")

TOKEN_MINUTES = 10
"""A minted operator token lasts this long; a new one is minted 5 minutes before."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--config", metavar="FILE", help="settings file (see config/default.toml, [bridge])")
    add("--cdb", metavar="URL", help="the CDB's API base URL (bridge.cdb_url)")
    add("--cdb-token", metavar="TOKEN", help="the CDB auction role's token (bridge.cdb_token)")
    add("--ds", metavar="URL", help="the document service's upload URL (bridge.ds_url)")
    add("--ds-auth", metavar="USER:PASS", help="credentials for the document service")
    add("--underbid", metavar="URL", help="Underbid's API base URL (bridge.underbid_url)")
    add("--token", metavar="TOKEN", help="an Underbid operator token (default: minted)")
    add("--public-url", metavar="URL", help="where bidders reach Underbid (links point there)")
    add("--state", metavar="PATH", help="the bridge's SQLite state file (bridge.state)")
    add(
        "--since",
        metavar="WHEN",
        choices=("start", "now"),
        default="start",
        help="a new state file follows the whole feed (start) or changes from now on (now)",
    )
    add("--poll", metavar="SECONDS", type=float, help="seconds between polls (bridge.poll_ms)")
    add("--status", action="store_true", help="print the offset and every lot's state, then exit")


def _overridden(args: argparse.Namespace, bridge: BridgeSettings) -> BridgeSettings:
    changes: dict[str, Any] = {}
    for option, key in (
        ("cdb", "cdb_url"),
        ("cdb_token", "cdb_token"),
        ("ds", "ds_url"),
        ("ds_auth", "ds_auth"),
        ("underbid", "underbid_url"),
        ("token", "underbid_token"),
        ("state", "state"),
    ):
        value = getattr(args, option, None)
        if value:
            changes[key] = value.rstrip("/") if key.endswith("_url") else value
    if getattr(args, "poll", None) is not None:
        if not 0 < args.poll <= 3600:
            raise UnderbidError("--poll must be between 0 and 3600 seconds")
        changes["poll_ms"] = max(1, int(args.poll * 1000))
    return msgspec.structs.replace(bridge, **changes)


def minted_token(secret: str) -> Callable[[], str]:
    """Operator tokens minted with the shared secret, renewed before they expire."""
    from gateway.tokens import Keyring

    keyring = Keyring(secret.encode())
    held: list[tuple[str, int]] = []

    def token() -> str:
        now = int(time.time() * 1000)
        if not held or held[0][1] - now < 300_000:
            expires = now + TOKEN_MINUTES * 60_000
            held[:] = [
                (
                    keyring.issue(
                        auction="*", role="official", bidder=None, expires_at=expires, now=now
                    ),
                    expires,
                )
            ]
        return held[0][0]

    return token


@dataclass
class BridgeProcess:
    """A configured bridge with its connections; :meth:`stop` closes them."""

    bridge: Bridge
    task: asyncio.Task[None] | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        underbid_url: str = "",
        token: Callable[[], str] | None = None,
        public_url: str = "",
        since: str = "start",
    ) -> BridgeProcess:
        b = settings.bridge
        url = underbid_url or b.underbid_url or settings.server.public_url
        missing = [
            name
            for name, value in (
                ("bridge.cdb_url (--cdb)", b.cdb_url),
                ("bridge.ds_url (--ds)", b.ds_url),
                ("bridge.underbid_url (--underbid)", url),
            )
            if not value
        ]
        if token is None:
            if b.underbid_token:
                fixed = b.underbid_token
                token = lambda: fixed  # noqa: E731
            elif settings.security.token_secret:
                token = minted_token(settings.security.token_secret)
            else:
                missing.append("bridge.underbid_token (--token) or security.token_secret")
        if missing:
            raise UnderbidError("the bridge needs " + ", ".join(missing))
        assert token is not None
        store = BridgeStore(b.state)
        bridge = Bridge(
            cdb=Cdb(
                b.cdb_url,
                b.cdb_token,
                ds_url=b.ds_url,
                ds_auth=b.ds_auth,
                timeout_s=b.timeout_ms / 1000,
            ),
            underbid=Underbid(url, token, timeout_s=b.timeout_ms / 1000),
            store=store,
            public_url=(public_url or settings.server.public_url or url).rstrip("/"),
            timings=Timings(b.rounds, b.first_pause_ms, b.pause_ms, b.turn_ms),
            types=frozenset(b.procurement_method_types),
            poll_s=b.poll_ms / 1000,
            since=since,
        )
        return cls(bridge)

    def start(self) -> None:
        self.task = asyncio.create_task(self.bridge.run(), name="underbid-bridge")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        await self.bridge.cdb.close()
        await self.bridge.underbid.close()
        self.bridge.store.close()


def print_status(store: BridgeStore, out: Any = None) -> None:
    out = out or sys.stdout
    out.write(f"feed offset: {store.offset() or '(none yet)'}\n")
    lots = store.all_lots()
    out.write(f"lots: {len(lots)}\n")
    for lot in lots:
        error = f"  ({lot.error})" if lot.error else ""
        out.write(f"  {lot.auction_id}  {lot.state}  start {lot.start_at}{error}\n")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """``underbid bridge``: until SIGINT or SIGTERM."""
    bridge_settings = _overridden(args, settings.bridge)
    settings = msgspec.structs.replace(settings, bridge=bridge_settings)
    if args.status:
        store = BridgeStore(bridge_settings.state)
        try:
            print_status(store)
        finally:
            store.close()
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    process = BridgeProcess.build(settings, public_url=args.public_url or "", since=args.since)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        process.start()
        assert process.task is not None
        print(
            f"Underbid bridge: following {bridge_settings.cdb_url} "
            f"(state {bridge_settings.state}, offset {process.bridge.store.offset() or 'none'})",
            flush=True,
        )
        waiter = asyncio.create_task(stopping.wait())
        await asyncio.wait({process.task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        failed = process.task.done() and not process.task.cancelled() and process.task.exception()
        await process.stop()
        if failed:
            raise failed

    asyncio.run(main())
    return 0


async def attach_to_server(gateway: Any, settings: Settings) -> None:
    """``underbid serve`` with ``bridge.enabled``: the bridge beside the server,
    talking to it over HTTP like any client, stopped with it."""
    from gateway.app import OPERATOR

    process = BridgeProcess.build(
        settings,
        underbid_url=settings.bridge.underbid_url or gateway.base_url(),
        token=lambda: gateway.token(OPERATOR, "official"),
        public_url=gateway.base_url(),
    )
    process.start()
    gateway.services.append(process)
