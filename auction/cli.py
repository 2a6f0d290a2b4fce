"""The ``underbid`` command line.

Subcommands: ``simulate`` (a whole auction on a virtual clock), ``demo`` (a
demo auction with bots, paced in real time), ``import-ocds`` (a ProZorro /
OCDS tender to a spec), ``export-ocds`` (an outcome as an OCDS release
package), ``bridge`` (follow a CDB's feed and auction its tenders,
:mod:`bridge`), ``validate`` (check a spec), ``serve`` (the server),
``swarm`` (a load test from one process, :mod:`client.swarm`), ``verify`` and
``keys`` (the signed record, :mod:`auction.transparency.cli`). Errors in input
files are reported with the field or line that is wrong, and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from auction import __version__
from auction.core.errors import SpecError, UnderbidError
from auction.core.money import format_amount
from auction.core.record import audit_record, result
from auction.core.spec import AuctionSpec, parse_spec, parse_time_ms
from auction.documents import DocumentError, load_document
from auction.sim.bots import STRATEGIES, Bot, make_bots
from auction.sim.demo import DEMO_FORMATS
from auction.sim.render import LadderPrinter, print_result
from auction.sim.runner import Simulation
from auction.sim.script import ScriptAction, ScriptError, parse_script
from auction.transparency.cli import add_commands as add_record_commands

EXIT_INPUT = 2
DEFAULT_DATA_DIR = "underbid-data"
"""Where ``underbid serve`` keeps its SQLite journal unless told otherwise."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_INPUT
    try:
        code: int = args.run(args)
    except SpecError as exc:
        _fail(f"invalid spec: {exc}")
        return EXIT_INPUT
    except ScriptError as exc:
        _fail(f"invalid script: {exc}")
        return EXIT_INPUT
    except UnderbidError as exc:
        _fail(str(exc))
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (``| head``) went away: stop quietly, as Unix tools do.
        sys.stderr.close()
        return 0
    return code


def _fail(message: str) -> None:
    print(f"underbid: error: {message}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="underbid", description="Underbid: a real-time reverse-auction engine."
    )
    parser.add_argument("--version", action="version", version=f"underbid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sim = sub.add_parser("simulate", help="run a whole auction on a virtual clock")
    sim.add_argument("spec", metavar="SPEC", help="auction spec (.toml or .json)")
    sim.add_argument(
        "--script", metavar="FILE", help="timed actions (.toml or .json), see docs/simulate.md"
    )
    sim.add_argument(
        "--bots",
        metavar="CHOICE",
        help="'all', 'none', or BIDDER=STRATEGY,... (strategies: "
        f"{', '.join(STRATEGIES)}); default: all without --script, none with it",
    )
    sim.add_argument(
        "--seed", type=int, default=1, metavar="N", help="seed for the bots (default 1)"
    )
    sim.add_argument("--json", action="store_true", help="print only the audit record as JSON")
    sim.add_argument("--verbose", action="store_true", help="also print every clock tick")
    sim.set_defaults(run=_simulate)

    demo = sub.add_parser(
        "demo", help="serve a live demo auction with bots bidding over WebSockets"
    )
    demo.add_argument(
        "--format",
        choices=DEMO_FORMATS,
        default="rounds",
        metavar="F",
        help=f"the demo auction's format: {', '.join(DEMO_FORMATS)} (default rounds)",
    )
    demo.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="time runs this many times faster (default 1)",
    )
    demo.add_argument(
        "--seed", type=int, default=None, metavar="N", help="seed for the bots (default: random)"
    )
    _server_arguments(demo)
    demo.add_argument(
        "--exit-when-done", action="store_true", help="stop once the auction has ended"
    )
    demo.set_defaults(run=_demo)

    imp = sub.add_parser("import-ocds", help="turn a ProZorro/OCDS tender into a spec")
    imp.add_argument(
        "tender", metavar="TENDER", help="tender JSON (with or without the {'data': ...} wrapper)"
    )
    imp.add_argument("--lot", metavar="ID", help="import only this lot of a multi-lot tender")
    imp.add_argument(
        "--start-at",
        metavar="TIME",
        help="start time: ISO-8601 with a zone, or ms since the epoch; overrides the "
        "tender's auctionPeriod.startDate",
    )
    imp.add_argument("--out", metavar="FILE", help="write the spec here instead of stdout")
    imp.set_defaults(run=_import_ocds)

    exp = sub.add_parser("export-ocds", help="an auction's outcome as an OCDS release package")
    _export_ocds_arguments(exp)
    exp.set_defaults(run=_export_ocds)

    bridge = sub.add_parser("bridge", help="follow a procurement system's CDB; auction its tenders")
    _bridge_arguments(bridge)
    bridge.set_defaults(run=_bridge)

    srv = sub.add_parser("serve", help="serve live auctions over WebSocket and HTTP")
    _server_arguments(srv, durable=True)
    srv.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="processes on the one port, each a node of the cluster (needs --redis; default 1)",
    )
    srv.set_defaults(run=_serve)

    swarm = sub.add_parser(
        "swarm", help="load-test a server or a cluster: one auction, or a procurement day"
    )
    _swarm_arguments(swarm)
    swarm.set_defaults(run=_swarm)

    val = sub.add_parser("validate", help="check a spec file and summarise it")
    val.add_argument("spec", metavar="SPEC", help="auction spec (.toml or .json)")
    val.set_defaults(run=_validate)

    add_record_commands(sub)  # verify, keys (docs/record.md)
    return parser


