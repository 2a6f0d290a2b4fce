"""client/load: streams (gaps against a reference), SLO verdicts, figures over time,
the chaos spec and its ledger, node routes and the report."""

from __future__ import annotations

import math

import pytest

from client.load.chaos import ChaosError, Kill, Ledger, listening_pids, parse_chaos
from client.load.figures import Histogram, Timeline
from client.load.nodes import Nodes, NodesError, parse_nodes
from client.load.report import RunFigures, html_section, inject, summary_lines
from client.load.slo import SloError, evaluate, parse_slo
from client.load.streams import Reference, SeqTracker


# ------------------------------------------------------------------ streams
def _reference(hidden: set[int], upto: int) -> Reference:
    ref = Reference()
    ref.start(0)
    for seq in range(1, upto + 1):
        assert ref.tracker.see(seq) == "next"
        ref.note(seq, "command_rejected" if seq in hidden else "bid_placed")
    return ref


def test_numbers_the_role_never_sees_are_not_gaps() -> None:
    ref = _reference({3, 4}, 10)
    t = SeqTracker(ref)
    t.start(1)
    assert [t.see(s) for s in (2, 5, 6)] == ["next", "next", "next"]
    assert t.see(8) == "gap" and (t.gaps, t.missing) == (1, 1)  # 7 was a bid: lost
    assert t.see(8) == "duplicate" and t.duplicates == 1


def test_a_gap_waits_for_the_reference_and_is_judged_when_it_knows() -> None:
    ref = Reference()
    ref.start(0)
    t = SeqTracker(ref)
    t.start(0)
    assert t.see(1) == "next"
    assert t.see(4) == "next" and t.pending == [(2, 3)]  # not known yet
    for seq, kind in ((1, "lot_started"), (2, "command_rejected"), (3, "bid_placed")):
        ref.tracker.see(seq)
        ref.note(seq, kind)
    assert t.settle() == 1  # now known: 2 was hidden, but 3 should have been seen
    assert (t.gaps, t.missing) == (1, 1) and not t.pending
    t2 = SeqTracker(ref)
    t2.start(3)
    assert t2.see(9) == "next" and t2.settle(final=True) == 0 and t2.unverified == 1


def test_without_a_reference_every_skip_is_a_gap_and_a_resync_is_not() -> None:
    t = SeqTracker()
    t.start(5)
    assert t.see(7) == "gap" and t.missing == 1
    t.resync(20)
    assert t.see(21) == "next" and t.resyncs == 1 and t.gaps == 1


# ---------------------------------------------------------------------- slo
def test_thresholds_are_read_with_their_units() -> None:
    got = parse_slo("ack_p99<=5ms, deliver_p99<0.05s,errors=0,error_rate<0.1%,rounds.ack_max<=1s")
    assert [(t.metric, t.op, t.value, t.unit) for t in got] == [
        ("ack_p99", "<=", 5.0, "ms"),
        ("deliver_p99", "<", 50.0, "ms"),
        ("errors", "=", 0.0, ""),
        ("error_rate", "<", 0.1, "%"),
        ("rounds.ack_max", "<=", 1000.0, "ms"),
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no threshold"),
        ("ack_p99", "cannot read threshold"),
        ("ack_p98<=5ms", "unknown metric"),
        ("speed<=5ms", "unknown metric"),
        ("vickrey.ack_p99<=5ms", "unknown format"),
        ("errors=1.5", "a whole number"),
        ("errors=1ms", "a count: no unit"),
        ("ack_p99<=5%", "a latency"),
        ("open.errors=0", "for the whole run"),
        (",".join(["errors=0"] * 51), "at most 50"),
    ],
)
def test_a_bad_threshold_is_named(text: str, says: str) -> None:
    with pytest.raises(SloError, match=says):
        parse_slo(text)


def test_the_verdict_passes_only_when_every_threshold_holds() -> None:
    thresholds = parse_slo("ack_p99<=5ms,errors=0,takeover_max<=2s")
    verdict = evaluate(thresholds, {"ack_p99": 4.0, "errors": 0.0, "takeover_max": 1500.0})
    assert verdict.passed and verdict.exit_code == 0
    verdict = evaluate(thresholds, {"ack_p99": 6.0, "errors": 0.0})
    assert not verdict.passed and verdict.exit_code == 1
    lines = verdict.lines()
    assert lines[0] == "SLO verdict: FAIL"
    assert "FAIL ack_p99<=5ms: ack_p99 = 6.00 ms" in lines[1]
    assert "no data" in lines[3]  # no kill, no takeover: a threshold not checked is not met
    assert not evaluate(parse_slo("ack_p99<=5ms"), {"ack_p99": math.nan}).passed


# ------------------------------------------------------------------ figures
def test_timelines_travel_and_merge() -> None:
    a, b = Timeline(), Timeline()
    for i in range(100):
        a.add("rounds.ack", i / 10, float(i))
        b.add("rounds.ack", i / 10, float(i))
    b.add("open.ack", 0.5, 3.0)
    back = Timeline.from_wire(b.to_wire())
    a.merge(back)
    assert a.overall("rounds.ack").count == 200
    assert a.overall("open.ack").count == 1
    points = a.points("rounds.ack", width_s=5)
    assert [p[0] for p in points] == [0.0, 5.0] and sum(p[1] for p in points) == 200
    h = Histogram.from_wire(a.overall("rounds.ack").to_wire())
    assert h.count == 200 and h.percentile(50) == pytest.approx(49.5, rel=0.02)
    taken = a.take()
    assert taken.overall("rounds.ack").count == 200 and not a.series()
    with pytest.raises(ValueError):
        Histogram.from_wire({"c": {"1": -1}})


