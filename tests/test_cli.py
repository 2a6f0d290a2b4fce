"""The ``underbid`` command (auction.cli), run in-process."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from auction import __version__
from auction.cli import EXIT_INPUT, main
from auction.core import Auction, parse_spec
from auction.core.events import EVENT_TYPES, Event
from tests.factories import EXAMPLE_SPECS, EXAMPLES

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = EXAMPLES / "rounds-script.toml"
TENDER = ROOT / "tests" / "data" / "prozorro" / "worker_features_tender_data.json"
HAS_OCDS = importlib.util.find_spec("auction.importers.ocds") is not None

Cap = pytest.CaptureFixture[str]


def run(capsys: Cap, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def event_from_record(item: dict[str, Any]) -> Event:
    """An event of an audit record's ``events`` back as an engine event."""
    kind = next(t for t in EVENT_TYPES if t.__struct_config__.tag == item["type"])
    return kind(**{name: item[name] for name in kind.__struct_fields__})


def broken(tmp_path: Path, name: str, old: str, new: str, source: str = "rounds.toml") -> Path:
    text = (EXAMPLES / source).read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


# -------------------------------------------------------------- simulate
@pytest.mark.parametrize("spec", EXAMPLE_SPECS, ids=lambda p: p.stem)
def test_simulate_prints_the_ladder_and_the_result(capsys: Cap, spec: Path) -> None:
    code, out, err = run(capsys, "simulate", spec)
    assert (code, err) == (0, "")
    assert out.startswith("Auction ")
    assert "bots: " in out
    assert "lot starts with" in out
    assert "ANNOUNCEMENT: " in out
    result = out.split("\nRESULT\n", 1)[1]
    assert ": completed" in result
    assert "winner: " in result
    assert "stopped early" not in out


@pytest.mark.parametrize("spec", EXAMPLE_SPECS, ids=lambda p: p.stem)
def test_simulate_json_prints_only_the_audit_record(capsys: Cap, spec: Path) -> None:
    code, out, err = run(capsys, "simulate", spec, "--json")
    assert (code, err) == (0, "")
    record = json.loads(out)
    assert {"result", "events", "summary"} <= set(record)
    assert record["result"]["finished"] is True
    assert all(lot["outcome"] == "completed" for lot in record["result"]["lots"])
    assert record["summary"]["events"] == len(record["events"])
    assert [e["seq"] for e in record["events"]] == list(range(1, len(record["events"]) + 1))
    assert record["spec"]["id"] == record["auction"]
    # The record checks itself: its events replay to its state hash.
    spec_obj = parse_spec(record["spec"])
    events = [event_from_record(item) for item in record["events"]]
    assert Auction.replay(spec_obj, events).state_hash() == record["state_hash"]


def test_simulate_json_is_the_same_for_the_same_seed(capsys: Cap) -> None:
    spec = EXAMPLES / "open.toml"
    first = run(capsys, "simulate", spec, "--json", "--seed", "3")[1]
    second = run(capsys, "simulate", spec, "--json", "--seed", "3")[1]
    assert first == second


def test_simulate_with_the_example_script_shows_the_rejections(capsys: Cap) -> None:
    code, out, err = run(capsys, "simulate", EXAMPLES / "rounds.toml", "--script", SCRIPT)
    assert (code, err) == (0, "")
    assert "bots: " not in out  # a script runs without bots unless asked
    rejected = [line for line in out.splitlines() if "REJECTED" in line]
    assert len(rejected) == 2
    assert "not_your_turn" in rejected[0]
    assert "step_too_small" in rejected[1]
    assert "PAUSED by official: checking a bidder's connection" in out
    assert "RESUMED by official; deadlines move 60 s later" in out
    assert "cancels this turn's bid" in out
    assert "winner: Vinnytsia Catering PJSC (Bidder #2) at 465,000.00 UAH" in out