def _server_arguments(parser: argparse.ArgumentParser, *, durable: bool = False) -> None:
    """The options ``serve`` and ``demo`` share: where to listen, settings, journal.
    ``serve`` (``durable``) keeps its journal in SQLite unless told otherwise."""
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, metavar="N", help="port (default 8000; 0 picks a free one)"
    )
    parser.add_argument("--config", metavar="FILE", help="settings file (see config/default.toml)")
    if not durable:
        parser.add_argument(
            "--redis",
            metavar="URL",
            help="journal in Redis: redis://HOST:PORT/DB (default: in memory)",
        )
        return
    journal = parser.add_mutually_exclusive_group()
    journal.add_argument(
        "--redis",
        metavar="URL",
        help="journal in Redis: redis://HOST:PORT/DB, redis+sentinel://HOST:PORT,.../MASTER "
        "or redis+cluster://HOST:PORT,... (default: SQLite in --data)",
    )
    journal.add_argument(
        "--data",
        metavar="DIR",
        help=f"directory of the SQLite journal (default: ./{DEFAULT_DATA_DIR})",
    )
    journal.add_argument(
        "--memory", action="store_true", help="journal in memory: a restart loses every auction"
    )
    parser.add_argument(
        "--min-replicas",
        type=int,
        metavar="N",
        help="Redis replicas that must confirm each bid before it is acknowledged (default 0)",
    )


def _workers(text: str) -> int:
    try:
        workers = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of workers: {text!r}") from None
    if not 1 <= workers <= 64:
        raise argparse.ArgumentTypeError(f"{workers} workers: 1 to 64")
    return workers


