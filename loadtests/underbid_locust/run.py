"""One load test's state in a Locust process, how it starts, and how it ends.

- **Start** (``test_start``, on the master or the only process): read the
  nodes and the SLO; with ``--ub-profile``, build the plan
  (:func:`client.load.plan.build_plan`) with its second 0 a little ahead,
  create every auction through its node and hand the profile's text, the
  run id and second 0 to the workers (in Locust's options, which the master
  sends with each spawn message); without a profile, create (or join) the
  one open auction. Each worker rebuilds the same plan and books its share
  of the seats (:class:`client.load.book.SeatBook`).
- **Chaos** (``--ub-chaos``, on the master): a greenlet kills nodes at the
  planned seconds and files each kill as a ``chaos`` / ``kill <node>`` entry.
- **Figures**: each worker sends what it collected with its stats reports;
  the master merges them.
- **End** (``quitting``, on the master or the only process): the summary,
  the SLO verdict (which sets the exit status), our section in Locust's HTML
  report (``--html``) and, with ``--ub-report DIR``, the report as files.
"""

from __future__ import annotations

import json
import logging
import random
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gevent
from gevent.pool import Pool
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from auction.core.errors import UnderbidError
from client.load.book import SeatBook
from client.load.chaos import ChaosSpec, owner_counts, parse_chaos, restart_node, strike
from client.load.nodes import Nodes, parse_nodes
from client.load.plan import LoadPlan, build_plan
from client.load.profile import load_profile, parse_profile
from client.load.report import RunFigures, html_section, inject, plots, standalone, summary_lines
from client.load.slo import Threshold, evaluate, parse_slo
from client.load.streams import Reference
from underbid_locust.options import opt, set_opt
from underbid_locust.record import Recorder

log = logging.getLogger("underbid.locust")

START_VALUE = 10**12
"""Start value (minor units) of the open auction a classic test creates."""
DECREMENT = 100
SETUP_S = 2.0
"""Second 0 of a plan is this long after it was built, plus a little per auction."""
SETUP_PER_AUCTION_S = 0.02
CREATE_CONCURRENCY = 8


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


def auction_spec(
    auction_id: str, bidders: int, duration_s: int, against: str, now_ms: int
) -> dict[str, Any]:
    """The open auction a classic test creates: live now, ``bidders`` bidders b0..b{n-1}."""
    return {
        "id": auction_id,
        "title": "Locust load test",
        "start_at": now_ms - 1_000,
        "format": "open",
        "start_value": START_VALUE,
        "open": {"duration_s": duration_s, "decrement": DECREMENT, "against": against},
        "bidders": [{"id": f"b{i}", "name": f"Load bidder {i}"} for i in range(bidders)],
    }


@dataclass
class RunState:
    environment: Environment
    figures: RunFigures = field(default_factory=RunFigures)
    nodes: Nodes | None = None
    plan: LoadPlan | None = None
    book: SeatBook | None = None
    thresholds: tuple[Threshold, ...] = ()
    classic_bidders: list[str] = field(default_factory=list)
    formats: dict[tuple[str, str], str] = field(default_factory=dict)
    """(auction, lot) -> format, for the watchers' delivery series."""
    coverage: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per process: seats and windows of its share, and how many were served."""
    chaos: gevent.Greenlet[Any, Any] | None = None
    prepared: bool = False
    aborted: bool = False
    references: dict[str, Reference] = field(default_factory=dict)
    """Per auction: its official stream, that tells a gap from an event others never see."""
    referees: list[Any] = field(default_factory=list)
    """The official connections behind :attr:`references` (closed when the test stops)."""

    def __post_init__(self) -> None:
        self.recorder = Recorder(self.environment, self.figures)

    @property
    def t0_ms(self) -> int:
        return self.figures.t0_ms

    def now_s(self) -> float:
        return (time.time() * 1000 - self.t0_ms) / 1000

    def route(self, auction_index: int, connection: int) -> tuple[str, ...]:
        assert self.nodes is not None
        return self.nodes.route(auction_index, connection)

    def reference(self, auction: str, route: tuple[str, ...]) -> Reference:
        """The auction's reference stream, opened on first use (one per process and auction)."""
        ref = self.references.get(auction)
        if ref is not None:
            return ref
        from underbid_locust.link import Link  # the link records through this state

        ref = self.references[auction] = Reference()
        ref.start(0)
        figures = self.figures

        def seen(seq: int, event: dict[str, Any], replayed: bool) -> None:
            ref.note(seq, str(event.get("type", "")))
            fmt = self.formats.get((auction, str(event.get("lot"))))
            at = event.get("at")
            if fmt and isinstance(at, int) and not replayed:
                figures.late(auction, fmt, at, link.server_now())

        link = Link(
            self.recorder,
            "official",
            route,
            auction,
            opt(self.environment, "ub_token"),
            tracker=ref.tracker,
            resume_from=0,
            on_event=seen,
            on_resync=ref.resync,
            reconnect_s=opt(self.environment, "ub_reconnect_timeout"),
        )
        if link.open():
            link.ping()
            self.referees.append(link)
        return ref