def test_simulate_json_with_the_script_counts_the_rejections(capsys: Cap) -> None:
    code, out, _ = run(capsys, "simulate", EXAMPLES / "rounds.toml", "--script", SCRIPT, "--json")
    assert code == 0
    summary = json.loads(out)["summary"]
    assert summary["rejections_by_code"] == {"not_your_turn": 1, "step_too_small": 1}


def test_simulate_with_a_script_and_bots(capsys: Cap) -> None:
    code, out, _ = run(
        capsys,
        "simulate",
        EXAMPLES / "rounds.toml",
        "--script",
        SCRIPT,
        "--bots",
        "d3ba84c6=steady,5675acc9=passive",
    )
    assert code == 0
    assert "bots: d3ba84c6 (steady), 5675acc9 (passive)" in out


def test_simulate_with_no_bots_keeps_the_sealed_bids(capsys: Cap) -> None:
    code, out, _ = run(capsys, "simulate", EXAMPLES / "rounds.toml", "--bots", "none")
    assert code == 0
    assert "bots: " not in out
    assert "posts a bid" not in out
    assert "winner: Podilla Foods LLC (Bidder #3) at 475,000.00 UAH" in out


def test_simulate_verbose_prints_every_clock_tick(capsys: Cap) -> None:
    quiet = run(capsys, "simulate", EXAMPLES / "dutch.toml")[1]
    loud = run(capsys, "simulate", EXAMPLES / "dutch.toml", "--verbose")[1]
    assert quiet.count("clock price") == 1
    assert loud.count("clock price") > 1


def test_a_paused_simulation_says_it_stopped_early(capsys: Cap, tmp_path: Path) -> None:
    script = tmp_path / "pause.toml"
    script.write_text('[[actions]]\nat = 60\ntype = "pause"\n', encoding="utf-8")
    code, out, _ = run(capsys, "simulate", EXAMPLES / "open.toml", "--script", script)
    assert code == 0
    assert "note: the simulation stopped early: nothing left to happen" in out


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("bots", "words"),
    [
        ("b1=nonsense", "unknown strategy 'nonsense'"),
        ("d3ba84c6=nonsense", "unknown strategy 'nonsense'"),
        ("ghost=eager", "no bidder 'ghost'"),
        ("nonsense", "expected BIDDER=STRATEGY, got 'nonsense'"),
        ("d3ba84c6=", "expected BIDDER=STRATEGY"),
        ("d3ba84c6=eager,", "expected BIDDER=STRATEGY"),
    ],
)
def test_bad_bots_are_an_input_error(capsys: Cap, bots: str, words: str) -> None:
    code, out, err = run(capsys, "simulate", EXAMPLES / "rounds.toml", "--bots", bots)
    assert code == EXIT_INPUT == 2
    assert out == ""
    assert err.startswith("underbid: error: --bots: ")
    assert words in err


def test_a_bad_script_names_the_action_and_field(capsys: Cap, tmp_path: Path) -> None:
    script = tmp_path / "bad.toml"
    script.write_text(
        '[[actions]]\nat = 1\ntype = "pause"\n\n'
        '[[actions]]\nat = 2\ntype = "bid"\nbidder = "d3ba84c6"\namount = "470000.00"\n',
        encoding="utf-8",
    )
    code, out, err = run(capsys, "simulate", EXAMPLES / "rounds.toml", "--script", script)
    assert (code, out) == (2, "")
    assert err.startswith("underbid: error: invalid script: actions[1].amount: ")