def _port(text: str) -> int:
    """``--port``: 0 (a free port) to 65535; anything else is refused, not wrapped."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: 0 (a free one) to 65535")
    return port


# -------------------------------------------------------------- simulate
def _bots_for(spec: AuctionSpec, choice: str | None, scripted: bool, seed: int) -> list[Bot]:
    if choice is None:
        choice = "none" if scripted else "all"
    if choice == "none":
        return []
    if choice == "all":
        return make_bots(spec, seed=seed)
    assignment: dict[str, str] = {}
    for part in choice.split(","):
        bidder, sep, strategy = part.partition("=")
        if not sep or not bidder.strip() or not strategy.strip():
            raise UnderbidError(f"--bots: expected BIDDER=STRATEGY, got {part!r}")
        assignment[bidder.strip()] = strategy.strip()
    try:
        return make_bots(spec, assignment, seed=seed)
    except ValueError as exc:
        raise UnderbidError(f"--bots: {exc}") from None


def _load_script(path: str | None, spec: AuctionSpec) -> list[ScriptAction]:
    if path is None:
        return []
    return parse_script(load_document(path), spec.start_at)


def _simulate(args: argparse.Namespace) -> int:
    spec = parse_spec(load_document(args.spec))
    actions = _load_script(args.script, spec)
    bots = _bots_for(spec, args.bots, bool(args.script), args.seed)
    sim = Simulation(spec, actions=actions, bots=bots)
    if not args.json:
        _header(spec, sys.stdout, bots)
        sim.on_events = LadderPrinter(sim.auction, sys.stdout, verbose=args.verbose)
    auction = sim.run()
    if args.json:
        json.dump(audit_record(auction, sim.journal), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_result(result(auction), sys.stdout)
        if sim.stopped:
            print(f"note: the simulation stopped early: {sim.stopped}")
    return 0


def _header(spec: AuctionSpec, out: TextIO, bots: Sequence[Bot]) -> None:
    formats = ", ".join(sorted({lot.format for lot in spec.lots}))
    out.write(f"Auction {spec.id}: {spec.title or '(untitled)'} [{formats}]\n")
    for lot in spec.lots:
        start = format_amount(lot.start_value, spec.currency, spec.currency_exponent)
        out.write(f"  lot {lot.id}: start value {start}, {len(lot.bidders)} bidders\n")
    if bots:
        out.write("  bots: " + ", ".join(f"{b.bidder} ({b.strategy})" for b in bots) + "\n")
    out.write(
        "Times are shown from the start of the auction; bidders stay anonymous until the end.\n"
    )


# ------------------------------------------------------------------ demo
def _demo(args: argparse.Namespace) -> int:
    if args.speed <= 0:
        raise UnderbidError("--speed must be greater than zero")
    import secrets

    import msgspec

    from auction.runtime.loop import run
    from gateway.demo import live_demo

    settings = _server_settings(args)
    if not settings.security.token_secret:  # a demo's tokens need not outlive it
        security = msgspec.structs.replace(settings.security, token_secret=secrets.token_hex(32))
        settings = msgspec.structs.replace(settings, security=security)
    run(
        live_demo(
            settings,
            fmt=args.format,
            pace=args.speed,
            seed=args.seed,
            exit_when_done=args.exit_when_done,
        )
    )
    return 0


# ----------------------------------------------------------- import-ocds
def _import_ocds(args: argparse.Namespace) -> int:
    from auction.importers.ocds import tender_to_spec

    tender = load_document(args.tender)
    start_at = _start_at(args.start_at) if args.start_at else None
    spec = tender_to_spec(tender, lot_id=args.lot, start_at=start_at)
    parse_spec(spec)
    _write(args.out, json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
    return 0


def _start_at(text: str) -> int:
    """``--start-at``: an ISO-8601 time with a zone, or ms since the epoch (digits)."""
    value: str | int = int(text) if text.isascii() and text.isdigit() else text
    try:
        return parse_time_ms(value, "--start-at")
    except SpecError as exc:  # an option, not the spec: say so without "invalid spec"
        raise UnderbidError(str(exc)) from None


# ----------------------------------------------------------- export-ocds
def _export_ocds_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "record",
        metavar="RECORD",
        help="audit record: a JSON file (simulate --json, GET .../record), - for stdin, "
        "or the record's URL on a server (http(s)://HOST/api/auctions/ID/record)",
    )
    parser.add_argument(
        "--token",
        metavar="TOKEN",
        default="",
        help="official token for a URL (default: $UNDERBID_OPERATOR_TOKEN)",
    )
    parser.add_argument(
        "--auction-url", metavar="URL", help="the auction's public page (electronicAuction.url)"
    )
    parser.add_argument(
        "--uri", metavar="URI", help="the package's URI (default: the server's /ocds URL, or urn:)"
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="settings file: its [ocds] section (ocid prefix, publisher)",
    )
    parser.add_argument("--out", metavar="FILE", help="write the package here instead of stdout")


def _export_ocds(args: argparse.Namespace) -> int:
    import os

    from auction.core.record import iso
    from auction.exporters import encode, release_package

    ocds = _settings_only(args.config).ocds
    uri, auction_url = args.uri, args.auction_url
    if args.record.startswith(("http://", "https://")):
        from client.records import fetch_record

        token = args.token or os.environ.get("UNDERBID_OPERATOR_TOKEN", "")
        record = fetch_record(args.record, token)
        base = args.record.rsplit("/", 1)[0]
        uri = uri or base + "/ocds"
        server = base.rsplit("/api/auctions/", 1)[0]
        auction_url = auction_url or f"{server}/watch/{record.get('auction')}"
    else:
        record = json.load(sys.stdin) if args.record == "-" else load_document(args.record)
    ended = [lot.get("ended_at") or "" for lot in record.get("result", {}).get("lots", [])]
    package = release_package(
        record,
        uri=uri or f"urn:underbid:auction:{record.get('auction')}",
        published_at=max(ended, default="") or iso(0),
        auction_url=auction_url or "",
        ocid_prefix=ocds.ocid_prefix,
        publisher_name=ocds.publisher_name,
        publisher_uri=ocds.publisher_uri,
        license=ocds.license,
    )
    import msgspec

    _write(args.out, msgspec.json.format(encode(package), indent=2).decode() + "\n")
    return 0


# ---------------------------------------------------------------- bridge
def _bridge_arguments(parser: argparse.ArgumentParser) -> None:
    from bridge.command import add_arguments

    add_arguments(parser)


def _bridge(args: argparse.Namespace) -> int:
    from bridge.command import run as run_bridge

    return run_bridge(args, _settings_only(args.config))


def _write(out: str | None, text: str) -> None:
    if not out:
        sys.stdout.write(text)
        return
    try:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise DocumentError(f"{out}: cannot write: {exc}") from None
    print(f"wrote {out}", file=sys.stderr)


def _settings_only(path: str | None) -> Any:
    """Settings from a file (or none) and the environment; a bad one names its key."""
    import os

    from gateway.settings import SettingsError, load_settings

    try:
        return load_settings(path, os.environ)
    except SettingsError as exc:
        raise UnderbidError(f"invalid setting {exc.key}: {exc.message}") from None


def _server_settings(args: argparse.Namespace) -> Any:
    """Settings from --config and the environment, with the command line on top
    (each journal option checked like the key it sets, and named in the error)."""
    import logging
    import os

    import msgspec

    from gateway.settings import SettingsError, load_settings, with_value

    try:
        settings = load_settings(args.config, os.environ)
    except SettingsError as exc:
        raise UnderbidError(f"invalid setting {exc.key}: {exc.message}") from None
    server = settings.server
    if args.host or args.port is not None:  # port 0 (a free one) is for the command line only
        port = args.port if args.port is not None else server.port
        server = msgspec.structs.replace(server, host=args.host or server.host, port=port)
        settings = msgspec.structs.replace(settings, server=server)
    overrides: list[tuple[str, object, str]] = []
    if args.redis:
        overrides.append(("journal.redis_url", args.redis, "--redis"))
    if getattr(args, "data", None):
        overrides.append(("journal.redis_url", "", "--data"))
        overrides.append(("journal.data_dir", args.data, "--data"))
    if getattr(args, "memory", False):
        overrides += [("journal.redis_url", "memory://", "--memory")]
    if getattr(args, "min_replicas", None) is not None:
        overrides.append(("journal.min_replicas", args.min_replicas, "--min-replicas"))
    try:
        for dotted, value, option in overrides:
            settings = with_value(settings, dotted, value, option)
    except SettingsError as exc:
        raise UnderbidError(f"invalid {exc.key}: {exc.message}") from None
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    return settings


def _serve_settings(args: argparse.Namespace) -> Any:
    """The server's settings; with no journal named, SQLite in ./underbid-data."""
    from gateway.settings import with_value

    settings = _server_settings(args)
    journal = settings.journal
    if not journal.redis_url and not journal.data_dir:  # durable by default
        settings = with_value(settings, "journal.data_dir", DEFAULT_DATA_DIR, "--data")
    return settings