_STATE: dict[int, RunState] = {}


def state(environment: Environment) -> RunState:
    current = _STATE.get(id(environment))
    if current is None:
        current = _STATE[id(environment)] = RunState(environment)
    return current


def _fresh(environment: Environment) -> RunState:
    _STATE[id(environment)] = RunState(environment)
    return _STATE[id(environment)]


def is_master(environment: Environment) -> bool:
    return not isinstance(environment.runner, WorkerRunner)


def abort(environment: Environment, why: str) -> None:
    log.error("underbid: %s", why)
    state(environment).aborted = True
    environment.process_exit_code = 2
    if environment.runner is not None:
        gevent.spawn_later(0.1, environment.runner.quit)


def _nodes(environment: Environment) -> Nodes:
    text = opt(environment, "ub_nodes") or environment.host or ""
    return Nodes(parse_nodes(text), opt(environment, "ub_placement"))


def _plan_from_options(environment: Environment, text: str, t0_ms: int, run_id: str) -> LoadPlan:
    profile = parse_profile(text, opt(environment, "ub_profile") or "profile")
    compression = opt(environment, "ub_compression") or None
    seed = opt(environment, "ub_seed")
    return build_plan(
        profile,
        t0_ms=t0_ms,
        run_id=run_id,
        compression=compression,
        scale=opt(environment, "ub_scale"),
        seed=None if seed < 0 else seed,
    )


def prepare(environment: Environment) -> RunState | None:
    """Make this run's plan (the master, or the only process), once per run."""
    st = state(environment)
    if st.prepared:
        return st
    st = _fresh(environment)
    try:
        st.nodes = _nodes(environment)
        slo = opt(environment, "ub_slo")
        st.thresholds = parse_slo(slo) if slo else ()
        name = opt(environment, "ub_profile")
        if name and opt(environment, "ub_auction"):
            raise UnderbidError(
                "--ub-auction joins one auction, --ub-profile plans its own: give one of them"
            )
        if name:
            profile = load_profile(name)
            plan_at = time.time()
            run_id = f"day-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
            probe = _plan_from_options(environment, profile.text, int(plan_at * 1000), run_id)
            margin = SETUP_S + SETUP_PER_AUCTION_S * len(probe.auctions)
            t0 = int((plan_at + margin) * 1000)
            st.plan = _plan_from_options(environment, profile.text, t0, run_id)
            set_opt(environment, "ub_profile_text", profile.text)
            set_opt(environment, "ub_run", run_id)
        else:
            t0 = int(time.time() * 1000)
        set_opt(environment, "ub_t0", str(t0))
        st.figures.t0_ms = t0
        st.figures.chaos = bool(opt(environment, "ub_chaos"))
    except UnderbidError as exc:
        abort(environment, str(exc))
        return None
    st.prepared = True
    if st.plan is not None:
        for line in st.plan.summary():
            log.info("%s", line)
    return st


@events.test_start.add_listener
def _start(environment: Environment, **_: Any) -> None:
    if is_master(environment):
        st = prepare(environment)
        if st is None:
            return
        if st.plan is not None:
            _create_plan(environment, st)
        else:
            _create_classic(environment, st)
        if opt(environment, "ub_chaos"):
            _start_chaos(environment, st)
    else:
        _join_as_worker(environment)
    st = state(environment)
    if st.plan is not None and not isinstance(environment.runner, MasterRunner):
        runner = environment.runner
        share = getattr(runner, "worker_index", 0) if runner is not None else 0
        shares = max(1, int(getattr(environment.parsed_options, "expect_workers", 1) or 1))
        st.book = SeatBook(
            st.plan,
            share if isinstance(runner, WorkerRunner) else 0,
            shares if isinstance(runner, WorkerRunner) else 1,
        )
        for auction in st.plan.auctions:
            for lot in auction.lots:
                st.formats[(auction.id, lot.id)] = lot.format


