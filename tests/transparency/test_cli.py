"""``underbid keys new`` and ``underbid verify`` from the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from auction.cli import main
from auction.transparency.keys import load_signing_key
from tests.transparency.records import SECRET, simulated

Cap = pytest.CaptureFixture[str]


def run(capsys: Cap, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def sealed_with(key_path: str, tmp_path: Path, name: str = "record.json") -> Path:
    import copy

    from auction.transparency.sealing import seal

    record, events = simulated("japanese")
    key = load_signing_key(key_path)
    sealed = seal(copy.deepcopy(record), list(events), secret=SECRET, keys=[key])
    path = tmp_path / name
    path.write_text(json.dumps(sealed))
    return path


def test_keys_new_then_verify_with_the_public_key(capsys: Cap, tmp_path: Path) -> None:
    key = str(tmp_path / "log.key")
    code, out, err = run(
        capsys,
        "keys",
        "new",
        key,
        "--name",
        "auctions.example",
        "--not-before",
        "2026-01-01T00:00:00Z",
        "--not-after",
        "2030-01-01T00:00:00+02:00",
    )
    assert (code, err) == (0, "")
    assert "auctions.example+" in out and "until 2029-12-31T22:00:00.000Z" in out
    assert os.stat(key).st_mode & 0o777 == 0o600
    record = sealed_with(key, tmp_path)
    code, out, err = run(capsys, "verify", str(record), "--key", key + ".pub.json")
    assert code == 0, out
    assert out.splitlines()[1].startswith("VERIFIED") and "warning" not in out
    code, out, _ = run(capsys, "verify", str(record), "--key", key + ".pub.json", "--json")
    verdict = json.loads(out)
    assert code == 0 and verdict["verified"] is True and verdict["discrepancy"] is None
    assert verdict["lots"][0].startswith("lot 1")


def test_verify_exits_1_naming_the_first_discrepancy(capsys: Cap, tmp_path: Path) -> None:
    key = str(tmp_path / "log.key")
    run(capsys, "keys", "new", key)
    path = sealed_with(key, tmp_path)
    record = json.loads(path.read_text())
    record["events"][3]["at"] += 1
    path.write_text(json.dumps(record))
    code, out, _ = run(capsys, "verify", str(path), "--key", key)
    assert code == 1
    assert "NOT VERIFIED" in out and "First discrepancy (check: sequence)" in out
    assert "events[3].time" in out
    code, out, _ = run(capsys, "verify", str(path), "--key", key, "--json")
    assert json.loads(out)["discrepancy"]["where"] == "events[3].time"


def test_a_record_signed_by_another_key_is_not_verified(capsys: Cap, tmp_path: Path) -> None:
    mine, theirs = str(tmp_path / "mine.key"), str(tmp_path / "theirs.key")
    run(capsys, "keys", "new", mine)
    run(capsys, "keys", "new", theirs)
    path = sealed_with(theirs, tmp_path)
    code, out, _ = run(capsys, "verify", str(path), "--key", mine + ".pub.json")
    assert code == 1 and "no signature by a trusted key" in out
    code, out, _ = run(capsys, "verify", str(path))  # its own keys: intact, with a warning
    assert code == 0 and "warning: checked against the keys the record itself lists" in out


def test_bad_input_exits_2_with_the_reason(capsys: Cap, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.json")
    code, _, err = run(capsys, "verify", missing)
    assert code == 2 and "nope.json: cannot read" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(capsys, "verify", str(bad))
    assert code == 2 and "not JSON" in err
    code, _, err = run(capsys, "verify", str(bad), "--key", missing)
    assert code == 2 and "cannot read" in err
    key = str(tmp_path / "k.key")
    run(capsys, "keys", "new", key)
    code, _, err = run(capsys, "keys", "new", key)
    assert code == 2 and "already exists" in err
    code, _, err = run(capsys, "keys", "new", str(tmp_path / "x.key"), "--name", "a b")
    assert code == 2 and "no spaces" in err
    code, _, err = run(
        capsys,
        "keys",
        "new",
        str(tmp_path / "y.key"),
        "--not-before",
        "2026-01-02T00:00:00Z",
        "--not-after",
        "2026-01-01T00:00:00Z",
    )
    assert code == 2 and "later than" in err
    notarecord = tmp_path / "list.json"
    notarecord.write_text("[]")
    code, out, _ = run(capsys, "verify", str(notarecord))
    assert code == 1 and "an audit record is a JSON object" in out