def _serve(args: argparse.Namespace) -> int:
    import logging

    from auction.runtime.loop import run
    from gateway.server import serve

    settings = _serve_settings(args)
    if args.workers > 1:
        return _supervise(args, settings)
    logging.getLogger("underbid").setLevel(logging.INFO)
    on_ready = None
    if settings.bridge.enabled:  # the bridge to a CDB, beside the server (docs/integration.md)
        from bridge.command import attach_to_server

        on_ready = lambda gateway: attach_to_server(gateway, settings)  # noqa: E731
    run(serve(settings, on_ready=on_ready))
    return 0


def _supervise(args: argparse.Namespace, settings: Any) -> int:
    from gateway.workers import Supervisor

    if not settings.journal.redis_url or settings.journal.redis_url.startswith("memory"):
        raise UnderbidError(
            f"--workers {args.workers} needs a Redis journal (--redis URL): the workers are "
            "nodes of one cluster, and they meet through Redis"
        )
    argv = [sys.executable, "-m", "auction.cli", "serve"]
    passed = (
        ("--host", args.host),
        ("--config", args.config),
        ("--redis", args.redis),
        ("--min-replicas", args.min_replicas),
    )
    for flag, value in passed:
        if value is not None and value != "":
            argv += [flag, str(value)]
    supervisor = Supervisor(argv, args.workers, settings.server.host, settings.server.port)
    return supervisor.run(shared=_shared_secrets(settings))