def _join_as_worker(environment: Environment) -> None:
    st = _fresh(environment)
    try:
        st.nodes = _nodes(environment)
        t0 = int(opt(environment, "ub_t0") or time.time() * 1000)
        st.figures.t0_ms = t0
        st.figures.chaos = bool(opt(environment, "ub_chaos"))
        text = opt(environment, "ub_profile_text")
        if text:
            st.plan = _plan_from_options(environment, text, t0, opt(environment, "ub_run"))
    except UnderbidError as exc:
        abort(environment, str(exc))
        return
    st.prepared = True


def _create_plan(environment: Environment, st: RunState) -> None:
    plan = st.plan
    assert plan is not None and st.nodes is not None
    token = opt(environment, "ub_token")
    if not token:
        abort(environment, "no operator token: pass --ub-token or set UNDERBID_OPERATOR_TOKEN")
        return
    failures: list[str] = []

    def create(auction: Any) -> None:
        started = time.perf_counter()
        node = st.nodes.home(auction.index) if st.nodes else ""
        try:
            post_json(node, "/api/auctions", auction.spec, token)
        except HttpError as exc:
            failures.append(f"{auction.id} at {node}: {exc}")
            st.recorder.fire("http", "POST /api/auctions", started, failure=exc)
            return
        st.recorder.fire("http", "POST /api/auctions", started)

    pool = Pool(CREATE_CONCURRENCY)
    pool.map(create, plan.auctions)
    if failures:
        abort(environment, f"could not create {len(failures)} auctions, first: {failures[0]}")
        return
    late = time.time() * 1000 - plan.t0_ms
    if late > 0:
        log.warning(
            "underbid: the auctions were created %.1f s after second 0 of the plan", late / 1000
        )
    log.info(
        "underbid: created %d auctions through %d node(s)", len(plan.auctions), len(st.nodes.urls)
    )


def _create_classic(environment: Environment, st: RunState) -> None:
    assert st.nodes is not None
    if opt(environment, "ub_auction"):
        return
    token = opt(environment, "ub_token")
    if not token:
        abort(environment, "no operator token: pass --ub-token or set UNDERBID_OPERATOR_TOKEN")
        return
    auction_id = f"locust-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    spec = auction_spec(
        auction_id,
        opt(environment, "ub_bidders"),
        opt(environment, "ub_duration"),
        opt(environment, "ub_against"),
        int(time.time() * 1000),
    )
    try:
        post_json(st.nodes.home(0), "/api/auctions", spec, token)
    except HttpError as exc:
        abort(environment, f"could not create the auction at {st.nodes.home(0)}: {exc}")
        return
    set_opt(environment, "ub_auction", auction_id)
    log.info("created auction %s with %d bidders", auction_id, len(spec["bidders"]))


def classic_bidders(environment: Environment) -> list[str]:
    """The classic auction's bidder ids, from an official's view (``b0``... if unreadable)."""
    st = state(environment)
    if not st.classic_bidders:
        auction = opt(environment, "ub_auction")
        ids: list[str] = []
        try:
            assert st.nodes is not None
            view = get_json(
                st.nodes.home(0),
                f"/api/auctions/{quote(auction, safe='')}",
                opt(environment, "ub_token"),
            )
            for lot in view.get("lots", []):
                for entry in lot.get("ladder", []):
                    bidder = entry.get("bidder")
                    if isinstance(bidder, str) and bidder not in ids:
                        ids.append(bidder)
        except HttpError as exc:
            log.warning("could not read the bidders of %s: %s", auction, exc)
        st.classic_bidders = ids or [f"b{i}" for i in range(max(1, opt(environment, "ub_bidders")))]
    return st.classic_bidders


# ------------------------------------------------------------------ chaos
def _start_chaos(environment: Environment, st: RunState) -> None:
    assert st.nodes is not None
    try:
        spec = parse_chaos(opt(environment, "ub_chaos"), len(st.nodes.urls))
    except UnderbidError as exc:
        abort(environment, str(exc))
        return
    if st.plan is not None:
        run_s = st.plan.duration_s
    else:
        run_s = float(getattr(environment.parsed_options, "run_time", 0) or 0)
        if not run_s and (spec.at.share or spec.every):
            abort(environment, "--ub-chaos without a profile needs -t (or at=...s without every)")
            return
    seed = opt(environment, "ub_seed")
    rng = random.Random(f"chaos:{seed}")
    st.chaos = gevent.spawn(_chaos, st, spec, run_s, rng)