def test_run_figures_make_the_metrics_and_the_report() -> None:
    run = RunFigures(t0_ms=1_000_000)
    run.chaos = True
    for i in range(50):
        run.sample("rounds.ack", 1_000_000 + i * 100, 2.0 + i / 10)
        run.sample("rounds.deliver", 1_000_000 + i * 100, 5.0)
    run.count("requests", 100)
    run.count("rounds.commands", 50)
    run.count("rounds.acks", 48)
    run.count("rounds.rejected.step_too_small", 2)
    run.count("rounds.missed")
    run.ledger.kills.append(Kill(1_002_000, 2.0, "http://127.0.0.1:1", "SIGKILL pid 1", True))
    run.recovered("a1", "rounds", 1_002_010, 1_003_500)
    run.late("a2", "rounds", 1_002_500, 1_003_000)
    wire = run.to_wire()
    merged = RunFigures(t0_ms=1_000_000)
    merged.ledger.kills = list(run.ledger.kills)
    merged.merge_wire(wire)
    m = merged.metrics()
    assert m["rounds.ack_p50"] == pytest.approx(4.45, rel=0.02)
    assert m["missed_turns"] == 1 and m["requests"] == 100 and m["error_rate"] == 0
    assert m["takeover_max"] == pytest.approx(1500)  # a1 answered again 1.5 s after the kill
    assert m["takeover_p50"] == pytest.approx(500, rel=0.02)  # a2's clock ran 0.5 s late
    lines = summary_lines(merged, evaluate(parse_slo("rounds.ack_p99<=10ms"), m), "run")
    text = "\n".join(lines)
    assert "| rounds | 50 | 48 | step_too_small 2 |" in text
    assert "2 auctions seen after it; takeover max 1.50 s" in text
    section = html_section(merged, None, "run <1>", {})
    assert "run &lt;1&gt;" in section and "<table>" in section
    assert inject("<html><body><div id=root></div></body></html>", "X") == (
        "<html><body><div id=root></div>X</body></html>"
    )


# ---------------------------------------------------------------- chaos, nodes
def test_chaos_specs_are_read_and_scheduled() -> None:
    spec = parse_chaos("kill", 3)
    assert spec.kills == 1 and spec.times(100) == [30.0]
    spec = parse_chaos("at=20s,every=15s,kills=3,nodes=1+3", 3)
    assert spec.times(100) == [20.0, 35.0, 50.0] and spec.nodes == (1, 3)
    assert parse_chaos("at=10s,every=30s", 2).times(50) == [10.0, 40.0]
    assert parse_chaos("at=5s,nodes=owner", 3).owner
    spec = parse_chaos("command='ssh {host} kill, now',restart_after=500ms", 1)
    assert spec.command == "ssh {host} kill, now" and spec.restart_after == 0.5


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("boom", "key=value"),
        ("at=soon", "a duration"),
        ("at=150%", "0% to 100%"),
        ("kills=0", "1 to 100"),
        ("nodes=4", "1 to 3"),
        ("colour=red", "unknown chaos key"),
        ("at=1s,at=2s", "given twice"),
        ("command='unclosed", "unclosed quote"),
    ],
)
def test_a_bad_chaos_spec_is_named(text: str, says: str) -> None:
    with pytest.raises(ChaosError, match=says):
        parse_chaos(text, 3)


def test_the_ledger_blames_the_latest_kill() -> None:
    ledger = Ledger()
    ledger.kills = [Kill(1000, 1.0, "n1", "", True), Kill(5000, 5.0, "n2", "", True)]
    ledger.recovered("a", 1200, 1900)
    ledger.recovered("a", 1300, 2500)
    ledger.recovered("b", 5100, 5600)
    ledger.recovered("c", 400, 900)  # before any kill (and its clock skew): not a takeover
    assert ledger.blame(4499) is ledger.kills[0] and ledger.blame(4600) is ledger.kills[1]
    assert ledger.blame(499) is None
    assert [(k.node, a, ms) for k, a, ms in ledger.takeovers()] == [
        ("n1", "a", 900.0),
        ("n2", "b", 600.0),
    ]


def test_the_listening_process_of_a_port_is_found() -> None:
    import os
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert os.getpid() in listening_pids(sock.getsockname()[1])


def test_nodes_spread_or_pin_the_connections() -> None:
    urls = parse_nodes("http://a:1, http://b:2/,http://a:1,http://c:3")
    assert urls == ("http://a:1", "http://b:2", "http://c:3")
    spread = Nodes(urls)
    assert spread.home(4) == "http://b:2"
    assert spread.route(1, 1) == ("http://c:3", "http://a:1", "http://b:2")
    pinned = Nodes(urls, "pinned")
    assert pinned.route(1, 5) == ("http://b:2",)
    for bad in ("", "ftp://a", "http://a:99999", ",".join(f"http://h{i}:1" for i in range(65))):
        with pytest.raises(NodesError):
            parse_nodes(bad)