def _shared_secrets(settings: Any) -> dict[str, str]:
    """What every worker must share when nothing is configured: one token
    secret (a token issued by one worker works on the others) and one signing
    key (every worker signs the same checkpoints). Both die with the supervisor."""
    import os
    import secrets
    import tempfile

    from auction.transparency.keys import Window, write_key_pair

    env: dict[str, str] = {}
    if not settings.security.token_secret:
        env["UNDERBID_SECURITY_TOKEN_SECRET"] = secrets.token_urlsafe(32)
        print(
            "underbid: security.token_secret is empty: the workers share a random secret "
            "for this run (tokens will not survive a restart of the supervisor)",
            file=sys.stderr,
        )
    if not settings.record.keys:
        path = os.path.join(tempfile.mkdtemp(prefix="underbid-key-"), "ephemeral.json")
        write_key_pair(path, settings.record.origin, Window())
        env["UNDERBID_RECORD_KEYS"] = path
    return env


def _swarm_arguments(parser: argparse.ArgumentParser) -> None:
    """``underbid swarm``'s options (client.swarm is imported only when it runs)."""
    add = parser.add_argument
    add(
        "--url",
        default="http://127.0.0.1:8000",
        help="the server; a cluster's nodes (or independent servers) comma-separated",
    )
    add(
        "--placement",
        choices=("spread", "pinned"),
        default="spread",
        metavar="HOW",
        help="spread (any node serves any auction) or pinned (each auction on its own node)",
    )
    add("--token", default="", help="operator token (default: $UNDERBID_OPERATOR_TOKEN)")
    add("--auction", default="", metavar="ID", help="join this auction (default: create one)")
    add("--watchers", type=int, default=100, metavar="N", help="watcher connections")
    add("--bidders", type=int, default=4, metavar="N", help="bidder connections")
    add("--rate", type=float, default=20.0, metavar="N", help="bids/s in all (open loop)")
    add("--duration", type=float, default=10.0, metavar="S", help="seconds of bidding")
    add("--connect-concurrency", type=int, default=200, metavar="N", help="handshakes in flight")
    add("--drain", type=float, default=2.0, metavar="S", help="seconds to wait at the end")
    add(
        "--first-amount",
        type=int,
        default=0,
        metavar="AMOUNT",
        help="first bid, minor units (default: the largest allowed)",
    )
    add(
        "--profile",
        default="",
        metavar="NAME",
        help="play a planned day of many auctions of every format (prozorro-day, formats, "
        "or a profile file)",
    )
    add(
        "--compression",
        type=float,
        default=0.0,
        metavar="X",
        help="time runs X times faster than the profile's day (default: the profile's)",
    )
    add("--scale", type=float, default=1.0, metavar="X", help="multiply the profile's auctions")
    add(
        "--seed",
        type=int,
        default=-1,
        metavar="N",
        help="seed of the plan (default: the profile's)",
    )
    add("--plan-only", action="store_true", help="print the profile's plan and exit")
    add(
        "--slo",
        default="",
        metavar="THRESHOLDS",
        help='pass/fail thresholds, e.g. "ack_p99<=5ms,deliver_p99<=50ms,errors=0"',
    )
    add("--chaos", default="", metavar="SPEC", help="kill nodes during the run: kill, at=20s,...")
    add("--report", default="", metavar="DIR", help="write the report (HTML, plots, JSON) here")
    add(
        "--reconnect-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds a dropped connection tries the nodes",
    )
    add("--timeout", type=float, default=10.0, metavar="S", help="seconds to wait for an answer")
    add("--json", metavar="PATH", help="write the figures as JSON (- = stdout)")
    add("--quiet", action="store_true", help="no progress lines")


def _swarm(args: argparse.Namespace) -> int:
    from client.swarm import run as run_swarm  # lazily: the other commands do not need it

    return run_swarm(args)


def _validate(args: argparse.Namespace) -> int:
    spec = parse_spec(load_document(args.spec))
    _header(spec, sys.stdout, [])
    print("valid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