def test_a_missing_script_is_an_input_error(capsys: Cap, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    code, _, err = run(capsys, "simulate", EXAMPLES / "rounds.toml", "--script", missing)
    assert code == 2
    assert f"{missing}: no such file" in err


@pytest.mark.parametrize("command", ["simulate", "validate"])
def test_a_missing_spec_is_an_input_error(capsys: Cap, tmp_path: Path, command: str) -> None:
    missing = tmp_path / "missing.toml"
    code, out, err = run(capsys, command, missing)
    assert (code, out) == (2, "")
    assert err == f"underbid: error: {missing}: no such file\n"


# -------------------------------------------------------------- validate
@pytest.mark.parametrize("spec", EXAMPLE_SPECS, ids=lambda p: p.stem)
def test_validate_accepts_every_example(capsys: Cap, spec: Path) -> None:
    code, out, err = run(capsys, "validate", spec)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "valid"
    assert "start value" in out


def test_validate_rejects_a_negative_start_value(capsys: Cap, tmp_path: Path) -> None:
    path = broken(tmp_path, "neg.toml", "start_value = 50000000", "start_value = -50000000")
    code, out, err = run(capsys, "validate", path)
    assert (code, out) == (2, "")
    assert err.startswith("underbid: error: invalid spec: start_value: ")


def test_validate_rejects_an_unknown_format(capsys: Cap, tmp_path: Path) -> None:
    path = broken(tmp_path, "fmt.toml", 'format = "rounds"', 'format = "swiss"')
    code, _, err = run(capsys, "validate", path)
    assert code == 2
    assert err.startswith("underbid: error: invalid spec: format: ")
    assert "'swiss'" in err


def test_validate_names_a_nested_field(capsys: Cap, tmp_path: Path) -> None:
    path = broken(tmp_path, "bidder.toml", "amount = 48000000", "amount = -1")
    code, _, err = run(capsys, "validate", path)
    assert code == 2
    assert "bidders[1].amount" in err


def test_validate_reports_the_line_of_a_toml_syntax_error(capsys: Cap, tmp_path: Path) -> None:
    path = tmp_path / "syntax.toml"
    path.write_text('id = "x"\ntitle = "y"\nstart_value = = 3\n', encoding="utf-8")
    code, out, err = run(capsys, "validate", path)
    assert (code, out) == (2, "")
    assert err.startswith(f"underbid: error: {path}: invalid TOML: ")
    assert "line 3" in err


def test_validate_reports_the_line_of_a_json_syntax_error(capsys: Cap, tmp_path: Path) -> None:
    path = tmp_path / "syntax.json"
    path.write_text('{"id": "x",\n "start_value": }\n', encoding="utf-8")
    code, _, err = run(capsys, "validate", path)
    assert code == 2
    assert f"{path}:2:" in err
    assert "invalid JSON" in err


def test_validate_accepts_a_json_spec(capsys: Cap, tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(
        json.dumps(
            {
                "id": "j",
                "start_at": "2026-12-01T10:00:00Z",
                "format": "open",
                "start_value": 1000,
                "open": {"duration_s": 60, "decrement": 10},
                "bidders": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}],
            }
        ),
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "validate", path)
    assert code == 0
    assert out.splitlines()[0] == "Auction j: (untitled) [open]"


# ------------------------------------------------------------------ demo
def test_demo_serves_a_live_auction_and_bots_bid_over_websockets(capsys: Cap) -> None:
    # A dutch clock at 50x real time: a few seconds; port 0 picks a free port.
    code, out, err = run(
        capsys, "demo", "--format", "dutch", "--speed", "50", "--port", "0", "--exit-when-done"
    )
    assert code == 0, err
    assert out.startswith("Underbid demo: a live dutch auction with bidding bots (50x real time).")
    assert "ws://127.0.0.1:" in out and "operator token:" in out
    assert "ANNOUNCEMENT: " in out
    assert "\nRESULT\n" in out
    assert "winner: " in out