def _chaos(st: RunState, spec: ChaosSpec, run_s: float, rng: random.Random) -> None:
    assert st.nodes is not None
    for at in spec.times(run_s):
        gevent.sleep(max(0.0, at - st.now_s()))
        owners = None
        if spec.owner:
            ids = (
                {a.id for a in st.plan.auctions} if st.plan else {opt(st.environment, "ub_auction")}
            )
            owners = owner_counts(st.nodes.urls, opt(st.environment, "ub_token"), ids)
        started = time.perf_counter()
        kill = strike(spec, st.nodes.urls, rng, st.t0_ms, owners)
        victim = kill.node
        st.figures.ledger.kills.append(kill)
        failure = None if kill.ok else RuntimeError(kill.how)
        st.recorder.fire("chaos", f"kill {victim}", started, failure=failure)
        what = "killed" if kill.ok else "could not kill"
        log.warning("underbid chaos: %s %s at %.1f s: %s", what, victim, kill.test_s, kill.how)
        if kill.ok and spec.restart:
            gevent.spawn_later(spec.restart_after, restart_node, spec, victim)


@events.test_stop.add_listener
def _stop(environment: Environment, **_: Any) -> None:
    st = state(environment)
    if st.chaos is not None:
        st.chaos.kill(block=False)
    for link in st.referees:
        link.close()
    st.referees.clear()
    st.prepared = False  # a new start (web UI) plans a new run


# ---------------------------------------------------------------- figures
@events.report_to_master.add_listener
def _report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    for st in list(_STATE.values()):
        if isinstance(st.environment.runner, WorkerRunner):
            wire = st.figures.to_wire()
            if st.book is not None:
                c = st.book.coverage()
                wire["coverage"] = {
                    "seats": c.seats,
                    "seats_served": c.seats_served,
                    "windows": c.windows,
                    "windows_served": c.windows_served,
                }
            data["underbid"] = wire


@events.worker_report.add_listener
def _worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    wire = data.get("underbid")
    if not wire:
        return
    for st in list(_STATE.values()):
        if isinstance(st.environment.runner, MasterRunner):
            st.figures.merge_wire(wire)
            if "coverage" in wire:
                st.coverage[client_id] = dict(wire["coverage"])


def _coverage_lines(st: RunState) -> list[str]:
    if st.plan is None:
        return []
    if st.book is not None:
        c = st.book.coverage()
        parts = [
            {
                "seats": c.seats,
                "seats_served": c.seats_served,
                "windows": c.windows,
                "windows_served": c.windows_served,
            }
        ]
    else:
        parts = list(st.coverage.values())
    if not parts:
        return []
    total = {
        k: sum(p.get(k, 0) for p in parts)
        for k in ("seats", "seats_served", "windows", "windows_served")
    }
    return [
        f"plan {st.plan.run_id}: {len(st.plan.auctions)} auctions; bidder seats served "
        f"{total['seats_served']}/{total['seats']}, watcher windows served "
        f"{total['windows_served']}/{total['windows']}"
    ]


@events.quitting.add_listener
def _quitting(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    st = state(environment)
    if not st.figures.t0_ms or st.aborted:
        return
    verdict = evaluate(st.thresholds, st.figures.metrics()) if st.thresholds else None
    title = "Underbid load test" + (f": {st.plan.run_id}" if st.plan else "")
    lines = [*summary_lines(st.figures, verdict, title), *_coverage_lines(st)]
    print("\n".join(lines), flush=True)
    images = plots(st.figures)
    section = html_section(st.figures, verdict, title, images)
    html_file = getattr(environment.parsed_options, "html_file", None)
    if html_file and Path(html_file).exists():
        page = Path(html_file)
        page.write_text(inject(page.read_text(encoding="utf-8"), section), encoding="utf-8")
    folder = opt(environment, "ub_report")
    if folder:
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.html").write_text(standalone(section, title), encoding="utf-8")
        (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        figures = {k: v for k, v in st.figures.metrics().items() if v == v}  # no NaN
        (out / "figures.json").write_text(
            json.dumps({"metrics": figures, "counts": dict(st.figures.counts)}, indent=2) + "\n",
            encoding="utf-8",
        )
        for fmt, png in images.items():
            (out / f"latency-{fmt}.png").write_bytes(png)
    if verdict is not None:
        environment.process_exit_code = verdict.exit_code


__all__ = [
    "HttpError",
    "RunState",
    "auction_spec",
    "classic_bidders",
    "get_json",
    "post_json",
    "prepare",
    "state",
]