@pytest.mark.parametrize("command", ["serve", "demo"])
@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("70000", "70000 is not a port: 0 (a free one) to 65535"),
        ("-1", "-1 is not a port: 0 (a free one) to 65535"),
        ("http", "not a port number: 'http'"),
    ],
)
def test_a_port_out_of_range_is_refused(capsys: Cap, command: str, port: str, message: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--port", port])
    assert exit_.value.code == EXIT_INPUT
    assert f"argument --port: {message}" in capsys.readouterr().err


@pytest.mark.parametrize("speed", ["0", "-3"])
def test_demo_needs_a_positive_speed(capsys: Cap, speed: str) -> None:
    code, out, err = run(capsys, "demo", "--speed", speed)
    assert (code, out) == (2, "")
    assert "--speed must be greater than zero" in err


def test_demo_rejects_an_unknown_format(capsys: Cap) -> None:
    with pytest.raises(SystemExit) as info:
        main(["demo", "--format", "swiss"])
    assert info.value.code == 2
    assert "invalid choice: 'swiss'" in capsys.readouterr().err


# ----------------------------------------------------------- import-ocds
needs_ocds = pytest.mark.skipif(
    not HAS_OCDS, reason="auction/importers/ocds.py (the OCDS importer) is not there yet"
)
needs_tender = pytest.mark.skipif(
    not TENDER.exists(), reason=f"test tender {TENDER.name} is not there yet"
)


@needs_ocds
@needs_tender
def test_import_ocds_prints_a_valid_spec(capsys: Cap, tmp_path: Path) -> None:
    code, out, err = run(capsys, "import-ocds", TENDER)
    assert (code, err) == (0, "")
    spec = json.loads(out)
    assert spec["scoring"] == "features"
    assert len(spec["bidders"]) == 2
    parse_spec(spec)
    path = tmp_path / "imported.json"
    path.write_text(out, encoding="utf-8")
    code, out, _ = run(capsys, "validate", path)
    assert code == 0 and out.endswith("valid\n")
    code, out, _ = run(capsys, "simulate", path, "--bots", "none")
    assert code == 0 and "winner: " in out


@needs_ocds
@needs_tender
def test_import_ocds_writes_to_a_file(capsys: Cap, tmp_path: Path) -> None:
    target = tmp_path / "spec.json"
    code, out, err = run(
        capsys,
        "import-ocds",
        TENDER,
        "--out",
        target,
        "--start-at",
        "2027-01-01T10:00:00Z",
    )
    assert (code, out) == (0, "")
    assert err == f"wrote {target}\n"
    spec = parse_spec(json.loads(target.read_text(encoding="utf-8")))
    assert spec.start_at == 1_798_797_600_000


@needs_ocds
@needs_tender
@pytest.mark.parametrize("start_at", ["1798797600000", "2027-01-01T12:00:00+02:00"])
def test_import_ocds_takes_a_start_as_iso_or_ms_since_the_epoch(capsys: Cap, start_at: str) -> None:
    code, out, err = run(capsys, "import-ocds", TENDER, "--start-at", start_at)
    assert (code, err) == (0, "")
    assert parse_spec(json.loads(out)).start_at == 1_798_797_600_000


@needs_ocds
@needs_tender
@pytest.mark.parametrize(
    ("start_at", "message"),
    [
        ("2027-01-01T10:00:00", "the time 2027-01-01T10:00:00 has no time zone (add Z or +HH:MM)"),
        ("tomorrow", "not an ISO-8601 time: 'tomorrow'"),
        ("-5", "not an ISO-8601 time: '-5'"),
    ],
)
def test_import_ocds_names_a_bad_start(capsys: Cap, start_at: str, message: str) -> None:
    code, out, err = run(capsys, "import-ocds", TENDER, "--start-at", start_at)
    assert (code, out) == (2, "")
    assert err == f"underbid: error: --start-at: {message}\n"


@needs_ocds
@needs_tender
def test_import_ocds_rejects_an_unknown_lot(capsys: Cap) -> None:
    code, out, err = run(capsys, "import-ocds", TENDER, "--lot", "nope")
    assert (code, out) == (2, "")
    assert err.startswith("underbid: error: ")
    assert "'nope'" in err


@needs_ocds
def test_import_ocds_reports_a_missing_file(capsys: Cap, tmp_path: Path) -> None:
    code, _, err = run(capsys, "import-ocds", tmp_path / "tender.json")
    assert code == 2
    assert "no such file" in err


# ------------------------------------------------------------------ misc
def test_no_command_prints_the_help(capsys: Cap) -> None:
    code, out, _ = run(capsys)
    assert code == 2
    assert out.startswith("usage: underbid")


def test_version(capsys: Cap) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"underbid {__version__}\n"
